package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nessemble/nessemble-registry/reference"
)

// MaxTermLen bounds a search term.
const MaxTermLen = 100

// List returns one page of packages and the number of packages.
func (s *Service) List(ctx context.Context, o ListOptions) ([]Package, int, error) {
	return s.store.ListPackages(ctx, o)
}

// Search returns one page of the packages matching term (see
// Packages.Search) and how many match.
func (s *Service) Search(ctx context.Context, term string, offset, limit int) ([]Package, int, error) {
	if len(term) > MaxTermLen {
		return nil, 0, userErr(Invalid, "Search term too long: use at most "+strconv.Itoa(MaxTermLen)+" bytes")
	}
	return s.store.Search(ctx, term, offset, limit)
}

// Version looks up a version of a package (the newest not yanked when
// version is ""); a miss says whether the package exists, and what the
// operator removed is Gone, with the reason.
func (s *Service) Version(ctx context.Context, title, version string) (Version, error) {
	v, err := s.store.Version(ctx, title, version)
	if err == nil && v.Removed {
		return Version{}, removedErr(v.Title, v.Version, v.RemovedReason)
	}
	if errors.Is(err, ErrNotFound) {
		p, perr := s.store.Package(ctx, title)
		switch {
		case perr != nil:
		case p.Removed:
			return v, removedErr(p.Title, "", p.RemovedReason)
		case version != "":
			return v, userErr(NotFound, "Package "+title+" has no version "+version)
		default:
			return v, userErr(NotFound, "Every version of "+p.Title+" is yanked or removed; install one by its number, as in "+p.Title+"@VERSION")
		}
		return v, userErr(NotFound, "Package does not exist")
	}
	return v, err
}

// Releases lists a package's versions, newest first.
func (s *Service) Releases(ctx context.Context, title string) ([]Release, error) {
	return s.store.Releases(ctx, title)
}

// Tarball returns the canonical tarball of the version with this shasum.
func (s *Service) Tarball(shasum string) ([]byte, error) { return s.store.Tarball(shasum) }

// Counts returns the number of packages and of users.
func (s *Service) Counts(ctx context.Context) (packages, users int, err error) {
	return s.store.Counts(ctx)
}

// CountVersions returns the number of versions of all packages.
func (s *Service) CountVersions(ctx context.Context) (int, error) { return s.store.CountVersions(ctx) }

// ByAuthor returns one page of the packages whose newest version names
// author (any case) as its author in package.json, by title, and how
// many there are.
func (s *Service) ByAuthor(ctx context.Context, author string, offset, limit int) ([]Package, int, error) {
	return s.store.ByAuthor(ctx, author, offset, limit)
}

// ReferencePage looks terms up in the reference as ReferenceText does,
// and returns the page a browser shows of it.
func (s *Service) ReferencePage(ctx context.Context, terms []string) (reference.Page, bool, error) {
	tree, err := s.referenceTree(ctx)
	if err != nil {
		return reference.Page{}, false, err
	}
	p, ok := tree.Page(terms)
	return p, ok, nil
}

// refCache is the reference tree built from storage, kept until the
// reference generation moves.
type refCache struct {
	gen  int64
	tree *reference.Tree
}

// ReferenceText looks terms up in the reference: a listing for the root
// or a category, the text of a term; ok is false when there is none.
func (s *Service) ReferenceText(ctx context.Context, terms []string) (text string, ok bool, err error) {
	tree, err := s.referenceTree(ctx)
	if err != nil {
		return "", false, err
	}
	text, ok = tree.Lookup(terms)
	return text, ok, nil
}

// referenceTree returns the current reference tree, rebuilding it only
// when the stored reference changed (import-reference may run while the
// server does: the change log tells).
func (s *Service) referenceTree(ctx context.Context) (*reference.Tree, error) {
	gen := s.store.ReferenceGeneration()
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if s.ref != nil && s.ref.gen == gen {
		return s.ref.tree, nil
	}
	entries, err := s.store.Reference(ctx)
	if err != nil {
		return nil, err
	}
	s.ref = &refCache{gen: gen, tree: reference.NewTree(entries)}
	return s.ref.tree, nil
}

// ReferenceChange is what an import changes, by path.
type ReferenceChange struct {
	Added, Changed, Removed []string
}

// ImportReference replaces the reference with entries, all at once (a
// tree that reference.Load accepted); dryRun only reports what would
// change.
func (s *Service) ImportReference(ctx context.Context, entries []reference.Entry, dryRun bool) (ReferenceChange, error) {
	old, err := s.store.Reference(ctx)
	if err != nil {
		return ReferenceChange{}, err
	}
	var c ReferenceChange
	c.Added, c.Changed, c.Removed = reference.Diff(old, entries)
	if dryRun {
		return c, nil
	}
	return c, s.store.ReplaceReference(ctx, entries)
}

// EnsureReference stores the embedded reference when the registry has
// none yet, so that a fresh registry answers `nessemble reference` at once.
func (s *Service) EnsureReference(ctx context.Context) error {
	if s.store.ReferenceGeneration() > 0 {
		return nil
	}
	entries, err := reference.Load(reference.Default())
	if err != nil {
		return fmt.Errorf("embedded reference: %w", err)
	}
	return s.store.ReplaceReference(ctx, entries)
}
