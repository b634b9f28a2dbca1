package migrations_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nessemble/nessemble-registry/internal/migrations"
)

func TestRead(t *testing.T) {
	fsys := fstest.MapFS{
		"m/002_more.sql":  {Data: []byte("two")},
		"m/001_first.sql": {Data: []byte("one")},
		"m/003_last.sql":  {Data: []byte("three")},
	}
	ms, err := migrations.Read(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.SQL)
		if m.Version != len(got) {
			t.Errorf("migration %q has number %d, want %d", m.SQL, m.Version, len(got))
		}
	}
	if strings.Join(got, " ") != "one two three" {
		t.Errorf("order %v", got)
	}
}

func TestReadRefuses(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"a gap":         {"m/001_a.sql": {}, "m/003_c.sql": {}},
		"a duplicate":   {"m/001_a.sql": {}, "m/001_b.sql": {}},
		"not from one":  {"m/002_b.sql": {}},
		"no number":     {"m/001_a.sql": {}, "m/two_b.sql": {}},
		"no underscore": {"m/001.sql": {}},
	} {
		if _, err := migrations.Read(fsys, "m"); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}
