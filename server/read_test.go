package server_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/server"
)

func TestListPagination(t *testing.T) {
	e := newEnv(t, server.Config{})
	for i := 0; i < 25; i++ {
		e.seed(fmt.Sprintf("pkg%02d", i), "1.0.0", fmt.Sprintf("description %02d", 24-i), "tag")
	}
	r := e.get("/?page=2&per_page=10")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	pkgs := m["packages"].([]any)
	if len(pkgs) != 10 || pkgs[0].(map[string]any)["title"] != "pkg10" {
		t.Fatalf("page 2 = %v", pkgs)
	}
	first := pkgs[0].(map[string]any)
	if first["url"] != e.ts.URL+"/package/pkg10" {
		t.Errorf("url = %v", first["url"])
	}
	p := m["pagination"].(map[string]any)
	if p["page"] != 2.0 || p["per_page"] != 10.0 || p["total"] != 25.0 {
		t.Errorf("pagination = %v", p)
	}
	if p["prev"] != e.ts.URL+"/?page=1&per_page=10&sort_by=title&order=asc" ||
		p["next"] != e.ts.URL+"/?page=3&per_page=10&sort_by=title&order=asc" {
		t.Errorf("links = %v %v", p["prev"], p["next"])
	}
	last := e.get("/?page=3&per_page=10").json(t)
	if n := len(last["packages"].([]any)); n != 5 {
		t.Errorf("last page has %d packages", n)
	}
	if last["pagination"].(map[string]any)["next"] != nil {
		t.Errorf("last page has a next link")
	}

	desc := e.get("/?sort_by=description&order=desc&per_page=1").json(t)
	if got := desc["packages"].([]any)[0].(map[string]any)["title"]; got != "pkg00" {
		t.Errorf("sort by description desc: first = %v", got)
	}
	byTitleDesc := e.get("/?order=desc&per_page=1").json(t)
	if got := byTitleDesc["packages"].([]any)[0].(map[string]any)["title"]; got != "pkg24" {
		t.Errorf("sort by title desc: first = %v", got)
	}
}

func TestListBadParameters(t *testing.T) {
	e := newEnv(t, server.Config{})
	for _, tc := range []struct{ query, param string }{
		{"page=0", "page"},
		{"page=abc", "page"},
		{"per_page=101", "per_page"},
		{"per_page=-1", "per_page"},
		{"sort_by=author", "sort_by"},
		{"order=up", "order"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			wantError(t, e.get("/?"+tc.query), http.StatusBadRequest, tc.param)
		})
	}
}

