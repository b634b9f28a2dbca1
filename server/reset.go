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
	// maxMailsInFlight bounds the reset emails being prepared or sent at
	// once; beyond it a request is answered as usual and its mail dropped.
	maxMailsInFlight = 16
	// mailDelay is how long after its answer a reset email is prepared.
	mailDelay = 50 * time.Millisecond
	// resendAfter is how long a new email request for the same user sends
	// nothing, so that nobody can flood a mailbox through the registry.
	resendAfter = time.Minute
)

// Answers of the reset endpoints.
const (
	msgResetUnavailable = "Password reset is not available on this registry: ask its operator to set a new password for you (nessemble-registry passwd)"
	msgNoSuchUser       = "User does not exist"
	msgQRGone           = "This QR code was already fetched, or it expired: run nessemble forgotpassword again"
	// msgBadReset answers every failure before the signature checks out
	// (unknown user, no reset pending, a body naming another user, a
	// wrong token), so that the answer does not tell whether an account
	// exists.
	msgBadReset        = "Wrong reset token, or no password reset is pending for this user: give the token from the email or the code your authenticator app shows now, or run nessemble forgotpassword again"
	msgCancelled       = "This password reset was cancelled after too many wrong codes: run nessemble forgotpassword again"
	msgExpired         = "This reset token has expired: run nessemble forgotpassword again"
	msgUsed            = "This reset token was already used: run nessemble forgotpassword again for a new one"
	msgNoAuthorization = "Missing authorization: nessemble resetpassword signs the request with your reset token"
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
	if s.cfg.SMTP.Enabled() {
		// The answer is the same whether the name is an account or not,
		// and so is its cost: the name is looked up, and the mail
		// prepared and sent, only once the answer has gone out.
		if err := c.json(http.StatusOK, forgotAnswer{Email: true}, noStore); err != nil {
			return err
		}
		http.NewResponseController(c.ResponseWriter).Flush()
		s.queueResetMail(f[0])
		return nil
	}
	// An authenticator QR code is handed to whoever names the account,
	// so here the account's existence is no secret (README: --reset-qr).
	u, err := s.db.UserByLogin(c.r.Context(), f[0])
	if errors.Is(err, store.ErrNotFound) {
		return userError(http.StatusNotFound, msgNoSuchUser)
	}
	if err != nil {
		return err
	}
	return s.qrReset(c, u)
}

// queueResetMail sends a reset email to the account login names, if any,
// in the background.
func (s *Server) queueResetMail(login string) {
	select {
	case s.mailSlots <- struct{}{}:
		s.background.Add(1)
		// Later, not at once: on the same cores, the lookup would still
		// slow the answer's last bytes, or the client reading them.
		time.AfterFunc(mailDelay, func() {
			defer s.background.Done()
			defer func() { <-s.mailSlots }()
			s.mailReset(login)
		})
	default:
		s.log.Warn("password reset email dropped: too many being sent at once")
	}
}

// mailReset creates a reset for the account login names and emails its
// token. It runs after the answer was sent, so failures are only logged.
func (s *Server) mailReset(login string) {
	ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
	defer cancel()
	u, err := s.db.UserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		s.log.Error("password reset", "err", err)
		return
	}
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
	now := s.now()
	r, err := s.db.ResetByLogin(ctx, login)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// Until the signature checks out, every failure answers msgBadReset
	// after the same work: one query, and as many keys tried as a real
	// reset of this registry's kind has.
	keys := s.resetKeys(r, found, now)
	signed := verifyAny(keys, mac)
	sameUser := strings.EqualFold(username, r.Username) || strings.EqualFold(username, r.Email)
	if !found || !sameUser || !signed {
		// An emailed token is 256 random bits, a TOTP code only six
		// digits: a few wrong codes cancel a QR reset.
		if found && r.QR && !signed && r.State(now) == store.ResetLive {
			n, err := s.db.FailReset(ctx, r.ID)
			if err != nil {
				return err
			}
			if n >= store.MaxResetFailures {
				return userError(http.StatusUnauthorized, msgCancelled)
			}
		}
		return userError(http.StatusUnauthorized, msgBadReset)
	}
	switch r.State(now) {
	case store.ResetCancelled:
		return userError(http.StatusUnauthorized, msgCancelled)
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
	s.log.Info("password reset", "user", r.Username, "remote", clientAddr(c.r))
	c.write(http.StatusOK, "application/json", []byte("{}"), noStore)
	return nil
}

// resetKeys are the keys a reset request may be signed with: the token,
// and for a QR reset its current TOTP codes. Without a reset they are
// those of the server's decoy token, of the kind this registry hands out.
func (s *Server) resetKeys(r store.Reset, found bool, now time.Time) []string {
	token, qr := r.Token, r.QR
	if !found {
		token, qr = s.decoyKey, !s.cfg.SMTP.Enabled()
	}
	if qr {
		// Codes are accepted only for the QR resets that need them.
		return auth.ResetKeys(token, now)
	}
	return []string{token}
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
