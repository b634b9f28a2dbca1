package nesclient

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTokens is the size of the client's JSON token table. Every object,
// array, key and value takes one token; a document needing more is
// refused outright.
const MaxTokens = 128

// ErrJSON is the client's "Could not parse JSON": malformed JSON or more
// than MaxTokens tokens.
var ErrJSON = errors.New("could not parse JSON")

type tokKind byte

const (
	tokObject tokKind = iota
	tokArray
	tokString
	tokPrimitive // number, true, false, null
)

// token is a span of the source. For strings it excludes the quotes.
type token struct {
	kind       tokKind
	start, end int
}

// Doc is a JSON document tokenized like the client's jsmn-style parser: a
// flat list of tokens in document order, with no notion of nesting left
// for the lookups.
type Doc struct {
	src  []byte
	toks []token
}

// ParseJSON tokenizes b with room for exactly MaxTokens tokens.
func ParseJSON(b []byte) (*Doc, error) {
	p := &jsonParser{src: b}
	p.space()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(b) {
		return nil, p.fail("trailing data")
	}
	return &Doc{src: b, toks: p.toks}, nil
}

// Tokens reports how many of the MaxTokens token slots the document uses.
func (d *Doc) Tokens() int { return len(d.toks) }

// Get does what the client does to read a field: it takes the first string
// token anywhere in the document equal to key (a key or a value, at any
// depth) and returns the text of the token right after it. Strings are
// unescaped the client's way (see unescape); other tokens come back raw,
// e.g. "false" or "[...]".
func (d *Doc) Get(key string) (string, bool) {
	for i := range d.toks {
		if d.isKey(i, key) {
			return d.text(i + 1), true
		}
	}
	return "", false
}

// All returns the token after every string token equal to key, in document
// order. The client reads search results this way: all titles, then all
// descriptions, paired by position.
func (d *Doc) All(key string) []string {
	var out []string
	for i := range d.toks {
		if d.isKey(i, key) {
			out = append(out, d.text(i+1))
		}
	}
	return out
}

// isKey reports whether token i is a string equal to key with a token
// after it. The comparison is on the raw (still escaped) bytes.
func (d *Doc) isKey(i int, key string) bool {
	t := d.toks[i]
	return t.kind == tokString && i+1 < len(d.toks) && string(d.src[t.start:t.end]) == key
}

func (d *Doc) text(i int) string {
	t := d.toks[i]
	s := string(d.src[t.start:t.end])
	if t.kind == tokString {
		return unescape(s)
	}
	return s
}

// unescape turns \n and \t into newline and tab, which is all the client
// does. Every other escape (\/, \", \\, \u0026, ...) stays in the text as
// sent, so a server that escapes needlessly shows up in the strings.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteString(s[i : i+2])
		}
		i++
	}
	return b.String()
}

// jsonParser is a strict RFC 8259 recognizer that records jsmn's tokens.
type jsonParser struct {
	src  []byte
	pos  int
	toks []token
}

func (p *jsonParser) fail(why string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrJSON, why, p.pos)
}

func (p *jsonParser) add(k tokKind, start, end int) (int, error) {
	if len(p.toks) == MaxTokens {
		return 0, fmt.Errorf("%w: more than %d tokens", ErrJSON, MaxTokens)
	}
	p.toks = append(p.toks, token{k, start, end})
	return len(p.toks) - 1, nil
}

func (p *jsonParser) space() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *jsonParser) value(depth int) error {
	if depth > 64 {
		return p.fail("nested too deeply")
	}
	if p.pos == len(p.src) {
		return p.fail("unexpected end")
	}
	switch c := p.src[p.pos]; {
	case c == '{' || c == '[':
		return p.container(depth)
	case c == '"':
		return p.str()
	default:
		return p.primitive()
	}
}

// container reads an object or an array; the token spans its brackets.
func (p *jsonParser) container(depth int) error {
	open := p.src[p.pos]
	kind, closer := tokObject, byte('}')
	if open == '[' {
		kind, closer = tokArray, ']'
	}
	idx, err := p.add(kind, p.pos, 0)
	if err != nil {
		return err
	}
	p.pos++
	p.space()
	if p.pos < len(p.src) && p.src[p.pos] == closer {
		p.pos++
		p.toks[idx].end = p.pos
		return nil
	}
	for {
		p.space()
		if kind == tokObject {
			if p.pos == len(p.src) || p.src[p.pos] != '"' {
				return p.fail("object key must be a string")
			}
			if err := p.str(); err != nil {
				return err
			}
			p.space()
			if p.pos == len(p.src) || p.src[p.pos] != ':' {
				return p.fail("missing ':'")
			}
			p.pos++
			p.space()
		}
		if err := p.value(depth + 1); err != nil {
			return err
		}
		p.space()
		if p.pos == len(p.src) {
			return p.fail("unexpected end")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case closer:
			p.pos++
			p.toks[idx].end = p.pos
			return nil
		default:
			return p.fail("missing ',' or closing bracket")
		}
	}
}

func (p *jsonParser) str() error {
	start := p.pos + 1
	for i := start; i < len(p.src); i++ {
		switch c := p.src[i]; {
		case c == '"':
			p.pos = i + 1
			_, err := p.add(tokString, start, i)
			return err
		case c < 0x20:
			p.pos = i
			return p.fail("control character in string")
		case c == '\\':
			i++
			if i == len(p.src) {
				break
			}
			switch p.src[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p.src) || !isHex(string(p.src[i+1:i+5])) {
					p.pos = i
					return p.fail(`bad \u escape`)
				}
				i += 4
			default:
				p.pos = i
				return p.fail("bad escape")
			}
		}
	}
	p.pos = len(p.src)
	return p.fail("unterminated string")
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdefABCDEF") == ""
}

// primitive reads true, false, null or a number.
func (p *jsonParser) primitive() error {
	start := p.pos
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n,]}:", p.src[p.pos]) < 0 {
		p.pos++
	}
	s := string(p.src[start:p.pos])
	if s != "true" && s != "false" && s != "null" && !isNumber(s) {
		p.pos = start
		return p.fail(fmt.Sprintf("bad value %q", s))
	}
	_, err := p.add(tokPrimitive, start, p.pos)
	return err
}

// isNumber checks the JSON number grammar: -?int frac? exp?
func isNumber(s string) bool {
	digits := func() int {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		d := n
		s = s[n:]
		return d
	}
	s = strings.TrimPrefix(s, "-")
	if strings.HasPrefix(s, "0") {
		s = s[1:]
	} else if digits() == 0 {
		return false
	}
	if strings.HasPrefix(s, ".") {
		s = s[1:]
		if digits() == 0 {
			return false
		}
	}
	if len(s) > 0 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		if digits() == 0 {
			return false
		}
	}
	return s == ""
}
