// Package storagetest is the compliance suite of registry.Storage: every
// operation and rule, races included, run against each implementation
// (store's SQLite and files, postgres's PostgreSQL and S3) by their own
// tests, so that both keep the same promises.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

// Storage is what the suite needs of an implementation, besides
// registry.Storage.
type Storage interface {
	registry.Storage
	SetClock(now func() time.Time)
	LiveTokens(ctx context.Context, userID int64) ([]string, error)
	Check(ctx context.Context, repair bool) ([]blobs.Problem, error)
	RemoveLeftovers(ctx context.Context) ([]blobs.Problem, error)
	Blobs() blobs.Store
	Close() error
}

// Opener makes fresh, empty data for one test and returns a function
// that opens it: each call a new handle on the same data, as a second
// process or replica would have. Handles are closed at the test's end.
type Opener func(t *testing.T) func(t *testing.T) Storage

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(t *testing.T) Storage)
	}{
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"Resets", testResets},
		{"Publish", testPublish},
		{"ListAndSearch", testListAndSearch},
		{"Reference", testReference},
		{"ChangesReachOtherHandles", testChanges},
		{"Check", testCheck},
		{"Owners", testOwners},
		{"Yank", testYank},
		{"Remove", testRemove},
		{"AccountModeration", testAccountModeration},
		{"Audit", testAudit},
		{"MirrorSerial", testMirrorSerial},
		{"ByAuthor", testByAuthor},
		{"RaceNewTitle", testRaceNewTitle},
		{"RaceVersions", testRaceVersions},
		{"RaceResetAndQR", testRaceReset},
		{"RaceSignup", testRaceSignup},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// clock is a settable time for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func user(t *testing.T, st Storage, name string) registry.User {
	t.Helper()
	u, err := st.CreateUser(ctx, registry.User{Username: name, Email: name + "@example.org", Name: strings.ToUpper(name), PasswordHash: "hash-" + name})
	must(t, err)
	return u
}

func version(title, v string, tags ...string) registry.Version {
	if tags == nil {
		tags = []string{"t"}
	}
	return registry.Version{Title: title, Version: v, Description: "d " + title, Author: "alice",
		License: "MIT", Tags: tags, Readme: "# " + title + " " + v}
}

func tarball(v registry.Version) []byte { return []byte("tarball " + v.Title + " " + v.Version) }

func publish(st Storage, owner string, mode registry.Mode, v registry.Version) (registry.Version, error) {
	return st.Publish(ctx, owner, v, tarball(v), registry.PublishRule(owner, mode, v.Title, v.Version))
}

func kindOf(err error) registry.Kind {
	var e *registry.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func testUsers(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	a := user(t, st, "alice")
	if a.ID == 0 || a.Created.IsZero() {
		t.Fatalf("created %+v", a)
	}
	for _, dup := range []registry.User{
		{Username: "ALICE", Email: "other@example.org", Name: "x", PasswordHash: "h"},
		{Username: "alice2", Email: "Alice@Example.org", Name: "x", PasswordHash: "h"},
	} {
		if _, err := st.CreateUser(ctx, dup); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("CreateUser(%s, %s): %v, want ErrConflict", dup.Username, dup.Email, err)
		}
	}
	for _, login := range []string{"alice", "ALICE", "alice@example.org", "ALICE@EXAMPLE.ORG"} {
		u, err := st.UserByLogin(ctx, login)
		if err != nil || u.ID != a.ID || u.Username != "alice" || u.Name != "ALICE" || u.PasswordHash != "hash-alice" || !u.Created.Equal(a.Created) {
			t.Errorf("UserByLogin(%q) = %+v, %v", login, u, err)
		}
	}
	// A username wins over another account's email of the same spelling.
	_, err := st.CreateUser(ctx, registry.User{Username: "bob", Email: "carol", Name: "B", PasswordHash: "h"})
	must(t, err)
	c, err := st.CreateUser(ctx, registry.User{Username: "carol", Email: "c@example.org", Name: "C", PasswordHash: "h"})
	must(t, err)
	if u, err := st.UserByLogin(ctx, "carol"); err != nil || u.ID != c.ID {
		t.Errorf("UserByLogin(carol) = %+v, %v; want the user carol, not bob's email", u, err)
	}
	if _, err := st.UserByLogin(ctx, "nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("UserByLogin(nobody): %v", err)
	}
	if _, _, err := st.UserTokens(ctx, "nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("UserTokens(nobody): %v", err)
	}
	if _, users, err := st.Counts(ctx); err != nil || users != 3 {
		t.Errorf("Counts: %d users, %v", users, err)
	}
	if err := st.SetPassword(ctx, 999999, "h"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("SetPassword of no user: %v", err)
	}
	// A copied user keeps the time it was created (migrate-data).
	then := time.Date(2020, 5, 6, 7, 8, 9, 123e6, time.UTC)
	old, err := st.CreateUser(ctx, registry.User{Username: "old", Email: "old@x", Name: "O", PasswordHash: "h", Created: then})
	if err != nil || !old.Created.Equal(then) {
		t.Errorf("CreateUser with a time: %+v %v", old, err)
	}
	all, err := st.ListUsers(ctx)
	must(t, err)
	var names []string
	for _, u := range all {
		names = append(names, u.Username)
		if u.Username == "old" && !u.Created.Equal(then) {
			t.Errorf("ListUsers: %+v", u)
		}
	}
	if !slices.Equal(names, []string{"alice", "bob", "carol", "old"}) {
		t.Errorf("ListUsers = %v", names)
	}
}

