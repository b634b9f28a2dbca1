package registry

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Actor is who asks for a change that depends on who asks: an account
// signed in over the API, or the operator at the command line, who may
// act on every package.
type Actor struct {
	User     User // the signed-in account; zero for the operator
	Operator bool
}

// OperatorActor is the operator acting from the command line.
var OperatorActor = Actor{Operator: true}

// UserActor is an account acting over the API.
func UserActor(u User) Actor { return Actor{User: u} }

// mayManage reports whether a may yank versions of, and change the owners
// of, a package with these owners.
func (a Actor) mayManage(owners []string) bool {
	return a.Operator || a.User.Username != "" && isOwner(owners, a.User.Username)
}

func isOwner(owners []string, username string) bool {
	return slices.ContainsFunc(owners, func(o string) bool { return strings.EqualFold(o, username) })
}

// packageRule refuses what no change of a package may go through: a
// package that does not exist or was removed, a version (when named) it
// does not have or that was removed, and an actor who is not one of its
// owners. what says what the actor wanted, for the message.
func packageRule(by Actor, title, version, what string) func(Stored) error {
	return func(st Stored) error {
		switch {
		case !st.Exists:
			return userErr(NotFound, "Package does not exist")
		case st.Removed:
			return userErr(Gone, "Package "+title+" was removed from this registry by its operator")
		case version != "" && !st.HasVersion:
			return userErr(NotFound, "Package "+title+" has no version "+version)
		case version != "" && st.VersionRemoved:
			return userErr(Gone, title+" "+version+" was removed from this registry by its operator")
		case !by.mayManage(st.Owners):
			return userErr(Forbidden, "Only the owners of "+title+" may "+what+"; its owners are "+strings.Join(st.Owners, ", "))
		}
		return nil
	}
}

// YankRule is the rule of yanking (yanked true) and restoring a version:
// only its package's owners, or the operator, and only a version not
// removed and not yanked already (or, to restore, yanked).
func YankRule(by Actor, title, version string, yanked bool) func(Stored) error {
	what := "yank its versions"
	if !yanked {
		what = "unyank its versions"
	}
	base := packageRule(by, title, version, what)
	return func(st Stored) error {
		if err := base(st); err != nil {
			return err
		}
		switch {
		case yanked && st.Yanked:
			return userErr(Conflict, title+" "+version+" is yanked already")
		case !yanked && !st.Yanked:
			return userErr(Conflict, title+" "+version+" is not yanked")
		}
		return nil
	}
}

// Yank yanks a version (yanked true) or restores it: a yanked version is
// no longer its package's newest, and stays installable by its number.
// It returns the package as it is then (Latest: what `install NAME`
// gets now).
func (s *Service) Yank(ctx context.Context, by Actor, title, version string, yanked bool) (Package, error) {
	if title == "" || version == "" {
		return Package{}, userErr(Invalid, "Name a package and a version")
	}
	p, err := s.store.SetYanked(ctx, title, version, yanked, YankRule(by, title, version, yanked))
	if err != nil {
		return Package{}, err
	}
	action := AuditYank
	if !yanked {
		action = AuditUnyank
	}
	s.audit(ctx, by, AuditEvent{Action: action, Package: p.Title, Version: version})
	return p, nil
}

// OwnerRule is the rule of owner changes: only an owner, or the operator;
// adding someone who is not an owner yet, removing an owner, but never
// the last one (a package always has someone who may publish it).
func OwnerRule(by Actor, title, username string, add bool) func(Stored) error {
	base := packageRule(by, title, "", "change its owners")
	return func(st Stored) error {
		if err := base(st); err != nil {
			return err
		}
		owner := isOwner(st.Owners, username)
		switch {
		case add && owner:
			return userErr(Conflict, username+" is an owner of "+title+" already")
		case !add && !owner:
			return userErr(NotFound, username+" is not an owner of "+title)
		case !add && len(st.Owners) == 1:
			return userErr(Refused, username+" is the last owner of "+title+" and cannot be removed; add another owner first")
		}
		return nil
	}
}

// Owners lists a package's owners in the order they were added, with the
// package's title as stored.
func (s *Service) Owners(ctx context.Context, title string) (string, []string, error) {
	p, err := s.store.Package(ctx, title)
	if errors.Is(err, ErrNotFound) {
		return "", nil, userErr(NotFound, "Package does not exist")
	}
	if err != nil {
		return "", nil, err
	}
	if p.Removed {
		return "", nil, removedErr(p.Title, "", p.RemovedReason)
	}
	owners, err := s.store.Owners(ctx, p.Title)
	return p.Title, owners, err
}

