package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
)

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := new(fakeClock)
	c.ns.Store(t.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func (e *env) userCount() int                { _, n, _ := e.db.Counts(context.Background()); return n }
func basicHeader(user, pass string) map[string]string {
	return map[string]string{"Authorization": auth.BasicHeader(user, pass)}
}

// createUser posts a JSON body to /user/create.
func (e *env) createUser(body string) resp {
	e.t.Helper()
	return e.do(http.MethodPost, "/user/create", map[string]string{"Content-Type": "application/json"}, body)
}

// login logs in over HTTP and returns the token, failing the test
// otherwise.
func (e *env) login(user, pass string) string {
	e.t.Helper()
	r := e.do(http.MethodPost, "/user/login", basicHeader(user, pass), "")
	if r.status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	token, _ := r.json(e.t)["token"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(token) {
		e.t.Fatalf("token %q is not 256 bits of lowercase hex", token)
	}
	return token
}

// signed sends a request to route signed with token.
func (e *env) signed(method, route, user, token string) resp {
	e.t.Helper()
	return e.do(method, route, map[string]string{"Authorization": auth.HMACHeader(user, token, method, route)}, "{}")
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	r := e.createUser(`{"name": "Alice Liddell", "username": "alice", "email": "alice@example.com", "password": "wonderland"}`)
	if r.status != http.StatusCreated || string(r.body) != "{}" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("create: %d %q %q", r.status, r.header.Get("Content-Type"), r.body)
	}
	u, err := e.db.UserByLogin(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "Alice Liddell" || u.Email != "alice@example.com" {
		t.Errorf("stored %+v", u)
	}
	// Only a salted argon2id hash is stored.
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$") || strings.Contains(u.PasswordHash, "wonderland") {
		t.Errorf("password stored as %q", u.PasswordHash)
	}
	if r := e.createUser(`{"name": "Twin", "username": "twin", "email": "twin@example.com", "password": "wonderland"}`); r.status != 201 {
		t.Fatalf("second user: %d %s", r.status, r.body)
	}
	twin, _ := e.db.UserByLogin(context.Background(), "twin")
	if twin.PasswordHash == u.PasswordHash {
		t.Error("two users with the same password have the same hash: no salt")
	}
	// The user logs in by username in any case, or by email.
	for _, login := range []string{"alice", "ALICE", "alice@example.com"} {
		e.login(login, "wonderland")
	}
}

// TestCreateUserRefused is the table of refused sign-ups: each names what
// is wrong and creates nobody.
func TestCreateUserRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	if r := e.createUser(`{"name": "Alice", "username": "alice", "email": "alice@example.com", "password": "wonderland"}`); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	user := func(name, username, email, password string) string {
		return `{"name": "` + name + `", "username": "` + username + `", "email": "` + email + `", "password": "` + password + `"}`
	}
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"two missing", `{"username": "bob", "password": "long enough"}`, 400, "Missing fields: `name`, `email`"},
		{"all missing", `{}`, 400, "Missing fields: `name`, `username`, `email`, `password`"},
		{"blank counts as missing", user(" ", "bob", "", "long enough"), 400, "Missing fields: `name`, `email`"},
		{"wrong type", `{"name": 5, "username": "bob", "email": "bob@example.com", "password": "long enough"}`, 400, "must be strings: `name`"},
		{"invalid email", user("Bob", "bob", "not-an-address", "long enough"), 400, "Invalid email address"},
		{"email with display name", user("Bob", "bob", "Bob <bob@example.com>", "long enough"), 400, "Invalid email address"},
		{"short password", user("Bob", "bob", "bob@example.com", "short"), 400, "Password must be at least 8 characters"},
		{"long password", user("Bob", "bob", "bob@example.com", strings.Repeat("p", 300)), 400, "at most 256 bytes"},
		{"control character in password", user("Bob", "bob", "bob@example.com", `pass\u0001word`), 400, "without control characters"},
		{"username with a space", user("Bob", "bob smith", "bob@example.com", "long enough"), 400, "Invalid username: use 1-32 letters, digits"},
		{"username starting with a dash", user("Bob", "-bob", "bob@example.com", "long enough"), 400, "Invalid username"},
		{"username too long", user("Bob", strings.Repeat("b", 33), "bob@example.com", "long enough"), 400, "Invalid username"},
		{"username like an email", user("Bob", "bob@example.com", "bob@example.com", "long enough"), 400, "Invalid username"},
		{"username with a percent", user("Bob", "100%bob", "bob@example.com", "long enough"), 400, "Invalid username"},
		{"several invalid fields", user("Bob", "b b", "nope", "short"), 400, "Invalid username: use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit; Invalid email address; Password must be at least 8 characters long"},
		{"not JSON", `name=bob&username=bob`, 400, "must be a JSON object"},
		{"JSON array", `["bob"]`, 400, "must be a JSON object"},
		{"JSON null", `null`, 400, "must be a JSON object"},
		{"body too large", `{"name": "` + strings.Repeat("x", 20<<10) + `"}`, 413, "Request body too large"},
		{"username taken in another case", user("Other", "ALICE", "other@example.com", "long enough"), 409, "User already exists"},
		{"email taken in another case", user("Other", "other", "Alice@Example.COM", "long enough"), 409, "User already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.createUser(tc.body), tc.status, tc.msg)
			if n := e.userCount(); n != 1 {
				t.Errorf("%d users after a refused sign-up", n)
			}
		})
	}
}