func TestListCountsPackagesNotVersions(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("alpha", "1.0.0", "a")
	e.seed("alpha", "1.1.0", "a newer")
	e.seed("beta", "0.1.0", "b")
	m := e.get("/").json(t)
	if total := m["pagination"].(map[string]any)["total"]; total != 2.0 {
		t.Errorf("total = %v, want 2", total)
	}
	if d := m["packages"].([]any)[0].(map[string]any)["description"]; d != "a newer" {
		t.Errorf("list shows description %v, want the newest version's", d)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, server.Config{Version: "1.2.3"})
	e.seed("alpha", "1.0.0", "a")
	r := e.get("/status")
	if r.status != 200 || r.header.Get("Content-Type") != "text/html" || !strings.Contains(string(r.body), "ok") {
		t.Errorf("html status: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = e.do("GET", "/status", map[string]string{"Accept": "application/json"}, "")
	m := r.json(t)
	if m["status"] != "ok" || m["version"] != "1.2.3" || m["packages"] != 1.0 || m["users"] != 0.0 {
		t.Errorf("json status = %v", m)
	}
	if _, ok := m["uptime_seconds"].(float64); !ok {
		t.Errorf("no uptime in %v", m)
	}
}

func TestSearch(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("sprite", "1.0.0", "Sprite helpers", "gfx")
	e.seed("spritemap", "1.0.0", "Maps of sprites", "gfx")
	e.seed("audio", "1.0.0", "Sound engine", "apu", "SPRITE-free")
	e.seed("controller", "1.0.0", "Read the pads", "input")
	r := e.get("/search/SPRITE")
	m := r.json(t)
	if m["term"] != "SPRITE" {
		t.Errorf("term = %v", m["term"])
	}
	var titles []string
	for _, x := range m["results"].([]any) {
		titles = append(titles, x.(map[string]any)["title"].(string))
	}
	if strings.Join(titles, ",") != "sprite,audio,spritemap" {
		t.Errorf("results = %v, want exact title first, then by title", titles)
	}
	if m["pagination"].(map[string]any)["total"] != 3.0 {
		t.Errorf("pagination = %v", m["pagination"])
	}
	none := e.get("/search/zzz")
	if none.status != 200 || len(none.json(t)["results"].([]any)) != 0 {
		t.Errorf("no-match search: %d %s", none.status, none.body)
	}
	// LIKE wildcards in the term are matched literally.
	if res := e.get("/search/%25").json(t)["results"].([]any); len(res) != 0 {
		t.Errorf("%% matched %d packages", len(res))
	}
	all := e.get("/search").json(t)
	if all["pagination"].(map[string]any)["total"] != 4.0 {
		t.Errorf("/search without term: %v", all["pagination"])
	}
	wantError(t, e.get("/search/"+strings.Repeat("a", 101)), 400, "too long")
}

func TestPackageDocument(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "old", "input")
	e.seed("ctl", "1.10.0", "newest", "input", "pad")
	e.seed("ctl", "1.2.0", "middle", "input")
	r := e.get("/package/ctl")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	body := string(r.body)
	// Field order as in the seed, versions newest first by semver.
	order := regexp.MustCompile(`^\{"title":"ctl","description":"newest","version":"1.10.0","versions":\{"1.10.0":"[^"]+","1.2.0":"[^"]+","1.0.0":"[^"]+"\},"author":"alice","license":"GPLv3","tags":\["input","pad"\],"date":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","readme":"[^"]+","resource":"[^"]+","shasum":"[0-9a-f]{40}","yanked":false,"yanked_versions":\[\],"owners":\["alice"\]\}$`)
	if !order.MatchString(body) {
		t.Errorf("document = %s", body)
	}
	m := r.json(t)
	if m["readme"] != e.ts.URL+"/package/ctl/README" || m["resource"] != e.ts.URL+"/package/ctl/data" {
		t.Errorf("links %v %v", m["readme"], m["resource"])
	}

	pinned := e.get("/package/ctl/1.2.0").json(t)
	if pinned["version"] != "1.2.0" || pinned["description"] != "middle" || pinned["resource"] != e.ts.URL+"/package/ctl/1.2.0/data" {
		t.Errorf("pinned = %v", pinned)
	}
	wantError(t, e.get("/package/ctl/9.9.9"), 404, "no version")
	wantError(t, e.get("/package/nope"), 404, "does not exist")
	wantError(t, e.get("/package/ctl/1.2.0/other"), 404, "Not Found")
	wantError(t, e.get("/package/ctl/1.2.0/data/x"), 404, "Not Found")
}

// TestVary: answers that differ by a request header say so, for shared
// caches between the registry and its clients.
func TestVary(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "pads", "input")
	for _, tc := range []struct {
		path string
		hdr  map[string]string
		want string
	}{
		{"/package/ctl", nil, "User-Agent"}, // trimmed for nessemble/1.x
		{"/search/ctl", nil, "User-Agent"},
		{"/", nil, "User-Agent"},
		{"/package/ctl/data", nil, ""},
		{"/package/ctl/README", nil, ""},
		{"/graphql", map[string]string{"Accept": "text/html"}, "Accept"}, // the query page, or JSON
	} {
		for range 2 { // rendered, then from the answer cache
			r := e.do(http.MethodGet, tc.path, tc.hdr, "")
			if r.status != 200 || r.header.Get("Vary") != tc.want {
				t.Errorf("GET %s: %d, Vary %q, want %q", tc.path, r.status, r.header.Get("Vary"), tc.want)
			}
		}
	}
}