// ChangeOwner adds username to a package's owners (add true) or removes
// it, and returns the package's title as stored and its owners then.
// Only an existing account that is not disabled can become an owner.
func (s *Service) ChangeOwner(ctx context.Context, by Actor, title, username string, add bool) (string, []string, error) {
	if title == "" || username == "" {
		return "", nil, userErr(Invalid, "Name a package and a user")
	}
	if add {
		u, err := s.store.UserByLogin(ctx, username)
		if errors.Is(err, ErrNotFound) || err == nil && !strings.EqualFold(u.Username, username) {
			return "", nil, userErr(NotFound, "No user "+username+": owners are accounts of this registry, named by username")
		}
		if err != nil {
			return "", nil, err
		}
		if u.Disabled {
			return "", nil, userErr(Refused, "The account "+u.Username+" is disabled and cannot become an owner")
		}
		username = u.Username
	}
	if err := s.store.SetOwner(ctx, title, username, add, OwnerRule(by, title, username, add)); err != nil {
		return "", nil, err
	}
	p, err := s.store.Package(ctx, title)
	if err != nil {
		return "", nil, err
	}
	action := AuditOwnerAdd
	if !add {
		action = AuditOwnerRemove
	}
	s.audit(ctx, by, AuditEvent{Action: action, Package: p.Title, Subject: username})
	owners, err := s.store.Owners(ctx, p.Title)
	return p.Title, owners, err
}

// MaxReasonLen bounds a removal's reason, which every read of what was
// removed repeats.
const MaxReasonLen = 200

// RemoveRule is the rule of removals: the operator only, and only what
// is there and not removed already.
func RemoveRule(by Actor, title, version string) func(Stored) error {
	return func(st Stored) error {
		switch {
		case !by.Operator:
			return userErr(Forbidden, "Only the registry's operator may remove packages")
		case !st.Exists:
			return userErr(NotFound, "Package does not exist")
		case st.Removed:
			return userErr(Conflict, "Package "+title+" is removed already")
		case version != "" && !st.HasVersion:
			return userErr(NotFound, "Package "+title+" has no version "+version)
		case version != "" && st.VersionRemoved:
			return userErr(Conflict, title+" "+version+" is removed already")
		}
		return nil
	}
}

// Remove removes a version of a package, or with version "" the whole
// package, for reason: the tarballs are deleted, reads answer Gone with
// the reason, and nothing is ever published again under that title and
// version (under that title at all, for a package).
func (s *Service) Remove(ctx context.Context, by Actor, title, version, reason string) error {
	reason = strings.TrimSpace(reason)
	if err := checkReason(reason); err != nil {
		return err
	}
	if title == "" {
		return userErr(Invalid, "Name a package")
	}
	p, err := s.store.Package(ctx, title)
	if err == nil {
		title = p.Title
	}
	if err := s.store.Remove(ctx, title, version, reason, RemoveRule(by, title, version)); err != nil {
		return err
	}
	s.audit(ctx, by, AuditEvent{Action: AuditRemove, Package: title, Version: version, Detail: reason})
	return nil
}

// checkReason requires a removal's reason: one line of printable text,
// which reads of what was removed show (the nessemble client prints it
// with printf, so no "%").
func checkReason(reason string) error {
	switch {
	case reason == "":
		return userErr(Invalid, "Give the reason for the removal (--reason): every read of what was removed shows it")
	case utf8.RuneCountInString(reason) > MaxReasonLen || !utf8.ValidString(reason):
		return userErr(Invalid, "The reason must be UTF-8 text of at most 200 characters")
	case strings.ContainsRune(reason, '%'):
		return userErr(Invalid, "The reason must not contain % (the nessemble client would crash printing it)")
	case strings.IndexFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return userErr(Invalid, "The reason must be one line of printable text")
	}
	return nil
}

// removedErr is the answer to a read of what the operator removed.
func removedErr(title, version, reason string) error {
	what := "Package " + title
	if version != "" {
		what = title + " " + version
	}
	return userErr(Gone, what+" was removed from this registry by its operator: "+reason)
}
