package registry

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/internal/semver"
)

// Mode says what a publish may do.
type Mode int

const (
	// Create adds a new package; the title must be free.
	Create Mode = iota
	// Update adds a version newer than every stored one to a package the
	// publisher owns.
	Update
	// Import adds any version not stored yet of a package the publisher
	// owns, creating it if needed: for seeding, tools and mirrors.
	Import
)

// PublishRule is the rule of who may publish which version of a title:
// only its owners; Create only a new title, Update only a strictly newer
// version; a stored version never changes, and a removed one or a removed
// package is never published again, not even with the same content.
// A POST to a package of the publisher's with no version left to install
// is taken as a PUT. Storage runs it under the write lock of the publish
// (Packages.Publish).
func PublishRule(owner string, mode Mode, title, version string) func(Stored) error {
	return func(st Stored) error {
		switch {
		case st.Removed:
			return userErr(Refused, "Package `"+title+"` was removed from this registry by its operator and cannot be published again")
		case st.Exists && !isOwner(st.Owners, owner):
			return userErr(Refused, "Package `"+title+"` already exists")
		case st.Exists && mode == Create && st.Served != "":
			return &Error{Kind: WrongMethod, Allow: "PUT",
				Msg: "Package `" + title + "` already exists; publish a new version with PUT"}
		case st.Exists && mode == Create:
			// Every version is yanked or removed, so HEAD /package/TITLE
			// answers 404 and the nessemble client sends POST: taken as
			// the update it is.
			mode = Update
		case !st.Exists && mode == Update:
			return userErr(NotFound, "Package `"+title+"` does not exist; publish it with POST first")
		case st.HasVersion && st.VersionRemoved:
			return userErr(Conflict, "Version "+version+" of `"+title+"` was removed by the registry's operator and cannot be published again; publish a higher version")
		case st.Exists && mode == Update && semver.Compare(version, st.Latest) <= 0:
			return userErr(Refused, "Cannot upgrade to version "+version+" (currently at "+st.Latest+")")
		case st.HasVersion:
			return userErr(Conflict, "Version "+version+" of `"+title+"` already exists; versions never change")
		}
		return nil
	}
}

// Publish reads an upload (a gzip tarball as the user packed it) from
// body and stores it as a version of its package, published by u, with
// the canonical tarball built from it. It returns the package.json the
// version was stored with. An error reading body (over a size limit, say)
// comes back as it is.
func (s *Service) Publish(ctx context.Context, u User, mode Mode, body io.Reader) (archive.Manifest, error) {
	up, err := archive.ReadUpload(body, archive.DefaultLimits)
	if ae := (*archive.Error)(nil); errors.As(err, &ae) {
		kind := Refused
		if errors.Is(err, archive.ErrTooBig) {
			kind = TooLarge
		}
		return archive.Manifest{}, userErr(kind, ae.Msg)
	}
	if err != nil {
		return archive.Manifest{}, err
	}
	m := up.Manifest
	if !strings.EqualFold(m.Author, u.Username) {
		return archive.Manifest{}, userErr(Refused, "Author username mismatch: package.json must name you ("+
			u.Username+") as its author")
	}
	m.Author = u.Username
	published := s.now()
	tarball, err := archive.Canonical(m, up.LibAsm, up.Readme, published)
	if errors.Is(err, archive.ErrTooLarge) {
		return archive.Manifest{}, userErr(Refused, "Package too large for the nessemble client: its tarball must stay under 64 KiB "+
			"(compressed and uncompressed), so make lib.asm or README.md smaller")
	}
	if err != nil {
		return archive.Manifest{}, err
	}
	v := Version{
		Title: m.Title, Version: m.Version, Description: m.Description, Author: m.Author,
		License: m.License, Tags: m.Tags, Readme: string(up.Readme), Published: published,
	}
	stored, err := s.store.Publish(ctx, u.Username, v, tarball, PublishRule(u.Username, mode, m.Title, m.Version))
	if err != nil {
		return archive.Manifest{}, err
	}
	s.audit(ctx, UserActor(u), AuditEvent{Action: AuditPublish, Package: stored.Title, Version: stored.Version})
	return m, nil
}
