// Package registry holds the registry's rules: accounts, logins and their
// throttling, tokens, password resets, publishing and the reference. It
// knows nothing of HTTP or SQL: the server and the commands call it, and
// it keeps its data through Storage, which the store package implements.
package registry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/reference"
)

// Storage is what the registry needs of the place that keeps its data.
// Lookups that find nothing return ErrNotFound, inserts that collide
// ErrConflict; methods take the caller's context first.
type Storage interface {
	Accounts
	Resets
	Packages
	References
	AuditTrail
}

// Accounts keeps users and their login tokens.
type Accounts interface {
	// CreateUser adds u; a username or email taken, in any case, is
	// ErrConflict.
	CreateUser(ctx context.Context, u User) (User, error)
	// UserByLogin finds a user by username or, failing that, by email,
	// both case-insensitive. Users come with Disabled filled in, here and
	// in UserTokens and ListUsers.
	UserByLogin(ctx context.Context, login string) (User, error)
	// UserTokens is UserByLogin with the user's live tokens, newest first,
	// in one round trip whether or not the user exists.
	UserTokens(ctx context.Context, login string) (User, []string, error)
	// SetPassword replaces a user's password hash, revokes every token of
	// the user and ends any pending reset, at once.
	SetPassword(ctx context.Context, userID int64, hash string) error
	// AddToken records a login token valid for ttl, dropping expired ones
	// and those beyond MaxTokensPerUser.
	AddToken(ctx context.Context, userID int64, token string, ttl time.Duration) error
	RevokeToken(ctx context.Context, userID int64, token string) error
	// CreateUsers adds every user of us or, if any username or email is
	// taken (ErrConflict), none.
	CreateUsers(ctx context.Context, us []User) ([]User, error)
	// SetDisabled disables or enables an account; disabling revokes every
	// token of the user and ends any pending reset, at once.
	SetDisabled(ctx context.Context, userID int64, disabled bool) error
	// ListUsers lists every account, by username.
	ListUsers(ctx context.Context) ([]User, error)
}

// Resets keeps password resets, at most one per user.
type Resets interface {
	// CreateReset replaces the user's reset with a new one living ttl;
	// qrID is "" for one delivered by email.
	CreateReset(ctx context.Context, userID int64, token, qrID string, ttl time.Duration) (Reset, error)
	ResetOf(ctx context.Context, userID int64) (Reset, error)
	// ResetByLogin is the reset of the user a login names, in one round
	// trip whether or not there is one.
	ResetByLogin(ctx context.Context, login string) (Reset, error)
	// FailReset counts a wrong code and returns how many there have been.
	FailReset(ctx context.Context, resetID int64) (int, error)
	// ResetPassword uses a live reset: the password as SetPassword, the
	// reset marked used; ErrResetDead if it is no longer live.
	ResetPassword(ctx context.Context, resetID int64, hash string) error
	// QRReset finds the live QR reset of an image id; TakeQR also uses the
	// image's one fetch up.
	QRReset(ctx context.Context, qrID string) (Reset, error)
	TakeQR(ctx context.Context, qrID string) (Reset, error)
}

// Packages keeps packages, their versions and tarballs, and the change
// log.
type Packages interface {
	// Publish stores v, owned by owner if the title is new, with its
	// tarball, once rule has accepted what is stored of the title, all
	// under one write lock: no other publish of any process comes between
	// the rule and the write. v.Title takes the stored spelling. A change
	// is logged in the same transaction.
	//
	// The owner becomes the package's first owner. Stored.Latest is the
	// highest version of any state; Stored.Owners lists every owner.
	Publish(ctx context.Context, owner string, v Version, tarball []byte, rule func(Stored) error) (Version, error)
	// Package returns a package, removed ones included (Removed set).
	// Latest is the newest version neither yanked nor removed, "" when
	// there is none.
	Package(ctx context.Context, title string) (Package, error)
	// Version returns one version of a package, yanked and removed ones
	// included (their fields say so); "" means Package.Latest, and is
	// ErrNotFound when that is "".
	Version(ctx context.Context, title, version string) (Version, error)
	// Releases lists a package's versions that are not removed, newest
	// first, yanked ones marked.
	Releases(ctx context.Context, title string) ([]Release, error)
	// Owners lists a package's owners in the order they were added;
	// ErrNotFound if there is no such package.
	Owners(ctx context.Context, title string) ([]string, error)

	// The writes below run rule on what is stored of title and version
	// (Stored, with HasVersion, Yanked and VersionRemoved of version)
	// under the write lock, as Publish does, and write only if it returns
	// nil; each logs its change (ChangeYank, ChangeUnyank, ChangeOwners,
	// ChangeRemove) in the same transaction and moves Package.Latest.

	// SetYanked yanks a version, or with yanked false restores it, and
	// returns the package as it is then.
	SetYanked(ctx context.Context, title, version string, yanked bool, rule func(Stored) error) (Package, error)
	// SetOwner adds username to the package's owners, or with add false
	// removes it.
	SetOwner(ctx context.Context, title, username string, add bool, rule func(Stored) error) error
	// Remove marks one version (version "": the package and every version
	// of it) removed for reason, keeping the rows so that nothing is
	// published under them again, and deletes the tarballs once that is
	// committed.
	Remove(ctx context.Context, title, version, reason string, rule func(Stored) error) error
	ListPackages(ctx context.Context, o ListOptions) ([]Package, int, error)
	// ByAuthor returns a page of the packages whose newest version names
	// author (any case) as its author, by title, and how many there are.
	ByAuthor(ctx context.Context, author string, offset, limit int) ([]Package, int, error)
	// Search returns a page of the packages whose title, description or
	// tags contain term, the exact title first, and how many match.
	Search(ctx context.Context, term string, offset, limit int) ([]Package, int, error)
	// Tarball returns the tarball with this SHA-1; ErrDamaged if it is
	// missing or altered.
	Tarball(shasum string) ([]byte, error)
	Counts(ctx context.Context) (packages, users int, err error)
	// CountVersions is the number of versions of all packages.
	CountVersions(ctx context.Context) (int, error)

	// Changes is the serial of the last change storage has caught up to:
	// whatever was derived from package data at one serial is stale once
	// it moves. CatchUp reads the changes other processes made since.
	Changes() int64
	CatchUp(ctx context.Context) error
	// ChangesSince returns up to limit entries of the change log after
	// serial, oldest first, whatever their kind.
	ChangesSince(ctx context.Context, serial int64, limit int) ([]Change, error)

	// MirrorSerial is how far, in the change log of the registry at
	// upstream, a mirror of it got (0: never); SetMirrorSerial records it.
	MirrorSerial(ctx context.Context, upstream string) (int64, error)
	SetMirrorSerial(ctx context.Context, upstream string, serial int64) error
}

