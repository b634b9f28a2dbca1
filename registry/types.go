package registry

import (
	"time"

	"github.com/nessemble/nessemble-registry/internal/semver"
)

// User is a registry account.
type User struct {
	ID           int64
	Username     string
	Email        string
	Name         string
	PasswordHash string
	Created      time.Time
	// Disabled accounts cannot log in and have no live tokens.
	Disabled bool
}

// Package is a package as lists and searches show it: the fields of its
// newest version.
type Package struct {
	Title       string
	Description string
	Tags        []string
	Owner       string // the account that created it; Owners has them all
	Latest      string // newest version neither yanked nor removed; "" if none
	Updated     time.Time
	// Removed is set when the operator removed the whole package, for
	// RemovedReason; its title is never given out again.
	Removed       bool
	RemovedReason string
}

// Version is one published version of a package.
type Version struct {
	Title       string
	Version     string
	Description string
	Author      string
	License     string
	Tags        []string
	Readme      string
	Shasum      string // SHA-1 of the canonical tarball, lowercase hex
	Size        int64  // tarball size in bytes
	Published   time.Time
	// Yanked versions are no longer a package's newest, but stay
	// installable by number.
	Yanked bool
	// Removed versions have no tarball any more; reads answer 410 with
	// RemovedReason.
	Removed       bool
	RemovedReason string
}

// Release is a version number and when it was published. Removed
// versions are not releases.
type Release struct {
	Version   string
	Published time.Time
	Yanked    bool
}

// Stored is what storage holds of a title, and of one version of it, when
// a write asks (publish, yank, owner change, removal): the rules decide on
// it (see PublishRule, YankRule, OwnerRule, RemoveRule).
type Stored struct {
	Exists bool
	Owner  string   // the account that created the package
	Owners []string // every owner, the creator included, in the order they were added
	Latest string   // highest version stored, yanked and removed ones included
	// Served is the version GET /package/NAME serves: the newest neither
	// yanked nor removed, "" when there is none.
	Served     string
	HasVersion bool // the version asked about is stored already
	// Removed: the operator removed the whole package.
	Removed bool
	// Yanked and VersionRemoved are the state of the version asked about.
	Yanked         bool
	VersionRemoved bool
}

// Add folds one stored version of the package into st, for a write about
// version: Latest is the highest number in any state; HasVersion, Yanked
// and VersionRemoved describe version itself. Each storage calls it for
// every version row, so that the rules see the same Stored from both.
func (st *Stored) Add(stored string, yanked, removed bool, version string) {
	if st.Latest == "" || semver.Compare(stored, st.Latest) > 0 {
		st.Latest = stored
	}
	if stored == version {
		st.HasVersion, st.Yanked, st.VersionRemoved = true, yanked, removed
	}
}

// Stats is what storage holds, for monitoring: counts of rows (removed
// ones included), the database's size and the tarballs' bytes.
type Stats struct {
	Packages, Versions, Users   int64
	DatabaseBytes, TarballBytes int64
}

// ListOptions selects a page of packages.
type ListOptions struct {
	Offset, Limit int
	ByDescription bool // sort by description instead of title
	Desc          bool // descending order
}

// Reset is a user's password reset.
type Reset struct {
	ID       int64
	UserID   int64
	Username string
	Email    string
	// Token is the reset credential: the HMAC key of the reset request.
	Token string
	// QR is set when the token was handed out as an authenticator QR code;
	// only then are its TOTP codes accepted in place of the token.
	QR bool
	// QRID is the one-time id of the QR image; "" once it was fetched.
	QRID     string
	Created  time.Time
	Expires  time.Time
	Used     bool
	Failures int
}

// MaxResetFailures is how many wrong codes cancel a QR-delivered reset.
// Its TOTP codes have only six digits, so guessing must stay bounded.
const MaxResetFailures = 5

// ResetState says whether a reset can still be used, and if not, why.
type ResetState int

// The states of a reset, in the order State checks them.
const (
	ResetLive ResetState = iota
	ResetUsed
	ResetCancelled
	ResetExpired
)

// State reports the reset's state at time now.
func (r Reset) State(now time.Time) ResetState {
	switch {
	case r.Used:
		return ResetUsed
	case r.Failures >= MaxResetFailures:
		return ResetCancelled
	case !now.Before(r.Expires):
		return ResetExpired
	}
	return ResetLive
}

// Kinds of change in the change log.
const (
	ChangePublish   = "publish"   // a version was stored
	ChangeReference = "reference" // the reference was replaced
	ChangeYank      = "yank"      // a version was yanked
	ChangeUnyank    = "unyank"    // a yanked version was restored
	ChangeRemove    = "remove"    // the operator removed a version (or, Version "", a package)
	ChangeOwners    = "owners"    // a package's owners changed
)

// Change is one entry of the change log: every change to package data or
// to the reference, in the order storage committed them.
type Change struct {
	Serial  int64
	Kind    string
	Title   string // package changes only
	Version string
	Shasum  string
	At      time.Time
}

// MaxTokensPerUser bounds live login tokens per user; logging in once more
// drops the oldest. Checking a signature tries each live token, so this
// also bounds the work one request can cause.
const MaxTokensPerUser = 16

// AuditEvent is one line of the audit trail: who did what, from where,
// when. It never holds a secret.
type AuditEvent struct {
	ID int64
	At time.Time
	// Actor is the username that acted, "operator:NAME" for a command,
	// "" when nobody was logged in (a lockout).
	Actor   string
	Addr    string // the client's address, or "command line"
	Action  string // one of the Audit* constants
	Package string
	Version string
	Subject string // the account acted on, if any
	Detail  string // a removal's reason, a lockout's counter
}

// Actions of the audit trail.
const (
	AuditPublish        = "publish"
	AuditYank           = "yank"
	AuditUnyank         = "unyank"
	AuditRemove         = "remove"
	AuditOwnerAdd       = "owner-add"
	AuditOwnerRemove    = "owner-remove"
	AuditUserCreate     = "user-create"
	AuditUserDisable    = "user-disable"
	AuditUserEnable     = "user-enable"
	AuditPasswordChange = "password-change"
	AuditPasswordReset  = "password-reset"
	AuditLoginLockout   = "login-lockout"
	AuditMirror         = "mirror" // a mirror run that stored or changed something
	AuditImport         = "import" // a bundle import that did
)

// AuditQuery selects audit events, oldest first. Zero fields select all.
type AuditQuery struct {
	Since   time.Time
	User    string // actor or subject, any case
	Package string // any case
	Limit   int    // at most this many, the newest; 0 for all
}
