package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
)

// signedPost sends a POST to route signed as the client signs publish:
// HMAC of "POST+" and the bare route. user "" sends no Authorization.
func (e *env) signedPost(route, user, token, body string) resp {
	e.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json"}
	if user != "" {
		hdr["Authorization"] = auth.HMACHeader(user, token, http.MethodPost, route)
	}
	return e.do(http.MethodPost, route, hdr, body)
}

// expiredToken adds a token to username that expired a minute ago.
func (e *env) expiredToken(username string) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.db.UserByLogin(ctx, username)
	if err != nil {
		e.t.Fatal(err)
	}
	token, err := auth.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.AddToken(ctx, u.ID, token, -time.Minute); err != nil {
		e.t.Fatal(err)
	}
	return token
}

// TestYankThroughTheClient: a yanked newest version makes `install NAME`
// take the previous one, while `install NAME@VERSION` still gets the
// yanked one; the document for other clients marks it; unyank brings it
// back. The cached answers follow at once.
func TestYankThroughTheClient(t *testing.T) {
	e := newEnv(t, server.Config{})
	cl := nesclient.Client{Registry: e.ts.URL}
	token := e.newAccount("alice")
	e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "pad", "1.0.0", "alice"))
	e.mustPublish(http.MethodPut, "alice", token, pkgTgz(t, "pad", "1.1.0", "alice"))
	installed := func(version string) string {
		t.Helper()
		files, err := cl.Install("pad", version)
		if err != nil {
			t.Fatalf("install pad@%q: %v", version, err)
		}
		return string(files["lib.asm"])
	}
	if got := installed(""); got != libAsmOf("pad", "1.1.0") {
		t.Fatalf("before the yank install pad gets %q", got)
	}

	r := e.signedPost("/package/pad/1.1.0/yank", "alice", token, "")
	if r.status != 200 {
		t.Fatalf("yank: %d %s", r.status, r.body)
	}
	if m := r.json(t); m["yanked"] != true || m["latest"] != "1.0.0" || m["title"] != "pad" {
		t.Errorf("yank answer %s", r.body)
	}
	if got := installed(""); got != libAsmOf("pad", "1.0.0") {
		t.Errorf("install pad after the yank gets %q, want 1.0.0's", got)
	}
	if got := installed("1.1.0"); got != libAsmOf("pad", "1.1.0") {
		t.Errorf("install pad@1.1.0 after the yank gets %q", got)
	}
	doc, err := cl.PackageDoc("pad", "")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := doc.Get("version"); v != "1.0.0" {
		t.Errorf("the client's document names %q", v)
	}
	full := e.get("/package/pad").json(t)
	if full["version"] != "1.0.0" || full["yanked"] != false || fmt.Sprint(full["yanked_versions"]) != "[1.1.0]" {
		t.Errorf("document after the yank: %v", full)
	}
	if pinned := e.get("/package/pad/1.1.0").json(t); pinned["yanked"] != true {
		t.Errorf("the yanked version's document: %v", pinned)
	}
	if list := string(e.get("/").body); !strings.Contains(list, `"title":"pad"`) {
		t.Errorf("a package with a yanked version left the list: %s", list)
	}
	wantError(t, e.signedPost("/package/pad/1.1.0/yank", "alice", token, ""), 409, "yanked already")

	// Every version yanked: only installs by number work.
	if r := e.signedPost("/package/pad/1.0.0/yank", "alice", token, ""); r.status != 200 || r.json(t)["latest"] != "" {
		t.Fatalf("second yank: %d %s", r.status, r.body)
	}
	_, err = cl.Install("pad", "")
	var se *nesclient.StatusError
	if !errors.As(err, &se) || se.Status != 404 || !strings.Contains(se.Message, "yanked") {
		t.Errorf("install pad with every version yanked: %v", err)
	}
	if got := installed("1.0.0"); got != libAsmOf("pad", "1.0.0") {
		t.Errorf("install pad@1.0.0 with every version yanked: %q", got)
	}
	// A new version becomes the newest again. HEAD /package/pad answers
	// 404 now, so the client publishes it with POST, which is taken for
	// the update it is.
	if _, err := cl.Publish("alice", token, pkgTgz(t, "pad", "1.2.0", "alice")); err != nil {
		t.Fatalf("the client's publish with every version yanked: %v", err)
	}
	if got := installed(""); got != libAsmOf("pad", "1.2.0") {
		t.Errorf("after publishing 1.2.0 install pad gets %q", got)
	}
	// The version rule counts yanked versions: no 1.1.5 after 1.2.0 is
	// yanked, since 1.2.0 still exists.
	if r := e.signedPost("/package/pad/1.2.0/yank", "alice", token, ""); r.status != 200 {
		t.Fatal(r.status, string(r.body))
	}
	wantError(t, e.sendPackage(http.MethodPut, "alice", token, pkgTgz(t, "pad", "1.1.5", "alice")), 422, "currently at 1.2.0")

	if r := e.signedPost("/package/pad/1.1.0/unyank", "alice", token, ""); r.status != 200 || r.json(t)["latest"] != "1.1.0" {
		t.Fatalf("unyank: %d %s", r.status, r.body)
	}
	if got := installed(""); got != libAsmOf("pad", "1.1.0") {
		t.Errorf("after unyanking 1.1.0 install pad gets %q", got)
	}
	wantError(t, e.signedPost("/package/pad/1.1.0/unyank", "alice", token, ""), 409, "not yanked")
	wantError(t, e.signedPost("/package/pad/9.9.9/yank", "alice", token, ""), 404, "no version 9.9.9")
	wantError(t, e.signedPost("/package/nope/1.0.0/yank", "alice", token, ""), 404, "does not exist")
}

