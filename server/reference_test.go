package server_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
)

func loadReference(t *testing.T, db registry.References, entries []reference.Entry) {
	t.Helper()
	var es []reference.Entry
	for _, e := range entries {
		es = append(es, reference.Entry{Path: e.Path, Text: e.Text})
	}
	if err := db.ReplaceReference(context.Background(), es); err != nil {
		t.Fatal(err)
	}
}

func TestReferenceThroughTheClient(t *testing.T) {
	e := newEnv(t, server.Config{})
	entries, err := reference.Load(reference.Default())
	if err != nil {
		t.Fatal(err)
	}
	loadReference(t, e.db, entries)
	ppuctrl, _ := fs.ReadFile(reference.Default(), "registers/PPUCTRL.txt")
	mmc3, _ := fs.ReadFile(reference.Default(), "mappers/4.txt")

	for _, prefix := range []string{"", "/v1"} {
		cl := nesclient.Client{Registry: e.ts.URL + prefix}
		for _, tc := range []struct {
			path []string
			want string // exact text, or a line it must contain when prefixed by "~"
		}{
			{nil, "  addressing\n  instructions\n  mappers\n  registers\n"},
			{[]string{"registers"}, "~  PPUCTRL\n"},
			{[]string{"mappers"}, "~  0\n  1\n  2\n  3\n  4\n"},
			{[]string{"registers", "PPUCTRL"}, string(ppuctrl)},
			{[]string{"REGISTERS", "ppuctrl"}, string(ppuctrl)},
			{[]string{"mappers", "4"}, string(mmc3)},
		} {
			text, status, err := cl.Reference(tc.path...)
			if err != nil || status != 200 {
				t.Errorf("%s reference %v: %d %v", prefix, tc.path, status, err)
				continue
			}
			if want, ok := strings.CutPrefix(tc.want, "~"); ok {
				if !strings.Contains(text, want) {
					t.Errorf("reference %v = %q, want it to contain %q", tc.path, text, want)
				}
			} else if text != tc.want {
				t.Errorf("reference %v = %q, want %q", tc.path, text, tc.want)
			}
		}
		if _, status, err := cl.Reference("registers", "NOPE"); status != 404 || err != nil {
			t.Errorf("unknown term: %d %v", status, err)
		}
	}
	if len(mmc3) < 2048 {
		t.Fatalf("mapper 4 text is %d bytes; the test wants a long body", len(mmc3))
	}

	// Deeper paths work the same way; 404s are JSON errors.
	loadReference(t, e.db, []reference.Entry{{Path: "a/b/c", Text: "deep\n"}})
	if r := e.get("/reference/A/B/C"); r.status != 200 || string(r.body) != "deep\n" || r.header.Get("Content-Type") != "text/plain" {
		t.Errorf("deep path after re-import: %d %q", r.status, r.body)
	}
	if r := e.get("/reference/a"); string(r.body) != "  b\n" {
		t.Errorf("listing after re-import: %q", r.body)
	}
	wantError(t, e.get("/reference/registers"), 404, "Not Found")
}

// TestAcceptDependentAnswersNotShared checks that the GraphQL page, which
// the same URL serves only to browsers, is not handed from the answer
// cache to a client that asked for JSON.
func TestAcceptDependentAnswersNotShared(t *testing.T) {
	e := newEnv(t, server.Config{})
	page := e.do("GET", "/graphql", map[string]string{"Accept": "text/html"}, "")
	if page.status != 200 || page.header.Get("Content-Type") != "text/html" {
		t.Fatalf("page: %d %q", page.status, page.header.Get("Content-Type"))
	}
	r := e.do("GET", "/graphql", map[string]string{"Accept": "application/json"}, "")
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("JSON client got %q: %d %.80s", r.header.Get("Content-Type"), r.status, r.body)
	}
}