func TestReadmeAndData(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "old")
	e.seed("ctl", "2.0.0", "new")
	r := e.get("/package/ctl/README")
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain" || string(r.body) != "# ctl 2.0.0\n" {
		t.Errorf("README: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	if r := e.get("/package/ctl/1.0.0/README"); string(r.body) != "# ctl 1.0.0\n" {
		t.Errorf("pinned README %q", r.body)
	}
	for _, tc := range []struct{ path, version string }{
		{"/package/ctl/data", "2.0.0"},
		{"/package/ctl/1.0.0/data", "1.0.0"},
		{"/package/ctl/data", "2.0.0"}, // again: now from the answer cache
		{"/package/ctl/1.0.0/data", "1.0.0"},
	} {
		r := e.get(tc.path)
		sum := sha1.Sum(r.body)
		if r.status != 200 || r.header.Get("Content-Type") != "application/tar+gzip" ||
			r.header.Get("X-Integrity") != hex.EncodeToString(sum[:]) ||
			string(r.body) != "tarball of ctl "+tc.version ||
			r.header.Get("Content-Disposition") != `attachment; filename="ctl-`+tc.version+`.tar.gz"` {
			t.Errorf("%s: %d %v %q", tc.path, r.status, r.header, r.body)
		}
	}
}

func TestConventionsOnEveryResponse(t *testing.T) {
	e := newEnv(t, server.Config{RateLimit: 100})
	e.seed("ctl", "1.0.0", "a & b <c>", "t")
	for _, path := range []string{"/", "/status", "/search/ctl", "/package/ctl", "/package/ctl/README",
		"/package/ctl/data", "/package/nope", "/nope", "/?page=x"} {
		r := e.get(path)
		h := r.header
		for _, name := range []string{"Content-Type", "Content-Length", "Access-Control-Allow-Origin", "Server",
			"X-Response-Time", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Retry-After",
			"Date", "Cache-Control", "Expires", "X-Content-Type-Options"} {
			if h.Get(name) == "" {
				t.Errorf("%s: no %s header", path, name)
			}
		}
		// The documented spelling, which Go's client would hide by
		// canonicalising it: read the raw bytes, on a new connection
		// (the front's, for the reads it has cached).
		raw := e.rawGet(path)
		if !strings.Contains(raw, "\r\nX-Content-Type-Options: nosniff\r\n") || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff in %q", path, raw)
		}
		for _, name := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
			if !strings.Contains(raw, "\r\n"+name+": ") {
				t.Errorf("%s: no %s header spelled so in %q", path, name, raw)
			}
		}
		if h.Get("Server") != "Nessemble" || h.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: Server %q, CORS %q", path, h.Get("Server"), h.Get("Access-Control-Allow-Origin"))
		}
		if !regexp.MustCompile(`^\d+\.\d{3}$`).MatchString(h.Get("X-Response-Time")) {
			t.Errorf("%s: X-Response-Time %q", path, h.Get("X-Response-Time"))
		}
		if ct := h.Get("Content-Type"); strings.Contains(ct, ";") {
			t.Errorf("%s: Content-Type %q has parameters", path, ct)
		}
		if r.status < 300 {
			if !strings.HasPrefix(h.Get("Cache-Control"), "max-age=") || h.Get("ETag") == "" {
				t.Errorf("%s: read without max-age/ETag: %v", path, h)
			}
			// /status is a read as the API documentation has it, cached
			// briefly: its counts and uptime move.
			date, _ := http.ParseTime(h.Get("Date"))
			expires, err := http.ParseTime(h.Get("Expires"))
			age := 60 * time.Second
			if path == "/status" {
				age = 5 * time.Second
			}
			if cc := h.Get("Cache-Control"); cc != fmt.Sprintf("max-age=%d", int(age.Seconds())) || err != nil ||
				expires.Sub(date) < age-time.Second || expires.Sub(date) > age+time.Second {
				t.Errorf("%s: Cache-Control %q, Date %q, Expires %q: want max-age %v", path, cc, h.Get("Date"), h.Get("Expires"), age)
			}
		} else if h.Get("Cache-Control") != "no-store, no-cache, must-revalidate, post-check=0, pre-check=0, max-age=0" || h.Get("Expires") != "-1" {
			t.Errorf("%s: Cache-Control %q Expires %q", path, h.Get("Cache-Control"), h.Get("Expires"))
		}
	}
	// No HTML escaping in JSON.
	if r := e.get("/package/ctl"); !strings.Contains(string(r.body), `"a & b <c>"`) {
		t.Errorf("HTML-escaped JSON: %s", r.body)
	}
}

