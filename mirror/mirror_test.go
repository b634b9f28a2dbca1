package mirror_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/mirror"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
	"github.com/nessemble/nessemble-registry/store"
)

// reg is a real registry over a SQLite file in a temp folder; with a URL
// when it serves HTTP on 127.0.0.1.
type reg struct {
	t    *testing.T
	db   *store.DB
	core *registry.Service
	url  string
}

func newReg(t *testing.T) *reg {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &reg{t: t, db: db, core: registry.New(db, registry.Config{}, nil, slog.New(slog.DiscardHandler))}
}

// serve starts the registry's HTTP server.
func (r *reg) serve() *reg {
	r.t.Helper()
	if err := r.core.EnsureReference(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	srv := server.New(server.Config{RateLimit: -1}, r.core, slog.New(slog.DiscardHandler))
	go srv.Serve(ln)
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	r.url = "http://" + ln.Addr().String()
	return r
}

// publish stores a version as alice's publish would.
func (r *reg) publish(title, version string) {
	r.t.Helper()
	if _, err := r.core.Publish(context.Background(), registry.User{Username: "alice"}, registry.Import,
		bytes.NewReader(upload(title, version, "alice"))); err != nil {
		r.t.Fatal(err)
	}
}

// versions lists what is stored, "title version shasum" sorted.
func (r *reg) versions() []string {
	r.t.Helper()
	ctx := context.Background()
	pkgs, _, err := r.db.ListPackages(ctx, registry.ListOptions{Limit: 1000})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, p := range pkgs {
		rels, err := r.db.Releases(ctx, p.Title)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, rel := range rels {
			v, err := r.db.Version(ctx, p.Title, rel.Version)
			if err != nil {
				r.t.Fatal(err)
			}
			out = append(out, p.Title+" "+v.Version+" "+v.Shasum)
		}
	}
	return out
}

// clean asserts that the data folder checks clean.
func (r *reg) clean() {
	r.t.Helper()
	probs, err := r.db.Check(context.Background(), false)
	if err != nil || len(probs) > 0 {
		r.t.Errorf("check: %v %+v", err, probs)
	}
}

// upload is a package as a user packs it.
func upload(title, version, author string) []byte {
	return tgz(map[string]string{
		"lib/lib.asm": "; " + title + " " + version + "\n  rts\n",
		"lib/package.json": fmt.Sprintf(`{"title": %q, "description": "Package %s", "version": %q, "author": %q, "license": "MIT", "tags": ["t"]}`,
			title, title, version, author),
		"lib/README.md": "# " + title + "\n",
	})
}

func tgz(files map[string]string) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, name := range []string{"lib/lib.asm", "lib/package.json", "lib/README.md"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	zw.Close()
	return gb.Bytes()
}

func sha(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

// quick is a mirror configuration for tests: short timeouts and backoff.
func quick(upstream string) mirror.Config {
	return mirror.Config{Upstream: upstream, Timeout: 500 * time.Millisecond, Attempts: 3, Backoff: 20 * time.Millisecond}
}

// TestMirrorConflictsAndLocalPackages: a package published on the mirror
// is never changed by a run, a version stored with another shasum is
// never overwritten, and both are reported; the rest is stored.
func TestMirrorConflictsAndLocalPackages(t *testing.T) {
	t.Parallel()
	up := newReg(t).serve()
	up.publish("shared", "1.0.0")
	up.publish("other", "1.0.0")
	local := newReg(t)
	local.publish("shared", "0.9.0") // the class's own package of that name
	before := local.versions()

	sum, err := mirror.Run(context.Background(), local.core, quick(up.url))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Skipped) != 1 || sum.Skipped[0].What != "shared 1.0.0" || !strings.Contains(sum.Skipped[0].Why, "published on this registry") {
		t.Errorf("skipped %+v", sum.Skipped)
	}
	got := strings.Join(local.versions(), "\n")
	if !strings.Contains(got, before[0]) || strings.Contains(got, "shared 1.0.0") || !strings.Contains(got, "other 1.0.0") {
		t.Errorf("stored:\n%s", got)
	}
	if p, err := local.db.Package(context.Background(), "shared"); err != nil || p.Owner != "alice" {
		t.Errorf("local package now %+v, %v", p, err)
	}

	// Another upstream with other content under the same title and version.
	up2 := newReg(t).serve()
	up2.core.SetClock(func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) })
	up2.publish("other", "1.0.0")
	stored := local.versions()
	sum, err = mirror.Run(context.Background(), local.core, quick(up2.url))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Skipped) != 1 || sum.Skipped[0].What != "other 1.0.0" || !strings.Contains(sum.Skipped[0].Why, "kept the local one") {
		t.Errorf("skipped %+v", sum.Skipped)
	}
	if after := local.versions(); strings.Join(after, "\n") != strings.Join(stored, "\n") {
		t.Errorf("a conflict changed what is stored:\n%v\nwas\n%v", after, stored)
	}
	local.clean()
}