// TestYankSignedUnderPrefixes: the client signs the bare route whatever
// prefix its registry URL has, as for publish.
func TestYankSignedUnderPrefixes(t *testing.T) {
	e := newEnvAt(t, "/registry")
	token := e.newAccount("alice")
	e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "pad", "1.0.0", "alice"))
	for i, prefix := range []string{"/registry", "/registry/v1", "/v1"} {
		action := "yank"
		if i%2 == 1 {
			action = "unyank"
		}
		route := "/package/pad/1.0.0/" + action
		r := e.do(http.MethodPost, prefix+route, map[string]string{
			"Authorization": auth.HMACHeader("alice", token, http.MethodPost, route)}, "")
		if r.status != 200 {
			t.Errorf("%s%s: %d %s", prefix, route, r.status, r.body)
		}
	}
}

// TestModerationAuthorization is the matrix of who may do what over the
// API: each write against each kind of caller.
func TestModerationAuthorization(t *testing.T) {
	e := newEnv(t, server.Config{})
	ctx := context.Background()
	tokens := map[string]string{}
	for _, u := range []string{"alice", "carol", "mallory", "dave", "erin"} {
		tokens[u] = e.newAccount(u)
	}
	e.mustPublish(http.MethodPost, "alice", tokens["alice"], pkgTgz(t, "pad", "1.0.0", "alice"))
	for _, co := range []string{"carol", "dave"} {
		if _, _, err := e.core.ChangeOwner(ctx, registry.OperatorActor, "pad", co, true); err != nil {
			t.Fatal(err)
		}
	}
	// dave is an owner whose account is disabled, with a token from before.
	if _, err := e.core.SetDisabled(ctx, "dave", true); err != nil {
		t.Fatal(err)
	}
	expired := e.expiredToken("alice") // the owner, with a dead token

	type caller struct{ name, user, token string }
	callers := []caller{
		{"anonymous", "", ""},
		{"other user", "mallory", tokens["mallory"]},
		{"owner", "alice", tokens["alice"]},
		{"co-owner", "carol", tokens["carol"]},
		{"disabled user", "dave", tokens["dave"]},
		{"expired token", "alice", expired},
	}
	next := 1 // minor version of the next publish
	routes := []struct {
		name  string
		setup func()              // state the write needs
		send  func(c caller) resp // the write
		undo  func()              // back to the state before, after a success
		want  map[string]int      // status by caller name, where not the usual
	}{
		{
			name: "POST /package/NAME/VERSION/yank",
			send: func(c caller) resp { return e.signedPost("/package/pad/1.0.0/yank", c.user, c.token, "") },
			undo: func() { e.core.Yank(ctx, registry.OperatorActor, "pad", "1.0.0", false) },
		},
		{
			name:  "POST /package/NAME/VERSION/unyank",
			setup: func() { e.core.Yank(ctx, registry.OperatorActor, "pad", "1.0.0", true) },
			send:  func(c caller) resp { return e.signedPost("/package/pad/1.0.0/unyank", c.user, c.token, "") },
			undo:  func() {},
		},
		{
			name: "POST /package/NAME/owners/add",
			send: func(c caller) resp {
				return e.signedPost("/package/pad/owners/add", c.user, c.token, `{"username": "erin"}`)
			},
			undo: func() { e.core.ChangeOwner(ctx, registry.OperatorActor, "pad", "erin", false) },
		},
		{
			name:  "POST /package/NAME/owners/remove",
			setup: func() { e.core.ChangeOwner(ctx, registry.OperatorActor, "pad", "erin", true) },
			send: func(c caller) resp {
				return e.signedPost("/package/pad/owners/remove", c.user, c.token, `{"username": "erin"}`)
			},
			undo: func() {},
		},
		{
			name: "PUT /package/publish",
			send: func(c caller) resp {
				next++
				tgz := pkgTgz(t, "pad", fmt.Sprintf("1.%d.0", next), c.user)
				if c.user == "" {
					return e.send(http.MethodPut, "/package/publish", map[string]string{"Content-Type": "application/tar+gzip"}, tgz, false)
				}
				return e.sendPackage(http.MethodPut, c.user, c.token, tgz)
			},
			undo: func() {},
			// Publish keeps the client's statuses: another's title is 422.
			want: map[string]int{"other user": 422, "owner": 201, "co-owner": 201},
		},
	}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.name+"/"+c.name, func(t *testing.T) {
				want := map[string]int{"anonymous": 401, "other user": 403, "owner": 200, "co-owner": 200,
					"disabled user": 401, "expired token": 401}
				for k, v := range rt.want {
					want[k] = v
				}
				if rt.setup != nil {
					rt.setup()
				}
				before := e.snapshot()
				r := rt.send(c)
				if r.status != want[c.name] {
					t.Fatalf("status %d, want %d: %s", r.status, want[c.name], r.body)
				}
				if r.status >= 400 {
					wantError(t, r, r.status, "")
					if after := e.snapshot(); after != before {
						t.Errorf("a refused write changed what is stored:\n%s\nthen\n%s", before, after)
					}
				} else {
					rt.undo()
				}
				// Undo what setup did, whatever happened.
				e.core.Yank(ctx, registry.OperatorActor, "pad", "1.0.0", false)
				e.core.ChangeOwner(ctx, registry.OperatorActor, "pad", "erin", false)
			})
		}
	}
	// The disabled owner's token was refused without a word about the
	// account: the same answer as an unknown user's.
	unknown := e.signedPost("/package/pad/1.0.0/yank", "nobody", tokens["dave"], "")
	disabled := e.signedPost("/package/pad/1.0.0/yank", "dave", tokens["dave"], "")
	if string(unknown.body) != string(disabled.body) || unknown.status != disabled.status {
		t.Errorf("a disabled account answers %d %s, an unknown one %d %s", disabled.status, disabled.body, unknown.status, unknown.body)
	}
}

