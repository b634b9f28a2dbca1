package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/registry"
)

// allow is a rule that lets every write through.
func allow(registry.Stored) error { return nil }

// TestYankMovesTheNewest: a yanked version leaves the package's face (its
// document, the list and search) to the newest version left, and comes
// back when restored.
func TestYankMovesTheNewest(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	for _, v := range []string{"1.0.0", "1.10.0", "1.2.0"} {
		if _, err := publish(t, db, "alice", registry.Import, version("pad", v)); err != nil {
			t.Fatal(err)
		}
	}
	newest := func() string {
		t.Helper()
		v, err := db.Version(ctx, "pad", "")
		list, _, lerr := db.ListPackages(ctx, registry.ListOptions{Limit: 10})
		if err != nil || lerr != nil || len(list) != 1 {
			return "error"
		}
		if list[0].Latest != v.Version || list[0].Description != v.Description {
			return "list says " + list[0].Latest
		}
		return v.Version
	}
	var seen registry.Stored
	rule := func(st registry.Stored) error { seen = st; return nil }
	p, err := db.SetYanked(ctx, "PAD", "1.10.0", true, rule)
	if err != nil || p.Latest != "1.2.0" || p.Title != "pad" {
		t.Fatalf("yank: %+v %v", p, err)
	}
	if !seen.HasVersion || seen.Yanked || seen.Latest != "1.10.0" {
		t.Errorf("the rule saw %+v", seen)
	}
	if got := newest(); got != "1.2.0" {
		t.Errorf("newest after yanking 1.10.0: %s", got)
	}
	if v, err := db.Version(ctx, "pad", "1.10.0"); err != nil || !v.Yanked {
		t.Errorf("the yanked version: %+v %v", v, err)
	}
	rels, err := db.Releases(ctx, "pad")
	if err != nil || len(rels) != 3 || !rels[0].Yanked || rels[1].Yanked {
		t.Errorf("releases %+v %v", rels, err)
	}
	for _, v := range []string{"1.2.0", "1.0.0"} {
		if _, err := db.SetYanked(ctx, "pad", v, true, allow); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Version(ctx, "pad", ""); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("newest with every version yanked: %v", err)
	}
	if _, err := db.SetYanked(ctx, "pad", "1.10.0", false, rule); err != nil || !seen.Yanked {
		t.Fatalf("unyank: %v; the rule saw %+v", err, seen)
	}
	if got := newest(); got != "1.10.0" {
		t.Errorf("newest after restoring 1.10.0: %s", got)
	}
	refused := errors.New("refused")
	before := db.Changes()
	if _, err := db.SetYanked(ctx, "pad", "1.10.0", true, func(registry.Stored) error { return refused }); err != refused {
		t.Errorf("a refused yank: %v", err)
	}
	if db.Changes() != before || newest() != "1.10.0" {
		t.Error("a refused yank changed something")
	}
	if _, err := db.SetYanked(ctx, "pad", "9.0.0", true, allow); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("yank of a version that is not there: %v", err)
	}
}

// TestRemoveKeepsTheRows: a removed version loses its tarball and leaves
// the releases, but its row stays to refuse a publish under it; check
// finds nothing wrong after it.
func TestRemoveKeepsTheRows(t *testing.T) {
	ctx := context.Background()
	db := open(t, t.TempDir())
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := publish(t, db, "alice", registry.Import, version("pad", v)); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := db.Version(ctx, "pad", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Remove(ctx, "pad", "1.1.0", "malware", allow); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Tarball(removed.Shasum); err == nil {
		t.Error("the removed tarball is still there")
	}
	if v, err := db.Version(ctx, "pad", "1.1.0"); err != nil || !v.Removed || v.RemovedReason != "malware" {
		t.Errorf("the removed version: %+v %v", v, err)
	}
	if v, err := db.Version(ctx, "pad", ""); err != nil || v.Version != "1.0.0" {
		t.Errorf("the newest after the removal: %+v %v", v, err)
	}
	var seen registry.Stored
	_, err = publish(t, db, "alice", registry.Import, version("pad", "1.1.0"))
	if re := (*registry.Error)(nil); !errors.As(err, &re) || re.Kind != registry.Conflict || !strings.Contains(re.Msg, "removed") {
		t.Errorf("publishing the removed version again: %v", err)
	}
	db.Publish(ctx, "alice", version("pad", "1.1.0"), []byte("x"), func(st registry.Stored) error { seen = st; return errors.New("no") })
	if !seen.HasVersion || !seen.VersionRemoved || seen.Removed {
		t.Errorf("publish's rule saw %+v", seen)
	}
	if err := db.Remove(ctx, "pad", "", "legal demand", allow); err != nil {
		t.Fatal(err)
	}
	p, err := db.Package(ctx, "pad")
	if err != nil || !p.Removed || p.RemovedReason != "legal demand" || p.Latest != "" {
		t.Errorf("the removed package: %+v %v", p, err)
	}
	if list, n, err := db.ListPackages(ctx, registry.ListOptions{Limit: 10}); err != nil || n != 0 {
		t.Errorf("list after removing the package: %v %d %v", list, n, err)
	}
	if probs, err := db.Check(ctx, false); err != nil || len(probs) != 0 {
		t.Errorf("check: %v %v", probs, err)
	}
}

// TestOwnersAndAudit: owners in the order they were added, the rule sees
// them all; the audit trail takes no change once written.
func TestOwnersAndAudit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir)
	if _, err := publish(t, db, "alice", registry.Create, version("pad", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"carol", "bob"} {
		if err := db.SetOwner(ctx, "pad", u, true, allow); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetOwner(ctx, "pad", "BOB", true, allow); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("adding an owner twice: %v", err)
	}
	if err := db.SetOwner(ctx, "pad", "Carol", false, allow); err != nil {
		t.Fatal(err)
	}
	if err := db.SetOwner(ctx, "pad", "carol", false, allow); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("removing a non-owner: %v", err)
	}
	if owners, err := db.Owners(ctx, "PAD"); err != nil || strings.Join(owners, ",") != "alice,bob" {
		t.Errorf("owners %v %v", owners, err)
	}
	if _, err := publish(t, db, "bob", registry.Update, version("pad", "1.1.0")); err != nil {
		t.Errorf("the co-owner's publish: %v", err)
	}
	if _, err := db.Owners(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("owners of nothing: %v", err)
	}

	for _, a := range []string{registry.AuditPublish, registry.AuditYank} {
		if err := db.AppendAudit(ctx, registry.AuditEvent{Actor: "alice", Addr: "10.0.0.1", Action: a, Package: "pad"}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", filepath.Join(dir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{`UPDATE audit SET actor = 'mallory'`, `DELETE FROM audit`} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
	es, err := db.Audit(ctx, registry.AuditQuery{User: "ALICE", Package: "Pad", Limit: 1})
	if err != nil || len(es) != 1 || es[0].Action != registry.AuditYank {
		t.Errorf("audit: %+v %v", es, err)
	}
}
