package server

// Password recovery. POST /user/forgotpassword hands out a single-use
// reset token, by email when SMTP is configured, else as an authenticator
// QR code when the operator allows that; POST /user/resetpassword sets a
// new password with the token (or, for a QR reset, a TOTP code of it).

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/store"
)

const (
	// qrScale is the pixels per module of the QR image.
	qrScale = 8
	// mailTimeout bounds one delivery attempt.
	mailTimeout = 30 * time.Second
	// resendAfter is how long a new email request for the same user sends
	// nothing, so that nobody can flood a mailbox through the registry.
	resendAfter = time.Minute
)

// Answers of the reset endpoints.
const (
	msgResetUnavailable = "Password reset is not available on this registry: ask its operator to set a new password for you (nessemble-registry passwd)"
	msgNoSuchUser       = "User does not exist"
	msgQRGone           = "This QR code was already fetched, or it expired: run nessemble forgotpassword again"
	msgNoReset          = "No password reset is pending for this user: run nessemble forgotpassword first"
	msgMismatch         = "Username mismatch: the request body names another user than its authorization"
	msgWrongToken       = "Wrong reset token: give the token from the email, or the code your authenticator app shows now"
	msgCancelled        = "This password reset was cancelled after too many wrong codes: run nessemble forgotpassword again"
	msgExpired          = "This reset token has expired: run nessemble forgotpassword again"
	msgUsed             = "This reset token was already used: run nessemble forgotpassword again for a new one"
	msgNoAuthorization  = "Missing authorization: nessemble resetpassword signs the request with your reset token"
)

// forgotAnswer is the body of a successful forgotpassword. The client
// reads url and data only when email is false.
type forgotAnswer struct {
	Email bool   `json:"email"`
	URL   string `json:"url"`
	Data  string `json:"data"`
}

func (s *Server) handleForgotPassword(c *call) error {
	if !s.cfg.SMTP.Enabled() && !s.cfg.ResetQR {
		return userError(http.StatusForbidden, msgResetUnavailable)
	}
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "username")
	if err != nil {
		return err
	}
	u, err := s.db.UserByLogin(c.r.Context(), f[0])
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if s.cfg.SMTP.Enabled() {
		// The answer is the same whether the user exists or not, and it
		// goes out before any work is done for a real user.
		if found {
			s.background.Go(func() { s.mailReset(u) })
		}
		return c.json(http.StatusOK, forgotAnswer{Email: true}, noStore)
	}
	if !found {
		return userError(http.StatusNotFound, msgNoSuchUser)
	}
	return s.qrReset(c, u)
}

// mailReset creates a reset for u and emails its token. It runs after the
// answer was sent, so failures are only logged.
func (s *Server) mailReset(u store.User) {
	ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
	defer cancel()
	log := s.log.With("user", u.Username)
	now := s.now()
	token, err := auth.NewToken()
	if err != nil {
		log.Error("password reset", "err", err)
		return
	}
	r, recent, err := s.createMailReset(ctx, u, token, now)
	if err != nil {
		log.Error("password reset", "err", err)
		return
	}
	if recent {
		log.Warn("password reset email not sent: the last one went out less than a minute ago")
		return
	}
	msg, err := buildResetMail(s.cfg.SMTP.From, u.Email, resetMail{
		Name:     u.Name,
		Username: u.Username,
		Token:    token,
		// Only the configured URL: one taken from the request's Host
		// header would let anyone put their own address in the mail.
		Registry: s.cfg.BaseURL,
		Expires:  r.Expires.UTC().Format("2006-01-02 15:04 UTC"),
		Minutes:  int(math.Ceil(s.cfg.ResetTTL.Minutes())),
	}, now)
	if err != nil {
		log.Error("password reset", "err", err)
		return
	}
	if err := s.cfg.SMTP.sendMail(ctx, u.Email, msg); err != nil {
		log.Error("password reset email failed", "err", err)
		return
	}
	log.Info("password reset email sent")
}

// createMailReset creates an emailed reset for u, unless one was created
// less than resendAfter ago (recent is then true). Check and creation
// happen under one lock, so simultaneous requests send one mail.
func (s *Server) createMailReset(ctx context.Context, u store.User, token string, now time.Time) (r store.Reset, recent bool, err error) {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	if r, err := s.db.ResetOf(ctx, u.ID); err == nil && !r.QR &&
		r.State(now) == store.ResetLive && now.Sub(r.Created) < resendAfter {
		return r, true, nil
	}
	r, err = s.db.CreateReset(ctx, u.ID, token, "", s.cfg.ResetTTL)
	return r, false, err
}

