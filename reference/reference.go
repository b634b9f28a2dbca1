// Package reference holds the reference documentation served at /reference:
// its on-disk format (a folder of plain-text files, one per term), the
// loader that validates such a tree from a folder or a tar.gz, the default
// dataset embedded in the binary, and the text rendering of listings and
// terms.
//
// A tree is a folder of category folders. Every file NAME.txt in a category
// is a term whose text is the file's content; folders may nest (a category
// inside a category) up to MaxDepth levels. Paths are matched
// case-insensitively, so names must not differ from a sibling by case only.
package reference

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed data
var data embed.FS

// Default returns the reference dataset shipped with the binary, rooted at
// its data folder (so "registers/PPUCTRL.txt" is a file of it).
func Default() fs.FS {
	sub, err := fs.Sub(data, "data")
	if err != nil {
		// "data" is a constant valid path; this cannot fail.
		panic(err)
	}
	return sub
}

// Entry is one term of a reference tree.
type Entry struct {
	// Path is the slash-separated path of the term without the .txt
	// suffix, e.g. "registers/PPUCTRL".
	Path string
	// Text is the term's text: valid UTF-8, LF line endings, ending in a
	// newline.
	Text string
}

// Diff compares two reference trees by path and returns the paths that new
// adds, the paths present in both whose text differs, and the paths that
// new drops, each sorted.
func Diff(old, new []Entry) (added, changed, removed []string) {
	before := make(map[string]string, len(old))
	for _, e := range old {
		before[e.Path] = e.Text
	}
	after := make(map[string]bool, len(new))
	for _, e := range new {
		after[e.Path] = true
		text, ok := before[e.Path]
		switch {
		case !ok:
			added = append(added, e.Path)
		case text != e.Text:
			changed = append(changed, e.Path)
		}
	}
	for _, e := range old {
		if !after[e.Path] {
			removed = append(removed, e.Path)
		}
	}
	sort.Strings(added)
	sort.Strings(changed)
	sort.Strings(removed)
	return added, changed, removed
}

// Tree answers lookups in a reference tree. It is immutable once built and
// safe for concurrent use.
type Tree struct {
	root *node
}

type node struct {
	name     string
	text     string // a term's text; empty for a folder
	children map[string]*node
	listing  string   // rendered list of children, for folders
	names    []string // the children's names, in listing order
}

// NewTree builds a Tree from entries, such as those returned by Load or
// kept in the store. Empty path segments are ignored; when two entries
// collide case-insensitively the first one wins.
func NewTree(entries []Entry) *Tree {
	root := &node{children: map[string]*node{}}
	for _, e := range entries {
		var segs []string
		for _, s := range strings.Split(e.Path, "/") {
			if s != "" {
				segs = append(segs, s)
			}
		}
		if len(segs) == 0 {
			continue
		}
		n := root
		for i, s := range segs {
			key := strings.ToLower(s)
			child, ok := n.children[key]
			if !ok {
				child = &node{name: s}
				n.children[key] = child
			}
			if i == len(segs)-1 {
				if !ok {
					child.text = withNewline(e.Text)
				}
				break
			}
			if child.children == nil {
				if ok && child.text != "" {
					break // a term already sits where this folder would go
				}
				child.children = map[string]*node{}
			}
			n = child
		}
	}
	root.render()
	return &Tree{root: root}
}

// render computes the listing of every folder below and including n.
func (n *node) render() {
	if n.children == nil {
		return
	}
	names := make([]string, 0, len(n.children))
	for _, c := range n.children {
		c.render()
		names = append(names, c.name)
	}
	sort.Slice(names, func(i, j int) bool { return lessName(names[i], names[j]) })
	n.names = names
	var b strings.Builder
	for _, name := range names {
		b.WriteString("  ")
		b.WriteString(name)
		b.WriteByte('\n')
	}
	n.listing = b.String()
}

// Lookup returns the text at path, matching each segment
// case-insensitively: for the root (an empty path) or a folder, its
// children one per line, each indented by two spaces; for a term, its
// text. Empty segments are ignored, so a trailing slash does no harm.
func (t *Tree) Lookup(path []string) (text string, ok bool) {
	n := t.root
	for _, s := range path {
		if s == "" {
			continue
		}
		if n.children == nil {
			return "", false
		}
		n, ok = n.children[strings.ToLower(s)]
		if !ok {
			return "", false
		}
	}
	if n.children != nil {
		return n.listing, true
	}
	return n.text, true
}

// Page is what a browser shows of one place in the tree.
type Page struct {
	// Path holds the names of the segments looked up, as the tree spells
	// them (a lookup ignores case).
	Path []string
	// Children are a folder's entries in listing order; nil for a term.
	Children []string
	// Text is a term's text; empty for a folder.
	Text string
}

// Page looks path up as Lookup does and returns the place found.
func (t *Tree) Page(path []string) (Page, bool) {
	var p Page
	n := t.root
	for _, s := range path {
		if s == "" {
			continue
		}
		if n.children == nil {
			return Page{}, false
		}
		c, ok := n.children[strings.ToLower(s)]
		if !ok {
			return Page{}, false
		}
		n = c
		p.Path = append(p.Path, n.name)
	}
	if n.children != nil {
		p.Children = n.names
		if p.Children == nil {
			p.Children = []string{}
		}
		return p, true
	}
	p.Text = n.text
	return p, true
}

// lessName orders names for listings: names made only of digits (mapper
// numbers) first, by numeric value, then the others case-insensitively.
func lessName(a, b string) bool {
	an, bn := isNumber(a), isNumber(b)
	if an != bn {
		return an
	}
	if an {
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return a < b
	}
	la, lb := strings.ToLower(a), strings.ToLower(b)
	if la != lb {
		return la < lb
	}
	return a < b
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func withNewline(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}