func testTokens(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st.SetClock(clk.Now)
	a := user(t, st, "alice")
	must(t, st.AddToken(ctx, a.ID, "t-short", time.Minute))
	must(t, st.AddToken(ctx, a.ID, "t-long", time.Hour))
	u, toks, err := st.UserTokens(ctx, "Alice")
	if err != nil || u.ID != a.ID || !slices.Equal(toks, []string{"t-long", "t-short"}) {
		t.Fatalf("UserTokens = %+v %v %v", u, toks, err)
	}
	if _, err := st.CreateUser(ctx, registry.User{Username: "bob", Email: "b@x", Name: "b", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	b, _ := st.UserByLogin(ctx, "bob")
	if err := st.AddToken(ctx, b.ID, "t-long", time.Hour); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("a token taken twice: %v", err)
	}
	if _, toks, _ := st.UserTokens(ctx, "bob"); len(toks) != 0 {
		t.Errorf("user without tokens: %v", toks)
	}
	clk.add(2 * time.Minute)
	if _, toks, _ := st.UserTokens(ctx, "alice"); !slices.Equal(toks, []string{"t-long"}) {
		t.Errorf("after expiry: %v", toks)
	}
	// At most MaxTokensPerUser live: the oldest go.
	for i := range registry.MaxTokensPerUser + 3 {
		must(t, st.AddToken(ctx, a.ID, fmt.Sprintf("n-%02d", i), time.Hour))
	}
	live, err := st.LiveTokens(ctx, a.ID)
	must(t, err)
	if len(live) != registry.MaxTokensPerUser || live[0] != fmt.Sprintf("n-%02d", registry.MaxTokensPerUser+2) || slices.Contains(live, "t-long") {
		t.Errorf("live tokens after many logins: %v", live)
	}
	if err := st.RevokeToken(ctx, a.ID, live[0]); err != nil {
		t.Error(err)
	}
	if err := st.RevokeToken(ctx, a.ID, live[0]); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}
	if err := st.RevokeToken(ctx, b.ID, live[1]); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("revoking another user's token: %v", err)
	}
	// A new password ends every session and any reset.
	_, err = st.CreateReset(ctx, a.ID, "reset-token", "", time.Hour)
	must(t, err)
	must(t, st.SetPassword(ctx, a.ID, "new-hash"))
	if u, toks, _ := st.UserTokens(ctx, "alice"); len(toks) != 0 || u.PasswordHash != "new-hash" {
		t.Errorf("after SetPassword: %+v %v", u, toks)
	}
	if _, err := st.ResetOf(ctx, a.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("reset after SetPassword: %v", err)
	}
}

