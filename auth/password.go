package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules. The byte cap bounds the work handed to the KDF.
const (
	MinPasswordChars = 8
	MaxPasswordBytes = 256
)

// Errors returned by ValidatePassword. Their messages are fit for users.
var (
	ErrPasswordShort   = errors.New("Password must be at least 8 characters long")
	ErrPasswordLong    = errors.New("Password must be at most 256 bytes long")
	ErrPasswordInvalid = errors.New("Password must be valid UTF-8 without control characters")
)

// ValidatePassword reports whether pw may be used as a new password.
func ValidatePassword(pw string) error {
	if len(pw) > MaxPasswordBytes {
		return ErrPasswordLong
	}
	if !utf8.ValidString(pw) || hasControl(pw) {
		return ErrPasswordInvalid
	}
	if utf8.RuneCountInString(pw) < MinPasswordChars {
		return ErrPasswordShort
	}
	return nil
}

// hasControl reports whether s holds an ASCII control character. Basic
// credentials may not carry them (RFC 7617), so a password holding one
// could never be used to log in.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// argonParams are the argon2id cost parameters stored in each hash.
type argonParams struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// defaultParams is OWASP's minimum for argon2id (19 MiB, 2 passes, 1
// lane): about 30-50 ms per hash, affordable on a small VPS.
var defaultParams = argonParams{memory: 19 * 1024, time: 2, threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Bounds on what CheckPassword accepts from a stored hash, so that a
// corrupt or hostile value cannot make a login allocate gigabytes or run
// for minutes. They leave ample room to raise the defaults later.
const (
	maxMemory  = 1 << 20 // 1 GiB in KiB
	maxTime    = 32
	maxThreads = 64
	minSalt    = 8
	maxSalt    = 64
	minKey     = 16
	maxKey     = 128
)

// HashPassword derives an argon2id hash of pw with a fresh random salt and
// returns it in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (raw standard base64).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: read salt: %w", err)
	}
	p := defaultParams
	key := idKey([]byte(pw), salt, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches the PHC string encoded. The
// cost parameters are read from encoded, so hashes made with older
// settings keep working. A malformed hash never matches.
func CheckPassword(encoded, pw string) bool {
	p, salt, want, ok := parseHash(encoded)
	if !ok {
		return false
	}
	got := idKey([]byte(pw), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// kdfSlots admits one argon2id computation per CPU at a time. Each takes
// its full memory cost (19 MiB by default) while it runs; without a bound,
// a burst of sign-ups or logins would take gigabytes. Callers beyond the
// slots wait their turn.
var kdfSlots = make(chan struct{}, runtime.NumCPU())

func idKey(pw, salt []byte, p argonParams, keyLen uint32) []byte {
	kdfSlots <- struct{}{}
	defer func() { <-kdfSlots }()
	return argon2.IDKey(pw, salt, p.time, p.memory, p.threads, keyLen)
}

// dummySalt salts DummyCheck's derivation; its value does not matter.
var dummySalt = make([]byte, saltLen)

// DummyCheck spends the same time as a failing CheckPassword with the
// current parameters: one argon2id derivation, thrown away. Call it when
// the user does not exist, so that the response time does not tell which
// usernames are registered.
func DummyCheck(pw string) {
	idKey([]byte(pw), dummySalt, defaultParams, keyLen)
}

// parseHash splits a PHC argon2id string into its parameters, salt and
// key, checking each against the bounds above.
func parseHash(s string) (p argonParams, salt, key []byte, ok bool) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" ||
		parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, false
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, false
	}
	m, okM := paramValue(fields[0], "m=", 32)
	t, okT := paramValue(fields[1], "t=", 32)
	th, okP := paramValue(fields[2], "p=", 8)
	if !okM || !okT || !okP ||
		t < 1 || t > maxTime || th < 1 || th > maxThreads ||
		m < 8*th || m > maxMemory {
		return p, nil, nil, false
	}
	enc := base64.RawStdEncoding.Strict()
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < minSalt || len(salt) > maxSalt {
		return p, nil, nil, false
	}
	key, err = enc.DecodeString(parts[5])
	if err != nil || len(key) < minKey || len(key) > maxKey {
		return p, nil, nil, false
	}
	return argonParams{memory: uint32(m), time: uint32(t), threads: uint8(th)}, salt, key, true
}

// paramValue parses "name=digits" into a number of at most bits bits.
func paramValue(field, prefix string, bits int) (uint64, bool) {
	digits, found := strings.CutPrefix(field, prefix)
	if !found || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, bits)
	return n, err == nil
}

// Readable passwords are made of consonant-vowel syllables, four groups
// of two joined by dashes ("bako-muti-resa-dovi"): easy to read aloud,
// copy from a sheet of paper and type, with no letters that look alike
// (no c, l, q, w, x, y). Each syllable is one of 15*5 = 75 drawn by
// crypto/rand, so the eight give about 49.8 bits: far beyond online
// guessing (logins are throttled), and enough against an offline attack
// on the slow argon2id hash.
const (
	readableConsonants = "bdfghjkmnprstvz"
	readableVowels     = "aeiou"
)

// ReadablePassword returns a new random password that is easy to read and
// type, for accounts an operator creates and hands out.
func ReadablePassword() string {
	var b strings.Builder
	for i := range 8 {
		if i > 0 && i%2 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(readableConsonants[randIndex(len(readableConsonants))])
		b.WriteByte(readableVowels[randIndex(len(readableVowels))])
	}
	return b.String()
}

// randIndex is a uniform random number below n from crypto/rand.
func randIndex(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic("crypto/rand failed: " + err.Error()) // it never does since Go 1.24
	}
	return int(v.Int64())
}
