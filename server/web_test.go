package server_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
)

// browserHeaders are what Chromium and Firefox send when a person opens a page.
var browserHeaders = map[string]string{
	"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36",
	"Accept":     "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
}

// withReference stores the embedded reference, as serve does on a fresh
// data folder.
func withReference(t *testing.T, e *env) {
	t.Helper()
	if err := e.core.EnsureReference(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func isPage(r resp) bool {
	return r.header.Get("Content-Type") == "text/html" && strings.HasPrefix(string(r.body), "<!DOCTYPE html>")
}

// TestRepresentationFromWarmCache: a browser gets a page and every other
// client what it always got, whichever of them warmed the answer cache
// first, through the fast path (the second round of each is a cache hit).
func TestRepresentationFromWarmCache(t *testing.T) {
	paths := []string{"/", "/?page=1&per_page=5", "/search/joy", "/search?q=joy", "/package/controller",
		"/package/controller/1.0.0", "/author/alice", "/v1/package/controller"}
	for _, browserFirst := range []bool{true, false} {
		name := "client first"
		if browserFirst {
			name = "browser first"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnvAt(t, "")
			readme := []byte("# controller\n\nReads the pads.\n")
			e.seedCanonical("controller", "1.0.0", "Read the joypads", []byte("rts\n"), readme, "input", "joypad")
			e.seedCanonical("controller", "1.1.0", "Read the joypads, faster", []byte("rts\n"), readme, "input")
			withReference(t, e)
			cl := nesclient.Client{Registry: e.ts.URL}

			browser := func(path string) {
				t.Helper()
				r := e.do(http.MethodGet, path, browserHeaders, "")
				if r.status != 200 || !isPage(r) {
					t.Errorf("browser GET %s: %d %q %.80s", path, r.status, r.header.Get("Content-Type"), r.body)
				}
				if v := r.header.Values("Vary"); strings.Join(v, ", ") != "User-Agent, Accept" {
					t.Errorf("browser GET %s: Vary %q", path, v)
				}
			}
			others := func(path string) {
				t.Helper()
				for _, hdr := range []map[string]string{nil, {"Accept": "*/*", "User-Agent": "curl/8.5.0"},
					{"Accept": "application/json"}, {"Accept": "application/json;version=1"}} {
					r := e.do(http.MethodGet, path, hdr, "")
					if r.status != 200 || r.header.Get("Content-Type") != "application/json" || !json.Valid(r.body) {
						t.Errorf("GET %s with %v: %d %q %.80s", path, hdr, r.status, r.header.Get("Content-Type"), r.body)
					}
				}
				// The nessemble client, as strict as the real one.
				res, err := cl.Do("GET", path, nil, nil)
				if err != nil || res.Status != 200 || res.ContentType() != "application/json" || !json.Valid(res.Body) {
					t.Errorf("nessemble GET %s: %v %+v", path, err, res)
				}
			}
			for round := range 2 {
				for _, p := range paths {
					if browserFirst {
						browser(p)
						others(p)
					} else {
						others(p)
						browser(p)
					}
				}
				// What the client's commands read, after the browser's pages.
				if res, err := cl.Search("joy"); err != nil || len(res) != 1 || res[0].Title != "controller" {
					t.Errorf("round %d: search = %v, %v", round, res, err)
				}
				if files, err := cl.Install("controller", ""); err != nil || string(files["README.md"]) != string(readme) {
					t.Errorf("round %d: install = %v", round, err)
				}
				if text, err := cl.Readme("controller", "1.0.0"); err != nil || text != string(readme) {
					t.Errorf("round %d: info = %q, %v", round, text, err)
				}
				if text, _, err := cl.Reference("registers"); err != nil || !strings.Contains(text, "PPUCTRL") {
					t.Errorf("round %d: reference = %q, %v", round, text, err)
				}
			}
		})
	}
}

// TestPrefersHTML: which Accept headers get pages.
func TestPrefersHTML(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "pads")
	for accept, page := range map[string]bool{
		browserHeaders["Accept"]:                   true,
		"text/html":                                true,
		"application/xhtml+xml":                    true,
		"text/html;q=0.9, application/json":        false,
		"application/json, text/html":              false,
		"text/html, application/json":              true,
		"text/html;q=0":                            false,
		"text/html;q=nonsense":                     false,
		"TEXT/HTML":                                true,
		"":                                         false,
		"*/*":                                      false,
		"text/*":                                   false,
		"text/plain, text/html;q=0.5":              false,
		"application/json;version=1":               false,
		"text/html, application/json;q=0.5, */*":   true,
		"image/webp, text/html;q=0.8, */*;q=0.1":   true,
		"application/json;q=0.5, text/html;q=0.50": false,
	} {
		r := e.do(http.MethodGet, "/package/ctl", map[string]string{"Accept": accept}, "")
		if isPage(r) != page {
			t.Errorf("Accept %q: got %q, want a page: %v", accept, r.header.Get("Content-Type"), page)
		}
	}
	// The nessemble client never gets a page, whatever it sends.
	r := e.do(http.MethodGet, "/package/ctl", map[string]string{"Accept": "text/html", "User-Agent": "nessemble/1.1.1"}, "")
	if isPage(r) || r.header.Get("Vary") != "User-Agent" || len(r.header.Values("Vary")) != 1 {
		t.Errorf("nessemble client with Accept: text/html got %q, Vary %q", r.header.Get("Content-Type"), r.header.Values("Vary"))
	}
}

