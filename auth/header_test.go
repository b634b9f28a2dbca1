package auth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nessemble/nessemble-registry/auth"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

const digest = "0123456789abcdef0123456789abcdef01234567"

func TestParseHMACValid(t *testing.T) {
	want, _ := hex.DecodeString(digest)
	cases := []struct{ header, user string }{
		{"HMAC-SHA1 " + b64("alice:"+digest), "alice"},
		{"hmac-sha1 " + b64("alice:"+digest), "alice"},
		{"HMAC-SHA1   " + b64("alice:"+digest), "alice"},
		{"HMAC-SHA1 " + b64("alice:"+strings.ToUpper(digest)), "alice"},
		{"HMAC-SHA1 " + b64("alice@example.com:"+digest), "alice@example.com"},
		{"HMAC-SHA1 " + b64("a:b:"+digest), "a:b"}, // the digest follows the last colon
		{"HMAC-SHA1 " + b64("zoë:"+digest), "zoë"},
		{"HMAC-SHA1 " + b64(strings.Repeat("u", 254)+":"+digest), strings.Repeat("u", 254)},
	}
	for _, c := range cases {
		user, mac, err := auth.ParseHMAC(c.header)
		if err != nil {
			t.Errorf("ParseHMAC(%q): %v", c.header, err)
			continue
		}
		if user != c.user || !bytes.Equal(mac, want) {
			t.Errorf("ParseHMAC(%q) = %q, %x; want %q, %x", c.header, user, mac, c.user, want)
		}
	}
}

func TestParseHMACMalformed(t *testing.T) {
	good := b64("alice:" + digest)
	// The last quantum of "alice:<digest>x" cut to one byte with non-zero
	// leftover bits: a lax decoder reads "alice:" and a valid digest.
	long := b64("alice:" + digest + "x")
	nonCanonical := long[:len(long)-3] + "B=="
	cases := []struct {
		name, header string
		want         error
	}{
		{"empty", "", auth.ErrNoCredentials},
		{"basic scheme", "Basic " + b64("alice:"+digest), auth.ErrWrongScheme},
		{"sha256 scheme", "HMAC-SHA256 " + b64("alice:"+digest), auth.ErrWrongScheme},
		{"no space", "HMAC-SHA1" + b64("alice:"+digest), auth.ErrWrongScheme},
		{"tab separator", "HMAC-SHA1\t" + b64("alice:"+digest), auth.ErrWrongScheme},
		{"leading space", " HMAC-SHA1 " + b64("alice:"+digest), auth.ErrWrongScheme},
		{"scheme only", "HMAC-SHA1", auth.ErrMalformed},
		{"scheme and space", "HMAC-SHA1 ", auth.ErrMalformed},
		{"not base64", "HMAC-SHA1 !!!!" + b64("alice:"+digest), auth.ErrMalformed},
		{"url-safe base64", "HMAC-SHA1 " + base64.URLEncoding.EncodeToString([]byte("ü?>:"+digest)), auth.ErrMalformed},
		{"unpadded", "HMAC-SHA1 " + base64.RawStdEncoding.EncodeToString([]byte("alice:"+digest)), auth.ErrMalformed},
		{"bad padding", "HMAC-SHA1 " + b64("alice:"+digest) + "==", auth.ErrMalformed},
		{"non-canonical bits", "HMAC-SHA1 " + nonCanonical, auth.ErrMalformed},
		{"embedded newline", "HMAC-SHA1 " + good[:8] + "\n" + good[8:], auth.ErrMalformed},
		{"trailing space", "HMAC-SHA1 " + b64("alice:"+digest) + " ", auth.ErrMalformed},
		{"two credentials", "HMAC-SHA1 " + b64("alice:"+digest) + " " + b64("bob:"+digest), auth.ErrMalformed},
		{"no colon", "HMAC-SHA1 " + b64("alice"+digest), auth.ErrMalformed},
		{"empty user", "HMAC-SHA1 " + b64(":"+digest), auth.ErrMalformed},
		{"empty digest", "HMAC-SHA1 " + b64("alice:"), auth.ErrMalformed},
		{"short digest", "HMAC-SHA1 " + b64("alice:"+digest[:38]), auth.ErrMalformed},
		{"long digest", "HMAC-SHA1 " + b64("alice:"+digest+"00"), auth.ErrMalformed},
		{"odd digest", "HMAC-SHA1 " + b64("alice:"+digest[:39]), auth.ErrMalformed},
		{"non-hex digest", "HMAC-SHA1 " + b64("alice:"+digest[:39]+"g"), auth.ErrMalformed},
		{"sha256 digest", "HMAC-SHA1 " + b64("alice:"+digest+digest[:24]), auth.ErrMalformed},
		{"user too long", "HMAC-SHA1 " + b64(strings.Repeat("u", 255)+":"+digest), auth.ErrMalformed},
		{"user not utf-8", "HMAC-SHA1 " + b64("al\xffce:"+digest), auth.ErrMalformed},
		{"user with NUL", "HMAC-SHA1 " + b64("al\x00ce:"+digest), auth.ErrMalformed},
		{"user with newline", "HMAC-SHA1 " + b64("alice\n:"+digest), auth.ErrMalformed},
		{"header too long", "HMAC-SHA1 " + strings.Repeat(" ", 1000) + b64("alice:"+digest), auth.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, mac, err := auth.ParseHMAC(c.header)
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseHMAC(%q) = %q, %x, %v; want error %v", c.header, user, mac, err, c.want)
			}
			if user != "" || mac != nil {
				t.Errorf("ParseHMAC(%q) returned %q, %x with an error", c.header, user, mac)
			}
		})
	}
}