func testResets(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	st.SetClock(clk.Now)
	a, b := user(t, st, "alice"), user(t, st, "bob")
	if _, err := st.ResetOf(ctx, a.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("no reset yet: %v", err)
	}
	// Two emailed resets (no QR id) of two users do not collide.
	r1, err := st.CreateReset(ctx, a.ID, "tok-a1", "", 10*time.Minute)
	must(t, err)
	if _, err := st.CreateReset(ctx, b.ID, "tok-b", "", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Asking again replaces the first, with a new id.
	r2, err := st.CreateReset(ctx, a.ID, "tok-a2", "qr-a", 10*time.Minute)
	must(t, err)
	if r2.ID == r1.ID || r2.Username != "alice" || r2.Email != "alice@example.org" || !r2.QR {
		t.Fatalf("second reset %+v (first %+v)", r2, r1)
	}
	got, err := st.ResetByLogin(ctx, "ALICE@example.org")
	if err != nil || got.ID != r2.ID || got.Token != "tok-a2" || got.QRID != "qr-a" || !got.Expires.Equal(r2.Expires) || got.State(clk.Now()) != registry.ResetLive {
		t.Fatalf("ResetByLogin = %+v %v", got, err)
	}
	if _, err := st.ResetByLogin(ctx, "nobody"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("ResetByLogin(nobody): %v", err)
	}
	// The QR image: found without using it, then taken once.
	if r, err := st.QRReset(ctx, "qr-a"); err != nil || r.ID != r2.ID {
		t.Fatalf("QRReset = %+v %v", r, err)
	}
	if r, err := st.TakeQR(ctx, "qr-a"); err != nil || r.ID != r2.ID || r.QRID != "" {
		t.Fatalf("TakeQR = %+v %v", r, err)
	}
	if _, err := st.TakeQR(ctx, "qr-a"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("second TakeQR: %v", err)
	}
	if r, _ := st.ResetOf(ctx, a.ID); r.QRID != "" {
		t.Errorf("QR id kept after TakeQR: %+v", r)
	}
	for i := 1; i <= 2; i++ {
		if n, err := st.FailReset(ctx, r2.ID); err != nil || n != i {
			t.Errorf("FailReset #%d = %d %v", i, n, err)
		}
	}
	must(t, st.AddToken(ctx, a.ID, "login", time.Hour))
	must(t, st.ResetPassword(ctx, r2.ID, "reset-hash"))
	if err := st.ResetPassword(ctx, r2.ID, "again"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("a reset used twice: %v", err)
	}
	if u, toks, _ := st.UserTokens(ctx, "alice"); u.PasswordHash != "reset-hash" || len(toks) != 0 {
		t.Errorf("after ResetPassword: %+v %v", u, toks)
	}
	if r, _ := st.ResetOf(ctx, a.ID); r.State(clk.Now()) != registry.ResetUsed || r.Failures != 2 {
		t.Errorf("used reset: %+v", r)
	}
	// Expiry and cancellation.
	rb, err := st.ResetByLogin(ctx, "bob")
	must(t, err)
	clk.add(11 * time.Minute)
	if err := st.ResetPassword(ctx, rb.ID, "late"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("an expired reset: %v", err)
	}
	r3, err := st.CreateReset(ctx, b.ID, "tok-b2", "qr-b", time.Hour)
	must(t, err)
	for range registry.MaxResetFailures {
		_, err := st.FailReset(ctx, r3.ID)
		must(t, err)
	}
	if _, err := st.QRReset(ctx, "qr-b"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("QR of a cancelled reset: %v", err)
	}
	if err := st.ResetPassword(ctx, r3.ID, "x"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("a cancelled reset: %v", err)
	}
	if u, _ := st.UserByLogin(ctx, "bob"); u.PasswordHash != "hash-bob" {
		t.Errorf("bob's password changed: %+v", u)
	}
}

func testPublish(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	before := st.Changes()
	v1, err := publish(st, "alice", registry.Create, version("pad", "1.0.0", "input", "joypad"))
	must(t, err)
	if v1.Shasum != blobs.SHA1(tarball(v1)) || v1.Size != int64(len(tarball(v1))) || v1.Published.IsZero() {
		t.Fatalf("published %+v", v1)
	}
	if st.Changes() <= before {
		t.Errorf("Changes did not move on: %d, was %d", st.Changes(), before)
	}
	// The rules, under the publish's lock, get what is stored.
	if _, err := publish(st, "bob", registry.Import, version("PAD", "9.0.0")); kindOf(err) != registry.Refused {
		t.Errorf("another owner's title in other case: %v", err)
	}
	if _, err := publish(st, "alice", registry.Create, version("pad", "2.0.0")); kindOf(err) != registry.WrongMethod {
		t.Errorf("Create of a stored title: %v", err)
	}
	if _, err := publish(st, "alice", registry.Import, version("pad", "1.0.0")); kindOf(err) != registry.Conflict {
		t.Errorf("a stored version again: %v", err)
	}
	if _, err := publish(st, "alice", registry.Update, version("pad", "0.9.0")); kindOf(err) != registry.Refused {
		t.Errorf("Update to an older version: %v", err)
	}
	if _, err := publish(st, "alice", registry.Update, version("nope", "1.0.0")); kindOf(err) != registry.NotFound {
		t.Errorf("Update of no package: %v", err)
	}
	refused := version("pad", "3.0.0")
	refused.Description = "refused"
	_, err = st.Publish(ctx, "alice", refused, tarball(refused), func(registry.Stored) error { return errors.New("no") })
	if err == nil {
		t.Fatal("a refused publish was stored")
	}
	if _, err := st.Tarball(blobs.SHA1(tarball(refused))); !errors.Is(err, registry.ErrDamaged) {
		t.Errorf("a refused publish left its tarball: %v", err)
	}
	if _, err := publish(st, "alice", registry.Import, version("pad", "bad version")); err == nil {
		t.Error("a version that is no semver was stored")
	}
	// Newer and older versions; the stored spelling of the title wins.
	v2 := version("PAD", "1.10.0", "new")
	v2.Description = "newest"
	got, err := publish(st, "ALICE", registry.Update, v2)
	must(t, err)
	if got.Title != "pad" {
		t.Errorf("title took %q, want the stored spelling", got.Title)
	}
	_, err = publish(st, "alice", registry.Import, version("pad", "1.2.0"))
	must(t, err)
	p, err := st.Package(ctx, "Pad")
	if err != nil || p.Title != "pad" || p.Latest != "1.10.0" || p.Description != "newest" || !slices.Equal(p.Tags, []string{"new"}) || p.Owner != "alice" {
		t.Errorf("Package = %+v %v", p, err)
	}
	newest, err := st.Version(ctx, "pad", "")
	if err != nil || newest.Version != "1.10.0" || newest.Readme != "# PAD 1.10.0" || newest.Author != "alice" || newest.License != "MIT" {
		t.Errorf("Version(newest) = %+v %v", newest, err)
	}
	old, err := st.Version(ctx, "PAD", "1.0.0")
	if err != nil || old.Shasum != v1.Shasum || !old.Published.Equal(v1.Published) || !slices.Equal(old.Tags, []string{"input", "joypad"}) {
		t.Errorf("Version(1.0.0) = %+v %v, want %+v", old, err, v1)
	}
	if _, err := st.Version(ctx, "pad", "7.0.0"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Version of no version: %v", err)
	}
	if _, err := st.Package(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Package of no package: %v", err)
	}
	rels, err := st.Releases(ctx, "pad")
	must(t, err)
	var order []string
	for _, r := range rels {
		order = append(order, r.Version)
	}
	if !slices.Equal(order, []string{"1.10.0", "1.2.0", "1.0.0"}) {
		t.Errorf("Releases order %v", order)
	}
	if _, err := st.Releases(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Releases of no package: %v", err)
	}
	b, err := st.Tarball(v1.Shasum)
	if err != nil || string(b) != string(tarball(v1)) {
		t.Errorf("Tarball = %q %v", b, err)
	}
	if pkgs, _, err := st.Counts(ctx); err != nil || pkgs != 1 {
		t.Errorf("Counts: %d packages, %v", pkgs, err)
	}
	// No tags is an empty list, not nil.
	_, err = publish(st, "alice", registry.Create, registry.Version{Title: "bare", Version: "1.0.0", Description: "b", Author: "alice", License: "MIT", Readme: "r"})
	must(t, err)
	if p, _ := st.Package(ctx, "bare"); p.Tags == nil {
		t.Error("tags nil")
	}
}

func testListAndSearch(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	for _, p := range []struct{ title, desc string }{
		{"zeta", "Alpha sound"}, {"alpha", "zeta music"}, {"mid", "alpha Tools"}, {"joy", "Reads joypads"}, {"beta", "alpha sound"},
	} {
		v := version(p.title, "1.0.0", "tag-"+p.title)
		v.Description = p.desc
		_, err := publish(st, "alice", registry.Create, v)
		must(t, err)
	}
	titles := func(ps []registry.Package) []string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Title)
		}
		return s
	}
	for _, c := range []struct {
		o    registry.ListOptions
		want []string
	}{
		{registry.ListOptions{Limit: 10}, []string{"alpha", "beta", "joy", "mid", "zeta"}},
		{registry.ListOptions{Limit: 2, Offset: 1}, []string{"beta", "joy"}},
		{registry.ListOptions{Limit: 10, Desc: true}, []string{"zeta", "mid", "joy", "beta", "alpha"}},
		{registry.ListOptions{Limit: 10, ByDescription: true}, []string{"beta", "zeta", "mid", "joy", "alpha"}},
		{registry.ListOptions{Limit: 10, ByDescription: true, Desc: true}, []string{"alpha", "joy", "mid", "zeta", "beta"}},
		{registry.ListOptions{Limit: 10, Offset: 50}, nil},
	} {
		page, n, err := st.ListPackages(ctx, c.o)
		if err != nil || n != 5 || !slices.Equal(titles(page), c.want) {
			t.Errorf("ListPackages(%+v) = %v, %d, %v; want %v", c.o, titles(page), n, err, c.want)
		}
	}
	for _, c := range []struct {
		term          string
		offset, limit int
		want          []string
		total         int
	}{
		{"alpha", 0, 10, []string{"alpha", "beta", "mid", "zeta"}, 4},
		{"ZETA", 0, 10, []string{"zeta", "alpha"}, 2},
		{"alpha", 1, 2, []string{"beta", "mid"}, 4},
		{"tag-joy", 0, 10, []string{"joy"}, 1},
		{"JOYPAD", 0, 10, []string{"joy"}, 1},
		{"sound", 0, 10, []string{"beta", "zeta"}, 2},
		{"nothing", 0, 10, nil, 0},
		{"alpha", 10, 10, nil, 4},
	} {
		page, n, err := st.Search(ctx, c.term, c.offset, c.limit)
		if err != nil || n != c.total || !slices.Equal(titles(page), c.want) {
			t.Errorf("Search(%q, %d, %d) = %v, %d, %v; want %v, %d", c.term, c.offset, c.limit, titles(page), n, err, c.want, c.total)
		}
	}
	// A newer version's fields replace the old in lists and searches.
	v := version("joy", "2.0.0", "gamepad")
	v.Description = "Zzz last"
	_, err := publish(st, "alice", registry.Update, v)
	must(t, err)
	if page, _, _ := st.Search(ctx, "joypads", 0, 10); len(page) != 0 {
		t.Errorf("old description still found: %v", titles(page))
	}
	if page, _, _ := st.Search(ctx, "gamepad", 0, 10); !slices.Equal(titles(page), []string{"joy"}) {
		t.Errorf("new tag not found: %v", titles(page))
	}
	if page, _, _ := st.ListPackages(ctx, registry.ListOptions{Limit: 1, ByDescription: true, Desc: true}); !slices.Equal(titles(page), []string{"joy"}) {
		t.Errorf("new description not sorted: %v", titles(page))
	}
}