func TestSignupClosed(t *testing.T) {
	t.Parallel()
	e := newRegistryEnv(t, registry.Config{SignupClosed: true}, nil)
	wantError(t, e.createUser(`{"name": "Bob", "username": "bob", "email": "bob@example.com", "password": "long enough"}`),
		http.StatusForbidden, "ask its operator")
	if n := e.userCount(); n != 0 {
		t.Errorf("%d users", n)
	}
	// The operator's accounts still log in.
	e.newAccount("alice")
	e.login("alice", testPassword)
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	e.newAccount("alice")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	wantError(t, e.do(http.MethodPost, "/user/login", nil, ""), http.StatusBadRequest, "Missing credentials")
	for _, tc := range []struct{ name, header, msg string }{
		{"wrong scheme", "Bearer abc", "Unsupported authorization scheme"},
		{"HMAC instead of Basic", auth.HMACHeader("alice", "token", "POST", "/user/login"), "Unsupported authorization scheme"},
		{"scheme only", "Basic", "Malformed"},
		{"bad base64", "Basic %%%", "Malformed"},
		{"base64 with a line break", "Basic " + b64("alice:")[:4] + "\t" + b64("alice:")[4:], "Malformed"},
		{"no colon", "Basic " + b64("alice"), "Malformed"},
		{"empty user", "Basic " + b64(":"+testPassword), "Malformed"},
		{"control character", "Basic " + b64("alice:pass\x7fword"), "Malformed"},
		{"huge", "Basic " + b64("alice:"+strings.Repeat("p", 4000)), "Malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do(http.MethodPost, "/user/login", map[string]string{"Authorization": tc.header}, ""),
				http.StatusUnauthorized, tc.msg)
		})
	}

	// Wrong password and unknown user get one and the same answer.
	wrongPass := e.do(http.MethodPost, "/user/login", basicHeader("alice", "not the password"), "")
	noUser := e.do(http.MethodPost, "/user/login", basicHeader("mallory", testPassword), "")
	wantError(t, wrongPass, http.StatusUnauthorized, "Invalid username or password")
	if string(wrongPass.body) != string(noUser.body) || noUser.status != wrongPass.status {
		t.Errorf("answers differ: %s vs %s", wrongPass.body, noUser.body)
	}
}

