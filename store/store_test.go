package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

func open(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func version(title, v string) registry.Version {
	return registry.Version{Title: title, Version: v, Description: "d " + v, Author: "alice",
		License: "MIT", Tags: []string{"t"}, Readme: "# " + title}
}

func publish(t *testing.T, db *store.DB, owner string, mode registry.Mode, v registry.Version) (registry.Version, error) {
	t.Helper()
	return db.Publish(context.Background(), owner, v, []byte("tarball "+v.Title+" "+v.Version), registry.PublishRule(owner, mode, v.Title, v.Version))
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	have, want, err := db.SchemaVersion(context.Background())
	if err != nil || have != want || want < 1 {
		t.Fatalf("schema %d/%d %v", have, want, err)
	}
	db.Close()
	raw, err := sql.Open("sqlite", filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := store.Open(context.Background(), dir); !errors.Is(err, registry.ErrTooNew) {
		t.Fatalf("Open of a newer database: %v", err)
	}
}

// TestConcurrentOpen: processes opening a new data folder at the same
// time (serve and a cron check, say) apply each migration once.
func TestConcurrentOpen(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			db, err := store.Open(context.Background(), dir)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("open: %v", err)
		}
	}
	db := open(t, dir)
	if have, want, err := db.SchemaVersion(context.Background()); err != nil || have != want {
		t.Fatalf("schema version %d, want %d (%v)", have, want, err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir)
	if _, err := publish(t, db, "alice", registry.Create, version("pkg", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, dir)
	if v, err := db.Version(context.Background(), "pkg", ""); err != nil || v.Version != "1.0.0" {
		t.Fatalf("after reopen: %v %v", v, err)
	}
}

// TestPublishRule: Publish hands the rule what is stored of the title,
// stores nothing the rule refuses, and keeps the newest version as the
// package's face when an older one is added.
func TestPublishRule(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	var seen []registry.Stored
	rule := func(refuse error) func(registry.Stored) error {
		return func(st registry.Stored) error { seen = append(seen, st); return refuse }
	}
	put := func(v string, r func(registry.Stored) error) error {
		_, err := db.Publish(ctx, "alice", version("pkg", v), []byte("tarball "+v), r)
		return err
	}
	refused := errors.New("refused")
	if err := put("1.0.0", rule(refused)); err != refused {
		t.Fatalf("refused publish: %v", err)
	}
	for _, v := range []string{"1.0.0", "2.0.0", "1.5.0"} {
		if err := put(v, rule(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := put("1.5.0", rule(nil)); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("a version stored twice: %v", err)
	}
	alice := []string{"alice"}
	want := []registry.Stored{{}, {}, {Exists: true, Owner: "alice", Owners: alice, Latest: "1.0.0", Served: "1.0.0"},
		{Exists: true, Owner: "alice", Owners: alice, Latest: "2.0.0", Served: "2.0.0"},
		{Exists: true, Owner: "alice", Owners: alice, Latest: "2.0.0", Served: "2.0.0", HasVersion: true}}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("the rule saw %+v, want %+v", seen, want)
	}
	p, err := db.Package(ctx, "PKG")
	if err != nil || p.Latest != "2.0.0" || p.Description != "d 2.0.0" || p.Title != "pkg" {
		t.Errorf("package = %+v, %v", p, err)
	}
	rels, err := db.Releases(ctx, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rels {
		got = append(got, r.Version)
	}
	if strings.Join(got, " ") != "2.0.0 1.5.0 1.0.0" {
		t.Errorf("releases = %v", got)
	}
	// Refused publishes left no files behind.
	if probs, err := db.Check(ctx, false); err != nil || len(probs) != 0 {
		t.Errorf("check after refused publishes: %v %v", probs, err)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	a, err := publish(t, db, "alice", registry.Create, version("a", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := publish(t, db, "alice", registry.Create, version("b", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if probs, err := db.Check(ctx, false); err != nil || len(probs) != 0 {
		t.Fatalf("clean folder: %v %v", probs, err)
	}
	path := func(sum string) string { return filepath.Join(dir, "tarballs", sum[:2], sum+".tar.gz") }
	if err := os.WriteFile(path(a.Shasum), []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path(b.Shasum)); err != nil {
		t.Fatal(err)
	}
	orphan, tmp, stray := plantLeftovers(t, dir)

	probs, err := db.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		path(a.Shasum): "damage: a@1.0.0: tarball does not match its SHA-1",
		path(b.Shasum): "damage: b@1.0.0: tarball missing or unreadable",
		orphan:         "leftover: tarball of an interrupted publish, no version refers to it",
		tmp:            "leftover: temporary upload of an interrupted publish",
		stray:          "damage: file the registry did not write",
	}
	if got := describe(probs); !maps.Equal(got, want) {
		t.Errorf("check found\n%v\nwant\n%v", got, want)
	}
	for _, p := range []string{orphan, tmp, stray} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("check without repair removed %s", p)
		}
	}
	probs, err = db.Check(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	repaired := 0
	for _, p := range probs {
		if p.Repair {
			repaired++
		}
	}
	if repaired != 3 {
		t.Errorf("repaired %d, want the orphan, the temp file and the stray file: %+v", repaired, probs)
	}
	for _, p := range []string{orphan, tmp, stray} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after repair", p)
		}
	}
}

// TestRemoveLeftovers: what serve removes at start is exactly what a
// killed publish can leave, never a stored tarball or a file the
// registry did not write.
func TestRemoveLeftovers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	a, err := publish(t, db, "alice", registry.Create, version("a", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	orphan, tmp, stray := plantLeftovers(t, dir)
	left, err := db.RemoveLeftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		orphan: "removed: tarball of an interrupted publish, no version refers to it",
		tmp:    "removed: temporary upload of an interrupted publish",
	}
	if got := describe(left); !maps.Equal(got, want) {
		t.Errorf("removed\n%v\nwant\n%v", got, want)
	}
	if left, err := db.RemoveLeftovers(ctx); err != nil || len(left) != 0 {
		t.Errorf("second time: %+v %v", left, err)
	}
	probs, err := db.Check(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(probs); !maps.Equal(got, map[string]string{stray: "damage: file the registry did not write"}) {
		t.Errorf("check after the sweep found %v", got)
	}
	if _, err := db.Tarball(a.Shasum); err != nil {
		t.Errorf("stored tarball %s after the sweep: %v", a.Shasum, err)
	}
}

// plantLeftovers writes what a killed publish leaves (a tarball no row
// names, a temporary upload) and a file no publish writes.
func plantLeftovers(t *testing.T, dir string) (orphan, tmp, stray string) {
	t.Helper()
	orphan = filepath.Join(dir, "tarballs", "00", strings.Repeat("0", 40)+".tar.gz")
	tmp = filepath.Join(dir, "tmp", "upload-123")
	stray = filepath.Join(dir, "tarballs", "notes.txt")
	os.MkdirAll(filepath.Dir(orphan), 0o750)
	for _, p := range []string{orphan, tmp, stray} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return orphan, tmp, stray
}

// describe maps each problem's path to its kind and text.
func describe(probs []store.Problem) map[string]string {
	m := make(map[string]string, len(probs))
	for _, p := range probs {
		kind := "damage"
		switch {
		case p.Repair:
			kind = "removed"
		case p.Leftover:
			kind = "leftover"
		}
		m[p.Path] = kind + ": " + p.What
	}
	return m
}

// TestCheckWhilePublishing: check --repair, or serve's sweep of
// leftovers, run from another process (here another DB over the same
// folder) while publishes go on takes no publish under way for a
// leftover, and reports no false problem.
func TestCheckWhilePublishing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server, checker := open(t, dir), open(t, dir)
	done := make(chan error, 1)
	const n = 60
	go func() {
		for i := range n {
			if _, err := publish(t, server, "alice", registry.Create, version(fmt.Sprintf("p%03d", i), "1.0.0")); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	checks := 0
	for running := true; running; checks++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("publish failed while check ran: %v", err)
			}
			running = false
		default:
		}
		probs, err := checker.Check(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) != 0 {
			t.Fatalf("check %d during publishes found %+v", checks+1, probs)
		}
		// What serve does at start, in a second server on the folder.
		if left, err := checker.RemoveLeftovers(ctx); err != nil || len(left) != 0 {
			t.Fatalf("sweep %d during publishes removed %+v (%v)", checks+1, left, err)
		}
	}
	if probs, err := server.Check(ctx, false); err != nil || len(probs) != 0 {
		t.Fatalf("after %d publishes and %d checks: %+v %v", n, checks, probs, err)
	}
}

func TestSearchAndList(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	for _, title := range []string{"zeta", "alpha", "under_score", "beta"} {
		v := version(title, "1.0.0")
		if title == "beta" {
			v.Tags = []string{"Alpha-Tag"}
		}
		if _, err := publish(t, db, "alice", registry.Create, v); err != nil {
			t.Fatal(err)
		}
	}
	ps, total, err := db.Search(ctx, "ALPHA", 0, 10)
	if err != nil || total != 2 || ps[0].Title != "alpha" || ps[1].Title != "beta" {
		t.Errorf("search = %v %d %v", ps, total, err)
	}
	if _, total, _ := db.Search(ctx, "_", 0, 10); total != 1 {
		t.Errorf("'_' matched %d packages, want only the literal underscore", total)
	}
	ps, total, err = db.ListPackages(ctx, registry.ListOptions{Offset: 1, Limit: 2, Desc: true})
	if err != nil || total != 4 || len(ps) != 2 || ps[0].Title != "under_score" || ps[1].Title != "beta" {
		t.Errorf("list = %v %d %v", ps, total, err)
	}
}

// TestIndexFollowsPublishes searches, publishes, and searches again: the
// in-memory index must see new packages and new versions' text at once.
func TestIndexFollowsPublishes(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	if _, err := publish(t, db, "alice", registry.Create, version("alpha", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := db.Search(ctx, "walrus", 0, 10); total != 0 {
		t.Fatalf("walrus before publishing: %d", total)
	}
	v := version("beta", "1.0.0")
	v.Description = "A walrus"
	if _, err := publish(t, db, "alice", registry.Create, v); err != nil {
		t.Fatal(err)
	}
	if ps, total, _ := db.Search(ctx, "walrus", 0, 10); total != 1 || ps[0].Title != "beta" {
		t.Errorf("walrus after publishing: %v %d", ps, total)
	}
	v = version("beta", "2.0.0")
	v.Description = "A narwhal"
	if _, err := publish(t, db, "alice", registry.Update, v); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := db.Search(ctx, "walrus", 0, 10); total != 0 {
		t.Errorf("old description still found")
	}
	if _, total, _ := db.Search(ctx, "narwhal", 0, 10); total != 1 {
		t.Errorf("new description not found")
	}
	ps, _, _ := db.ListPackages(ctx, registry.ListOptions{Limit: 10, ByDescription: true})
	if len(ps) != 2 || ps[0].Description != "A narwhal" || ps[1].Description != "d 1.0.0" {
		t.Errorf("by description: %v", ps)
	}
}