// References keeps the reference documentation.
type References interface {
	// ReplaceReference swaps the whole reference at once.
	ReplaceReference(ctx context.Context, entries []reference.Entry) error
	Reference(ctx context.Context) ([]reference.Entry, error)
	// ReferenceGeneration is the serial of the last reference change seen;
	// 0 means none was ever imported.
	ReferenceGeneration() int64
}

// AuditTrail keeps the append-only audit trail.
type AuditTrail interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
	// Audit returns the events q selects, oldest first.
	Audit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// Mailer delivers password-reset tokens by email.
type Mailer interface {
	SendReset(ctx context.Context, m ResetMail) error
}

// ResetMail is what a reset email says.
type ResetMail struct {
	To, Name, Username, Token string
	Expires                   time.Time
	TTL                       time.Duration
}

// Config holds the registry's settings. Zero values take the defaults.
type Config struct {
	// TokenTTL is how long a login token lives.
	TokenTTL time.Duration
	// ResetTTL is how long a password-reset token lives.
	ResetTTL time.Duration
	// SignupClosed refuses SignUp (CreateUser, the operator's, still works).
	SignupClosed bool
	// ResetQR turns on the authenticator QR fallback of password reset
	// when there is no Mailer. It hands a reset credential to anyone who
	// names an account: fine on a classroom LAN, not on the internet.
	ResetQR bool
	// ReadOnly refuses every write of the registry's users (publish,
	// sign-up, login, logout, password resets): a mirror that serves what
	// it copies from its upstream. Mirror runs and commands still write.
	ReadOnly bool
}

// Defaults.
const (
	DefaultTokenTTL = 24 * time.Hour
	DefaultResetTTL = 10 * time.Minute
)

// Service is the registry: every rule, over a Storage.
type Service struct {
	store  Storage
	cfg    Config
	mailer Mailer // nil: no email
	log    *slog.Logger
	now    func() time.Time
	guard  *guard

	// decoyKey stands in for the token of a user that does not exist, so
	// that checking a signature costs the same either way.
	decoyKey  string
	mailMu    sync.Mutex    // see createMailReset
	mailSlots chan struct{} // see queueResetMail
	// background counts work left running after an answer (reset emails),
	// which Wait waits for.
	background sync.WaitGroup

	refMu sync.Mutex
	ref   *refCache
}

// New builds the registry over st. mailer may be nil (no email); log
// receives what goes wrong where no caller would see it.
func New(st Storage, cfg Config, mailer Mailer, log *slog.Logger) *Service {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.ResetTTL <= 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	s := &Service{
		store: st, cfg: cfg, mailer: mailer, log: log, now: time.Now,
		guard: newGuard(), mailSlots: make(chan struct{}, maxMailsInFlight),
	}
	s.decoyKey, _ = auth.NewToken() // crypto/rand never fails since Go 1.24
	return s
}

// MsgReadOnly is what every write gets from a read-only registry.
const MsgReadOnly = "This registry is a read-only mirror; publish to its upstream, and log in or sign up there"

// Writable says whether users may write to this registry: nil, or the
// error that refuses every write (see Config.ReadOnly).
func (s *Service) Writable() error {
	if s.cfg.ReadOnly {
		return userErr(Forbidden, MsgReadOnly)
	}
	return nil
}

// writableBy is Writable for a user; the operator, at the command line,
// may write to a read-only registry.
func (s *Service) writableBy(by Actor) error {
	if by.Operator {
		return nil
	}
	return s.Writable()
}

// SetClock replaces the registry's clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Wait waits for the work answers left running (reset emails), or until
// ctx ends.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.background.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// followEvery is how often Follow reads the change log, so that what a
// command or another process writes to the data folder is served within a
// second.
const followEvery = 250 * time.Millisecond

// Waker is what a Storage offers when other processes can tell it of a
// change as they commit it (PostgreSQL's NOTIFY): Follow then catches up
// at once instead of at its next tick.
type Waker interface {
	Wake() <-chan struct{}
}

// Follow keeps storage up with the change log until stop closes.
func (s *Service) Follow(stop <-chan struct{}) {
	t := time.NewTicker(followEvery)
	defer t.Stop()
	var wake <-chan struct{} // nil: ticks only
	if w, ok := s.store.(Waker); ok {
		wake = w.Wake()
	}
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		case <-wake:
		}
		err := s.store.CatchUp(context.Background())
		if err != nil && !failing {
			s.log.Warn("cannot read the change log; answers may be stale until it can", "err", err)
		}
		failing = err != nil
	}
}

// Serial is where the registry stands in the change log (see
// Packages.Changes).
func (s *Service) Serial() int64 { return s.store.Changes() }