// TestTokens covers two live tokens (two machines), logout revoking only
// the signing token, logout by GET, and the email as HMAC user.
func TestTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	e.newAccount("alice")
	laptop := e.login("alice", testPassword)
	desktop := e.login("alice", testPassword)
	if laptop == desktop {
		t.Fatal("two logins gave the same token")
	}
	e.mustPublish(http.MethodPost, "alice", laptop, pkgTgz(t, "ctl", "1.0.0", "alice"))
	e.mustPublish(http.MethodPut, "alice", desktop, pkgTgz(t, "ctl", "1.1.0", "alice"))
	// The documentation's "email" works as the HMAC user too.
	e.mustPublish(http.MethodPut, "alice@example.com", desktop, pkgTgz(t, "ctl", "1.2.0", "alice"))

	wantError(t, e.do(http.MethodPost, "/user/logout", nil, "{}"), 401, "Not logged in")
	r := e.signed(http.MethodPost, "/user/logout", "alice", laptop)
	if r.status != 200 || string(r.body) != "{}" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("logout: %d %q", r.status, r.body)
	}
	wantError(t, e.sendPackage(http.MethodPut, "alice", laptop, pkgTgz(t, "ctl", "1.3.0", "alice")), 401, "expired or was revoked")
	wantError(t, e.signed(http.MethodPost, "/user/logout", "alice", laptop), 401, "expired or was revoked")
	e.mustPublish(http.MethodPut, "alice", desktop, pkgTgz(t, "ctl", "1.3.0", "alice"))

	// GET /user/logout, signed GET+/user/logout, also logs out.
	if r := e.signed(http.MethodGet, "/user/logout", "alice", desktop); r.status != 200 || string(r.body) != "{}" {
		t.Fatalf("GET logout: %d %s", r.status, r.body)
	}
	wantError(t, e.sendPackage(http.MethodPut, "alice", desktop, pkgTgz(t, "ctl", "1.4.0", "alice")), 401, "run nessemble login")
}

// TestLogoutMalformedAuthorization: every broken header is a 401 JSON
// error, never a 500.
func TestLogoutMalformedAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	token := e.newAccount("alice")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	mac := auth.Sign(token, "POST", "/user/logout")
	for _, h := range []string{
		"HMAC-SHA1",
		"HMAC-SHA1 ",
		"Digest " + b64("alice:"+mac),
		auth.BasicHeader("alice", testPassword),
		"HMAC-SHA1 ???",
		"HMAC-SHA1 " + b64("alice"),
		"HMAC-SHA1 " + b64("alice:"),
		"HMAC-SHA1 " + b64(":"+mac),
		"HMAC-SHA1 " + b64("alice:"+mac[1:]),
		"HMAC-SHA1 " + b64("alice:"+strings.Repeat("g", 40)),
		"HMAC-SHA1 " + b64("\xff\xfe:"+mac),
		"HMAC-SHA1 " + b64(strings.Repeat("alice", 300)+":"+mac),
		"HMAC-SHA1 " + b64("alice:"+mac) + "=",
		"HMAC-SHA1 " + b64("nobody:"+mac),
		"HMAC-SHA1 " + b64("alice:"+auth.Sign(token, "POST", "/registry/user/logout")),
	} {
		r := e.do(http.MethodPost, "/user/logout", map[string]string{"Authorization": h}, "{}")
		if r.status != http.StatusUnauthorized {
			t.Errorf("%.60q: %d %s", h, r.status, r.body)
			continue
		}
		wantError(t, r, http.StatusUnauthorized, "")
	}
	// The token survived all that.
	if r := e.signed(http.MethodPost, "/user/logout", "alice", token); r.status != 200 {
		t.Errorf("real logout: %d %s", r.status, r.body)
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"default one day", 0, 24 * time.Hour},
		{"configured", 90 * time.Minute, 90 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegistryEnv(t, registry.Config{TokenTTL: tc.ttl}, nil)
			clock := newFakeClock(time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC))
			e.db.SetClock(clock.Now)
			e.core.SetClock(clock.Now)
			e.newAccount("alice")
			token := e.login("alice", testPassword)
			clock.Advance(tc.want - time.Minute)
			e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "ctl", "1.0.0", "alice"))
			clock.Advance(2 * time.Minute)
			wantError(t, e.sendPackage(http.MethodPut, "alice", token, pkgTgz(t, "ctl", "1.1.0", "alice")), 401, "expired")
			wantError(t, e.signed(http.MethodPost, "/user/logout", "alice", token), 401, "expired")
		})
	}
}

