package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/fastpath"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/postgres"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// openFrontDB opens fresh storage of the backend the run is on (see
// TestMain in backend_test.go: SQLite and files, then PostgreSQL and S3).
func openFrontDB(t testing.TB) registry.Storage {
	t.Helper()
	var (
		db interface {
			registry.Storage
			Close() error
		}
		err error
	)
	if os.Getenv("NESSEMBLE_TEST_SERVER_BACKEND") == "postgres" {
		var bs blobs.Store
		bs, err = blobs.Open(context.Background(), backendtest.S3(t), t.TempDir(), blobs.Options{})
		if err == nil {
			db, err = postgres.Open(context.Background(), backendtest.Postgres(t), bs)
		}
	} else {
		db, err = store.Open(context.Background(), t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// frontEnv is a registry served by Serve on a port of 127.0.0.1.
type frontEnv struct {
	t    testing.TB
	db   registry.Storage
	srv  *Server
	addr string

	served   chan error // what Serve returned
	stopOnce sync.Once
	stopErr  error
}

func newFrontEnv(t testing.TB, cfg Config) *frontEnv {
	t.Helper()
	return newFrontEnvWith(t, cfg, nil)
}

// newFrontEnvWith is newFrontEnv with set applied to the server before it
// serves.
func newFrontEnvWith(t testing.TB, cfg Config, set func(*Server)) *frontEnv {
	t.Helper()
	db := openFrontDB(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, err := db.Publish(context.Background(), "alice", registry.Version{
			Title: "pad", Version: v, Description: "controller pad", Author: "alice",
			License: "MIT", Tags: []string{"input"}, Readme: "# pad " + v + "\n",
		}, []byte("tarball of pad "+v), registry.PublishRule("alice", registry.Import, "pad", v))
		if err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &frontEnv{t: t, db: db, srv: New(cfg, registry.New(db, registry.Config{}, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler)), addr: ln.Addr().String(), served: make(chan error, 1)}
	if set != nil {
		set(e.srv)
	}
	go func() { e.served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return e
}

// stop shuts the server down, once, and reports what went wrong.
func (e *frontEnv) stop(ctx context.Context) error {
	e.stopOnce.Do(func() {
		if err := e.srv.Shutdown(ctx); err != nil {
			e.stopErr = fmt.Errorf("Shutdown: %w", err)
		} else if err := <-e.served; !errors.Is(err, http.ErrServerClosed) {
			e.stopErr = fmt.Errorf("Serve returned %v", err)
		}
	})
	return e.stopErr
}

// answer is one HTTP answer as read by a client.
type answer struct {
	status, proto string
	code          int
	header        http.Header
	body          []byte
	close         bool
}

// readAnswer reads the answer to a request made with method.
func readAnswer(br *bufio.Reader, method string) (answer, error) {
	res, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return answer{res.Status, res.Proto, res.StatusCode, res.Header, body, res.Close}, err
}

// methods lists the method of each request in raw.
func methods(raw string) []string {
	var m []string
	for _, line := range strings.Split(raw, "\n") {
		for _, verb := range []string{"GET", "HEAD", "POST", "OPTIONS"} {
			if strings.HasPrefix(line, verb+" /") {
				m = append(m, verb)
			}
		}
	}
	return m
}

// exchange writes raw on a new connection and reads n answers.
func (e *frontEnv) exchange(raw string, n int) []answer {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		e.t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []answer
	for _, m := range methods(raw)[:n] {
		a, err := readAnswer(br, m)
		if err != nil {
			e.t.Fatalf("answer %d of %q: %v", len(out)+1, raw, err)
		}
		out = append(out, a)
	}
	return out
}

// viaNetHTTP sends req on a connection whose first request, for /status,
// the front hands to net/http: net/http answers req.
func (e *frontEnv) viaNetHTTP(req string) answer {
	e.t.Helper()
	return e.exchange("GET /status HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n"+req, 2)[1]
}

// viaFront has the front answer req directly, and fails unless it does.
func (e *frontEnv) viaFront(req string) answer {
	e.t.Helper()
	a, answered := frontAnswer(e.t, e.srv, req)
	if !answered {
		e.t.Fatalf("the front did not answer %q", req)
	}
	return a
}

// frontAnswer has srv's fast path answer req, if it takes it.
func frontAnswer(t testing.TB, srv *Server, req string) (a answer, answered bool) {
	t.Helper()
	r, ok := fastpath.ParseRequest([]byte(req))
	if !ok {
		return a, false
	}
	r.Remote = "127.0.0.1"
	head, body, _, ok := srv.answerFast(nil, r)
	if !ok {
		return a, false
	}
	a, err := readAnswer(bufio.NewReader(io.MultiReader(bytes.NewReader(head), bytes.NewReader(body))), methods(req)[0])
	if err != nil {
		t.Fatalf("front answer to %q: %v", req, err)
	}
	return a, true
}

// varying are the headers whose values differ from answer to answer.
var varying = map[string]*regexp.Regexp{
	"Date":                  regexp.MustCompile(`^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$`),
	"Expires":               regexp.MustCompile(`^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$`),
	"X-Response-Time":       regexp.MustCompile(`^\d+\.\d{3}$`),
	"X-Ratelimit-Remaining": regexp.MustCompile(`^\d+$`),
	"X-Ratelimit-Reset":     regexp.MustCompile(`^\d+$`),
	"Retry-After":           regexp.MustCompile(`^\d+$`),
}

// sameAnswer fails unless got matches want in status, headers (names and
// values, the varying ones in form) and body.
func sameAnswer(t *testing.T, name string, want, got answer) {
	t.Helper()
	if got.status != want.status || got.proto != want.proto {
		t.Errorf("%s: status %q %s, want %q %s", name, got.status, got.proto, want.status, want.proto)
	}
	// The reader takes Connection out of the headers into close.
	if got.close != want.close {
		t.Errorf("%s: Connection: close %v, want %v", name, got.close, want.close)
	}
	if g, w := slices.Sorted(maps.Keys(got.header)), slices.Sorted(maps.Keys(want.header)); !slices.Equal(g, w) {
		t.Errorf("%s: headers %v, want %v", name, g, w)
	}
	for k, wv := range want.header {
		gv := got.header[k]
		if re := varying[k]; re != nil {
			if len(gv) != 1 || !re.MatchString(gv[0]) {
				t.Errorf("%s: %s = %q", name, k, gv)
			}
			continue
		}
		if !slices.Equal(gv, wv) {
			t.Errorf("%s: %s = %q, want %q", name, k, gv, wv)
		}
	}
	if !bytes.Equal(got.body, want.body) {
		t.Errorf("%s: body %q, want %q", name, got.body, want.body)
	}
}

// cachedReads are requests for every kind of read the answer cache keeps.
var cachedReads = []struct{ name, req string }{
	{"document", "GET /package/pad HTTP/1.1\r\nHost: reg.example:8080\r\n\r\n"},
	{"version", "GET /package/pad/1.0.0 HTTP/1.1\r\nHost: reg.example\r\nAccept: application/json\r\n\r\n"},
	{"tarball", "GET /package/pad/data HTTP/1.1\r\nHost: reg.example\r\nUser-Agent: nessemble/1.1.1\r\n\r\n"},
	{"readme", "GET /package/pad/README HTTP/1.1\r\nHost: reg.example\r\nAccept: text/plain\r\n\r\n"},
	{"legacy document", "GET /package/pad HTTP/1.1\r\nHost: reg.example\r\nUser-Agent: nessemble/1.1.1\r\nAccept: application/json\r\n\r\n"},
	{"search", "GET /search/pad?page=1 HTTP/1.1\r\nHost: reg.example\r\n\r\n"},
	{"list", "GET /?per_page=5 HTTP/1.1\r\nHost: reg.example\r\n\r\n"},
	{"v1", "GET /v1/package/pad HTTP/1.1\r\nHost: reg.example\r\nAccept: application/json;version=1\r\n\r\n"},
	{"head", "HEAD /package/pad/data HTTP/1.1\r\nHost: reg.example\r\n\r\n"},
	{"close", "GET /package/pad HTTP/1.1\r\nhost: reg.example\r\nconnection: Close\r\n\r\n"},
}

// TestFrontMatchesNetHTTP: for every kind of cached read, the front's
// answer is net/http's, byte for byte apart from the values that change
// from answer to answer; and a new connection gets the same.
func TestFrontMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: 1000})
	for _, tc := range cachedReads {
		want := e.viaNetHTTP(tc.req) // renders the answer and caches it
		sameAnswer(t, tc.name, want, e.viaFront(tc.req))
		sameAnswer(t, tc.name+", new connection", want, e.exchange(tc.req, 1)[0])

		// The same read naming the answer's ETag gets 304 either way.
		etag := want.header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", tc.name)
		}
		cond := strings.Replace(tc.req, "\r\n\r\n", "\r\nIf-None-Match: W/"+etag+"\r\n\r\n", 1)
		want304 := e.viaNetHTTP(cond)
		if want304.code != http.StatusNotModified {
			t.Fatalf("%s: net/http answered %s to If-None-Match", tc.name, want304.status)
		}
		sameAnswer(t, tc.name+", 304", want304, e.viaFront(cond))
	}
}

// TestFrontKeepAlive: cached reads on one connection are all answered, and
// the connection closes after Connection: close.
func TestFrontKeepAlive(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})
	get := "GET /package/pad HTTP/1.1\r\nHost: x\r\n\r\n"
	e.exchange(get, 1) // fills the cache
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := range 5 {
		req := get
		if i == 4 {
			req = strings.Replace(get, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1)
		}
		io.WriteString(c, req)
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i+1, err)
		}
		io.Copy(io.Discard, res.Body)
		if res.StatusCode != http.StatusOK || res.Close != (i == 4) {
			t.Fatalf("answer %d: %s, close %v", i+1, res.Status, res.Close)
		}
	}
	if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after Connection: close: read %d, %v; want EOF", n, err)
	}
}

