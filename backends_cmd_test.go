package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// TestCommandsOnPostgres runs the commands of issues 13, 14 and 16 with
// --database and --blobs on PostgreSQL and S3: adduser --csv, yank,
// unyank, owner, remove, user, audit, export, import, mirror and check
// work there as on a data folder, while serve runs on the same database;
// and backup, whose backup restores into a data folder.
func TestCommandsOnPostgres(t *testing.T) {
	db, s3 := backendtest.Postgres(t), backendtest.S3(t)
	dir := t.TempDir() // the data folder holds nothing on these backends
	on := []string{"--data", dir, "--database", db, "--blobs", s3}
	with := func(args ...string) []string { return append(args, on...) }

	csvFile := filepath.Join(t.TempDir(), "class.csv")
	if err := os.WriteFile(csvFile, []byte("username,email,name,password\nalice,alice@example.com,Alice,"+faultPassword+"\nbob,bob@example.com,Bob,"+faultPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", with("adduser", "--csv", csvFile)...)
	addr, _ := startServe(t, with("--rate-limit", "-1")...)
	c := &nesclient.Client{Registry: "http://" + addr}
	alice, err := c.Login("alice", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		if _, err := c.Publish("alice", alice, packTgz("pad", v, "alice", libAsmFor("pad", v))); err != nil {
			t.Fatal(err)
		}
	}

	mustRun(t, "", with("yank", "pad", "1.2.0")...)
	within(t, "yank", func() bool {
		files, err := c.Install("pad", "")
		return err == nil && string(files["lib.asm"]) == libAsmFor("pad", "1.1.0")
	})
	mustRun(t, "", with("unyank", "pad", "1.2.0")...)
	within(t, "unyank", func() bool {
		files, err := c.Install("pad", "")
		return err == nil && string(files["lib.asm"]) == libAsmFor("pad", "1.2.0")
	})
	mustRun(t, "", with("owner", "add", "pad", "bob")...)
	if out := mustRun(t, "", with("owner", "list", "pad")...); !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
		t.Errorf("owner list: %q", out)
	}
	mustRun(t, "", with("remove", "pad@1.0.0", "--reason", "broken build")...)
	within(t, "remove", func() bool { _, err := c.Install("pad", "1.0.0"); return err != nil })
	mustRun(t, "", with("user", "disable", "bob")...)
	if out := mustRun(t, "", with("user", "list")...); !strings.Contains(out, "bob") || !strings.Contains(out, "disabled") {
		t.Errorf("user list: %q", out)
	}
	if _, err := c.Login("bob", faultPassword); err == nil {
		t.Error("a disabled account logged in")
	}
	mustRun(t, "", with("user", "enable", "bob")...)
	if _, err := c.Login("bob", faultPassword); err != nil {
		t.Errorf("an enabled account: %v", err)
	}

	var events []struct{ Actor, Action, Package, Version, Subject string }
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, "", with("audit", "--json")...)), "\n") {
		var e struct{ Actor, Action, Package, Version, Subject string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit --json line %q: %v", line, err)
		}
		events = append(events, e)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"user-create", "publish", "yank", "unyank", "owner-add", "remove", "user-disable", "user-enable"} {
		found := false
		for _, a := range actions {
			found = found || a == want
		}
		if !found {
			t.Errorf("audit has no %s: %v", want, actions)
		}
	}

	if out := mustRun(t, "", with("check")...); !strings.Contains(out, "ok") {
		t.Errorf("check: %q", out)
	}

	// A bundle from this registry into another database and bucket, and
	// a mirror of the running server into a third.
	bundle := filepath.Join(t.TempDir(), "pad.tar")
	mustRun(t, "", with("export", bundle)...)
	other := []string{"--data", t.TempDir(), "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t)}
	out := mustRun(t, "", append([]string{"import", bundle}, other...)...)
	if !strings.Contains(out, "1 new packages, 2 new versions") {
		t.Errorf("import: %q", out)
	}
	mirrored := []string{"--data", t.TempDir(), "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t)}
	mustRun(t, "", append([]string{"mirror", "http://" + addr}, mirrored...)...)
	for _, to := range [][]string{other, mirrored} {
		if out := mustRun(t, "", append([]string{"check"}, to...)...); !strings.Contains(out, "ok") {
			t.Errorf("check of the copy: %q", out)
		}
	}
	// The mirror serves what the upstream does.
	maddr, _ := startServe(t, append([]string{"--rate-limit", "-1", "--read-only"}, mirrored...)...)
	mc := &nesclient.Client{Registry: "http://" + maddr}
	for _, v := range []string{"1.1.0", "1.2.0"} {
		if files, err := mc.Install("pad", v); err != nil || string(files["lib.asm"]) != libAsmFor("pad", v) {
			t.Errorf("the mirror's pad@%s: %v", v, err)
		}
	}
	if _, err := mc.Install("pad", "1.0.0"); err == nil {
		t.Error("the mirror serves the removed pad@1.0.0")
	}

	// A backup of it restores into a data folder.
	backup := filepath.Join(t.TempDir(), "b.tar")
	mustRun(t, "", with("backup", backup)...)
	restored := filepath.Join(t.TempDir(), "restored")
	if out := mustRun(t, "", "restore", backup, "--data", restored); !strings.Contains(out, "restored 1 packages, 2 versions, 2 users") || !strings.Contains(out, "check: ok") {
		t.Errorf("restore of a backup of PostgreSQL: %q", out)
	}
}
