package nesclient_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

func TestAuthorizationKnownAnswer(t *testing.T) {
	// Expected values computed independently with Python's hmac module.
	for _, tt := range []struct{ user, token, method, route, want string }{
		{"alice", "secret", "POST", "/package/publish", "HMAC-SHA1 YWxpY2U6MTIwMzRjNGFmNTViZWZhOGY3NjQyYzhiZDQxNzllOTFkY2E4ZWNkNA=="},
		{"bob", "123456", "POST", "/user/resetpassword", "HMAC-SHA1 Ym9iOmQxZmVjOWJhODQyZWU0NzNiZDc2ZjE3N2I3OTZmZTAzOGE4NThkOWY="},
	} {
		if got := nesclient.Authorization(tt.user, tt.token, tt.method, tt.route); got != tt.want {
			t.Errorf("Authorization(%s) = %s, want %s", tt.user, got, tt.want)
		}
	}
}

// fakeRegistry is a small registry under the /v1 prefix, built on
// net/http, with switches to misbehave the way real servers do.
type fakeRegistry struct {
	srv     *httptest.Server
	tarball []byte

	mu          sync.Mutex
	requests    []*http.Request
	bodies      []string
	exists      bool   // HEAD /package/foo answers 200
	readmeType  string // "" leaves net/http's default text/plain; charset=utf-8
	bigReadme   bool   // no Content-Length on a big body: net/http goes chunked
	headLength  bool   // HEAD answered with a non-zero Content-Length
	upperHash   bool   // X-Integrity in uppercase hex
	errorPrefix string // prepended to error messages
}

func newFakeRegistry(t *testing.T) (*fakeRegistry, *nesclient.Client) {
	f := &fakeRegistry{tarball: goodTarball(t), readmeType: "text/plain"}
	f.srv = httptest.NewServer(http.StripPrefix("/v1", http.HandlerFunc(f.serve)))
	t.Cleanup(f.srv.Close)
	return f, &nesclient.Client{Registry: f.srv.URL + "/v1/"}
}

func (f *fakeRegistry) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r)
	f.bodies = append(f.bodies, string(body))
	fail := func(status int, msg string) {
		writeJSON(w, status, `{"status": `+strconv.Itoa(status)+`, "error": "`+f.errorPrefix+msg+`"}`)
	}
	hmacOK := func(user, key, route string) bool {
		return r.Header.Get("Authorization") == nesclient.Authorization(user, key, r.Method, route)
	}
	base := f.srv.URL + "/v1/package/foo/1.0.0"
	switch r.Method + " " + r.URL.Path {
	case "GET /search/foo":
		writeJSON(w, 200, `{"term": "foo", "results": [{"title": "foo", "description": "A foo"}, {"title": "foobar", "description": "Bar\tfoo"}]}`)
	case "GET /search/odd":
		writeJSON(w, 200, `{"results": [{"title": "foo", "description": "A foo"}, {"title": "description"}]}`)
	case "GET /search/none":
		writeJSON(w, 200, `{"term": "none", "results": []}`)
	case "GET /search/down":
		fail(503, "Maintenance")
	case "GET /package/foo", "GET /package/foo/1.0.0":
		writeJSON(w, 200, `{"title": "foo", "resource": "`+base+`/data", "readme": "`+base+`/README"}`)
	case "GET /package/foo/1.0.0/data":
		sum := sha1.Sum(f.tarball)
		w.Header().Set("Content-Type", "application/tar+gzip")
		hash := hex.EncodeToString(sum[:])
		if f.upperHash {
			hash = strings.ToUpper(hash)
		}
		w.Header().Set("X-Integrity", hash)
		w.Header().Set("Content-Length", strconv.Itoa(len(f.tarball)))
		w.Write(f.tarball)
	case "GET /package/foo/1.0.0/README":
		if f.readmeType != "" {
			w.Header().Set("Content-Type", f.readmeType)
		}
		if f.bigReadme {
			io.WriteString(w, strings.Repeat(readme, 400))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(readme)))
		io.WriteString(w, readme)
	case "HEAD /package/foo":
		if f.headLength {
			w.Header().Set("Content-Length", "42")
			return
		}
		if !f.exists {
			w.WriteHeader(404)
		}
	case "GET /reference/cpu/lda":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "LDA: load accumulator\n")
	case "POST /user/login":
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "pw" {
			fail(401, "Invalid login")
			return
		}
		writeJSON(w, 200, `{"token": "tok123"}`)
	case "POST /user/logout":
		if !hmacOK("alice", "tok123", "/user/logout") {
			fail(401, "Not logged in")
			return
		}
		writeJSON(w, 200, `{}`)
	case "POST /user/create":
		writeJSON(w, 201, `{}`)
	case "POST /user/forgotpassword":
		if strings.Contains(string(body), `"bob"`) {
			writeJSON(w, 200, `{"email": false}`)
			return
		}
		writeJSON(w, 200, `{"email": false, "url": "http://x/user/2FA/1", "data": "AAAA"}`)
	case "POST /user/resetpassword":
		if !hmacOK("alice", "123456", "/user/resetpassword") {
			fail(401, "Invalid token")
			return
		}
		writeJSON(w, 200, `{}`)
	case "POST /package/publish", "PUT /package/publish":
		if r.Header.Get("Content-Type") != "application/tar+gzip" || !hmacOK("alice", "tok123", "/package/publish") {
			fail(401, "Not logged in")
			return
		}
		writeJSON(w, 201, `{"title": "foo", "version": "1.0.0"}`)
	default:
		fail(404, "Package `"+r.URL.Path+"` does not exist")
	}
}

