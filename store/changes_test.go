package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

// TestChangeLog: every publish and reference import appends to the change
// log in its transaction, with a growing serial; a refused publish adds
// nothing.
func TestChangeLog(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	if db.Changes() != 0 {
		t.Fatalf("fresh folder at serial %d", db.Changes())
	}
	v1, err := publish(t, db, "alice", registry.Create, version("pad", "1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := publish(t, db, "alice", registry.Update, version("pad", "0.9.0")); err == nil {
		t.Fatal("an older version was accepted")
	}
	if err := db.ReplaceReference(ctx, []reference.Entry{{Path: "a", Text: "A\n"}}); err != nil {
		t.Fatal(err)
	}
	cs, err := db.ChangesSince(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Kind != registry.ChangePublish || cs[0].Title != "pad" || cs[0].Version != "1.0.0" ||
		cs[0].Shasum != v1.Shasum || !cs[0].At.Equal(v1.Published) || cs[1].Kind != registry.ChangeReference ||
		cs[1].Serial <= cs[0].Serial {
		t.Fatalf("change log %+v", cs)
	}
	if db.Changes() != cs[1].Serial || db.ReferenceGeneration() != cs[1].Serial {
		t.Errorf("serials %d, %d; want both %d", db.Changes(), db.ReferenceGeneration(), cs[1].Serial)
	}
	if more, _ := db.ChangesSince(ctx, cs[0].Serial, 10); len(more) != 1 || more[0].Serial != cs[1].Serial {
		t.Errorf("since %d: %+v", cs[0].Serial, more)
	}
}

// TestCatchUpSeesOtherProcesses: a second handle on the same folder (as a
// command or another server is) publishes; the first handle's index
// shows it after CatchUp, and its serial moves.
func TestCatchUpSeesOtherProcesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	server, command := open(t, dir), open(t, dir)
	if _, err := publish(t, server, "alice", registry.Create, version("pad", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := server.Search(ctx, "joy", 0, 10); total != 0 { // loads the index
		t.Fatalf("search before: %d", total)
	}
	before := server.Changes()
	v := version("joy", "1.0.0")
	if _, err := publish(t, command, "bob", registry.Create, v); err != nil {
		t.Fatal(err)
	}
	v.Version, v.Description = "2.0.0", "newer"
	if _, err := publish(t, command, "bob", registry.Update, v); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := server.Search(ctx, "joy", 0, 10); total != 0 || server.Changes() != before {
		t.Fatalf("before CatchUp: %d found, serial %d (was %d)", total, server.Changes(), before)
	}
	if err := server.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	pkgs, total, _ := server.Search(ctx, "joy", 0, 10)
	if total != 1 || pkgs[0].Latest != "2.0.0" || pkgs[0].Description != "newer" {
		t.Fatalf("after CatchUp: %+v", pkgs)
	}
	if server.Changes() != command.Changes() || server.Changes() != before+2 {
		t.Errorf("serial %d, the writer's %d, want %d", server.Changes(), command.Changes(), before+2)
	}
	if list, n, _ := server.ListPackages(ctx, registry.ListOptions{Limit: 10}); n != 2 || list[0].Title != "joy" {
		t.Errorf("list after CatchUp: %d %+v", n, list)
	}
}

// undoModeration takes a database back from migration 4 to 3.
var undoModeration = []string{
	`DROP TABLE audit`, `DROP TABLE owners`, `ALTER TABLE users DROP COLUMN disabled_at`,
	`ALTER TABLE packages DROP COLUMN removed_at`, `ALTER TABLE packages DROP COLUMN removed_reason`,
	`ALTER TABLE versions DROP COLUMN yanked_at`, `ALTER TABLE versions DROP COLUMN removed_at`,
	`ALTER TABLE versions DROP COLUMN removed_reason`,
}

// TestChangeLogMigration: a folder written before the change log gets one
// entry per stored version, in publish order, and one for its reference.
func TestChangeLogMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	for _, v := range []registry.Version{version("pad", "1.0.0"), version("joy", "1.0.0"), version("pad", "1.1.0")} {
		if _, err := publish(t, db, "alice", registry.Import, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ReplaceReference(ctx, []reference.Entry{{Path: "a", Text: "A\n"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Back to schema 2, as an older binary left it.
	raw, err := sql.Open("sqlite", filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	undo := append(undoModeration, `DROP TABLE changes`, `INSERT INTO meta (key, value) VALUES ('reference_generation', '3')`,
		`PRAGMA user_version = 2`)
	for _, q := range undo {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	raw.Close()

	db = open(t, dir)
	cs, err := db.ChangesSince(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.Kind+" "+c.Title+" "+c.Version)
	}
	want := []string{"publish pad 1.0.0", "publish joy 1.0.0", "publish pad 1.1.0", "reference  "}
	if len(got) != len(want) {
		t.Fatalf("change log after migration: %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("change log after migration: %q, want %q", got, want)
		}
	}
	if db.ReferenceGeneration() != cs[3].Serial || db.Changes() != cs[3].Serial {
		t.Errorf("serials %d %d, want %d", db.Changes(), db.ReferenceGeneration(), cs[3].Serial)
	}
}
