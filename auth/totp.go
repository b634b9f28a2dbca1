package auth

import (
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Issuer names the registry in authenticator apps.
const Issuer = "Nessemble"

// totpPeriod and totpOpts are the settings every authenticator app
// supports: 6 digits, HMAC-SHA1, 30-second steps.
const totpPeriod = 30 * time.Second

var totpOpts = totp.ValidateOpts{
	Period:    uint(totpPeriod / time.Second),
	Digits:    otp.DigitsSix,
	Algorithm: otp.AlgorithmSHA1,
}

// TOTPSecret returns the TOTP secret derived from a password-reset token:
// the unpadded base32 of the token's bytes. Authenticator apps handle the
// unpadded form best.
func TOTPSecret(resetToken string) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(resetToken))
}

// TOTPCode returns the six-digit code an authenticator app holding the
// secret of resetToken shows at time t.
func TOTPCode(resetToken string, t time.Time) (string, error) {
	code, err := totp.GenerateCodeCustom(TOTPSecret(resetToken), t, totpOpts)
	if err != nil {
		return "", fmt.Errorf("auth: totp code: %w", err)
	}
	return code, nil
}

// ResetKeys returns the keys a password-reset request signed at time now
// may have been signed with: the reset token itself (as emailed), then
// the TOTP codes of the previous, current and next 30-second step, which
// absorbs modest clock skew between the phone and the server.
func ResetKeys(resetToken string, now time.Time) []string {
	keys := []string{resetToken}
	for step := -1; step <= 1; step++ {
		code, err := TOTPCode(resetToken, now.Add(time.Duration(step)*totpPeriod))
		if err != nil {
			continue // unreachable: the secret is always valid base32
		}
		keys = append(keys, code)
	}
	return keys
}

// OTPAuthURL returns the otpauth:// URL that enrolls the reset token of
// username in an authenticator app, as encoded in the QR code.
func OTPAuthURL(username, resetToken string) string {
	// The secret is base32 and the issuer plain letters: neither needs
	// escaping.
	return "otpauth://totp/" + Issuer + ":" + escapeLabel(username) +
		"?secret=" + TOTPSecret(resetToken) + "&issuer=" + Issuer
}

// escapeLabel percent-encodes everything in an account name except the
// unreserved characters and '@'. A colon in particular must be escaped:
// it separates the issuer from the account in the label.
func escapeLabel(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '@' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