// qrReset creates a reset for u and answers with its QR code.
func (s *Server) qrReset(c *call, u store.User) error {
	token, err := auth.NewToken()
	if err != nil {
		return err
	}
	qrID, err := auth.RandomID()
	if err != nil {
		return err
	}
	code, err := auth.QR(auth.OTPAuthURL(u.Username, token))
	if err != nil {
		return err
	}
	if _, err := s.db.CreateReset(c.r.Context(), u.ID, token, qrID, s.cfg.ResetTTL); err != nil {
		return err
	}
	s.log.Info("password reset QR code issued", "user", u.Username, "remote", clientAddr(c.r))
	return c.json(http.StatusOK, forgotAnswer{URL: c.base + "/user/2FA/" + qrID, Data: code.Data()}, noStore)
}

// handleResetQR serves the QR code of a reset as a PNG, once.
func (s *Server) handleResetQR(c *call) error {
	take := s.db.TakeQR
	if c.r.Method == http.MethodHead {
		take = s.db.QRReset // a HEAD must not use up the one fetch
	}
	r, err := take(c.r.Context(), c.ps.ByName("id"))
	if errors.Is(err, store.ErrNotFound) {
		return userError(http.StatusNotFound, msgQRGone)
	}
	if err != nil {
		return err
	}
	code, err := auth.QR(auth.OTPAuthURL(r.Username, r.Token))
	if err != nil {
		return err
	}
	png, err := code.PNG(qrScale)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, "image/png", png, noStore)
	return nil
}

func (s *Server) handleResetPassword(c *call) error {
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "username", "password")
	if err != nil {
		return err
	}
	username, password := f[0], f[1]
	if err := auth.ValidatePassword(password); err != nil {
		return userError(http.StatusBadRequest, err.Error())
	}
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return userError(http.StatusUnauthorized, msgNoAuthorization)
	}
	login, mac, err := auth.ParseHMAC(h)
	if err != nil {
		return userError(http.StatusUnauthorized, err.Error())
	}

	ctx := c.r.Context()
	u, err := s.db.UserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return userError(http.StatusUnauthorized, msgNoReset) // as for a user without a reset
	}
	if err != nil {
		return err
	}
	if !strings.EqualFold(username, u.Username) && !strings.EqualFold(username, u.Email) {
		return userError(http.StatusUnauthorized, msgMismatch)
	}
	r, err := s.db.ResetOf(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return userError(http.StatusUnauthorized, msgNoReset)
	}
	if err != nil {
		return err
	}

	now := s.now()
	state := r.State(now)
	if state == store.ResetCancelled {
		return userError(http.StatusUnauthorized, msgCancelled)
	}
	// An emailed token is 256 random bits, a TOTP code only six digits:
	// codes are accepted only for the QR resets that need them, and there
	// a few wrong ones cancel the reset.
	keys := []string{r.Token}
	if r.QR {
		keys = auth.ResetKeys(r.Token, now)
	}
	if !verifyAny(keys, mac) {
		if r.QR && state == store.ResetLive {
			n, err := s.db.FailReset(ctx, r.ID)
			if err != nil {
				return err
			}
			if n >= store.MaxResetFailures {
				return userError(http.StatusUnauthorized, msgCancelled)
			}
		}
		return userError(http.StatusUnauthorized, msgWrongToken)
	}
	switch state {
	case store.ResetUsed:
		return userError(http.StatusUnauthorized, msgUsed)
	case store.ResetExpired:
		return userError(http.StatusUnauthorized, msgExpired)
	}

	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	if err := s.db.ResetPassword(ctx, r.ID, hash); errors.Is(err, store.ErrResetDead) {
		// Another request used it, or it expired, while this one hashed.
		return userError(http.StatusUnauthorized, msgUsed)
	} else if err != nil {
		return err
	}
	s.log.Info("password reset", "user", u.Username, "remote", clientAddr(c.r))
	c.write(http.StatusOK, "application/json", []byte("{}"), noStore)
	return nil
}

// verifyAny reports whether mac signs the reset request under one of keys.
func verifyAny(keys []string, mac []byte) bool {
	ok := false
	for _, k := range keys {
		// No early exit: every key costs the same work.
		if auth.Verify(k, http.MethodPost, "/user/resetpassword", mac) {
			ok = true
		}
	}
	return ok
}