// TestRemovedVersionsAndPackages: what the operator removed answers 410
// Gone with the reason, 404 to the nessemble client (the one status it
// takes for "not there") with the reason in `error`; its tarball is
// gone; and it cannot be published again, not even by its owner with the
// same content.
func TestRemovedVersionsAndPackages(t *testing.T) {
	e := newEnv(t, server.Config{})
	ctx := context.Background()
	cl := nesclient.Client{Registry: e.ts.URL}
	token := e.newAccount("alice")
	v1, v2 := pkgTgz(t, "pad", "1.0.0", "alice"), pkgTgz(t, "pad", "1.1.0", "alice")
	e.mustPublish(http.MethodPost, "alice", token, v1)
	e.mustPublish(http.MethodPut, "alice", token, v2)
	e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "joy", "1.0.0", "alice"))
	// Cached before the removal.
	if _, err := cl.Install("pad", ""); err != nil {
		t.Fatal(err)
	}
	newest, err := e.db.Version(ctx, "pad", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}

	const reason = "Contains malware (report 42)"
	if err := e.core.Remove(ctx, registry.OperatorActor, "pad", "1.1.0", reason); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/package/pad/1.1.0", "/package/pad/1.1.0/data", "/package/pad/1.1.0/README"} {
		wantError(t, e.get(p), 410, "pad 1.1.0 was removed from this registry by its operator: "+reason)
	}
	var se *nesclient.StatusError
	if _, err := cl.Install("pad", "1.1.0"); !errors.As(err, &se) || se.Status != 404 || !strings.Contains(se.Message, reason) {
		t.Errorf("the client installing the removed version: %v", err)
	}
	files, err := cl.Install("pad", "")
	if err != nil || string(files["lib.asm"]) != libAsmOf("pad", "1.0.0") {
		t.Errorf("install pad after removing 1.1.0: %q, %v", files["lib.asm"], err)
	}
	if vs := e.get("/package/pad").json(t)["versions"].(map[string]any); len(vs) != 1 || vs["1.0.0"] == nil {
		t.Errorf("versions after the removal: %v", vs)
	}
	e.checkFilesMatchVersions() // the removed tarball is gone from the disk
	if _, err := e.db.Tarball(newest.Shasum); err == nil {
		t.Error("the removed version's tarball can still be read")
	}
	// Never again, not even the same bytes by the owner.
	wantError(t, e.sendPackage(http.MethodPut, "alice", token, v2), 409, "removed")
	var re *registry.Error
	if err := e.core.Remove(ctx, registry.OperatorActor, "pad", "1.1.0", reason); !errors.As(err, &re) || re.Kind != registry.Conflict {
		t.Errorf("removing it twice: %v", err)
	}

	// The whole package.
	if err := e.core.Remove(ctx, registry.OperatorActor, "pad", "", "Legal demand"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/package/pad", "/package/pad/1.0.0", "/package/pad/data", "/package/pad/owners"} {
		wantError(t, e.get(p), 410, "was removed from this registry by its operator: Legal demand")
	}
	if _, err := cl.PackageDoc("pad", ""); !errors.As(err, &se) || se.Status != 404 || !strings.Contains(se.Message, "Legal demand") {
		t.Errorf("the client's document of a removed package: %v", err)
	}
	// HEAD, as publish asks, gets 404 too: the client then POSTs, which
	// is refused.
	if r, err := cl.Do("HEAD", "/package/pad", nil, nil); err != nil || r.Status != 404 {
		t.Errorf("HEAD of a removed package: %v %v", r, err)
	}
	if _, err := cl.Publish("alice", token, v1); !errors.As(err, &se) || se.Status != 422 || !strings.Contains(se.Message, "removed") {
		t.Errorf("publishing a removed package again: %v", err)
	}
	if list := string(e.get("/").body); strings.Contains(list, `"pad"`) || !strings.Contains(list, `"joy"`) {
		t.Errorf("list after removing pad: %s", list)
	}
	if results, err := cl.Search("pad"); err != nil || len(results) != 0 {
		t.Errorf("search after removing pad: %v %v", results, err)
	}
	if st := e.do(http.MethodGet, "/status", map[string]string{"Accept": "application/json"}, "").json(t); st["packages"] != 1.0 {
		t.Errorf("status counts %v packages", st["packages"])
	}
	e.checkFilesMatchVersions()
	problems, err := e.db.Check(ctx, false)
	if err != nil || len(problems) != 0 {
		t.Errorf("check after removals: %v %v", problems, err)
	}
}

