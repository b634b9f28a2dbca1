package store

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/nessemble/nessemble-registry/registry"
)

// index keeps every package's list fields in memory, in title order and
// in description order, so that list pages and searches cost no query:
// a search is one pass of substring matching over lower-cased text
// (milliseconds for 100,000 packages) and a list page is a slice. It is
// loaded on first use and follows the change log (see CatchUp), so that
// it sees what other processes write to the same data folder too.
type index struct {
	mu      sync.RWMutex
	loaded  bool
	byTitle []*indexed // sorted by title
	byDesc  []*indexed // sorted by lower-cased description, then title
	// hays holds every package's searchable text, lower-cased, in title
	// order, back to back: package i's is hays[offs[i]:offs[i+1]]. One
	// contiguous block scans several times faster than 100,000 strings
	// scattered over the heap. A publish only marks it stale (stale), and
	// the next search lays it out again, so that a run of publishes does
	// not copy it each time.
	hays  []byte
	offs  []int
	stale bool
}

type indexed struct {
	pkg      registry.Package
	hay      string // title, description and tags, lower-cased, split by \x1f
	descKey  string // lower-cased description
	titleKey string // lower-cased title
}

func newIndexed(p registry.Package) *indexed {
	parts := append([]string{p.Title, p.Description}, p.Tags...)
	return &indexed{
		pkg:      p,
		hay:      strings.ToLower(strings.Join(parts, "\x1f")),
		descKey:  strings.ToLower(p.Description),
		titleKey: strings.ToLower(p.Title),
	}
}

// pack lays the haystacks out again after byTitle changed.
func (ix *index) pack() {
	size := 0
	for _, e := range ix.byTitle {
		size += len(e.hay)
	}
	ix.hays = make([]byte, 0, size)
	ix.offs = make([]int, 0, len(ix.byTitle)+1)
	for _, e := range ix.byTitle {
		ix.offs = append(ix.offs, len(ix.hays))
		ix.hays = append(ix.hays, e.hay...)
	}
	ix.offs = append(ix.offs, len(ix.hays))
}

func byTitleCmp(a, b *indexed) int { return strings.Compare(a.titleKey, b.titleKey) }

func byDescCmp(a, b *indexed) int {
	if c := strings.Compare(a.descKey, b.descKey); c != 0 {
		return c
	}
	return byTitleCmp(a, b)
}

// load fills the index from the database once.
func (db *DB) loadIndex(ctx context.Context) error {
	ix := &db.index
	ix.mu.RLock()
	loaded := ix.loaded
	ix.mu.RUnlock()
	if loaded {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.loaded {
		return nil
	}
	rows, err := db.rd.QueryContext(ctx, `SELECT `+packageColumns+` FROM packages p WHERE removed_at IS NULL`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var all []*indexed
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return err
		}
		all = append(all, newIndexed(p))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	ix.byTitle = slices.SortedFunc(slices.Values(all), byTitleCmp)
	ix.byDesc = slices.SortedFunc(slices.Values(all), byDescCmp)
	ix.pack()
	ix.loaded, ix.stale = true, false
	return nil
}

// putLocked adds or replaces a package; ix.mu is held and ix loaded.
func (ix *index) putLocked(p registry.Package) {
	e := newIndexed(p)
	if i, found := slices.BinarySearchFunc(ix.byTitle, e, byTitleCmp); found {
		old := ix.byTitle[i]
		ix.byTitle[i] = e
		if j, ok := slices.BinarySearchFunc(ix.byDesc, old, byDescCmp); ok {
			ix.byDesc = slices.Delete(ix.byDesc, j, j+1)
		}
	} else {
		ix.byTitle = slices.Insert(ix.byTitle, i, e)
	}
	j, _ := slices.BinarySearchFunc(ix.byDesc, e, byDescCmp)
	ix.byDesc = slices.Insert(ix.byDesc, j, e)
	ix.stale = true
}

// deleteLocked removes a package (removed by the operator); ix.mu is held
// and ix loaded.
func (ix *index) deleteLocked(title string) {
	e := &indexed{titleKey: strings.ToLower(title)}
	i, found := slices.BinarySearchFunc(ix.byTitle, e, byTitleCmp)
	if !found {
		return
	}
	old := ix.byTitle[i]
	ix.byTitle = slices.Delete(ix.byTitle, i, i+1)
	if j, ok := slices.BinarySearchFunc(ix.byDesc, old, byDescCmp); ok {
		ix.byDesc = slices.Delete(ix.byDesc, j, j+1)
	}
	ix.stale = true
}

// rlockPacked read-locks the index with its haystacks up to date.
func (ix *index) rlockPacked() {
	for {
		ix.mu.RLock()
		if !ix.stale {
			return
		}
		ix.mu.RUnlock()
		ix.mu.Lock()
		if ix.stale {
			ix.pack()
			ix.stale = false
		}
		ix.mu.Unlock()
	}
}

// ListPackages returns one page of packages and the number of packages.
func (db *DB) ListPackages(ctx context.Context, o registry.ListOptions) ([]registry.Package, int, error) {
	if err := db.loadIndex(ctx); err != nil {
		return nil, 0, err
	}
	ix := &db.index
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	order := ix.byTitle
	if o.ByDescription {
		order = ix.byDesc
	}
	n := len(order)
	var page []registry.Package
	for i := o.Offset; i < o.Offset+o.Limit && i < n; i++ {
		k := i
		if o.Desc {
			k = n - 1 - i
		}
		page = append(page, order[k].pkg)
	}
	return page, n, nil
}

// Search returns one page of packages whose title, description or tags
// contain term (case-insensitive), the exact title match first, then by
// title, and the number of matches.
func (db *DB) Search(ctx context.Context, term string, offset, limit int) ([]registry.Package, int, error) {
	if err := db.loadIndex(ctx); err != nil {
		return nil, 0, err
	}
	needle := strings.ToLower(term)
	needleBytes := []byte(needle)
	ix := &db.index
	ix.rlockPacked()
	defer ix.mu.RUnlock()

	var page []registry.Package
	total := 0
	take := func(e *indexed) {
		if total >= offset && total < offset+limit {
			page = append(page, e.pkg)
		}
		total++
	}
	exact := -1
	if i, found := slices.BinarySearchFunc(ix.byTitle, &indexed{titleKey: needle}, byTitleCmp); found {
		exact = i
		take(ix.byTitle[i])
	}
	for i, e := range ix.byTitle {
		if i != exact && bytes.Contains(ix.hays[ix.offs[i]:ix.offs[i+1]], needleBytes) {
			take(e)
		}
	}
	return page, total, nil
}