// text is a page's text without tags, spaces collapsed: what a person reads.
func text(body []byte) string {
	s := regexp.MustCompile(`(?s)<script.*?</script>|<[^>]*>`).ReplaceAllString(string(body), " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// TestPages reads each page as a person would, without a browser: what
// it says, what it links, and the statuses.
func TestPages(t *testing.T) {
	e := newEnvAt(t, "/registry")
	withReference(t, e)
	readme := []byte("# controller\n\nReads **both** pads. See [the wiki](https://www.nesdev.org/wiki/Standard_controller).\n\n" +
		"| button | bit |\n| --- | --- |\n| A | 0 |\n\n- [x] NES\n- [ ] Famicom mic\n")
	e.seedCanonical("controller", "1.0.0", "Read the joypads", []byte("rts\n"), readme, "input", "joypad")
	e.seedCanonical("controller", "1.1.0", "Read the JOYPADS, faster", []byte("rts\n"), readme, "input")
	e.seedCanonical("sprites", "0.2.0", "Sprite helpers", []byte("rts\n"), []byte("# sprites\n"), "gfx")
	get := func(path string) resp {
		t.Helper()
		return e.do(http.MethodGet, path, browserHeaders, "")
	}
	want := func(r resp, path string, status int, frags ...string) {
		t.Helper()
		if r.status != status || !isPage(r) {
			t.Fatalf("%s: %d %q, want a %d page", path, r.status, r.header.Get("Content-Type"), status)
		}
		for _, f := range frags {
			if !strings.Contains(string(r.body), f) && !strings.Contains(text(r.body), f) {
				t.Errorf("%s lacks %q; it reads: %s", path, f, text(r.body))
			}
		}
	}
	check := func(path string, status int, frags ...string) resp {
		t.Helper()
		r := get(path)
		want(r, path, status, frags...)
		if r.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no Content-Security-Policy", path)
		}
		return r
	}

	check("/registry/", 200, "<h1>Packages</h1>", "2 packages", `href="/registry/package/controller"`,
		"Read the JOYPADS, faster", `href="/registry/search?q=input"`, `<form class="search" role="search" method="get" action="/registry/search">`,
		`<label for="q">Search packages</label>`, `<html lang="en">`)
	r := check("/registry/?sort_by=title&order=desc&per_page=1", 200, "Page 1 of 2", `rel="next"`)
	if i, j := strings.Index(string(r.body), "sprites"), strings.Index(string(r.body), "/package/controller"); i < 0 || j >= 0 {
		t.Errorf("title Z-A, one per page: sprites should be alone on page 1")
	}
	check("/registry/?page=2&per_page=1", 200, `rel="prev"`, "sprites")
	check("/registry/?per_page=0", 400, "Invalid per_page", `action="/registry/search"`)

	check("/registry/search/joypads", 200, "Search: “joypads”", "1 package matches", "<mark>JOYPADS</mark>", `value="joypads"`)
	check("/registry/search?q=JoyPads", 200, "<mark>JOYPADS</mark>")
	check("/registry/search?q=nothing-like-it", 200, "No packages match “nothing-like-it”")
	check("/registry/search?q=", 200, "Type a word above")

	check("/registry/package/controller", 200, "<h1>controller <span class=\"version\">1.1.0</span></h1>",
		"Read the JOYPADS, faster", "nessemble install controller", `data-copy="nessemble install controller"`,
		"<strong>both</strong>", `<a href="https://www.nesdev.org/wiki/Standard_controller" rel="nofollow noopener">the wiki</a>`,
		"<td>A</td>", `type="checkbox"`, "MIT", `href="/registry/author/alice"`, `href="/registry/search?q=input"`,
		`href="/registry/package/controller/1.1.0/data"`, `href="/registry/package/controller/1.0.0"`, "1 Nov 2026")
	r = check("/registry/package/controller/1.0.0", 200, "nessemble install controller@1.0.0", "This is an older version",
		`href="/registry/package/controller/1.0.0/data"`, "joypad")
	if i, j := strings.Index(string(r.body), ">1.1.0</a>"), strings.Index(string(r.body), ">1.0.0</a>"); i < 0 || j < i {
		t.Errorf("versions are not newest first")
	}
	check("/registry/package/controller/9.9.9", 404, "Not found", "has no version 9.9.9", `<input id="q"`)
	check("/registry/package/nope", 404, "Not found", "Package does not exist")
	check("/registry/author/alice", 200, "Packages by alice", "2 packages", "sprites")
	check("/registry/author/nobody", 404, "Not found")
	check("/registry/no/such/page", 404, "Not found", `<input id="q"`)

	check("/registry/reference", 200, "<h1>Reference</h1>", `href="/registry/reference/instructions"`)
	check("/registry/reference/INSTRUCTIONS", 200, "<h1>instructions</h1>", `href="/registry/reference/instructions/ADC"`,
		`href="/registry/reference">Reference</a>`)
	check("/registry/reference/instructions/adc", 200, "ADC - Add with Carry", "Operation: A + M + C",
		`href="/registry/reference/instructions">instructions</a>`, "nessemble reference instructions ADC")
	check("/registry/reference/instructions/nope", 404, "no such entry")
	check("/registry/status", 200, "Status: ok", "Packages 2", "Versions 3", "Users 0")

	// The README, tarball and stylesheet are what they were for a browser too.
	if r := get("/registry/package/controller/README"); r.header.Get("Content-Type") != "text/plain" || string(r.body) != string(readme) {
		t.Errorf("README for a browser: %q", r.header.Get("Content-Type"))
	}
	if r := get("/registry/package/controller/data"); r.header.Get("Content-Type") != "application/tar+gzip" {
		t.Errorf("data for a browser: %q", r.header.Get("Content-Type"))
	}
	page := string(get("/registry/").body)
	css := regexp.MustCompile(`href="(/registry/assets/style\.css\?v=[0-9a-f]+)"`).FindStringSubmatch(page)
	if css == nil {
		t.Fatalf("no stylesheet link in %s", page)
	}
	if r := get(css[1]); r.status != 200 || r.header.Get("Content-Type") != "text/css" || !strings.Contains(string(r.body), "prefers-color-scheme: dark") {
		t.Errorf("stylesheet: %d %q", r.status, r.header.Get("Content-Type"))
	}
	// Nothing is loaded from elsewhere.
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(strings.ReplaceAll(page, `href="https://www.nessemble.com"`, "")) {
		t.Errorf("the page loads something from elsewhere")
	}
	// A yanked version: the package page shows the newest one left, the
	// yanked one says so and installs by number.
	if _, err := e.db.SetYanked(context.Background(), "controller", "1.1.0", true, func(registry.Stored) error { return nil }); err != nil {
		t.Fatal(err)
	}
	check("/registry/package/controller", 200, "<h1>controller <span class=\"version\">1.0.0</span></h1>",
		"nessemble install controller", `<span class="yanked">yanked</span>`, "Owners alice")
	check("/registry/package/controller/1.1.0", 200, "This version was yanked by its owners", "The newest is 1.0.0",
		"nessemble install controller@1.1.0")

	// Programs still get JSON errors.
	wantError(t, e.get("/registry/package/nope"), 404, "does not exist")
	wantError(t, e.do(http.MethodGet, "/registry/author/nobody", nil, ""), 404, "Not Found")
}

// TestAuthorPage: an author's page lists the packages whose newest
// version names that author in package.json, whoever published them
// (a mirror owns what it copies, and an author is not always a user).
func TestAuthorPage(t *testing.T) {
	e := newEnv(t, server.Config{})
	publish := func(owner, title, version, author string) {
		t.Helper()
		v := registry.Version{Title: title, Version: version, Description: "d", Author: author, License: "MIT", Readme: "r"}
		rule := registry.PublishRule(owner, registry.Import, title, version)
		if _, err := e.db.Publish(context.Background(), owner, v, []byte(title+version), rule); err != nil {
			t.Fatal(err)
		}
	}
	publish("alice", "pads", "1.0.0", "alice")
	publish("alice", "pads", "2.0.0", "Jane Doe") // the newest version's author counts
	publish("alice", "sound", "1.0.0", "jane doe")
	publish(registry.MirrorOwner, "sprites", "0.1.0", "Jane Doe")
	publish("alice", "tiles", "1.0.0", "alice")

	r := e.do(http.MethodGet, "/author/Jane%20Doe", browserHeaders, "")
	if r.status != 200 || !isPage(r) {
		t.Fatalf("author page: %d %q", r.status, r.body)
	}
	for _, want := range []string{"3 packages", "pads", "sound", "sprites"} {
		if !strings.Contains(text(r.body), want) {
			t.Errorf("author page lacks %q: %s", want, text(r.body))
		}
	}
	if strings.Contains(text(r.body), "tiles") {
		t.Errorf("author page lists another author's package: %s", text(r.body))
	}
	m := e.do(http.MethodGet, "/author/ALICE", nil, "").json(t)
	if pkgs, _ := m["packages"].([]any); len(pkgs) != 1 || pkgs[0].(map[string]any)["title"] != "tiles" {
		t.Errorf("packages of alice: %v", m["packages"])
	}
	page := e.do(http.MethodGet, "/package/sprites", browserHeaders, "")
	if !strings.Contains(string(page.body), `href="/author/Jane%20Doe"`) {
		t.Errorf("the package page does not link its author's page: %s", page.body)
	}
}
