package registry

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/reference"
)

// MirrorOwner owns every package that a mirror run or a bundle import
// brought in. No username can be it (usernames start with a letter or a
// digit), so no user of this registry can publish to a mirrored package,
// and a mirror never adds to a package published here.
const MirrorOwner = "@mirror"

// MaxChangesPage bounds one page of the change feed.
const MaxChangesPage = 1000

// Incoming is a version as another registry serves it: what its
// documents say and its tarball, byte for byte.
type Incoming struct {
	Title, Version string
	// Shasum is the SHA-1 the upstream gives for the tarball (its
	// document's shasum; the mirror checks X-Integrity against it too).
	Shasum    string
	Published time.Time
	Tarball   []byte
}

// Changes returns up to limit entries of the change log after serial,
// oldest first, and the log's last serial.
func (s *Service) Changes(ctx context.Context, since int64, limit int) ([]Change, int64, error) {
	if since < 0 {
		return nil, 0, userErr(Invalid, "since must be a serial of 0 or more")
	}
	if limit <= 0 || limit > MaxChangesPage {
		limit = MaxChangesPage
	}
	// The last serial first: the page then reaches at least as far, and a
	// client that stores the page's last serial misses nothing.
	if err := s.store.CatchUp(ctx); err != nil {
		return nil, 0, err
	}
	last := s.store.Changes()
	cs, err := s.store.ChangesSince(ctx, since, limit)
	if err != nil {
		return nil, 0, err
	}
	if n := len(cs); n > 0 && cs[n-1].Serial > last {
		last = cs[n-1].Serial
	}
	return cs, last, nil
}

// HaveVersion reports whether a version is stored with this shasum; one
// stored with another shasum is a Conflict, never overwritten.
func (s *Service) HaveVersion(ctx context.Context, title, version, shasum string) (bool, error) {
	v, err := s.store.Version(ctx, title, version)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if v.Removed {
		return true, nil // the operator removed it here: left so
	}
	if !strings.EqualFold(v.Shasum, shasum) {
		return false, userErr(Conflict, "version "+version+" of "+title+" is stored here with shasum "+v.Shasum+
			", upstream has "+shasum+"; kept the local one")
	}
	return true, nil
}

// Added says what AddMirrored stored: the version, and with it a new
// package; neither when the version was stored already.
type Added struct {
	Version, Package bool
}

// AddMirrored verifies a version from another registry and stores it as
// it came, owned by MirrorOwner and keeping its upstream author and date:
// the tarball's SHA-1 must be in.Shasum, and it must pass the publish
// rules (archive.ReadUpload: size, members, package.json) and name the
// title and version it came as. A version stored already with the same
// shasum is left as it is. A version that fails is refused with an
// *Error saying why, and nothing is stored.
func (s *Service) AddMirrored(ctx context.Context, in Incoming) (Added, error) {
	v, err := VerifyIncoming(in)
	if err != nil {
		return Added{}, err
	}
	var existed bool
	rule := func(st Stored) error {
		existed = st.Exists
		return mirrorRule(in.Title)(st)
	}
	_, err = s.store.Publish(ctx, MirrorOwner, v, in.Tarball, rule)
	if errors.Is(err, errWithheld) {
		return Added{}, nil
	}
	if errors.Is(err, ErrConflict) {
		// Stored already: the same, or a conflict.
		_, err := s.HaveVersion(ctx, in.Title, in.Version, in.Shasum)
		return Added{}, err
	}
	if err != nil {
		return Added{}, err
	}
	return Added{Version: true, Package: !existed}, nil
}

// VerifyIncoming checks a version from another registry (see
// AddMirrored) and returns it as it would be stored.
func VerifyIncoming(in Incoming) (Version, error) {
	sum := sha1.Sum(in.Tarball)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(in.Shasum) {
		return Version{}, userErr(Refused, "tarball SHA-1 "+got+" is not the shasum "+in.Shasum+" its document gives")
	}
	if len(in.Tarball) >= archive.ClientLimit {
		return Version{}, userErr(Refused, "tarball too large for the nessemble client (64 KiB at most)")
	}
	up, err := archive.ReadUpload(bytes.NewReader(in.Tarball), archive.DefaultLimits)
	if ae := (*archive.Error)(nil); errors.As(err, &ae) {
		return Version{}, userErr(Refused, "tarball refused by the publish rules: "+ae.Msg)
	}
	if err != nil {
		return Version{}, err
	}
	m := up.Manifest
	if !strings.EqualFold(m.Title, in.Title) || m.Version != in.Version {
		return Version{}, userErr(Refused, "tarball holds "+m.Title+" "+m.Version+", not "+in.Title+" "+in.Version)
	}
	if in.Published.IsZero() {
		return Version{}, userErr(Refused, "no publish date")
	}
	return Version{
		Title: m.Title, Version: m.Version, Description: m.Description, Author: m.Author,
		License: m.License, Tags: m.Tags, Readme: string(up.Readme), Published: in.Published,
	}, nil
}

