// Package migrations reads the numbered SQL migrations a storage embeds
// (001_name.sql, 002_name.sql, ...): the one rule of their naming and
// numbering for every database the registry runs on.
package migrations

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema step: its number and its SQL.
type Migration struct {
	Version int
	SQL     string
}

// Read returns the migrations in dir of fsys in order. Each name must
// start with its number and an underscore, and the numbers must run
// 1..n without gaps: a database at level k then needs exactly the steps
// after k.
func Read(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{v, string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations must be numbered 1..n without gaps; found %d at position %d", m.Version, i+1)
		}
	}
	return ms, nil
}