func TestMethodNotAllowedAndOptions(t *testing.T) {
	e := newEnv(t, server.Config{})
	r := e.do("DELETE", "/status", nil, "")
	wantError(t, r, 405, "not allowed")
	if r.header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	r = e.do("GET", "/user/create", nil, "")
	if r.status != 405 || !strings.Contains(r.header.Get("Allow"), "POST") {
		t.Errorf("GET /user/create: %d Allow %q", r.status, r.header.Get("Allow"))
	}
	r = e.do("OPTIONS", "/package/publish", map[string]string{"Origin": "http://x", "Access-Control-Request-Method": "POST"}, "")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	wantError(t, e.get("/no/such/route"), 404, "Not Found")
}

func TestHeadMatchesGet(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "a")
	for _, path := range []string{"/", "/package/ctl", "/package/ctl/data", "/package/nope"} {
		g, h := e.get(path), e.do("HEAD", path, nil, "")
		if g.status != h.status || len(h.body) != 0 || h.header.Get("Content-Length") != g.header.Get("Content-Length") {
			t.Errorf("%s: GET %d/%s, HEAD %d/%s body %q", path, g.status, g.header.Get("Content-Length"),
				h.status, h.header.Get("Content-Length"), h.body)
		}
		if !h.close {
			t.Errorf("%s: HEAD without Connection: close", path)
		}
	}
}

func TestETag(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "a")
	for _, path := range []string{"/package/ctl", "/package/ctl/data", "/search/ctl"} {
		r := e.get(path)
		tag := r.header.Get("ETag")
		if tag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		nm := e.do("GET", path, map[string]string{"If-None-Match": tag}, "")
		if nm.status != http.StatusNotModified || len(nm.body) != 0 {
			t.Errorf("%s: If-None-Match gave %d %q", path, nm.status, nm.body)
		}
		if other := e.do("GET", path, map[string]string{"If-None-Match": `"other"`}, ""); other.status != 200 {
			t.Errorf("%s: stale tag gave %d", path, other.status)
		}
	}
}

func TestAcceptVersion(t *testing.T) {
	e := newEnv(t, server.Config{})
	if r := e.do("GET", "/", map[string]string{"Accept": "application/json;version=1"}, ""); r.status != 200 {
		t.Errorf("version=1: %d", r.status)
	}
	wantError(t, e.do("GET", "/", map[string]string{"Accept": "application/json; version=2"}, ""), 406, "version 2")
}