func TestParseBasic(t *testing.T) {
	valid := []struct{ header, user, pass string }{
		{"Basic " + b64("alice:secret123"), "alice", "secret123"},
		{"basic " + b64("alice:secret123"), "alice", "secret123"},
		{"BASIC  " + b64("alice:secret123"), "alice", "secret123"},
		{"Basic " + b64("alice:pass:with:colons"), "alice", "pass:with:colons"},
		{"Basic " + b64("alice:"), "alice", ""},
		{"Basic " + b64("bob@example.com:pässwörd"), "bob@example.com", "pässwörd"},
		{"Basic " + b64("a:b"), "a", "b"},
	}
	for _, c := range valid {
		user, pass, err := auth.ParseBasic(c.header)
		if err != nil || user != c.user || pass != c.pass {
			t.Errorf("ParseBasic(%q) = %q, %q, %v; want %q, %q", c.header, user, pass, err, c.user, c.pass)
		}
	}
	malformed := []struct {
		name, header string
		want         error
	}{
		{"empty", "", auth.ErrNoCredentials},
		{"hmac scheme", "HMAC-SHA1 " + b64("alice:"+digest), auth.ErrWrongScheme},
		{"bearer", "Bearer abcdef", auth.ErrWrongScheme},
		{"no space", "Basic" + b64("alice:secret123"), auth.ErrWrongScheme},
		{"scheme only", "Basic", auth.ErrMalformed},
		{"scheme and space", "Basic ", auth.ErrMalformed},
		{"not base64", "Basic alice:secret123", auth.ErrMalformed},
		{"unpadded", "Basic " + base64.RawStdEncoding.EncodeToString([]byte("alice:secret1")), auth.ErrMalformed},
		{"embedded CR", "Basic " + b64("alice:secret123")[:4] + "\r" + b64("alice:secret123")[4:], auth.ErrMalformed},
		{"no colon", "Basic " + b64("alicesecret123"), auth.ErrMalformed},
		{"empty user", "Basic " + b64(":secret123"), auth.ErrMalformed},
		{"user too long", "Basic " + b64(strings.Repeat("u", 255)+":secret123"), auth.ErrMalformed},
		{"user not utf-8", "Basic " + b64("\xc3:secret123"), auth.ErrMalformed},
		{"control in password", "Basic " + b64("alice:sec\x00ret"), auth.ErrMalformed},
		{"header too long", "Basic " + b64("alice:"+strings.Repeat("p", 800)), auth.ErrMalformed},
	}
	for _, c := range malformed {
		t.Run(c.name, func(t *testing.T) {
			user, pass, err := auth.ParseBasic(c.header)
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseBasic(%q) = %q, %q, %v; want error %v", c.header, user, pass, err, c.want)
			}
			if user != "" || pass != "" {
				t.Errorf("ParseBasic(%q) returned %q, %q with an error", c.header, user, pass)
			}
		})
	}
}