// TestFrontHandsOff: requests the front does not take reach net/http
// intact, also after cached reads on the same connection.
func TestFrontHandsOff(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})
	get := "GET /package/pad HTTP/1.1\r\nHost: x\r\n\r\n"
	e.exchange(get, 1) // fills the cache
	long := "GET /package/pad HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 6000) + "\r\n\r\n"
	for _, tc := range []struct {
		name, raw string
		status    []int
	}{
		{"pipelined, then a POST with a body", get + get +
			"POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + get, []int{200, 200, 400, 200}},
		{"head longer than the front's buffer", long + get, []int{200, 200}},
		{"bare LF line ends", "GET /package/pad HTTP/1.1\nHost: x\n\n", []int{200}},
		{"HTTP/1.0", "GET /package/pad HTTP/1.0\r\nHost: x\r\n\r\n", []int{200}},
		{"escaped path", "GET /package/p%61d HTTP/1.1\r\nHost: x\r\n\r\n", []int{200}},
		{"no Host", "GET /package/pad HTTP/1.1\r\n\r\n", []int{400}},
		{"two Hosts", "GET /package/pad HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", []int{400}},
		{"space before colon", "GET /package/pad HTTP/1.1\r\nHost : x\r\n\r\n", []int{400}},
		{"unsupported version", "GET /package/pad HTTP/1.1\r\nHost: x\r\nAccept: application/json;version=2\r\n\r\n", []int{406}},
		{"OPTIONS", "OPTIONS /package/pad HTTP/1.1\r\nHost: x\r\n\r\n", []int{204}},
	} {
		got := e.exchange(tc.raw, len(tc.status))
		for i, a := range got {
			if a.code != tc.status[i] {
				t.Errorf("%s: answer %d is %s, want %d", tc.name, i+1, a.status, tc.status[i])
			}
		}
	}
}