func testReference(t *testing.T, open func(t *testing.T) Storage) {
	st, other := open(t), open(t)
	if st.ReferenceGeneration() != 0 {
		t.Fatalf("generation %d before any import", st.ReferenceGeneration())
	}
	es, err := st.Reference(ctx)
	if err != nil || len(es) != 0 {
		t.Fatalf("empty reference: %v %v", es, err)
	}
	first := []reference.Entry{{Path: "registers/PPUCTRL", Text: "ctrl\n"}, {Path: "mappers/4", Text: "mmc3\n"}, {Path: "registers", Text: ""}}
	must(t, st.ReplaceReference(ctx, first))
	g1 := st.ReferenceGeneration()
	if g1 == 0 {
		t.Fatal("generation did not move")
	}
	es, err = st.Reference(ctx)
	must(t, err)
	var paths []string
	for _, e := range es {
		paths = append(paths, e.Path)
	}
	if !slices.Equal(paths, []string{"mappers/4", "registers", "registers/PPUCTRL"}) || es[2].Text != "ctrl\n" {
		t.Errorf("Reference = %+v", es)
	}
	must(t, st.ReplaceReference(ctx, []reference.Entry{{Path: "lessons/A", Text: "a\n"}}))
	if es, _ := st.Reference(ctx); len(es) != 1 || es[0].Path != "lessons/A" {
		t.Errorf("after a second import: %+v", es)
	}
	if st.ReferenceGeneration() <= g1 {
		t.Error("generation did not move on the second import")
	}
	// Two paths that differ by case only are one.
	if err := st.ReplaceReference(ctx, []reference.Entry{{Path: "a/B", Text: "x"}, {Path: "a/b", Text: "y"}}); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("paths differing by case: %v", err)
	}
	if es, _ := st.Reference(ctx); len(es) != 1 || es[0].Path != "lessons/A" {
		t.Errorf("a failed import changed the reference: %+v", es)
	}
	must(t, other.CatchUp(ctx))
	if other.ReferenceGeneration() != st.ReferenceGeneration() {
		t.Errorf("other handle at generation %d, want %d", other.ReferenceGeneration(), st.ReferenceGeneration())
	}
}

