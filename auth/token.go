package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// TokenBytes is the entropy of a login or reset token.
const TokenBytes = 32

// NewToken returns a fresh secret token: 32 random bytes as 64 lowercase
// hex digits. The client keeps it as an HMAC key and needs it free of
// whitespace and shorter than 250 characters.
func NewToken() (string, error) {
	return randomHex(TokenBytes)
}

// RandomID returns 16 random bytes as 32 lowercase hex digits, for
// unguessable ids in URLs.
func RandomID() (string, error) {
	return randomHex(16)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