// TestFrontFillsMisses: the front renders a cacheable read missing from
// the cache itself, and answers it as net/http would; other reads, and
// cacheable ones that fail, are left to net/http.
func TestFrontFillsMisses(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: 1000})
	// A second server over the same store, with its own, empty cache.
	fresh := New(Config{RateLimit: 1000}, registry.New(e.db, registry.Config{}, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler))
	for _, tc := range cachedReads {
		want := e.viaNetHTTP(tc.req)
		got, answered := frontAnswer(t, fresh, tc.req)
		if !answered {
			t.Errorf("%s: the front did not render the miss", tc.name)
			continue
		}
		sameAnswer(t, tc.name+", rendered by the front", want, got)
	}
	for _, path := range []string{
		"/package/nope", "/package/pad/9.9.9/data", "/search/pad?page=0", "/status",
		"/reference", "/graphql?query={__typename}", "/user/logout", "/user/2FA/x", "/nowhere",
	} {
		if _, answered := frontAnswer(t, fresh, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); answered {
			t.Errorf("the front answered GET %s itself", path)
		}
	}
}

// TestFrontRateLimit: reads the front answers count against the limit once
// each, as do those it leaves to net/http, and the read over the limit gets
// net/http's 429.
func TestFrontRateLimit(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: 4, RateWindow: time.Hour})
	pad := "GET /package/pad HTTP/1.1\r\nHost: x\r\n\r\n"
	nope := "GET /package/nope HTTP/1.1\r\nHost: x\r\n\r\n"
	for i, step := range []struct {
		req    string
		status int
	}{{nope, 404}, {pad, 200}, {pad, 200}, {nope, 404}, {pad, 429}, {nope, 429}} {
		a := e.exchange(step.req, 1)[0]
		if a.code != step.status {
			t.Fatalf("request %d: %s, want %d", i+1, a.status, step.status)
		}
		left := max(4-(i+1), 0)
		if got := a.header.Get("X-RateLimit-Remaining"); got != strconv.Itoa(left) {
			t.Errorf("request %d: X-RateLimit-Remaining %q, want %d", i+1, got, left)
		}
		if step.status == 429 && a.header.Get("Retry-After") == "" {
			t.Errorf("request %d: 429 without Retry-After", i+1)
		}
	}
}

