package reference_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/reference"
)

func TestLookupDefault(t *testing.T) {
	entries, err := reference.Load(reference.Default())
	if err != nil {
		t.Fatal(err)
	}
	tree := reference.NewTree(entries)
	ppuctrl, err := os.ReadFile("data/registers/PPUCTRL.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path []string
		want string
	}{
		{"root", nil, "  addressing\n  instructions\n  mappers\n  registers\n"},
		{"root with empty segment", []string{""}, "  addressing\n  instructions\n  mappers\n  registers\n"},
		{"mappers in numeric order", []string{"mappers"},
			"  0\n  1\n  2\n  3\n  4\n  7\n  9\n  10\n  11\n  66\n  69\n  71\n  206\n"},
		{"term", []string{"registers", "PPUCTRL"}, string(ppuctrl)},
		{"term, any case", []string{"REGISTERS", "ppuctrl"}, string(ppuctrl)},
		{"term, trailing slash", []string{"Registers", "PpuCtrl", ""}, string(ppuctrl)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tree.Lookup(tt.path)
			if !ok || got != tt.want {
				t.Errorf("Lookup(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
			}
		})
	}

	// A category lists all its terms, sorted, one per line.
	listing, ok := tree.Lookup([]string{"instructions"})
	if !ok {
		t.Fatal("no instructions category")
	}
	lines := strings.SplitAfter(listing, "\n")
	lines = lines[:len(lines)-1]
	if len(lines) != 56 || lines[0] != "  ADC\n" || lines[55] != "  TYA\n" {
		t.Errorf("instructions listing has %d lines, from %q to %q", len(lines), lines[0], lines[len(lines)-1])
	}

	for _, path := range [][]string{
		{"nothing"},
		{"registers", "PPUCTRL2"},
		{"registers", "PPUCTRL", "bits"},
		{"registers", ".."},
	} {
		if got, ok := tree.Lookup(path); ok {
			t.Errorf("Lookup(%q) = %q, want not found", path, got)
		}
	}
}

func TestNewTree(t *testing.T) {
	tree := reference.NewTree([]reference.Entry{
		{Path: "b/zeta", Text: "z"},
		{Path: "b/Alpha", Text: "a\n"},
		{Path: "b/alpha", Text: "duplicate, ignored"},
		{Path: "b/beta/deep/x", Text: "x"},
		{Path: "a//10", Text: "ten"},
		{Path: "a/9", Text: "nine"},
		{Path: "a/x", Text: "x"},
		{Path: "a/x/y", Text: "under a term, ignored"},
	})
	tests := []struct {
		path []string
		want string
	}{
		{nil, "  a\n  b\n"},
		{[]string{"a"}, "  9\n  10\n  x\n"},
		{[]string{"b"}, "  Alpha\n  beta\n  zeta\n"},
		{[]string{"b", "ALPHA"}, "a\n"},
		{[]string{"b", "zeta"}, "z\n"},
		{[]string{"b", "beta"}, "  deep\n"},
		{[]string{"b", "beta", "deep", "X"}, "x\n"},
		{[]string{"a", "x"}, "x\n"},
	}
	for _, tt := range tests {
		got, ok := tree.Lookup(tt.path)
		if !ok || got != tt.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
		}
	}
	if _, ok := tree.Lookup([]string{"a", "x", "y"}); ok {
		t.Error("a term has no children")
	}

	empty := reference.NewTree(nil)
	if got, ok := empty.Lookup(nil); !ok || got != "" {
		t.Errorf("empty tree root = %q, %v; want an empty listing", got, ok)
	}
}

func TestDiff(t *testing.T) {
	old := []reference.Entry{
		{Path: "a/keep", Text: "same\n"},
		{Path: "a/edit", Text: "before\n"},
		{Path: "a/drop", Text: "gone\n"},
		{Path: "b/drop", Text: "gone\n"},
	}
	new := []reference.Entry{
		{Path: "c/new", Text: "hello\n"},
		{Path: "a/edit", Text: "after\n"},
		{Path: "a/keep", Text: "same\n"},
		{Path: "a/added", Text: "hi\n"},
	}
	added, changed, removed := reference.Diff(old, new)
	if want := []string{"a/added", "c/new"}; !reflect.DeepEqual(added, want) {
		t.Errorf("added = %q, want %q", added, want)
	}
	if want := []string{"a/edit"}; !reflect.DeepEqual(changed, want) {
		t.Errorf("changed = %q, want %q", changed, want)
	}
	if want := []string{"a/drop", "b/drop"}; !reflect.DeepEqual(removed, want) {
		t.Errorf("removed = %q, want %q", removed, want)
	}
	if a, c, r := reference.Diff(new, new); a != nil || c != nil || r != nil {
		t.Errorf("Diff of a tree with itself = %q %q %q", a, c, r)
	}
}

// TestPage: what a browser shows of the tree, with the tree's spelling of
// the names whatever the case asked for.
func TestPage(t *testing.T) {
	tree := reference.NewTree([]reference.Entry{
		{Path: "registers/PPUCTRL", Text: "PPUCTRL text\n"},
		{Path: "registers/OAMDMA", Text: "OAMDMA text\n"},
		{Path: "mappers/10", Text: "ten\n"},
		{Path: "mappers/2", Text: "two\n"},
	})
	for _, tc := range []struct {
		path []string
		want reference.Page
		ok   bool
	}{
		{nil, reference.Page{Children: []string{"mappers", "registers"}}, true},
		{[]string{"MAPPERS"}, reference.Page{Path: []string{"mappers"}, Children: []string{"2", "10"}}, true},
		{[]string{"registers", "ppuctrl", ""}, reference.Page{Path: []string{"registers", "PPUCTRL"}, Text: "PPUCTRL text\n"}, true},
		{[]string{"registers", "nope"}, reference.Page{}, false},
		{[]string{"registers", "PPUCTRL", "deeper"}, reference.Page{}, false},
	} {
		got, ok := tree.Page(tc.path)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Page(%q) = %+v, %v; want %+v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}