// errWithheld is a mirrored package that the operator removed here: a
// mirror never brings it back.
var errWithheld = errors.New("removed here by the operator")

// mirrorRule lets a mirror add any version not stored yet of a package it
// brought in, or create the package; a package published here is never
// touched, nor one the operator removed.
func mirrorRule(title string) func(Stored) error {
	return func(st Stored) error {
		switch {
		case st.Removed:
			return errWithheld
		case st.Exists && !strings.EqualFold(st.Owner, MirrorOwner):
			return userErr(Refused, "a package "+title+" was published on this registry; a mirror never changes it")
		case st.HasVersion:
			return ErrConflict // AddMirrored compares the shasums
		}
		return nil
	}
}

// errNothingToDo is a change from an upstream that already holds here,
// or that is not the mirror's to make.
var errNothingToDo = errors.New("nothing to do")

// MirrorReason is the removal reason of what a mirror removes because its
// upstream did.
const MirrorReason = "Removed from the registry this one mirrors"

// MirrorChange applies to a mirrored package a yank, unyank or removal
// that the upstream's change feed reports (other kinds: nothing; owners
// are accounts, which are never copied). A package published here is
// never touched; a version the mirror does not have, or has in that state
// already, is left as it is. It reports whether it changed anything.
func (s *Service) MirrorChange(ctx context.Context, c Change) (bool, error) {
	rule := func(want func(Stored) bool) func(Stored) error {
		return func(st Stored) error {
			if !st.Exists || !strings.EqualFold(st.Owner, MirrorOwner) || st.Removed ||
				c.Version != "" && (!st.HasVersion || st.VersionRemoved) || !want(st) {
				return errNothingToDo
			}
			return nil
		}
	}
	var err error
	switch c.Kind {
	case ChangeYank, ChangeUnyank:
		yank := c.Kind == ChangeYank
		if c.Version == "" {
			return false, nil
		}
		_, err = s.store.SetYanked(ctx, c.Title, c.Version, yank, rule(func(st Stored) bool { return st.Yanked != yank }))
	case ChangeRemove:
		err = s.store.Remove(ctx, c.Title, c.Version, MirrorReason, rule(func(Stored) bool { return true }))
	default:
		return false, nil
	}
	if errors.Is(err, errNothingToDo) || errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// RecordMirrored puts a mirror run or bundle import (action AuditMirror or
// AuditImport) that stored or changed something in the audit trail, as
// the operator's. One event a run, not one a version: mirroring
// thousands of versions costs one more commit, not thousands. from says
// where the packages came from.
func (s *Service) RecordMirrored(ctx context.Context, action, from string, versions, moderated int) {
	if versions == 0 && moderated == 0 {
		return
	}
	s.audit(ctx, OperatorActor, AuditEvent{Action: action,
		Detail: fmt.Sprintf("%d new versions and %d yanks, unyanks or removals from %s", versions, moderated, from)})
}

// MirrorReference replaces the reference with entries from another
// registry, after the rules of reference.Load, only when it differs from
// the stored one (so that a mirror run with nothing new changes nothing).
func (s *Service) MirrorReference(ctx context.Context, entries []reference.Entry) (changed bool, err error) {
	c, err := s.ImportReference(ctx, entries, true)
	if err != nil || len(c.Added)+len(c.Changed)+len(c.Removed) == 0 {
		return false, err
	}
	_, err = s.ImportReference(ctx, entries, false)
	return err == nil, err
}

// MirrorSerial is the serial of the upstream's change log that the mirror
// of upstream has stored everything up to; 0 when it never ran.
func (s *Service) MirrorSerial(ctx context.Context, upstream string) (int64, error) {
	return s.store.MirrorSerial(ctx, upstream)
}

// SetMirrorSerial records how far the mirror of upstream got.
func (s *Service) SetMirrorSerial(ctx context.Context, upstream string, serial int64) error {
	return s.store.SetMirrorSerial(ctx, upstream, serial)
}

// Reference returns the stored reference documentation, every term.
func (s *Service) Reference(ctx context.Context) ([]reference.Entry, error) {
	return s.store.Reference(ctx)
}