// TestFrontShutdown: a shutdown closes idle connections, answers a client
// that had connected but not yet sent its request, and then returns.
func TestFrontShutdown(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	// Fill the cache, so that the idle connection below is the front's.
	warm, warmR := dial()
	io.WriteString(warm, get)
	if _, err := http.ReadResponse(warmR, nil); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	idle, idleR := dial()
	io.WriteString(idle, get)
	if res, err := http.ReadResponse(idleR, nil); err != nil || res.Close {
		t.Fatalf("keep-alive answer: %v", err)
	} else {
		io.Copy(io.Discard, res.Body)
	}
	silent, silentR := dial()
	time.Sleep(50 * time.Millisecond) // accepted, nothing sent yet

	shut := make(chan error, 1)
	go func() { shut <- e.stop(context.Background()) }()
	time.Sleep(100 * time.Millisecond)
	if n, err := idleR.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("idle connection: read %d, %v; want it closed", n, err)
	}
	io.WriteString(silent, get)
	res, err := http.ReadResponse(silentR, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("request sent during shutdown: %v %v", res, err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", e.addr); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// TestFrontShutdownKeepAlive: a shutdown while clients read over kept-alive
// connections returns promptly, and every client sees whole answers and
// then a closed connection, never part of an answer.
func TestFrontShutdownKeepAlive(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})

	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	// Fill the cache first, so that the connections below are the front's.
	if res, err := http.Get("http://" + e.addr + "/"); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	type result struct {
		answers int
		err     error
	}
	results := make(chan result)
	const clients = 16
	for range clients {
		go func() {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				results <- result{0, err}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			n := 0
			for {
				if _, err := io.WriteString(c, get); err != nil {
					results <- result{n, nil} // closed by the shutdown
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					if br.Buffered() > 0 || !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
						results <- result{n, err}
					} else {
						results <- result{n, nil}
					}
					return
				}
				if _, err := io.ReadAll(res.Body); err != nil || res.StatusCode != http.StatusOK {
					results <- result{n, errors.New("partial or failed answer: " + res.Status)}
					return
				}
				n++
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v with only idle and busy connections", d)
	}
	for range clients {
		r := <-results
		if r.err != nil {
			t.Errorf("client after %d answers: %v", r.answers, r.err)
		}
		if r.answers == 0 {
			t.Errorf("a client got no answer at all")
		}
	}
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TestHandlerPanicIs500: a panicking handler answers a JSON 500 that does
// not show the panic.
func TestHandlerPanicIs500(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/package/pad", nil)
	req = req.WithContext(context.WithValue(req.Context(), requestKey{}, &request{path: "/package/pad", start: time.Now()}))
	// A writer wrapped by some middleware: the handle takes any.
	var w http.ResponseWriter = struct{ http.ResponseWriter }{rec}
	e.srv.adapt(func(*call) error { panic("boom") })(w, req, nil)
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("answer %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if body := rec.Body.String(); !strings.Contains(body, `"status":500`) || strings.Contains(body, "boom") {
		t.Fatalf("body %s", body)
	}
}