// hostile is an upstream that answers as h does.
func hostile(t *testing.T, h http.HandlerFunc) string {
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// proxyTo forwards to a real registry, letting change alter answers.
func proxyTo(t *testing.T, target string, change func(w http.ResponseWriter, r *http.Request) bool) string {
	u, _ := url.Parse(target)
	p := httputil.NewSingleHostReverseProxy(u)
	return hostile(t, func(w http.ResponseWriter, r *http.Request) {
		if !change(w, r) {
			p.ServeHTTP(w, r)
		}
	})
}

// TestHostileUpstreams: every kind of bad upstream is refused with a
// message saying what was wrong, within the timeouts, and nothing is
// stored (check is clean).
func TestHostileUpstreams(t *testing.T) {
	t.Parallel()
	up := newReg(t).serve()
	up.publish("good", "1.0.0")

	bad := tgz(map[string]string{"lib/lib.asm": "  rts\n"}) // no package.json
	feedOf := func(title, version, shasum string) string {
		return `{"changes":[{"serial":1,"kind":"publish","title":"` + title + `","version":"` + version +
			`","shasum":"` + shasum + `","date":"2025-01-01T00:00:00.000Z"}],"last":1,"next":null}`
	}
	endless := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("["), 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	for _, c := range []struct {
		name     string
		upstream func() string
		runErr   string // the run fails with this
		skipped  string // or skips a version with this
	}{
		{name: "wrong X-Integrity", skipped: "X-Integrity", upstream: func() string {
			return proxyTo(t, up.url, func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasSuffix(r.URL.Path, "/data") {
					return false
				}
				res, _ := http.Get(up.url + r.URL.Path)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				w.Header().Set("X-Integrity", strings.Repeat("0", 40))
				w.Write(body)
				return true
			})
		}},
		{name: "tarball that breaks the publish rules", skipped: "publish rules", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/changes":
					io.WriteString(w, feedOf("bad", "1.0.0", sha(bad)))
				case "/package/bad/1.0.0/data":
					w.Header().Set("X-Integrity", sha(bad))
					w.Write(bad)
				default:
					http.NotFound(w, r)
				}
			})
		}},
		{name: "tarball that is not its shasum", skipped: "SHA-1", upstream: func() string {
			good := upload("good", "1.0.0", "alice")
			return hostile(t, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/changes":
					io.WriteString(w, feedOf("good", "1.0.0", sha(bad)))
				default:
					w.Header().Set("X-Integrity", sha(bad))
					w.Write(good)
				}
			})
		}},
		{name: "endless feed", runErr: "larger than", upstream: func() string { return hostile(t, endless) }},
		{name: "endless tarball", skipped: "larger than", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/changes" {
					io.WriteString(w, feedOf("good", "1.0.0", sha(bad)))
					return
				}
				endless(w, r)
			})
		}},
		{name: "malformed JSON", runErr: "malformed JSON", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"changes": [{"serial": 1,`) })
		}},
		{name: "redirect loop", runErr: "redirects", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.String(), http.StatusFound) })
		}},
		{name: "redirect to another host", runErr: "another host", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://127.0.0.2:9"+r.URL.Path, http.StatusFound)
			})
		}},
		{name: "never answers", runErr: "no answer within", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		}},
		{name: "answers 500 for ever", runErr: "status 500", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) })
		}},
		{name: "Retry-After beyond the limit", runErr: "Retry-After", upstream: func() string {
			return hostile(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(http.StatusTooManyRequests)
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			local := newReg(t)
			start := time.Now()
			sum, err := mirror.Run(context.Background(), local.core, quick(c.upstream()))
			t.Logf("%v: err %v, skipped %+v", time.Since(start).Round(time.Millisecond), err, sum.Skipped)
			switch {
			case c.runErr != "" && (err == nil || !strings.Contains(err.Error(), c.runErr)):
				t.Errorf("run error %v, want one saying %q", err, c.runErr)
			case c.skipped != "" && err != nil:
				t.Errorf("run error %v, want a skipped version", err)
			case c.skipped != "" && (len(sum.Skipped) != 1 || !strings.Contains(sum.Skipped[0].Why, c.skipped)):
				t.Errorf("skipped %+v, want one saying %q", sum.Skipped, c.skipped)
			}
			if got := local.versions(); len(got) != 0 {
				t.Errorf("stored %v", got)
			}
			local.clean()
			// What failed is asked for again by the next run.
			again, err2 := mirror.Run(context.Background(), local.core, quick(c.upstream()))
			if (err == nil) != (err2 == nil) || len(again.Skipped) != len(sum.Skipped) {
				t.Errorf("second run: %v %+v, first %v %+v", err2, again.Skipped, err, sum.Skipped)
			}
		})
	}
}

// TestRetries: network errors, 5xx and 429 are retried (429 after its
// Retry-After), and the run then completes.
func TestRetries(t *testing.T) {
	t.Parallel()
	up := newReg(t).serve()
	up.publish("one", "1.0.0")
	up.publish("one", "1.1.0")
	var (
		mu    sync.Mutex
		tries = map[string]int{}
		gap   time.Duration
		first time.Time
	)
	upstream := proxyTo(t, up.url, func(w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		tries[r.URL.Path]++
		switch n := tries[r.URL.Path]; {
		case r.URL.Path == "/changes" && n == 1:
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		case r.URL.Path == "/changes" && n == 2:
			gap = time.Since(first)
		case strings.HasSuffix(r.URL.Path, "/data") && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case strings.HasSuffix(r.URL.Path, "/data") && n == 2:
			// Cut the connection: a network error.
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return true
		}
		return false
	})
	local := newReg(t)
	sum, err := mirror.Run(context.Background(), local.core, quick(upstream))
	if err != nil || len(sum.Skipped) != 0 || sum.NewVersions != 2 {
		t.Fatalf("run: %v %+v", err, sum)
	}
	if gap < time.Second {
		t.Errorf("asked again %v after a 429 with Retry-After: 1", gap)
	}
	for path, n := range tries {
		if strings.HasSuffix(path, "/data") && n != 3 {
			t.Errorf("%s asked %d times, want 3", path, n)
		}
	}
}

// TestUnknownChangeKinds: kinds this binary does not know (a later
// version's, say) are passed over with a log line, not a failure, and so
// is a version the feed names that is gone upstream (document and tarball
// 404); a yank is applied to the mirrored version.
func TestUnknownChangeKinds(t *testing.T) {
	t.Parallel()
	good := upload("good", "1.0.0", "alice")
	upstream := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/changes":
			if r.URL.Query().Get("since") != "0" {
				io.WriteString(w, `{"changes":[],"last":4,"next":null}`)
				return
			}
			io.WriteString(w, `{"changes":[{"serial":1,"kind":"publish","title":"good","version":"1.0.0","shasum":"`+sha(good)+
				`","date":"2025-01-01T00:00:00.000Z"},{"serial":2,"kind":"yank","title":"good","version":"1.0.0","shasum":"","date":"2025-01-02T00:00:00.000Z"},`+
				`{"serial":3,"kind":"rename","title":"good","version":"","shasum":"","date":"2025-01-02T00:00:00.000Z"},`+
				`{"serial":4,"kind":"publish","title":"gone","version":"1.0.0","shasum":"`+sha(good)+`","date":"2025-01-01T00:00:00.000Z"}],"last":4,"next":null}`)
		case "/package/good/1.0.0/data":
			w.Header().Set("X-Integrity", sha(good))
			w.Write(good)
		default:
			http.NotFound(w, r)
		}
	})
	var logs bytes.Buffer
	cfg := quick(upstream)
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	local := newReg(t)
	sum, err := mirror.Run(context.Background(), local.core, cfg)
	if err != nil || len(sum.Skipped) != 0 || sum.NewVersions != 1 || sum.UnknownKinds != 1 || sum.Moderated != 1 || sum.Serial != 4 {
		t.Fatalf("run: %v %+v", err, sum)
	}
	if !strings.Contains(logs.String(), "kind=rename") || !strings.Contains(logs.String(), "no longer upstream") {
		t.Errorf("no log line for the yank:\n%s", logs.String())
	}
	// The upload as stored is the upstream's byte for byte.
	v, err := local.db.Version(context.Background(), "good", "1.0.0")
	if err != nil || v.Shasum != sha(good) || v.Author != "alice" || !v.Yanked {
		t.Fatalf("stored %+v, %v", v, err)
	}
	if got, err := local.db.Tarball(v.Shasum); err != nil || !bytes.Equal(got, good) {
		t.Errorf("tarball differs: %v", err)
	}
}

// TestUpstreamLogRestarted: when the upstream's change log is behind the
// serial a mirror kept (a new registry at the same URL), the run reads
// it from the start instead of waiting for it to catch up.
func TestUpstreamLogRestarted(t *testing.T) {
	t.Parallel()
	old := newReg(t).serve()
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0", "1.3.0"} {
		old.publish("joypad", v)
	}
	fresh := newReg(t).serve()
	fresh.publish("sprites", "0.1.0")
	var (
		mu     sync.Mutex
		target = old.url
	)
	upstream := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		u, _ := url.Parse(target)
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	})
	local := newReg(t)
	first, err := mirror.Run(context.Background(), local.core, quick(upstream))
	if err != nil || first.NewVersions != 4 {
		t.Fatalf("first run: %v %+v", err, first)
	}
	mu.Lock()
	target = fresh.url
	mu.Unlock()
	var logs bytes.Buffer
	cfg := quick(upstream)
	cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	second, err := mirror.Run(context.Background(), local.core, cfg)
	if err != nil || second.NewVersions != 1 || second.Serial >= first.Serial || len(second.Skipped) != 0 {
		t.Fatalf("second run: %v %+v (first at serial %d)", err, second, first.Serial)
	}
	if !strings.Contains(logs.String(), "change log restarted") {
		t.Errorf("no log line says the log restarted:\n%s", logs.String())
	}
	if got := strings.Join(local.versions(), "\n"); !strings.Contains(got, "sprites 0.1.0") || strings.Count(got, "joypad") != 4 {
		t.Errorf("stored:\n%s", got)
	}
}
