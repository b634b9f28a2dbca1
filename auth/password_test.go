package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/nessemble/nessemble-registry/auth"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	const pw = "correct horse battery staple"
	h1, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h1) {
		t.Errorf("hash %q is not in the expected PHC form", h1)
	}
	if !auth.CheckPassword(h1, pw) {
		t.Error("CheckPassword rejects the right password")
	}
	for _, wrong := range []string{"", "correct horse battery stapl", "Correct horse battery staple", pw + " "} {
		if auth.CheckPassword(h1, wrong) {
			t.Errorf("CheckPassword accepts wrong password %q", wrong)
		}
	}
	h2, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: salt is not random")
	}
	if !auth.CheckPassword(h2, pw) {
		t.Error("CheckPassword rejects the second hash")
	}
}

// A hash made elsewhere with other parameters must still verify: the
// parameters are read from the string.
func TestCheckPasswordReadsParams(t *testing.T) {
	const pw = "hunter2hunter2"
	salt := []byte("saltsaltSALT")
	key := argon2.IDKey([]byte(pw), salt, 1, 64, 2, 24)
	enc := base64.RawStdEncoding
	h := fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=2$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(key))
	if !auth.CheckPassword(h, pw) {
		t.Fatalf("CheckPassword rejects %q", h)
	}
	if auth.CheckPassword(h, "hunter3hunter3") {
		t.Error("CheckPassword accepts a wrong password")
	}
	// The same key under other parameters must not verify.
	for _, params := range []string{"m=64,t=2,p=2", "m=128,t=1,p=2", "m=64,t=1,p=1"} {
		other := strings.Replace(h, "m=64,t=1,p=2", params, 1)
		if auth.CheckPassword(other, pw) {
			t.Errorf("CheckPassword ignores the parameters: %s verifies", params)
		}
	}
}

func TestCheckPasswordMalformed(t *testing.T) {
	const pw = "password1"
	good, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", argon2id, v=19, params, salt, key
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	if with(3, parts[3]) != good || !auth.CheckPassword(good, pw) {
		t.Fatal("the unaltered hash does not verify")
	}
	flipped := []byte(parts[5])
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	cases := map[string]string{
		"empty":             "",
		"dollar only":       "$",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           with(1, "argon2i"),
		"argon2d":           with(1, "argon2d"),
		"version 16":        with(2, "v=16"),
		"no version":        strings.Join([]string{"", "argon2id", parts[3], parts[4], parts[5]}, "$"),
		"trailing dollar":   good + "$",
		"leading text":      "x" + good,
		"params reordered":  with(3, "t=2,m=19456,p=1"),
		"params missing":    with(3, "m=19456,t=2"),
		"params extra":      with(3, "m=19456,t=2,p=1,k=1"),
		"time zero":         with(3, "m=19456,t=0,p=1"),
		"threads zero":      with(3, "m=19456,t=2,p=0"),
		"threads 256":       with(3, "m=19456,t=2,p=256"),
		"memory huge":       with(3, "m=4294967295,t=2,p=1"),
		"memory overflow":   with(3, "m=4294967296,t=2,p=1"),
		"time huge":         with(3, "m=19456,t=4000000000,p=1"),
		"memory too small":  with(3, "m=7,t=2,p=1"),
		"signed number":     with(3, "m=+19456,t=2,p=1"),
		"negative number":   with(3, "m=19456,t=-2,p=1"),
		"not a number":      with(3, "m=lots,t=2,p=1"),
		"empty number":      with(3, "m=,t=2,p=1"),
		"spaces":            with(3, "m=19456, t=2, p=1"),
		"salt padded":       with(4, parts[4]+"=="),
		"salt not base64":   with(4, "!!!!!!!!!!!!!!!!!!!!!!"),
		"salt empty":        with(4, ""),
		"salt too short":    with(4, "c2FsdA"),
		"key padded":        with(5, parts[5]+"="),
		"key empty":         with(5, ""),
		"key too short":     with(5, parts[5][:16]),
		"key not base64":    with(5, strings.Repeat("*", 43)),
		"key flipped":       with(5, string(flipped)),
		"key of other salt": with(4, "AAAAAAAAAAAAAAAAAAAAAA"),
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			if auth.CheckPassword(h, pw) {
				t.Errorf("CheckPassword(%q) = true", h)
			}
		})
	}
}

func TestDummyCheckCostsLikeCheckPassword(t *testing.T) {
	h, err := auth.HashPassword("the real password")
	if err != nil {
		t.Fatal(err)
	}
	auth.DummyCheck("warm up") // the first call also makes the dummy hash
	// Interleaved, fastest of seven each: a busy machine slows single
	// runs, but rarely every run of one kind and none of the other.
	check, dummy := time.Duration(1<<62), time.Duration(1<<62)
	for range 7 {
		start := time.Now()
		auth.CheckPassword(h, "a wrong guess")
		check = min(check, time.Since(start))
		start = time.Now()
		auth.DummyCheck("a wrong guess")
		dummy = min(dummy, time.Since(start))
	}
	// Generous bounds: the point is that DummyCheck runs the KDF with the
	// same cost, not that timings are precise.
	if dummy < check/3 || dummy > check*3 {
		t.Errorf("DummyCheck took %v, CheckPassword %v", dummy, check)
	}
}

func TestValidatePassword(t *testing.T) {
	cases := []struct {
		pw   string
		want error
	}{
		{"12345678", nil},
		{"pass word", nil},
		{"ééééééé", auth.ErrPasswordShort}, // 7 characters, 14 bytes
		{"éééééééé", nil},                  // 8 characters
		{"日本語のパスワード", nil},
		{"", auth.ErrPasswordShort},
		{"1234567", auth.ErrPasswordShort},
		{strings.Repeat("a", 256), nil},
		{strings.Repeat("a", 257), auth.ErrPasswordLong},
		{strings.Repeat("é", 129), auth.ErrPasswordLong}, // 258 bytes
		{"password\xff", auth.ErrPasswordInvalid},
		{"pass\x00word", auth.ErrPasswordInvalid},
		{"pass\tword", auth.ErrPasswordInvalid},
		{"password\n", auth.ErrPasswordInvalid},
		{"password\x7f", auth.ErrPasswordInvalid},
	}
	for _, c := range cases {
		if got := auth.ValidatePassword(c.pw); !errors.Is(got, c.want) {
			t.Errorf("ValidatePassword(%q) = %v, want %v", c.pw, got, c.want)
		}
	}
	for _, err := range []error{auth.ErrPasswordShort, auth.ErrPasswordLong, auth.ErrPasswordInvalid} {
		if strings.Contains(err.Error(), "%") {
			t.Errorf("message %q contains a percent sign", err)
		}
	}
	if !strings.Contains(auth.ErrPasswordShort.Error(), "at least 8 characters") {
		t.Errorf("message %q does not state the rule", auth.ErrPasswordShort)
	}
}

func TestReadablePassword(t *testing.T) {
	shape := regexp.MustCompile(`^([bdfghjkmnprstvz][aeiou]){2}(-([bdfghjkmnprstvz][aeiou]){2}){3}$`)
	seen := map[string]bool{}
	for range 200 {
		pw := auth.ReadablePassword()
		if !shape.MatchString(pw) {
			t.Fatalf("password %q is not four dash-joined pairs of syllables", pw)
		}
		if err := auth.ValidatePassword(pw); err != nil {
			t.Fatalf("password %q breaks the password rule: %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("password %q drawn twice in 200", pw)
		}
		seen[pw] = true
	}
}
