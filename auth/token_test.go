package auth_test

import (
	"regexp"
	"testing"

	"github.com/nessemble/nessemble-registry/auth"
)

func TestNewToken(t *testing.T) {
	lowerHex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := make(map[string]bool)
	for range 1000 {
		tok, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !lowerHex.MatchString(tok) {
			t.Fatalf("token %q is not 64 lowercase hex digits", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
}

func TestRandomID(t *testing.T) {
	lowerHex := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := make(map[string]bool)
	for range 1000 {
		id, err := auth.RandomID()
		if err != nil {
			t.Fatal(err)
		}
		if !lowerHex.MatchString(id) {
			t.Fatalf("id %q is not 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}
