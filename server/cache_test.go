package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
)

// cacheStats reads the answer cache's size from /status.
func (e *env) cacheStats() (entries, bytes int) {
	e.t.Helper()
	r := e.do(http.MethodGet, "/status", map[string]string{"Accept": "application/json"}, "")
	c, _ := r.json(e.t)["cache"].(map[string]any)
	if c == nil {
		e.t.Fatalf("/status has no cache: %s", r.body)
	}
	return int(c["entries"].(float64)), int(c["bytes"].(float64))
}

// rawAnswer sends a raw request head on a new connection (so through the
// front where it takes the request) and returns status line and body.
func (e *env) rawAnswer(head string) (status, body string) {
	e.t.Helper()
	raw := e.rawExchange(head)
	line, _, _ := strings.Cut(raw, "\r\n")
	_, body, _ = strings.Cut(raw, "\r\n\r\n")
	return line, body
}

// TestCacheIgnoresUnusedParameters: query parameters a read does not use
// add no entry to the answer cache, through net/http and the front alike;
// those it uses do.
func TestCacheIgnoresUnusedParameters(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "Reads both joypads", "input")
	want := e.get("/package/ctl")
	base, _ := e.cacheStats()
	for i := range 50 {
		if r := e.get(fmt.Sprintf("/package/ctl?x=%d&page=%d", i, i)); string(r.body) != string(want.body) {
			t.Fatalf("?x=%d: %s", i, r.body)
		}
		e.rawAnswer(fmt.Sprintf("GET /package/ctl?y=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", i))
	}
	if n, _ := e.cacheStats(); n != base+1 { // the front's Host differs
		t.Errorf("entries after 100 reads with unused parameters: %d, want %d", n, base+1)
	}
	e.get("/?page=1&junk=" + strings.Repeat("j", 8000))
	e.get("/?junk=1&page=1")
	e.get("/?page=1&page=2") // the first value counts, as for the handler
	if n, _ := e.cacheStats(); n != base+2 {
		t.Errorf("entries after three spellings of page 1: %d, want %d", n, base+2)
	}
	if r := e.get("/?per_page=1"); r.json(t)["pagination"].(map[string]any)["per_page"] != float64(1) {
		t.Errorf("per_page=1 after the others: %s", r.body)
	}
	if n, _ := e.cacheStats(); n != base+3 {
		t.Errorf("entries after a used parameter: %d, want %d", n, base+3)
	}
}

// TestCacheKeysDoNotCollide: a decoded path may hold "?": the search for
// the term "foo?x" is not the answer for "foo" with the query "x?...".
func TestCacheKeysDoNotCollide(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("foo", "1.0.0", "A foo", "t")
	if r := e.get("/search/foo?x?per_page=1"); r.json(t)["term"] != "foo" {
		t.Fatalf("first search: %s", r.body)
	}
	r := e.get("/search/foo%3Fx?per_page=1")
	if m := r.json(t); m["term"] != "foo?x" || len(m["results"].([]any)) != 0 {
		t.Errorf("search for foo?x: %s", r.body)
	}
}

// TestCacheBoundCountsKeys: what the cache counts toward its bound grows
// with the keys, not only with the bodies.
func TestCacheBoundCountsKeys(t *testing.T) {
	e := newEnv(t, server.Config{})
	_, before := e.cacheStats()
	term := strings.Repeat("t", 90)
	var bodies int
	for i := range 20 {
		bodies += len(e.get(fmt.Sprintf("/search/%s%02d", term, i)).body)
	}
	if _, after := e.cacheStats(); after-before < bodies+20*len(term) {
		t.Errorf("cache bytes grew by %d for 20 answers of %d body bytes and 20 keys of over %d bytes",
			after-before, bodies, len(term))
	}
}

// TestHostHeaderChecked: without --base-url the Host goes into every
// link, so only a valid host[:port] of sane length is served; others get
// 400, through net/http and the front alike.
func TestHostHeaderChecked(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "Reads both joypads", "input")
	for _, host := range []string{"registry.example.org", "registry.example.org:8000", "127.0.0.1:80", "[::1]:8000", "[::1]", "my_box"} {
		if status, body := e.rawAnswer("GET /package/ctl HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"); !strings.Contains(status, " 200 ") ||
			!strings.Contains(body, `"http://`+host+`/package/ctl/data"`) {
			t.Errorf("Host %q: %s %s", host, status, body)
		}
	}
	for _, host := range []string{strings.Repeat("a", 256), strings.Repeat("h", 16000), "a b", "x:port", "x:123456",
		"[::1", "[zz]:80", "a/b", "a@b", "x:"} {
		for _, path := range []string{"/?per_page=100", "/package/ctl", "/status"} {
			status, body := e.rawAnswer("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n")
			if !strings.Contains(status, " 400 ") || len(body) > 200 {
				t.Errorf("Host %.20q on %s: %s, %d bytes", host, path, status, len(body))
			}
		}
	}
}