func testChanges(t *testing.T, open func(t *testing.T) Storage) {
	st, other := open(t), open(t)
	v, err := publish(st, "alice", registry.Create, version("pad", "1.0.0"))
	must(t, err)
	must(t, other.CatchUp(ctx))
	if other.Changes() != st.Changes() || other.Changes() == 0 {
		t.Fatalf("other handle at %d, writer at %d", other.Changes(), st.Changes())
	}
	if p, err := other.Package(ctx, "pad"); err != nil || p.Latest != "1.0.0" {
		t.Errorf("other handle: %+v %v", p, err)
	}
	if page, n, _ := other.Search(ctx, "pad", 0, 10); n != 1 || len(page) != 1 {
		t.Errorf("other handle's search: %v %d", page, n)
	}
	cs, err := other.ChangesSince(ctx, 0, 10)
	must(t, err)
	if len(cs) != 1 || cs[0].Kind != registry.ChangePublish || cs[0].Title != "pad" || cs[0].Version != "1.0.0" || cs[0].Shasum != v.Shasum || !cs[0].At.Equal(v.Published) {
		t.Errorf("ChangesSince = %+v", cs)
	}
	// A handle opened later starts where the log stands.
	late := open(t)
	if late.Changes() != st.Changes() {
		t.Errorf("a new handle at %d, want %d", late.Changes(), st.Changes())
	}
}