func TestHeaderBuilders(t *testing.T) {
	const key = "0f0e0d0c0b0a09080706050403020100"
	h := auth.HMACHeader("alice", key, "PUT", "/package/publish")
	if want := "HMAC-SHA1 " + b64("alice:"+hex.EncodeToString(sign(key, "PUT+/package/publish"))); h != want {
		t.Fatalf("HMACHeader = %q, want %q", h, want)
	}
	user, mac, err := auth.ParseHMAC(h)
	if err != nil || user != "alice" || !auth.Verify(key, "PUT", "/package/publish", mac) {
		t.Errorf("ParseHMAC(HMACHeader(...)) = %q, %x, %v", user, mac, err)
	}
	if got, want := auth.BasicHeader("alice", "open sesame"), "Basic YWxpY2U6b3BlbiBzZXNhbWU="; got != want {
		t.Errorf("BasicHeader = %q, want %q", got, want)
	}
}

func TestHeaderErrorMessages(t *testing.T) {
	for _, err := range []error{auth.ErrNoCredentials, auth.ErrWrongScheme, auth.ErrMalformed} {
		if msg := err.Error(); msg == "" || strings.Contains(msg, "%") {
			t.Errorf("bad user-facing message %q", msg)
		}
	}
}

// checkHeaderError fails unless err is one of the package's header errors.
func checkHeaderError(t *testing.T, err error) {
	t.Helper()
	if err != auth.ErrNoCredentials && err != auth.ErrWrongScheme && err != auth.ErrMalformed {
		t.Fatalf("unexpected error %v", err)
	}
}

func validUser(u string) bool {
	if u == "" || len(u) > auth.MaxUserBytes || !utf8.ValidString(u) {
		return false
	}
	return !strings.ContainsFunc(u, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func FuzzParseHMAC(f *testing.F) {
	f.Add("HMAC-SHA1 " + b64("alice:"+digest))
	f.Add("hmac-sha1  " + b64("a:b:"+strings.ToUpper(digest)))
	f.Add("HMAC-SHA1 " + b64("alice:"+digest[:39]))
	f.Add("HMAC-SHA1 " + b64(":"+digest))
	f.Add("HMAC-SHA1 ")
	f.Add("Basic " + b64("alice:secret"))
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		user, mac, err := auth.ParseHMAC(h)
		if err != nil {
			checkHeaderError(t, err)
			return
		}
		if !validUser(user) || len(mac) != 20 {
			t.Fatalf("ParseHMAC(%q) accepted user %q, mac %x", h, user, mac)
		}
		canon := "HMAC-SHA1 " + b64(user+":"+hex.EncodeToString(mac))
		user2, mac2, err := auth.ParseHMAC(canon)
		if err != nil || user2 != user || !bytes.Equal(mac2, mac) {
			t.Fatalf("re-encoded %q parses as %q, %x, %v; want %q, %x", canon, user2, mac2, err, user, mac)
		}
	})
}

func FuzzParseBasic(f *testing.F) {
	f.Add("Basic " + b64("alice:secret123"))
	f.Add("basic   " + b64("alice:pass:word"))
	f.Add("Basic " + b64("alice:"))
	f.Add("Basic " + b64(":secret"))
	f.Add("Basic " + b64("al\x00ce:x"))
	f.Add("Basic")
	f.Add("HMAC-SHA1 " + b64("alice:"+digest))
	f.Fuzz(func(t *testing.T, h string) {
		user, pass, err := auth.ParseBasic(h)
		if err != nil {
			checkHeaderError(t, err)
			return
		}
		if !validUser(user) || strings.Contains(user, ":") || len(h) > auth.MaxHeaderBytes {
			t.Fatalf("ParseBasic(%q) accepted user %q", h, user)
		}
		canon := auth.BasicHeader(user, pass)
		if len(canon) > len(h) {
			t.Fatalf("canonical form %q is longer than the input %q", canon, h)
		}
		user2, pass2, err := auth.ParseBasic(canon)
		if err != nil || user2 != user || pass2 != pass {
			t.Fatalf("re-encoded %q parses as %q, %q, %v; want %q, %q", canon, user2, pass2, err, user, pass)
		}
	})
}