func TestMountPrefixAndV1(t *testing.T) {
	e := newEnv(t, server.Config{BaseURL: "http://registry.example/registry/"})
	e.seed("ctl", "1.0.0", "a")
	for _, tc := range []struct{ path, resource string }{
		{"/package/ctl", "http://registry.example/registry/package/ctl/data"},
		{"/registry/package/ctl", "http://registry.example/registry/package/ctl/data"},
		{"/v1/package/ctl", "http://registry.example/registry/v1/package/ctl/data"},
		{"/registry/v1/package/ctl", "http://registry.example/registry/v1/package/ctl/data"},
	} {
		r := e.get(tc.path)
		if r.status != 200 || r.json(t)["resource"] != tc.resource {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	if r := e.get("/registry/v1/"); r.status != 200 {
		t.Errorf("/registry/v1/: %d", r.status)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, server.Config{RateLimit: 3})
	for i := 0; i < 3; i++ {
		r := e.get("/status")
		if r.status != 200 || r.header.Get("X-RateLimit-Remaining") != fmt.Sprint(2-i) || r.header.Get("X-RateLimit-Limit") != "3" {
			t.Fatalf("request %d: %d remaining %q", i, r.status, r.header.Get("X-RateLimit-Remaining"))
		}
	}
	r := e.get("/status")
	wantError(t, r, http.StatusTooManyRequests, "Too many requests")
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
}

func TestLargeBodyHasContentLength(t *testing.T) {
	e := newEnv(t, server.Config{})
	for i := 0; i < 100; i++ {
		e.seed(fmt.Sprintf("package-with-a-long-name-%03d", i), "1.0.0", strings.Repeat("long description ", 5), "a", "b")
	}
	r := e.get("/?per_page=100")
	if len(r.body) < 4096 || r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
		t.Errorf("body %d bytes, Content-Length %q", len(r.body), r.header.Get("Content-Length"))
	}
}

// TestCachedAnswersFollowPublish reads every cached kind of answer, then
// publishes, and expects the new data at once.
func TestCachedAnswersFollowPublish(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "first")
	paths := []string{"/package/ctl", "/package/ctl/README", "/package/ctl/data", "/search/ctl", "/"}
	before := map[string]string{}
	for _, p := range paths {
		before[p] = string(e.get(p).body)
		if again := string(e.get(p).body); again != before[p] {
			t.Fatalf("%s: second read differs", p)
		}
	}
	e.seed("ctl", "2.0.0", "second")
	for _, p := range paths {
		if after := string(e.get(p).body); after == before[p] {
			t.Errorf("%s: still the answer from before the publish: %s", p, after)
		}
	}
}

// TestNoStaleAnswerAfterPublish publishes while other clients keep
// searching: a search made after a publish returned must count it, even
// if a concurrent search rendered and cached its answer mid-publish.
func TestNoStaleAnswerAfterPublish(t *testing.T) {
	e := newEnv(t, server.Config{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := e.ts.Client().Get(e.ts.URL + "/search/pkg?per_page=100")
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for i := 1; i <= 40; i++ {
		e.seed(fmt.Sprintf("pkg%03d", i), "1.0.0", "d")
		total := e.get("/search/pkg?per_page=100").json(t)["pagination"].(map[string]any)["total"]
		if total != float64(i) {
			t.Fatalf("after publish %d, search counts %v", i, total)
		}
	}
}

// TestClientReadErrorsAre503 checks that the nessemble client, which
// reads any status but 404 and 503 on package and search answers as
// success, gets 503 for every other failure there.
func TestClientReadErrorsAre503(t *testing.T) {
	e := newEnv(t, server.Config{RateLimit: 1})
	legacy := map[string]string{"User-Agent": "nessemble/1.1.1"}
	e.do("GET", "/search/x", legacy, "")
	r := e.do("GET", "/search/x", legacy, "")
	wantError(t, r, http.StatusServiceUnavailable, "Too many requests")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	wantError(t, e.do("GET", "/package/x", nil, ""), http.StatusTooManyRequests, "Too many requests")

	e = newEnv(t, server.Config{})
	wantError(t, e.do("GET", "/package/x", legacy, ""), http.StatusNotFound, "does not exist")
	wantError(t, e.do("GET", "/package/x", map[string]string{"User-Agent": "nessemble/1.1.1", "Accept": "application/json;version=2"}, ""),
		http.StatusServiceUnavailable, "version 2")
}

// rawGet GETs path on a new connection and returns the answer's head as
// sent.
func (e *env) rawGet(path string) string {
	e.t.Helper()
	head, _, _ := strings.Cut(e.rawExchange("GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "\r\n\r\n")
	return head
}

// rawExchange writes raw on a new connection and returns all that comes
// back until the server closes it.
func (e *env) rawExchange(raw string) string {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, raw)
	b, err := io.ReadAll(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}