func testCheck(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, err := publish(st, "alice", registry.Import, version("pad", v))
		must(t, err)
	}
	probs, err := st.Check(ctx, false)
	if err != nil || len(probs) != 0 {
		t.Fatalf("Check of clean data: %+v %v", probs, err)
	}
	// A tarball no version names: what a publish killed before its commit
	// leaves.
	orphan := []byte("orphan")
	_, err = st.Blobs().Put(ctx, blobs.SHA1(orphan), orphan)
	must(t, err)
	probs, err = st.Check(ctx, false)
	if err != nil || len(probs) != 1 || !probs[0].Leftover || probs[0].Repair {
		t.Fatalf("Check with a leftover: %+v %v", probs, err)
	}
	left, err := st.RemoveLeftovers(ctx)
	if err != nil || len(left) != 1 || !left[0].Repair {
		t.Fatalf("RemoveLeftovers: %+v %v", left, err)
	}
	// A version whose tarball is gone is damage that check reports.
	v, err := st.Version(ctx, "pad", "1.0.0")
	must(t, err)
	must(t, st.Blobs().Remove(ctx, v.Shasum))
	probs, err = st.Check(ctx, true)
	if err != nil || len(probs) != 1 || probs[0].Leftover || probs[0].Repair || !strings.Contains(probs[0].What, "pad@1.0.0") {
		t.Fatalf("Check with a missing tarball: %+v %v", probs, err)
	}
	if _, err := st.Tarball(v.Shasum); !errors.Is(err, registry.ErrDamaged) {
		t.Errorf("Tarball of a missing blob: %v", err)
	}
}

// testRaceNewTitle: many handles (processes, replicas) publish the same
// new title at once, each a different version: exactly one creates it.
func testRaceNewTitle(t *testing.T, open func(t *testing.T) Storage) {
	handles := []Storage{open(t), open(t)}
	const n = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("user%d", i)
			_, err := publish(handles[i%2], owner, registry.Create, version("race", fmt.Sprintf("1.0.%d", i)))
			switch {
			case err == nil:
				wins.Add(1)
			case kindOf(err) == registry.Refused:
			default:
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a losing publish failed otherwise: %v", err)
	}
	if wins.Load() != 1 {
		t.Fatalf("%d publishes created the title, want 1", wins.Load())
	}
	rels, err := handles[0].Releases(ctx, "race")
	if err != nil || len(rels) != 1 {
		t.Errorf("releases %v %v", rels, err)
	}
	if probs, err := handles[1].Check(ctx, false); err != nil || len(probs) != 0 {
		t.Errorf("Check after the race: %+v %v", probs, err)
	}
}