// TestOwnersPublish: a co-owner can publish, a removed owner cannot, and
// the last owner stays.
func TestOwnersPublish(t *testing.T) {
	e := newEnv(t, server.Config{})
	cl := nesclient.Client{Registry: e.ts.URL}
	alice, bob := e.newAccount("alice"), e.newAccount("bob")
	e.mustPublish(http.MethodPost, "alice", alice, pkgTgz(t, "pad", "1.0.0", "alice"))
	if _, err := cl.Publish("bob", bob, pkgTgz(t, "pad", "1.1.0", "bob")); err == nil {
		t.Fatal("bob published alice's package")
	}
	r := e.signedPost("/package/PAD/owners/add", "alice", alice, `{"username": "BOB"}`)
	if r.status != 200 || string(r.body) != `{"title":"pad","owners":["alice","bob"]}` {
		t.Fatalf("owners/add: %d %s", r.status, r.body)
	}
	if got := string(e.get("/package/pad/owners").body); got != `{"title":"pad","owners":["alice","bob"]}` {
		t.Errorf("GET owners: %s", got)
	}
	if _, err := cl.Publish("bob", bob, pkgTgz(t, "pad", "1.1.0", "bob")); err != nil {
		t.Fatalf("the co-owner's publish: %v", err)
	}
	if doc := e.get("/package/pad").json(t); doc["author"] != "bob" || fmt.Sprint(doc["owners"]) != "[alice bob]" {
		t.Errorf("document: %v", doc)
	}
	wantError(t, e.signedPost("/package/pad/owners/add", "alice", alice, `{"username": "nobody"}`), 404, "No user nobody")
	wantError(t, e.signedPost("/package/pad/owners/add", "alice", alice, `{"username": "bob"}`), 409, "already")
	wantError(t, e.signedPost("/package/pad/owners/add", "alice", alice, `{}`), 400, "username")
	// bob removes alice, then cannot remove himself, the last owner.
	if r := e.signedPost("/package/pad/owners/remove", "bob", bob, `{"username": "alice"}`); r.status != 200 {
		t.Fatalf("owners/remove: %d %s", r.status, r.body)
	}
	wantError(t, e.signedPost("/package/pad/owners/remove", "bob", bob, `{"username": "bob"}`), 422, "last owner")
	var se *nesclient.StatusError
	if _, err := cl.Publish("alice", alice, pkgTgz(t, "pad", "1.2.0", "alice")); !errors.As(err, &se) || se.Status != 422 {
		t.Errorf("the removed owner's publish: %v", err)
	}
	wantError(t, e.signedPost("/package/pad/1.1.0/yank", "alice", alice, ""), 403, "Only the owners of pad")
}

