// Package nesclient is a test double of the only registry client in the
// wild, the nessemble 1.1 assembler. It speaks HTTP, reads JSON and unpacks
// tarballs the way that C program does, and it is exactly as strict: every
// response the real client could not read is an error here, so end-to-end
// tests of the server fail where real users would.
//
// The behaviour modelled is described in the project's protocol notes
// (docs/PROTOCOL.md); the comments below say which quirk each check stands for.
package nesclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// UserAgent is what nessemble 1.1.1 sends with every request.
const UserAgent = "nessemble/1.1.1"

const (
	maxHeaderLines = 32   // a 33rd header line corrupts the client's memory
	maxLineLen     = 4096 // its line buffer, terminator included
	defaultTimeout = 10 * time.Second
	// headWait is how long a HEAD answer with a non-zero Content-Length may
	// keep the connection open before we conclude the client would hang.
	headWait = 2 * time.Second
)

// Client talks to one registry. The zero Timeout means 10 seconds per
// request; nothing ever waits longer.
type Client struct {
	// Registry is the registry URL as a user would configure it, e.g.
	// "http://127.0.0.1:1234" or "http://127.0.0.1:1234/v1". One trailing
	// slash is removed, as the client does.
	Registry string
	Timeout  time.Duration
}

// Header is one response header line, as sent.
type Header struct{ Name, Value string }

// Response is a response as the client sees it. Body holds only what the
// client would read: Content-Length bytes, or nothing without that header.
type Response struct {
	Status  int
	Reason  string
	Headers []Header // in the order received
	Body    []byte
}

// Header returns the value of the first header named exactly name (the
// client compares names case-sensitively), or "".
func (r *Response) Header(name string) string {
	for _, h := range r.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// ContentType returns the Content-Type header as sent.
func (r *Response) ContentType() string { return r.Header("Content-Type") }

// Do sends one request to Registry+path. hdr adds request headers after
// Host and User-Agent; Accept defaults to application/json unless hdr sets
// it. A non-nil body is sent with a Content-Length; a nil body is sent with
// no Content-Length at all (that is how login goes out).
func (c *Client) Do(method, path string, hdr [][2]string, body []byte) (*Response, error) {
	return c.DoURL(method, strings.TrimSuffix(c.Registry, "/")+path, hdr, body)
}

// DoURL is Do with an absolute http:// URL, as used for the `resource` and
// `readme` links of a package document.
func (c *Client) DoURL(method, rawURL string, hdr [][2]string, body []byte) (*Response, error) {
	authority, host, port, path, err := splitURL(rawURL)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	// The client resolves the host to IPv4 only and opens a fresh
	// connection for every request.
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", host)
	if err != nil || len(ips) == 0 {
		return nil, fmt.Errorf("resolve %q to IPv4: %v", host, err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(ips[0].String(), port))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}

	var req bytes.Buffer
	// The path goes out raw, not URL-encoded. No Connection: close is sent
	// (HTTP/1.1 keep-alive is the default), so a server that keeps the
	// connection open must still frame its answers with Content-Length.
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n", method, path, authority, UserAgent)
	hasAccept := false
	for _, h := range hdr {
		hasAccept = hasAccept || h[0] == "Accept"
	}
	if !hasAccept {
		req.WriteString("Accept: application/json\r\n")
	}
	for _, h := range hdr {
		fmt.Fprintf(&req, "%s: %s\r\n", h[0], h[1])
	}
	if body != nil {
		fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.Write(body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		return nil, err
	}
	return readResponse(conn, method, deadline)
}

// splitURL parses an http:// URL the way the client does: no other scheme,
// no user info, no IPv6 literals; the path is everything from the first
// slash after the authority, kept verbatim.
func splitURL(u string) (authority, host, port, path string, err error) {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return "", "", "", "", fmt.Errorf("url %q: only http:// is supported", u)
	}
	authority, path = rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	if authority == "" || strings.ContainsAny(authority, "@[]") {
		return "", "", "", "", fmt.Errorf("url %q: unsupported host %q", u, authority)
	}
	host, port = authority, "80"
	if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return "", "", "", "", fmt.Errorf("url %q: bad port", u)
		}
	}
	return authority, host, port, path, nil
}

