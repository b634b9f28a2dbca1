package auth

import (
	"errors"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Account rules. A username is also the author field of the user's
// packages and part of URLs and otpauth labels, so it is kept plain.
var usernameRule = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Errors returned by the account validators; their messages tell the rule.
var (
	ErrUsername = errors.New("Invalid username: use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit")
	ErrEmail    = errors.New("Invalid email address")
	ErrName     = errors.New("Invalid name: use 1-100 printable characters")
)

// ValidateUsername checks a new username against the rule above.
func ValidateUsername(s string) error {
	if !usernameRule.MatchString(s) {
		return ErrUsername
	}
	return nil
}

// ValidateEmail accepts a bare address (no display name) of at most 254
// bytes.
func ValidateEmail(s string) error {
	if len(s) > 254 || strings.ContainsAny(s, " <>%") {
		return ErrEmail
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return ErrEmail
	}
	return nil
}

// ValidateName accepts a display name of 1-100 printable characters.
func ValidateName(s string) error {
	if strings.TrimSpace(s) == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > 100 {
		return ErrName
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return ErrName
		}
	}
	return nil
}