// TestDisabledAccount: disabling refuses the user's live token at once
// and the password from then on; packages stay; enabling lets the user
// log in again.
func TestDisabledAccount(t *testing.T) {
	e := newEnv(t, server.Config{})
	ctx := context.Background()
	cl := nesclient.Client{Registry: e.ts.URL}
	token := e.newAccount("alice")
	e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "pad", "1.0.0", "alice"))
	if _, err := e.db.CreateReset(ctx, mustUser(t, e, "alice").ID, "a pending reset", "", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := e.core.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	var se *nesclient.StatusError
	if _, err := cl.Publish("alice", token, pkgTgz(t, "pad", "1.1.0", "alice")); !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("publish with the disabled user's token: %v", err)
	}
	if err := cl.Logout("alice", token); !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("logout with the disabled user's token: %v", err)
	}
	if _, err := cl.Login("alice", "wrong password"); !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("wrong password of a disabled account: %v", err)
	}
	if _, err := cl.Login("alice", testPassword); !errors.As(err, &se) || se.Status != 403 || !strings.Contains(se.Message, "disabled") {
		t.Errorf("login of a disabled account: %v", err)
	}
	if _, err := cl.Install("pad", ""); err != nil {
		t.Errorf("the disabled user's package: %v", err)
	}
	if _, err := e.db.ResetOf(ctx, mustUser(t, e, "alice").ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a reset survived the disable: %v", err)
	}
	if _, err := e.core.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Login("alice", testPassword); err != nil {
		t.Errorf("login after enable: %v", err)
	}
}

