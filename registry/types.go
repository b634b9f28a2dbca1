package registry

import "time"

// User is a registry account.
type User struct {
	ID           int64
	Username     string
	Email        string
	Name         string
	PasswordHash string
	Created      time.Time
}

// Package is a package as lists and searches show it: the fields of its
// newest version.
type Package struct {
	Title       string
	Description string
	Tags        []string
	Owner       string
	Latest      string
	Updated     time.Time
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
}

// Release is a version number and when it was published.
type Release struct {
	Version   string
	Published time.Time
}

// Stored is what storage holds of a title when a publish asks: the rules
// decide on it (see PublishRule).
type Stored struct {
	Exists     bool
	Owner      string
	Latest     string // newest version
	HasVersion bool   // the version being published is stored already
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