// loginFrom logs in from a client on another loopback address, as the
// guard sees it, and returns the answer's status.
func (e *env) loginFrom(ip, user, pass string) int {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/user/login", nil)
	req.Header.Set("Authorization", auth.BasicHeader(user, pass))
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestLoginBruteForce: after a few free failures for one account from one
// address, that pair is locked out for a short, growing time (429 with
// Retry-After); the same account from elsewhere and the same address for
// another account are not; the owner gets in once the lock has passed.
func TestLoginBruteForce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	clock := newFakeClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	e.core.SetClock(clock.Now)
	e.newAccount("alice")
	e.newAccount("bob")
	login := func(user, pass string) resp {
		return e.do(http.MethodPost, "/user/login", basicHeader(user, pass), "")
	}
	locked := func(r resp, secs string) {
		t.Helper()
		wantError(t, r, http.StatusTooManyRequests, "wait "+secs+" seconds")
		if ra := r.header.Get("Retry-After"); ra != secs {
			t.Errorf("Retry-After = %q, want %s", ra, secs)
		}
	}
	for i := 0; i < 6; i++ { // five free failures, and the one that locks
		wantError(t, login("alice", "guess"), 401, "Invalid username or password")
	}
	locked(login("alice", testPassword), "2") // even the right password waits
	if r := login("bob", testPassword); r.status != 200 {
		t.Fatalf("another account from the same address: %d %s", r.status, r.body)
	}
	if got := e.loginFrom("127.0.0.2", "alice", testPassword); got != 200 {
		t.Fatalf("the same account from another address: %d, want 200", got)
	}
	clock.Advance(time.Second)
	locked(login("alice", testPassword), "1")
	clock.Advance(1500 * time.Millisecond)
	// Past the lock, each further failure doubles it.
	wantError(t, login("alice", "guess"), 401, "Invalid username or password")
	locked(login("alice", testPassword), "4")
	clock.Advance(4 * time.Second)
	if r := login("alice", testPassword); r.status != 200 {
		t.Fatalf("owner after the lockout: %d %s", r.status, r.body)
	}
	// A success forgets the pair's failures.
	wantError(t, login("alice", "guess"), 401, "Invalid username or password")
	if r := login("alice", testPassword); r.status != 200 {
		t.Fatalf("after one new failure: %d %s", r.status, r.body)
	}
}

// TestLoginAddressSpray: one address guessing over many accounts runs
// into its address's budget, for every account, while other addresses
// are served.
func TestLoginAddressSpray(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	e.newAccount("alice")
	for i := range 21 { // twenty free failures, and the one that locks
		if got := e.loginFrom("127.0.0.2", fmt.Sprint("user", i), "guess"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := e.loginFrom("127.0.0.2", "alice", testPassword); got != http.StatusTooManyRequests {
		t.Errorf("the spraying address, right password of an account it never tried: %d, want 429", got)
	}
	if got := e.loginFrom("127.0.0.3", "alice", testPassword); got != http.StatusOK {
		t.Errorf("another address: %d, want 200", got)
	}
}

// TestLoginStrangersCannotLockOutTheOwner: wrong passwords for alice from
// many addresses (one each, under every per-address budget) exhaust the
// account's own budget. That holds back addresses that have failed, but
// not alice at an address with no failures, whichever of her username or
// email she types; a guess from a fresh address is still checked, counts,
// and dirties that address.
func TestLoginStrangersCannotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	e.newAccount("alice")
	for i := range 21 { // twenty free failures, and the one that locks
		user := "alice"
		if i%2 == 1 {
			user = "alice@example.com"
		}
		if got := e.loginFrom(fmt.Sprintf("127.0.1.%d", i+1), user, "guess"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := e.loginFrom("127.0.1.1", "alice", testPassword); got != http.StatusTooManyRequests {
		t.Errorf("right password from an address that failed, account over its budget: %d, want 429", got)
	}
	for _, user := range []string{"alice", "ALICE", "alice@example.com"} {
		if got := e.loginFrom("127.0.2.1", user, testPassword); got != http.StatusOK {
			t.Errorf("the owner (%s) from an address with no failures: %d, want 200", user, got)
		}
	}
	if got := e.loginFrom("127.0.2.2", "alice", "guess"); got != http.StatusUnauthorized {
		t.Errorf("a guess from a fresh address: %d, want 401", got)
	}
	if got := e.loginFrom("127.0.2.2", "alice", testPassword); got != http.StatusTooManyRequests {
		t.Errorf("that address once it has failed: %d, want 429", got)
	}
}

// TestLoginBurstCannotSlipPastTheLock fires many wrong logins at once: the
// attempts still being checked count as failures, so only as many get
// through as failures are free, plus the one that locks.
func TestLoginBurstCannotSlipPastTheLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	e.newAccount("alice")
	const burst = 30
	statuses := make(chan int, burst)
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- e.do(http.MethodPost, "/user/login", basicHeader("alice", fmt.Sprint("guess", i)), "").status
		}()
	}
	wg.Wait()
	close(statuses)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	if counts[401] > 6 || counts[401]+counts[429] != burst {
		t.Errorf("statuses %v: at most 6 guesses may be checked, the rest refused with 429", counts)
	}
}

