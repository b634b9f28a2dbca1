package auth_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"testing"

	"github.com/nessemble/nessemble-registry/auth"
)

// sign computes the client's signature independently of the package.
func sign(key, msg string) []byte {
	m := hmac.New(sha1.New, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func TestSign(t *testing.T) {
	// A fixed vector, computed with openssl dgst -sha1 -hmac feedface.
	if got, want := auth.Sign("feedface", "POST", "/user/logout"),
		"03d159f5f89bea22b2fea9afca4a47ff02306983"; got != want {
		t.Errorf("Sign(feedface, POST, /user/logout) = %s, want %s", got, want)
	}
	cases := []struct{ key, method, route string }{
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "POST", "/package/publish"},
		{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "PUT", "/package/publish"},
		{"feedfacefeedface", "POST", "/user/logout"},
		{"123456", "POST", "/user/resetpassword"},
		{"", "GET", ""},
	}
	for _, c := range cases {
		want := hex.EncodeToString(sign(c.key, c.method+"+"+c.route))
		if got := auth.Sign(c.key, c.method, c.route); got != want {
			t.Errorf("Sign(%q, %q, %q) = %s, want %s", c.key, c.method, c.route, got, want)
		}
	}
}

func TestVerify(t *testing.T) {
	const key = "5e1f2a3b4c5d6e7f8091a2b3c4d5e6f70123456789abcdef0123456789abcdef"
	mac := sign(key, "POST+/package/publish")
	if !auth.Verify(key, "POST", "/package/publish", mac) {
		t.Fatal("Verify rejects a correct MAC")
	}
	wrong := map[string]struct {
		key, method, route string
		mac                []byte
	}{
		"other key":    {key[1:], "POST", "/package/publish", mac},
		"other method": {key, "PUT", "/package/publish", mac},
		"other route":  {key, "POST", "/v1/package/publish", mac},
		"truncated":    {key, "POST", "/package/publish", mac[:19]},
		"extended":     {key, "POST", "/package/publish", append(append([]byte(nil), mac...), 0)},
		"empty":        {key, "POST", "/package/publish", nil},
		"one bit off":  {key, "POST", "/package/publish", flipBit(mac)},
	}
	for name, c := range wrong {
		if auth.Verify(c.key, c.method, c.route, c.mac) {
			t.Errorf("%s: Verify accepts a wrong MAC", name)
		}
	}
}

func flipBit(b []byte) []byte {
	c := append([]byte(nil), b...)
	c[len(c)-1] ^= 1
	return c
}
