package registry

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
)

// NewUser is an account about to be created.
type NewUser struct {
	Name, Username, Email, Password string
}

// CheckUser checks the fields of a new account other than its password,
// naming every invalid one at once so that they are fixed in one go.
func CheckUser(name, username, email string) error {
	return invalidAll(auth.ValidateName(name), auth.ValidateUsername(username), auth.ValidateEmail(email))
}

// invalidAll joins the messages of the errors that are not nil into one
// Invalid error.
func invalidAll(errs ...error) error {
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return userErr(Invalid, strings.Join(msgs, "; "))
}

// SignupOpen says whether anyone may create an account: nil, or the
// error that refuses it (which SignUp returns too).
func (s *Service) SignupOpen() error {
	if s.cfg.SignupClosed {
		return userErr(Forbidden, "Sign-up is closed on this registry; ask its operator to create your account")
	}
	return nil
}

// SignUp creates an account for whoever asks, unless sign-up is closed.
func (s *Service) SignUp(ctx context.Context, n NewUser) (User, error) {
	if err := s.SignupOpen(); err != nil {
		return User{}, err
	}
	u, err := s.createUser(ctx, n)
	if err == nil {
		s.audit(ctx, UserActor(u), AuditEvent{Action: AuditUserCreate, Subject: u.Username})
	}
	return u, err
}

// CreateUser is the operator's creation of an account (see createUser).
func (s *Service) CreateUser(ctx context.Context, n NewUser) (User, error) {
	u, err := s.createUser(ctx, n)
	if err == nil {
		s.audit(ctx, OperatorActor, AuditEvent{Action: AuditUserCreate, Subject: u.Username})
	}
	return u, err
}

// createUser creates an account: the display name trimmed (the username
// when empty), every field checked, the password stored as a slow hash.
func (s *Service) createUser(ctx context.Context, n NewUser) (User, error) {
	u, err := newAccount(n)
	if err != nil {
		return User{}, err
	}
	u, err = s.store.CreateUser(ctx, u)
	if errors.Is(err, ErrConflict) {
		return User{}, userErr(Conflict, "User already exists")
	}
	return u, err
}

// newAccount checks a new account's fields and hashes its password.
func newAccount(n NewUser) (User, error) {
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" {
		n.Name = n.Username
	}
	if err := invalidAll(auth.ValidateName(n.Name), auth.ValidateUsername(n.Username),
		auth.ValidateEmail(n.Email), auth.ValidatePassword(n.Password)); err != nil {
		return User{}, err
	}
	hash, err := auth.HashPassword(n.Password)
	if err != nil {
		return User{}, err
	}
	return User{Username: n.Username, Email: n.Email, Name: n.Name, PasswordHash: hash}, nil
}

// UserByLogin finds a user by username or email; ErrNotFound if none.
func (s *Service) UserByLogin(ctx context.Context, login string) (User, error) {
	return s.store.UserByLogin(ctx, login)
}

// SetPassword is the operator's password change: the password checked and
// hashed, every token of the user revoked, any pending reset ended.
func (s *Service) SetPassword(ctx context.Context, u User, password string) error {
	if err := auth.ValidatePassword(password); err != nil {
		return userErr(Invalid, err.Error())
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(ctx, u.ID, hash); err != nil {
		return err
	}
	s.audit(ctx, OperatorActor, AuditEvent{Action: AuditPasswordChange, Subject: u.Username})
	return nil
}

// Login checks a password, under the guard's throttling, and returns a
// new login token. addr is the client's address.
func (s *Service) Login(ctx context.Context, login, password, addr string) (string, error) {
	u, err := s.store.UserByLogin(ctx, login)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	// Failures count per account, whichever of its username or email was
	// typed.
	account := "name:" + strings.ToLower(login)
	if found {
		account = "id:" + strconv.FormatInt(u.ID, 10)
	}
	keys := guardKeys(account, addr)
	if wait := s.guard.begin(keys, s.now()); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		return "", &Error{Kind: TooMany, RetryAfter: time.Duration(secs) * time.Second,
			Msg: "Too many failed logins; wait " + strconv.Itoa(secs) + " seconds and try again"}
	}
	ok := checkPassword(u, found, password)
	if locks := s.guard.end(keys, s.now(), ok); len(locks) > 0 {
		// The name as typed: the trail says what was guessed at, even
		// when no account has that name.
		s.audit(FromClient(ctx, addr), Actor{}, AuditEvent{Action: AuditLoginLockout, Subject: login,
			Detail: strings.Join(locks, "; ")})
	}
	if !ok {
		return "", userErr(Unauthorized, "Invalid username or password")
	}
	if u.Disabled {
		// Said only to whoever knows the password.
		return "", userErr(Forbidden, "This account is disabled; ask the registry's operator")
	}
	token, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	if err := s.store.AddToken(ctx, u.ID, token, s.cfg.TokenTTL); err != nil {
		return "", err
	}
	return token, nil
}

// checkPassword checks a login's password, spending the same time whether
// or not the user exists (found is false when it does not).
func checkPassword(u User, found bool, password string) bool {
	if !found {
		auth.DummyCheck(password)
		return false
	}
	return auth.CheckPassword(u.PasswordHash, password)
}

const badAuthorization = "Invalid authorization: unknown user, or a token that expired or was revoked; run nessemble login"

// Authorize checks a signed request: mac must sign method and route (the
// bare route the client signs) with one of the live tokens of the user
// login names. It returns the user and the token.
func (s *Service) Authorize(ctx context.Context, login string, mac []byte, method, route string) (User, string, error) {
	u, tokens, err := s.store.UserTokens(ctx, login)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, "", err
	}
	// As many keys are tried for every request, whether or not the user
	// exists or has tokens, so that the time taken does not tell.
	match := -1
	for i := range MaxTokensPerUser {
		key := s.decoyKey
		if i < len(tokens) {
			key = tokens[i]
		}
		if auth.Verify(key, method, route, mac) && i < len(tokens) {
			match = i
		}
	}
	// A disabled account has no tokens; a login racing the disable may
	// have added one since, which is refused too.
	if match < 0 || u.Disabled {
		return User{}, "", userErr(Unauthorized, badAuthorization)
	}
	return u, tokens[match], nil
}

// Logout revokes the token that signed the request.
func (s *Service) Logout(ctx context.Context, u User, token string) error {
	if err := s.store.RevokeToken(ctx, u.ID, token); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}
