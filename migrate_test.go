//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/postgres"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// seedRuns publishes n versions of each title straight into the
// SQLite folder data, as publishes would.
func seedRuns(t *testing.T, data string, titles []string, from, n int) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, title := range titles {
		for k := from; k < from+n; k++ {
			v := registry.Version{Title: title, Version: fmt.Sprintf("1.%d.0", k), Description: "the " + title + " package",
				Author: "alice", License: "MIT", Tags: []string{"t", title}, Readme: "# " + title + "\n",
				Published: time.Date(2025, 1, 1, 0, 0, k, 0, time.UTC)}
			_, err := db.Publish(ctx, "alice", v, []byte("tarball of "+title+" "+v.Version), registry.PublishRule("alice", registry.Import, title, v.Version))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestMigrateData moves a registry from SQLite and files to PostgreSQL
// and S3, interrupted once with SIGKILL and resumed, then adds to the
// source and moves again (only what is new is copied), then moves it
// all back to a new SQLite folder; each run ends verified, and check
// passes on each destination.
func TestMigrateData(t *testing.T) {
	t.Parallel()
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	data := t.TempDir()
	addUser(t, data, "alice")
	addUser(t, data, "bob")
	titles := []string{"pad", "snd", "gfx", "map"}
	seedRuns(t, data, titles, 0, 15)
	tree := writeTree(t, map[string]string{"songs/ode.txt": "Ode to joy\n", "songs/air.txt": "Air\n"})
	if _, err := registryCmd(t, "", "import-reference", tree, "--data", data); err != nil {
		t.Fatal(err)
	}
	toPG := []string{"migrate-data", "--data", data, "--to-database", dbURL, "--to-blobs", s3URL}
	pgArgs := []string{"--database", dbURL, "--blobs", s3URL, "--data", t.TempDir()}

	// The first run is killed midway through the versions.
	cmd := exec.Command(registryBinary(t), toPG...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "versions: 20 of 60 done") {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the first run ended before it could be killed")
	}

	out, err := registryCmd(t, "", toPG...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("resumed:\n%s", out)
	var copied, there int
	for _, l := range strings.Split(out, "\n") {
		fmt.Sscanf(l, "versions: %d copied, %d there already", &copied, &there)
	}
	if !strings.Contains(out, "users: 0 copied, 2 there already") || !strings.Contains(out, "verified") ||
		there < 20 || copied+there != 60 {
		t.Errorf("resumed run: %s", out)
	}
	if out, err := registryCmd(t, "", append([]string{"check"}, pgArgs...)...); err != nil || out != "ok\n" {
		t.Errorf("check of the destination: %q %v", out, err)
	}

	// More on the source, and issue 16's moderation of what was copied:
	// the next run copies only the new versions, and the yank, the owner,
	// the disabled account; it says that it cannot copy the removal.
	seedRuns(t, data, titles[:1], 15, 2)
	for _, c := range [][]string{{"yank", "snd", "1.14.0"}, {"owner", "add", "pad", "bob"}, {"user", "disable", "alice"},
		{"remove", "gfx@1.0.0", "--reason", "broken"}} {
		if out, err := registryCmd(t, "", append(c, "--data", data)...); err != nil {
			t.Fatalf("%v: %s %v", c, out, err)
		}
	}
	out, err = registryCmd(t, "", toPG...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, fmt.Sprintf("versions: 2 copied, %d there already", 15*len(titles)-1)) ||
		!strings.Contains(out, "removals: 1 carried over") || strings.Contains(out, "not copied") || !strings.Contains(out, "verified") {
		t.Errorf("second run: %s", out)
	}
	func() {
		bs, err := blobs.Open(context.Background(), s3URL, t.TempDir(), blobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		pg, err := postgres.Open(context.Background(), dbURL, bs)
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		ctx := context.Background()
		if v, err := pg.Version(ctx, "snd", "1.14.0"); err != nil || !v.Yanked {
			t.Errorf("the yanked snd@1.14.0 on the destination: %+v %v", v, err)
		}
		if p, err := pg.Package(ctx, "snd"); err != nil || p.Latest != "1.13.0" {
			t.Errorf("snd on the destination: %+v %v", p, err)
		}
		if o, err := pg.Owners(ctx, "pad"); err != nil || strings.Join(o, " ") != "alice bob" {
			t.Errorf("pad's owners on the destination: %v %v", o, err)
		}
		if v, err := pg.Version(ctx, "gfx", "1.0.0"); err != nil || !v.Removed || v.RemovedReason != "broken" {
			t.Errorf("the removed gfx@1.0.0 on the destination: %+v %v", v, err)
		}
		if u, err := pg.UserByLogin(ctx, "alice"); err != nil || !u.Disabled {
			t.Errorf("the disabled alice on the destination: %+v %v", u, err)
		}
	}()

	// The destination serves it: a user logs in with the old password.
	reg := startRegistry(t, t.TempDir(), pgArgs[:4]...)
	if _, err := reg.client().Login("bob", faultPassword); err != nil {
		t.Errorf("login on the destination: %v", err)
	}
	if text, _, err := reg.client().Reference("songs", "ode"); err != nil || text != "Ode to joy\n" {
		t.Errorf("reference on the destination: %q %v", text, err)
	}
	reg.kill()

	// And back, to a new folder.
	back := t.TempDir()
	out, err = registryCmd(t, "", append([]string{"migrate-data", "--to-database", "sqlite", "--to-data", back}, pgArgs...)...)
	if err != nil || !strings.Contains(out, "verified") || !strings.Contains(out, "not copied: 1 removed versions or packages the destination never had") {
		t.Fatalf("back to SQLite: %s %v", out, err)
	}
	if out, err := registryCmd(t, "", "check", "--data", back); err != nil || out != "ok\n" {
		t.Errorf("check of the SQLite copy: %q %v", out, err)
	}
	if got, want := storedVersions(t, back, titles), storedVersions(t, data, titles); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("versions back in SQLite:\n %v\nwant\n %v", got, want)
	}

	// A destination holding something else under the same name stops it.
	other := t.TempDir()
	if _, err := registryCmd(t, faultPassword+"\n", "adduser", "alice", "--data", other, "--email", "else@example.org", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, err := registryCmd(t, "", "migrate-data", "--data", data, "--to-database", "sqlite", "--to-data", other); err == nil || !strings.Contains(err.Error(), "another account") {
		t.Errorf("migrate onto another account of the same name: %v", err)
	}
}