// TestClientGoneIsNoServerError: a client that half-closes its side
// while its login is checked (net/http then cancels the request) is not
// a server error: no ERROR in the log and no 500, but 499 in the access
// log, as nginx has it, and in the answer should the client still read.
func TestClientGoneIsNoServerError(t *testing.T) {
	var logs, access syncBuffer
	e := newLoggedEnv(t, server.Config{AccessLog: &access}, slog.New(slog.NewTextHandler(&logs, nil)))
	e.newAccount("alice")
	for range 5 {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "POST /user/login HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: 0\r\n\r\n",
			auth.BasicHeader("alice", testPassword))
		c.(*net.TCPConn).CloseWrite()
		b, _ := io.ReadAll(c)
		c.Close()
		if line, _, _ := strings.Cut(string(b), "\r\n"); line != "HTTP/1.1 499 status code 499" && line != "HTTP/1.1 200 OK" {
			t.Errorf("answer %q", b)
		}
	}
	if err := e.srv.Shutdown(context.Background()); err != nil { // flushes the access log
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("log:\n%s", logs.String())
	}
	lines := strings.Split(strings.TrimSpace(access.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("access log:\n%s", access.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "status=499") && !strings.Contains(l, "status=200") {
			t.Errorf("access log line %q", l)
		}
	}
}

// loginVia logs in from ip with an X-Forwarded-For header, as through a
// proxy, and returns the answer's status.
func (e *env) loginVia(ip, xff, user, pass string) int {
	e.t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/user/login", nil)
	req.Header.Set("Authorization", auth.BasicHeader(user, pass))
	req.Header.Set("X-Forwarded-For", xff)
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestLoginBehindTrustedProxy: behind a trusted proxy, login throttling
// counts each client address the proxy names (the last one of
// X-Forwarded-For, whatever the client put before it), so that one
// guessing client does not lock out everyone behind the proxy; from any
// other address the header is ignored, so a client cannot pick its own.
func TestLoginBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	e.newAccount("alice")
	for i := range 21 { // the address budget of the client 10.0.0.1
		if got := e.loginVia("127.0.0.2", fmt.Sprintf("192.0.2.%d, 10.0.0.1", i), fmt.Sprint("user", i), "guess"); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := e.loginVia("127.0.0.2", "10.0.0.1", "alice", testPassword); got != http.StatusTooManyRequests {
		t.Errorf("the guessing client through the proxy: %d, want 429", got)
	}
	if got := e.loginVia("127.0.0.2", "10.0.0.1, 10.0.0.2", "alice", testPassword); got != http.StatusOK {
		t.Errorf("another client through the proxy: %d, want 200", got)
	}
	// Not a trusted proxy: its own address counts, whatever it claims.
	for i := range 21 {
		if got := e.loginVia("127.0.0.3", fmt.Sprintf("10.1.0.%d", i), fmt.Sprint("user", i), "guess"); got != http.StatusUnauthorized {
			t.Fatalf("untrusted failure %d: %d", i+1, got)
		}
	}
	if got := e.loginVia("127.0.0.3", "10.9.9.9", "alice", testPassword); got != http.StatusTooManyRequests {
		t.Errorf("an untrusted address naming a fresh client: %d, want 429", got)
	}
}
