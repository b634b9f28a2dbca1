package auth_test

import (
	"encoding/base32"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/nessemble/nessemble-registry/auth"
)

const resetToken = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func TestTOTPSecret(t *testing.T) {
	secret := auth.TOTPSecret(resetToken)
	if strings.Contains(secret, "=") {
		t.Errorf("secret %q is padded", secret)
	}
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || string(b) != resetToken {
		t.Errorf("secret %q decodes to %q, %v; want the token's bytes", secret, b, err)
	}
	// RFC 4648 test vector.
	if got := auth.TOTPSecret("foobar"); got != "MZXW6YTBOI" {
		t.Errorf("TOTPSecret(foobar) = %q, want MZXW6YTBOI", got)
	}
}

func TestTOTPCode(t *testing.T) {
	now := time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC)
	secret := base32.StdEncoding.EncodeToString([]byte(resetToken)) // padded, as another app might hold it
	for _, at := range []time.Time{now, now.Add(29 * time.Second), time.Unix(59, 0), time.Unix(1111111109, 0)} {
		want, err := totp.GenerateCodeCustom(secret, at, totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := auth.TOTPCode(resetToken, at)
		if err != nil || got != want {
			t.Errorf("TOTPCode at %v = %q, %v; want %q", at, got, err, want)
		}
		if len(got) != 6 || strings.Trim(got, "0123456789") != "" {
			t.Errorf("code %q is not six digits", got)
		}
	}
}

func TestResetKeys(t *testing.T) {
	now := time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC)
	keys := auth.ResetKeys(resetToken, now)
	if len(keys) != 4 || keys[0] != resetToken {
		t.Fatalf("ResetKeys = %q; want the token and three codes", keys)
	}
	secret := auth.TOTPSecret(resetToken)
	code := func(d time.Duration) string {
		c, err := totp.GenerateCodeCustom(secret, now.Add(d), totpOpts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		if c := code(d); !slices.Contains(keys, c) {
			t.Errorf("code %s for offset %v not among %q", c, d, keys)
		}
	}
	// Two steps away is too far, both as a key and as a signature.
	for _, d := range []time.Duration{-60 * time.Second, 60 * time.Second} {
		c := code(d)
		if slices.Contains(keys, c) {
			t.Errorf("code %s for offset %v is among %q", c, d, keys)
		}
		mac := sign(c, "POST+/user/resetpassword")
		if slices.ContainsFunc(keys, func(k string) bool { return auth.Verify(k, "POST", "/user/resetpassword", mac) }) {
			t.Errorf("signature with the code for offset %v accepted", d)
		}
	}
	near := code(30 * time.Second)
	mac := sign(near, "POST+/user/resetpassword")
	if !slices.ContainsFunc(keys, func(k string) bool { return auth.Verify(k, "POST", "/user/resetpassword", mac) }) {
		t.Error("signature with the next step's code rejected")
	}
}

func TestOTPAuthURL(t *testing.T) {
	got := auth.OTPAuthURL("alice", resetToken)
	want := "otpauth://totp/Nessemble:alice?secret=" + auth.TOTPSecret(resetToken) + "&issuer=Nessemble"
	if got != want {
		t.Errorf("OTPAuthURL = %q, want %q", got, want)
	}
	for _, user := range []string{"alice", "bob@example.com", "a b:c/d?e&f=g#h%i+j", "zoë"} {
		raw := auth.OTPAuthURL(user, resetToken)
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("OTPAuthURL(%q) = %q does not parse: %v", user, raw, err)
		}
		if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Nessemble:"+user {
			t.Errorf("OTPAuthURL(%q) = %q: scheme %q host %q path %q", user, raw, u.Scheme, u.Host, u.Path)
		}
		if q := u.Query(); q.Get("secret") != auth.TOTPSecret(resetToken) || q.Get("issuer") != "Nessemble" || len(q) != 2 {
			t.Errorf("OTPAuthURL(%q) has query %v", user, q)
		}
		if strings.Count(u.EscapedPath(), ":") != 1 {
			t.Errorf("OTPAuthURL(%q) = %q leaves a colon unescaped in the account", user, raw)
		}
		// pquerna's parser must read the same account back.
		key, err := otp.NewKeyFromURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		if key.AccountName() != user || key.Issuer() != "Nessemble" || key.Secret() != auth.TOTPSecret(resetToken) {
			t.Errorf("otp key of %q: account %q issuer %q", raw, key.AccountName(), key.Issuer())
		}
	}
}
