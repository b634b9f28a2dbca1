package fastpath

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
)

// errNotOurs is readHead's word that a request is net/http's to answer.
var errNotOurs = errors.New("server: a request head the fast path does not take")

// readHead waits for a whole request head in br and returns it, still
// unread. It fails with errNotOurs as soon as what has arrived shows that
// the fast path cannot take the request (a head longer than the buffer, a
// line parseRequest refuses), and when the client ends its stream inside a
// head: net/http answers those at once (400 for a head cut short, see
// TestFrontHandsOffPartialHeads), where waiting for the rest of the head
// would only run out its deadline.
func readHead(br *bufio.Reader) ([]byte, error) {
	for n, checked := 1, 0; ; {
		_, err := br.Peek(n)
		buf, _ := br.Peek(br.Buffered())
		switch {
		case errors.Is(err, bufio.ErrBufferFull), err == io.EOF && len(buf) > 0:
			return nil, errNotOurs
		case err != nil:
			return nil, err
		}
		if end := headEnd(buf); end > 0 {
			return buf[:end], nil
		}
		var ok bool
		if checked, ok = takeableLines(buf, checked); !ok {
			return nil, errNotOurs
		}
		n = len(buf) + 1
	}
}

// headEnd returns the length of the head in b, up to and including the
// blank line that ends it, or -1 when b holds no blank line yet. Bare LF
// line ends count here, so that such a head is found and handed on.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// takeableLines looks at the complete lines of a partial head from offset
// from on, and returns the offset after them; ok is false when one of them
// is a line parseRequest refuses: a request line other than a plain GET or
// HEAD of HTTP/1.1, a malformed header line, a bare LF line end.
// FuzzRequestHead holds it to parseRequest.
func takeableLines(b []byte, from int) (next int, ok bool) {
	for {
		j := bytes.IndexByte(b[from:], '\n')
		if j < 0 {
			return from, true
		}
		line, cr := bytes.CutSuffix(b[from:from+j], []byte("\r"))
		if !cr {
			return from, false
		}
		if from == 0 {
			method, rest, _ := strings.Cut(string(line), " ")
			target, proto, _ := strings.Cut(rest, " ")
			ok = (method == http.MethodGet || method == http.MethodHead) && proto == "HTTP/1.1" && plainTarget(target)
		} else {
			name, value, colon := strings.Cut(string(line), ":")
			ok = colon && validHeaderName(name) && validHeaderValue(value)
		}
		if !ok {
			return from, false
		}
		from += j + 1
	}
}

// Request is the head of a request the fast path may answer: an HTTP/1.1
// GET or HEAD without a body, with one valid Host.
type Request struct {
	Method string
	// Path and Query are the target's, as sent: printable ASCII without
	// escapes, so Path is also the URL path net/http would decode.
	Path, Query                          string
	Host, UserAgent, Accept, IfNoneMatch string // "" when absent
	Close                                bool   // the client sent Connection: close
	Remote                               string // the client's address, without port
	// Conn numbers the connection: the nth the fast path took, from 1.
	Conn uint64
	// Quick: the request is asked on the goroutine that accepts
	// connections, which must not wait. Answer takes it only if the
	// answer is ready in memory; one it declines is asked again, on the
	// connection's own goroutine, without Quick.
	Quick bool
}

// ParseRequest parses a request head (up to and including its blank line)
// as the fast path does, for tests that need to know what it takes.
func ParseRequest(head []byte) (Request, bool) { return parseRequest(head) }

// parseRequest parses a request head, strictly. ok is false for anything
// but an HTTP/1.1 GET or HEAD without a body, with a target of plain
// printable characters and one valid Host, and well-formed header lines.
func parseRequest(head []byte) (r Request, ok bool) {
	h := string(head) // one copy; every field below is a substring of it
	line, rest, _ := strings.Cut(h, "\r\n")
	method, line, _ := strings.Cut(line, " ")
	target, proto, _ := strings.Cut(line, " ")
	if method != http.MethodGet && method != http.MethodHead || proto != "HTTP/1.1" || !plainTarget(target) {
		return r, false
	}
	r.Method = method
	r.Path, r.Query, _ = strings.Cut(target, "?")
	hosts := 0
	var seen [3]bool // User-Agent, Accept, If-None-Match
	for {
		line, rest, ok = strings.Cut(rest, "\r\n")
		if !ok {
			return r, false // a bare LF line end
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) || !validHeaderValue(value) {
			return r, false
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Host"):
			r.Host = value
			hosts++
		// The first line of a header counts, empty or not, as for
		// net/http's Header.Get.
		case strings.EqualFold(name, "User-Agent"):
			if !seen[0] {
				r.UserAgent, seen[0] = value, true
			}
		case strings.EqualFold(name, "Accept"):
			if !seen[1] {
				r.Accept, seen[1] = value, true
			}
		case strings.EqualFold(name, "If-None-Match"):
			if !seen[2] {
				r.IfNoneMatch, seen[2] = value, true
			}
		case strings.EqualFold(name, "Connection"):
			for rest := value; rest != ""; { // the tokens, without a slice of them
				var tok string
				tok, rest, _ = strings.Cut(rest, ",")
				if strings.EqualFold(strings.TrimSpace(tok), "close") {
					r.Close = true
				}
			}
		case strings.EqualFold(name, "Content-Length"), strings.EqualFold(name, "Transfer-Encoding"),
			strings.EqualFold(name, "Expect"), strings.EqualFold(name, "Upgrade"):
			return r, false
		}
	}
	return r, hosts == 1 && ValidHost(r.Host)
}

// plainTarget accepts an origin-form target of printable ASCII without
// escapes or fragment, whose URL path is then the target's path as it is.
func plainTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '#' {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab, as
// net/http does.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidHost reports whether a Host header can go into links: a name or
// IPv4 address, or an IPv6 address in brackets, then an optional port;
// 255 bytes at most.
func ValidHost(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	host := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i:], ']') < 0 {
		host = s[:i]
		port := s[i+1:]
		if port == "" || len(port) > 5 {
			return false
		}
		for j := 0; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return false
			}
		}
	}
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
