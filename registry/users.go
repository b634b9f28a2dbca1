package registry

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/nessemble/nessemble-registry/auth"
)

// ListUsers lists every account, by username.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) { return s.store.ListUsers(ctx) }

// SetDisabled disables the account login names (disabled true) or enables
// it again. A disabled account cannot log in, every token it had is
// revoked at once and any pending reset ended; its packages stay.
func (s *Service) SetDisabled(ctx context.Context, login string, disabled bool) (User, error) {
	u, err := s.store.UserByLogin(ctx, login)
	if errors.Is(err, ErrNotFound) {
		return User{}, userErr(NotFound, "No user "+login)
	}
	if err != nil {
		return User{}, err
	}
	switch {
	case disabled && u.Disabled:
		return u, userErr(Conflict, u.Username+" is disabled already")
	case !disabled && !u.Disabled:
		return u, userErr(Conflict, u.Username+" is not disabled")
	}
	if err := s.store.SetDisabled(ctx, u.ID, disabled); err != nil {
		return User{}, err
	}
	u.Disabled = disabled
	action := AuditUserDisable
	if !disabled {
		action = AuditUserEnable
	}
	s.audit(ctx, OperatorActor, AuditEvent{Action: action, Subject: u.Username})
	return u, nil
}

// MaxBatchUsers bounds the accounts one CreateUsers call makes: a class,
// or a few, at once.
const MaxBatchUsers = 500

// BatchError is a CreateUsers failure of one account: Index is its place
// in the batch.
type BatchError struct {
	Index int
	Err   error
}

func (e *BatchError) Error() string { return e.Err.Error() }
func (e *BatchError) Unwrap() error { return e.Err }

// CreateUsers is the operator's creation of many accounts at once, all or
// none: every account is checked (its fields, a name or email taken,
// here or earlier in the batch) before any is created. An account without
// a password gets a readable one generated (auth.ReadablePassword), which
// passwords returns in the batch's order ("" for the others): it is shown
// once and stored only as a hash.
func (s *Service) CreateUsers(ctx context.Context, batch []NewUser) (created []User, passwords []string, err error) {
	if len(batch) == 0 {
		return nil, nil, userErr(Invalid, "No accounts to create")
	}
	if len(batch) > MaxBatchUsers {
		return nil, nil, userErr(TooLarge, "At most "+strconv.Itoa(MaxBatchUsers)+" accounts at once")
	}
	batch = slices.Clone(batch)
	passwords = make([]string, len(batch))
	seen := map[string]bool{}
	us := make([]User, len(batch))
	for i, n := range batch {
		fail := func(err error) ([]User, []string, error) { return nil, nil, &BatchError{Index: i, Err: err} }
		if n.Password == "" {
			n.Password = auth.ReadablePassword()
			passwords[i] = n.Password
		}
		for _, f := range [][2]string{{"Username ", n.Username}, {"Email ", n.Email}} {
			key := f[0] + strings.ToLower(f[1])
			if seen[key] {
				return fail(userErr(Conflict, f[0]+f[1]+" appears twice"))
			}
			seen[key] = true
		}
		// Cheap checks of every account first: a typo in the last row
		// should not wait for thirty password hashes.
		if err := CheckUser(strings.TrimSpace(n.Name), n.Username, n.Email); err != nil {
			return fail(err)
		}
		if err := auth.ValidatePassword(n.Password); err != nil {
			return fail(userErr(Invalid, err.Error()))
		}
		for _, login := range []string{n.Username, n.Email} {
			if _, err := s.store.UserByLogin(ctx, login); err == nil {
				return fail(userErr(Conflict, "User already exists: "+login))
			} else if !errors.Is(err, ErrNotFound) {
				return nil, nil, err
			}
		}
		batch[i] = n
	}
	for i, n := range batch {
		if us[i], err = newAccount(n); err != nil {
			return nil, nil, &BatchError{Index: i, Err: err}
		}
	}
	created, err = s.store.CreateUsers(ctx, us)
	if errors.Is(err, ErrConflict) {
		// Taken by someone else meanwhile.
		return nil, nil, userErr(Conflict, "An account of the batch was created by someone else meanwhile; nothing was created, run it again")
	}
	if err != nil {
		return nil, nil, err
	}
	for _, u := range created {
		s.audit(ctx, OperatorActor, AuditEvent{Action: AuditUserCreate, Subject: u.Username})
	}
	return created, passwords, nil
}