// readResponse reads one response with the client's framing rules.
// deadline bounds the whole exchange.
func readResponse(conn net.Conn, method string, deadline time.Time) (*Response, error) {
	br := bufio.NewReader(conn)
	line, err := readLine(br)
	if err != nil {
		return nil, fmt.Errorf("status line: %w", err)
	}
	resp, err := parseStatusLine(line)
	if err != nil {
		return nil, err
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		if line == "" {
			break
		}
		if len(resp.Headers) == maxHeaderLines {
			return nil, fmt.Errorf("more than %d header lines (the client overflows its header table)", maxHeaderLines)
		}
		h, err := parseHeader(line)
		if err != nil {
			return nil, err
		}
		resp.Headers = append(resp.Headers, h)
	}

	// The client never decodes chunked bodies: it hangs or reads nothing.
	if te := headerFold(resp, "Transfer-Encoding"); te != "" {
		return nil, fmt.Errorf("Transfer-Encoding %q: the client only understands Content-Length", te)
	}
	n := 0
	if cl := resp.Header("Content-Length"); cl != "" {
		n, err = strconv.Atoi(cl)
		if err != nil || n < 0 || strings.TrimLeft(cl, "0123456789") != "" {
			return nil, fmt.Errorf("bad Content-Length %q", cl)
		}
	}
	if n == 0 {
		// Without Content-Length the client reads no body at all.
		return resp, nil
	}

	// The client reads until it has Content-Length bytes or the server
	// closes. For HEAD no bytes come, so only a close ends its wait.
	if method == "HEAD" {
		if d := time.Now().Add(headWait); d.Before(deadline) {
			if err := conn.SetReadDeadline(d); err != nil {
				return nil, err
			}
		}
	}
	body := make([]byte, n)
	got, err := io.ReadFull(br, body)
	switch {
	case err == nil:
		resp.Body = body
	case method == "HEAD" && errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("HEAD would hang the client: Content-Length %d and the connection stays open", n)
	case method == "HEAD" && got == 0 && errors.Is(err, io.EOF):
		// The server closed the connection: the client stops waiting.
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("body: got %d of %d bytes and the connection stays open", got, n)
	default:
		return nil, fmt.Errorf("body truncated: got %d of %d bytes: %v", got, n, err)
	}
	return resp, nil
}

// readLine reads one CRLF-terminated line and returns it without the CRLF.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) >= maxLineLen {
			return "", fmt.Errorf("line longer than %d bytes", maxLineLen-1)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return "", fmt.Errorf("line %q does not end in CRLF", line)
	}
	return s, nil
}

// parseStatusLine accepts exactly "HTTP/1.x NNN Reason".
func parseStatusLine(line string) (*Response, error) {
	proto, rest, ok1 := strings.Cut(line, " ")
	code, reason, ok2 := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !ok1 || !ok2 || (proto != "HTTP/1.0" && proto != "HTTP/1.1") ||
		len(code) != 3 || err != nil || status < 100 || strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("bad status line %q (want HTTP/1.x NNN Reason)", line)
	}
	return &Response{Status: status, Reason: reason}, nil
}

// canonicalNames are the header names the client compares byte for byte.
var canonicalNames = []string{"Content-Length", "Content-Type", "X-Integrity"}

// parseHeader accepts exactly "Name: value": one space after the colon and
// a non-empty value.
func parseHeader(line string) (Header, error) {
	name, value, ok := strings.Cut(line, ": ")
	if !ok || name == "" || strings.ContainsAny(name, " \t:") {
		return Header{}, fmt.Errorf("header %q: want \"Name: value\" with one space after the colon", line)
	}
	if value == "" || value[0] == ' ' || value[0] == '\t' {
		return Header{}, fmt.Errorf("header %q: empty value or more than one space after the colon", line)
	}
	for _, c := range canonicalNames {
		if name != c && strings.EqualFold(name, c) {
			return Header{}, fmt.Errorf("header %q: the client only finds it spelled %s", name, c)
		}
	}
	return Header{name, value}, nil
}

// headerFold finds a header regardless of case; used only to refuse what
// the client cannot handle however it is spelled.
func headerFold(r *Response, name string) string {
	for _, h := range r.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}