// set changes the registry's behaviour between requests.
func (f *fakeRegistry) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

func (f *fakeRegistry) last() (*http.Request, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1], f.bodies[len(f.bodies)-1]
}

func TestSearch(t *testing.T) {
	f, c := newFakeRegistry(t)
	got, err := c.Search("foo")
	if err != nil {
		t.Fatal(err)
	}
	want := []nesclient.Result{{"foo", "A foo"}, {"foobar", "Bar\tfoo"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %q", got)
	}
	if r, _ := f.last(); r.Header.Get("User-Agent") != "nessemble/1.1.1" {
		t.Errorf("User-Agent %q", r.Header.Get("User-Agent"))
	}
	if got, err := c.Search("none"); err != nil || len(got) != 0 {
		t.Errorf("none: %v, %v", got, err)
	}
	if _, err := c.Search("odd"); err == nil {
		t.Error("a result without description was accepted")
	}
	if _, err := c.Search("down"); !errors.Is(err, nesclient.ErrUnreachable) {
		t.Errorf("503: err = %v", err)
	}
}

func TestInstallAndReadme(t *testing.T) {
	f, c := newFakeRegistry(t)
	files, err := c.Install("foo", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(files["lib.asm"]) != libAsm {
		t.Errorf("lib.asm = %q", files["lib.asm"])
	}
	if text, err := c.Readme("foo", "1.0.0"); err != nil || text != readme {
		t.Errorf("readme = %q, %v", text, err)
	}
	if r, _ := f.last(); r.Header.Get("Accept") != "text/plain" {
		t.Errorf("readme Accept %q", r.Header.Get("Accept"))
	}

	if _, err := c.Install("nope", ""); !errors.Is(err, nesclient.ErrNotFound) {
		t.Errorf("missing package: err = %v", err)
	}

	f.set(func() { f.upperHash = true })
	if _, err := c.Install("foo", ""); err == nil || !strings.Contains(err.Error(), "X-Integrity") {
		t.Errorf("uppercase X-Integrity accepted: %v", err)
	}

	f.set(func() { f.readmeType = "" })
	if _, err := c.Readme("foo", ""); err == nil || !strings.Contains(err.Error(), "charset") {
		t.Errorf("net/http's default type accepted: %v", err)
	}
	f.set(func() { f.readmeType, f.bigReadme = "text/plain", true })
	if _, err := c.Readme("foo", ""); err == nil || !strings.Contains(err.Error(), "chunked") {
		t.Errorf("chunked README accepted: %v", err)
	}
}

func TestInstallRejectsGoGzip(t *testing.T) {
	f, c := newFakeRegistry(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(makeTar(t, member{"lib.asm", libAsm}, member{"package.json", packageJSON}, member{"README.md", readme}))
	zw.Close()
	f.set(func() { f.tarball = buf.Bytes() })
	if _, err := c.Install("foo", ""); err == nil {
		t.Error("compress/gzip tarball accepted")
	}
}

func TestErrorBodies(t *testing.T) {
	f, c := newFakeRegistry(t)
	_, err := c.Login("alice", "wrong")
	var se *nesclient.StatusError
	if !errors.As(err, &se) || se.Status != 401 || se.Message != "Invalid login" {
		t.Fatalf("err = %v", err)
	}
	f.set(func() { f.errorPrefix = "100% " })
	if _, err := c.Login("alice", "wrong"); err == nil || errors.As(err, &se) || !strings.Contains(err.Error(), "%") {
		t.Errorf("message with %% accepted: %v", err)
	}
}

func TestUserCommands(t *testing.T) {
	f, c := newFakeRegistry(t)
	tok, err := c.Login("alice", "pw")
	if err != nil || tok != "tok123" {
		t.Fatalf("login: %q, %v", tok, err)
	}
	r, body := f.last()
	if r.URL.Path != "/user/login" || body != "" || r.ContentLength != 0 || len(r.Header.Values("Content-Length")) != 0 {
		t.Errorf("login request: path %s, body %q, headers %v", r.URL.Path, body, r.Header)
	}
	if err := c.Logout("alice", tok); err != nil {
		t.Error(err)
	}
	if _, body := f.last(); body != "{}" {
		t.Errorf("logout body %q", body)
	}
	if err := c.Logout("alice", "stale"); err == nil {
		t.Error("logout with a bad token succeeded")
	}

	if _, err := c.CreateUser("Al \"Ice\"", "alice", "a@example.com", "pw"); err != nil {
		t.Error(err)
	}
	if _, body := f.last(); body != `{"name": "Al "Ice"", "username": "alice", "email": "a@example.com", "password": "pw"}` {
		t.Errorf("create body %q (the client does not escape)", body)
	}

	if _, err := c.ForgotPassword("alice"); err != nil {
		t.Error(err)
	}
	if _, err := c.ForgotPassword("bob"); err == nil {
		t.Error("email false without url accepted")
	}
	if err := c.ResetPassword("alice", "new", "123456"); err != nil {
		t.Error(err)
	}
	if err := c.ResetPassword("alice", "new", "654321"); err == nil {
		t.Error("reset with a wrong code succeeded")
	}
}

func TestPublish(t *testing.T) {
	f, c := newFakeRegistry(t)
	raw := makeTar(t, member{"foo/lib.asm", libAsm}, member{"foo/package.json", packageJSON}, member{"foo/README.md", readme})
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	upload := bytes.Clone(buf.Bytes())

	if title, err := nesclient.PublishTitle(upload); err != nil || title != "foo" {
		t.Fatalf("title %q, %v", title, err)
	}
	for _, exists := range []bool{false, true} {
		f.set(func() { f.exists = exists })
		if _, err := c.Publish("alice", "tok123", upload); err != nil {
			t.Fatal(err)
		}
		r, body := f.last()
		want := map[bool]string{false: "POST", true: "PUT"}[exists]
		if r.Method != want || body != string(upload) {
			t.Errorf("exists=%v: method %s, want %s; body unchanged: %v", exists, r.Method, want, body == string(upload))
		}
	}

	// A gzip header with a file name is more than the 10 bytes the
	// client skips.
	buf.Reset()
	zw = gzip.NewWriter(&buf)
	zw.Name = "foo.tar"
	zw.Write(raw)
	zw.Close()
	if _, err := nesclient.PublishTitle(buf.Bytes()); err == nil {
		t.Error("gzip header with a name accepted")
	}

	f.set(func() { f.headLength = true })
	if _, err := c.Publish("alice", "tok123", upload); err == nil || !strings.Contains(err.Error(), "HEAD would hang") {
		t.Errorf("err = %v", err)
	}
}

func TestReference(t *testing.T) {
	_, c := newFakeRegistry(t)
	text, status, err := c.Reference("cpu", "lda")
	if err != nil || status != 200 || text != "LDA: load accumulator\n" {
		t.Errorf("got %q, %d, %v", text, status, err)
	}
	if _, status, err := c.Reference("cpu", "xyz"); err != nil || status != 404 {
		t.Errorf("missing: %d, %v", status, err)
	}
	if _, _, err := c.Reference("a", "b", "c"); err == nil {
		t.Error("three terms accepted")
	}
}
