package auth

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"
)

// Limits on Authorization headers. Usernames may be email addresses,
// whose longest legal form is 254 bytes.
const (
	MaxHeaderBytes = 1024
	MaxUserBytes   = 254
)

// Errors returned by ParseBasic and ParseHMAC. Their messages are fit for
// a 401 answer: they never repeat the header.
var (
	ErrNoCredentials = errors.New("Missing Authorization header")
	ErrWrongScheme   = errors.New("Unsupported authorization scheme")
	ErrMalformed     = errors.New("Malformed Authorization header")
)

// Authorization schemes, matched without regard to case.
const (
	schemeBasic = "Basic"
	schemeHMAC  = "HMAC-SHA1"
)

// ParseBasic parses "Basic base64(user:pass)" (RFC 7617). The user is
// everything before the first colon and must not be empty; the password
// may be empty (it then simply fails to match).
func ParseBasic(h string) (user, pass string, err error) {
	cred, err := credentials(h, schemeBasic)
	if err != nil {
		return "", "", err
	}
	user, pass, found := strings.Cut(cred, ":")
	if !found || !validUser(user) || hasControl(pass) {
		return "", "", ErrMalformed
	}
	return user, pass, nil
}

// ParseHMAC parses "HMAC-SHA1 base64(user:hexdigest)", the header the
// nessemble client signs its writes with. The digest is split off at the
// last colon and must be 40 hex digits; it is returned as 20 raw bytes,
// ready for Verify.
func ParseHMAC(h string) (user string, mac []byte, err error) {
	cred, err := credentials(h, schemeHMAC)
	if err != nil {
		return "", nil, err
	}
	i := strings.LastIndexByte(cred, ':')
	if i < 0 {
		return "", nil, ErrMalformed
	}
	user, digest := cred[:i], cred[i+1:]
	if !validUser(user) || len(digest) != 2*macSize {
		return "", nil, ErrMalformed
	}
	mac, err = hex.DecodeString(digest)
	if err != nil {
		return "", nil, ErrMalformed
	}
	return user, mac, nil
}

// BasicHeader builds the Authorization value ParseBasic accepts.
func BasicHeader(user, pass string) string {
	return schemeBasic + " " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// HMACHeader builds the Authorization value the nessemble client sends
// for a request signed with key.
func HMACHeader(user, key, method, route string) string {
	return schemeHMAC + " " + base64.StdEncoding.EncodeToString([]byte(user+":"+Sign(key, method, route)))
}

// credentials checks the scheme of h and returns its decoded credentials.
// Only padded standard base64, as the client writes it, is accepted, and
// strictly, so that each credential has one encoding. Characters outside
// the alphabet are refused up front: Go's decoder would skip line breaks.
func credentials(h, scheme string) (string, error) {
	if h == "" {
		return "", ErrNoCredentials
	}
	if len(h) > MaxHeaderBytes {
		return "", ErrMalformed
	}
	name, rest, found := strings.Cut(h, " ")
	if !strings.EqualFold(name, scheme) {
		return "", ErrWrongScheme
	}
	rest = strings.TrimLeft(rest, " ")
	if !found || rest == "" || !isBase64(rest) {
		return "", ErrMalformed
	}
	b, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil {
		return "", ErrMalformed
	}
	return string(b), nil
}

func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' ||
			'0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

func validUser(u string) bool {
	return u != "" && len(u) <= MaxUserBytes && utf8.ValidString(u) && !hasControl(u)
}
