package registry

// Password recovery. ForgotPassword hands out a single-use reset token, by
// email when there is a Mailer, else as an authenticator QR code when the
// operator allows that; ResetPassword sets a new password with the token
// (or, for a QR reset, a TOTP code of it).

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
)

const (
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

// Answers of password recovery.
const (
	msgResetUnavailable = "Password reset is not available on this registry: ask its operator to set a new password for you (nessemble-registry passwd)"
	msgNoSuchUser       = "User does not exist"
	msgQRGone           = "This QR code was already fetched, or it expired: run nessemble forgotpassword again"
	// msgBadReset answers every failure before the signature checks out
	// (unknown user, no reset pending, a body naming another user, a
	// wrong token), so that the answer does not tell whether an account
	// exists.
	msgBadReset  = "Wrong reset token, or no password reset is pending for this user: give the token from the email or the code your authenticator app shows now, or run nessemble forgotpassword again"
	msgCancelled = "This password reset was cancelled after too many wrong codes: run nessemble forgotpassword again"
	msgExpired   = "This reset token has expired: run nessemble forgotpassword again"
	msgUsed      = "This reset token was already used: run nessemble forgotpassword again for a new one"
)

// Forgot is how a reset was handed out: by email, or as a QR code whose
// image QRID names once.
type Forgot struct {
	Email  bool
	QRID   string
	QRData string // the code as nessemble draws it in a terminal
}

// ForgotAvailable says whether this registry hands out resets at all:
// nil, or the error that refuses them (which ForgotPassword returns too).
func (s *Service) ForgotAvailable() error {
	if s.mailer == nil && !s.cfg.ResetQR {
		return userErr(Forbidden, msgResetUnavailable)
	}
	return nil
}

// ForgotPassword starts a password reset for the account login names.
func (s *Service) ForgotPassword(ctx context.Context, login string) (Forgot, error) {
	if err := s.ForgotAvailable(); err != nil {
		return Forgot{}, err
	}
	if s.mailer != nil {
		// The answer is the same whether the name is an account or not,
		// and so is its cost: the name is looked up, and the mail
		// prepared and sent, only after the answer has gone out.
		s.queueResetMail(login)
		return Forgot{Email: true}, nil
	}
	// An authenticator QR code is handed to whoever names the account,
	// so here the account's existence is no secret (README: --reset-qr).
	u, err := s.store.UserByLogin(ctx, login)
	if errors.Is(err, ErrNotFound) {
		return Forgot{}, userErr(NotFound, msgNoSuchUser)
	}
	if err != nil {
		return Forgot{}, err
	}
	if u.Disabled {
		return Forgot{}, userErr(Forbidden, "This account is disabled; ask the registry's operator")
	}
	return s.qrReset(ctx, u)
}

// queueResetMail sends a reset email to the account login names, if any,
// in the background.
func (s *Service) queueResetMail(login string) {
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
func (s *Service) mailReset(login string) {
	ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
	defer cancel()
	u, err := s.store.UserByLogin(ctx, login)
	if errors.Is(err, ErrNotFound) {
		return
	}
	if err != nil {
		s.log.Error("password reset", "err", err)
		return
	}
	log := s.log.With("user", u.Username)
	if u.Disabled {
		log.Info("password reset email not sent: the account is disabled")
		return
	}
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
	err = s.mailer.SendReset(ctx, ResetMail{To: u.Email, Name: u.Name, Username: u.Username, Token: token,
		Expires: r.Expires, TTL: s.cfg.ResetTTL})
	if err != nil {
		log.Error("password reset email failed", "err", err)
		return
	}
	log.Info("password reset email sent")
}

// createMailReset creates an emailed reset for u, unless one was created
// less than resendAfter ago (recent is then true). Check and creation
// happen under one lock, so simultaneous requests send one mail.
func (s *Service) createMailReset(ctx context.Context, u User, token string, now time.Time) (r Reset, recent bool, err error) {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	if r, err := s.store.ResetOf(ctx, u.ID); err == nil && !r.QR &&
		r.State(now) == ResetLive && now.Sub(r.Created) < resendAfter {
		return r, true, nil
	}
	r, err = s.store.CreateReset(ctx, u.ID, token, "", s.cfg.ResetTTL)
	return r, false, err
}

// qrReset creates a reset for u and returns its QR code.
func (s *Service) qrReset(ctx context.Context, u User) (Forgot, error) {
	token, err := auth.NewToken()
	if err != nil {
		return Forgot{}, err
	}
	qrID, err := auth.RandomID()
	if err != nil {
		return Forgot{}, err
	}
	code, err := auth.QR(auth.OTPAuthURL(u.Username, token))
	if err != nil {
		return Forgot{}, err
	}
	if _, err := s.store.CreateReset(ctx, u.ID, token, qrID, s.cfg.ResetTTL); err != nil {
		return Forgot{}, err
	}
	return Forgot{QRID: qrID, QRData: code.Data()}, nil
}

// qrScale is the pixels per module of the QR image.
const qrScale = 8

// ResetQR returns the QR code of a reset as a PNG. take uses up its one
// fetch; a look that must not (HEAD) passes false.
func (s *Service) ResetQR(ctx context.Context, qrID string, take bool) ([]byte, error) {
	find := s.store.QRReset
	if take {
		find = s.store.TakeQR
	}
	r, err := find(ctx, qrID)
	if errors.Is(err, ErrNotFound) {
		return nil, userErr(NotFound, msgQRGone)
	}
	if err != nil {
		return nil, err
	}
	code, err := auth.QR(auth.OTPAuthURL(r.Username, r.Token))
	if err != nil {
		return nil, err
	}
	return code.PNG(qrScale)
}

// ResetPassword sets a new password with a reset: mac signs the request
// with what the user typed (the token, or for a QR reset a TOTP code of
// it), login names the signer and username the account in the request
// body (its username or email). It returns the account's username.
func (s *Service) ResetPassword(ctx context.Context, login, username, password string, mac []byte) (string, error) {
	if err := auth.ValidatePassword(password); err != nil {
		return "", userErr(Invalid, err.Error())
	}
	now := s.now()
	r, err := s.store.ResetByLogin(ctx, login)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	// Until the signature checks out, every failure answers msgBadReset
	// after the same work: one query, and as many keys tried as a real
	// reset of this registry's kind has.
	signed := verifyAny(s.resetKeys(r, found, now), mac)
	sameUser := strings.EqualFold(username, r.Username) || strings.EqualFold(username, r.Email)
	if !found || !sameUser || !signed {
		// An emailed token is 256 random bits, a TOTP code only six
		// digits: a few wrong codes cancel a QR reset.
		if found && r.QR && !signed && r.State(now) == ResetLive {
			n, err := s.store.FailReset(ctx, r.ID)
			if err != nil {
				return "", err
			}
			if n >= MaxResetFailures {
				return "", userErr(Unauthorized, msgCancelled)
			}
		}
		return "", userErr(Unauthorized, msgBadReset)
	}
	switch r.State(now) {
	case ResetCancelled:
		return "", userErr(Unauthorized, msgCancelled)
	case ResetUsed:
		return "", userErr(Unauthorized, msgUsed)
	case ResetExpired:
		return "", userErr(Unauthorized, msgExpired)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	if err := s.store.ResetPassword(ctx, r.ID, hash); errors.Is(err, ErrResetDead) {
		// Another request used it, or it expired, while this one hashed.
		return "", userErr(Unauthorized, msgUsed)
	} else if err != nil {
		return "", err
	}
	s.audit(ctx, UserActor(User{ID: r.UserID, Username: r.Username}), AuditEvent{Action: AuditPasswordReset, Subject: r.Username})
	return r.Username, nil
}

// resetKeys are the keys a reset request may be signed with: the token,
// and for a QR reset its current TOTP codes. Without a reset they are
// those of the decoy token, of the kind this registry hands out.
func (s *Service) resetKeys(r Reset, found bool, now time.Time) []string {
	token, qr := r.Token, r.QR
	if !found {
		token, qr = s.decoyKey, s.mailer == nil
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
		if auth.Verify(k, "POST", "/user/resetpassword", mac) { // as the client signs it
			ok = true
		}
	}
	return ok
}