func TestGraphQLYankedAndOwners(t *testing.T) {
	e := newEnv(t, server.Config{})
	ctx := context.Background()
	e.seed("pad", "1.0.0", "first", "x")
	e.seed("pad", "1.1.0", "second", "x")
	if _, err := e.core.Yank(ctx, registry.OperatorActor, "pad", "1.1.0", true); err != nil {
		t.Fatal(err)
	}
	g := e.graphql(`{ package(title: "pad") { version yanked owners releases { version yanked } }
		pinned: package(title: "pad", version: "1.1.0") { version yanked } }`, nil).ok(t)
	if got := fmt.Sprint(g.Data); got != "map[package:map[owners:[alice] releases:[map[version:1.1.0 yanked:true] map[version:1.0.0 yanked:false]] version:1.0.0 yanked:false] pinned:map[version:1.1.0 yanked:true]]" {
		t.Errorf("data = %s", got)
	}
}

// TestAuditOverTheAPI: what clients do is in the audit trail once, with
// the account and the client's address, and never a secret: sign-up,
// publish, yank, owner changes, a password reset, a login lockout.
func TestAuditOverTheAPI(t *testing.T) {
	e, _ := newResetEnv(t, registry.Config{ResetQR: true}, nil)
	ctx := context.Background()
	cl := e.client()
	const password = "a long sign-up password"
	if _, err := cl.CreateUser("Alice", "alice", "alice@example.com", password); err != nil {
		t.Fatal(err)
	}
	token, err := cl.Login("alice", password)
	if err != nil {
		t.Fatal(err)
	}
	e.newAccount("bob")
	e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "pad", "1.0.0", "alice"))
	for _, w := range []struct{ route, body string }{
		{"/package/pad/1.0.0/yank", ""}, {"/package/pad/1.0.0/unyank", ""},
		{"/package/pad/owners/add", `{"username": "bob"}`}, {"/package/pad/owners/remove", `{"username": "bob"}`},
	} {
		if r := e.signedPost(w.route, "alice", token, w.body); r.status != 200 {
			t.Fatalf("%s: %d %s", w.route, r.status, r.body)
		}
	}
	// Refused writes are not in it.
	e.signedPost("/package/pad/1.0.0/yank", "bob", "not a token", "")

	if _, err := cl.ForgotPassword("alice"); err != nil {
		t.Fatal(err)
	}
	u, err := e.db.UserByLogin(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	reset := e.resetToken(u)
	if err := cl.ResetPassword("alice", "the new password", reset); err != nil {
		t.Fatal(err)
	}
	for range 6 { // five free failures, the sixth locks
		cl.Login("mallory", "guess")
	}

	events, err := e.core.Audit(ctx, registry.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		if ev.Addr != "127.0.0.1" {
			t.Errorf("event %+v from %q", ev, ev.Addr)
		}
		for _, secret := range []string{password, token, reset, "the new password", "guess"} {
			if strings.Contains(fmt.Sprintf("%+v", ev), secret) {
				t.Errorf("event %+v holds a secret", ev)
			}
		}
		got = append(got, strings.Join([]string{ev.Actor, ev.Action, ev.Package, ev.Version, ev.Subject, ev.Detail}, " "))
	}
	want := []string{
		"alice user-create   alice ",
		"alice publish pad 1.0.0  ",
		"alice yank pad 1.0.0  ",
		"alice unyank pad 1.0.0  ",
		"alice owner-add pad  bob ",
		"alice owner-remove pad  bob ",
		"alice password-reset   alice ",
		" login-lockout   mallory account from this address locked for 2s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func mustUser(t *testing.T, e *env, login string) registry.User {
	t.Helper()
	u, err := e.db.UserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestDisabledAccountGetsNoReset: with QR resets on, a disabled account is
// handed no reset code.
func TestDisabledAccountGetsNoReset(t *testing.T) {
	e, _ := newResetEnv(t, registry.Config{ResetQR: true}, nil)
	e.addResetUser("alice", "Alice")
	if _, err := e.core.SetDisabled(context.Background(), "alice", true); err != nil {
		t.Fatal(err)
	}
	_, err := e.client().ForgotPassword("alice")
	wantClientError(t, err, 403, "disabled")
	if _, err := e.db.ResetOf(context.Background(), mustUser(t, e, "alice").ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a reset was created: %v", err)
	}
}
