package registry

import (
	"errors"
	"time"
)

// Sentinel errors that storage returns, and that callers test for with
// errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrTooNew means the data folder was written by a newer binary.
	ErrTooNew = errors.New("database schema is newer than this binary")
	// ErrNoSpace means the disk refused a write; the same request works
	// once the operator has made room.
	ErrNoSpace = errors.New("no space left for the data folder")
	// ErrDamaged means a stored version's tarball is missing or does not
	// match its SHA-1: data loss the operator must hear of, never a "not
	// found".
	ErrDamaged = errors.New("data folder damaged")
	// ErrResetDead means a password reset can no longer be used: it was
	// used, it expired, or too many wrong codes cancelled it.
	ErrResetDead = errors.New("password reset used, expired or cancelled")
)

// Kind says what is wrong with a request, as its user sees it; the HTTP
// sink maps each kind to a status.
type Kind int

// The kinds of Error.
const (
	Invalid      Kind = iota + 1 // malformed, or breaks a rule of form
	Unauthorized                 // no, or wrong, credentials
	Forbidden                    // this registry does not allow it
	NotFound                     // nothing of that name
	WrongMethod                  // right request, wrong verb (publish: POST or PUT)
	Conflict                     // it exists already
	TooLarge                     // over a size limit
	Refused                      // well-formed, but a rule of the registry refuses it
	TooMany                      // too many attempts: wait RetryAfter
	Gone                         // removed by the operator, for good
)

// Error is an error meant for the user: Msg is shown as it is.
type Error struct {
	Kind Kind
	Msg  string
	// RetryAfter, for TooMany, is how long to wait.
	RetryAfter time.Duration
	// Allow, for WrongMethod, is the method to use instead.
	Allow string
}

func (e *Error) Error() string { return e.Msg }

func userErr(kind Kind, msg string) error { return &Error{Kind: kind, Msg: msg} }