// testRaceVersions: two handles publish the same versions of one title at
// once: each version is stored once, none is lost, latest is the highest,
// and every handle's change log has every publish, in one order.
func testRaceVersions(t *testing.T, open func(t *testing.T) Storage) {
	handles := []Storage{open(t), open(t), open(t)}
	_, err := publish(handles[0], "alice", registry.Create, version("pad", "0.0.1"))
	must(t, err)
	const versions = 12
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range versions {
		for h := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := publish(handles[h], "alice", registry.Import, version("pad", fmt.Sprintf("1.%d.0", i)))
				switch {
				case err == nil:
					wins.Add(1)
				case kindOf(err) != registry.Conflict:
					t.Errorf("publish 1.%d.0: %v", i, err)
				}
			}()
		}
	}
	wg.Wait()
	if wins.Load() != versions {
		t.Fatalf("%d publishes won, want one per version (%d)", wins.Load(), versions)
	}
	follower := handles[2]
	must(t, follower.CatchUp(ctx))
	rels, err := follower.Releases(ctx, "pad")
	if err != nil || len(rels) != versions+1 || rels[0].Version != fmt.Sprintf("1.%d.0", versions-1) {
		t.Fatalf("releases %d %v %v", len(rels), rels, err)
	}
	if p, _ := follower.Package(ctx, "pad"); p.Latest != rels[0].Version {
		t.Errorf("latest %q, want %q", p.Latest, rels[0].Version)
	}
	cs, err := follower.ChangesSince(ctx, 0, 100)
	must(t, err)
	if len(cs) != versions+1 {
		t.Errorf("%d changes logged, want %d", len(cs), versions+1)
	}
	for i := 1; i < len(cs); i++ {
		if cs[i].Serial <= cs[i-1].Serial {
			t.Errorf("serials out of order: %d after %d", cs[i].Serial, cs[i-1].Serial)
		}
	}
	if follower.Changes() != cs[len(cs)-1].Serial {
		t.Errorf("follower at %d, log ends at %d", follower.Changes(), cs[len(cs)-1].Serial)
	}
}

// testRaceReset: one reset used from two handles at once works once; one
// QR image taken from two handles at once is served once.
func testRaceReset(t *testing.T, open func(t *testing.T) Storage) {
	a, b := open(t), open(t)
	u := user(t, a, "alice")
	for round := range 5 {
		r, err := a.CreateReset(ctx, u.ID, fmt.Sprintf("tok-%d", round), fmt.Sprintf("qr-%d", round), time.Hour)
		must(t, err)
		var took, used atomic.Int32
		var wg sync.WaitGroup
		for _, st := range []Storage{a, b, a, b} {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := st.TakeQR(ctx, r.QRID); err == nil {
					took.Add(1)
				} else if !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("TakeQR: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if err := st.ResetPassword(ctx, r.ID, "h"); err == nil {
					used.Add(1)
				} else if !errors.Is(err, registry.ErrResetDead) {
					t.Errorf("ResetPassword: %v", err)
				}
			}()
		}
		wg.Wait()
		if used.Load() != 1 || took.Load() > 1 {
			t.Fatalf("round %d: reset used %d times, QR taken %d times", round, used.Load(), took.Load())
		}
	}
}

// testRaceSignup: one username signed up from two handles at once exists
// once.
func testRaceSignup(t *testing.T, open func(t *testing.T) Storage) {
	a, b := open(t), open(t)
	var ok, conflict atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := []Storage{a, b}[i%2]
			_, err := st.CreateUser(ctx, registry.User{Username: []string{"Dup", "dup"}[i%2], Email: fmt.Sprintf("%d@x", i), Name: "d", PasswordHash: "h"})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, registry.ErrConflict):
				conflict.Add(1)
			default:
				t.Errorf("CreateUser: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 7 {
		t.Fatalf("%d created, %d conflicts", ok.Load(), conflict.Load())
	}
}
