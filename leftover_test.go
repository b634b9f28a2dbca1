//go:build linux

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nessemble/nessemble-registry/store"
)

// TestServeRemovesLeftovers plants what a publish killed midway leaves
// in the data folder (a temporary upload; a tarball renamed into place
// before its row committed) and runs the real binary on it: check lists
// them and exits 0, so that it can be systemd's ExecStartPre; serve
// removes them when it starts, but not a temporary file another live
// process holds; damage still fails check.
func TestServeRemovesLeftovers(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "left")
	reg := startRegistry(t, data)
	c := reg.client()
	token, err := c.Login("left", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish("left", token, packTgz("kept", "1.0.0", "left", libAsmFor("kept", "1.0.0"))); err != nil {
		t.Fatal(err)
	}
	if err := reg.terminate(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	upload := filepath.Join(data, "tmp", "upload-4242")
	orphan := filepath.Join(data, "tarballs", "ab", "ab"+strings.Repeat("0", 38)+".tar.gz")
	held := filepath.Join(data, "tmp", "upload-held")
	os.MkdirAll(filepath.Dir(orphan), 0o750)
	for _, p := range []string{upload, orphan, held} {
		if err := os.WriteFile(p, []byte("half a publish"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// This test process is the live writer of held, as a publish in
	// another server on the same folder would be.
	hf, err := os.Open(held)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	if err := syscall.Flock(int(hf.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	out, err := registryCmd(t, "", "check", "--data", data)
	if err != nil {
		t.Errorf("check of leftovers: %v", err)
	}
	golden(t, "check/killed-publish.golden", out, data, "$DATA")

	reg.start()
	for _, p := range []string{upload, orphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("serve started and %s is still there (%v)", p, err)
		}
	}
	if _, err := os.Stat(held); err != nil {
		t.Errorf("serve removed a temporary file a live process holds: %v", err)
	}
	if log := reg.logTail(4000); !strings.Contains(log, `"msg":"removed leftover","path":"`+upload+`"`) {
		t.Errorf("serve did not log the removal of %s:\n%s", upload, log)
	}
	installMatches(t, reg.client(), "kept@1.0.0")
	if err := reg.terminate(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if out, err := registryCmd(t, "", "check", "--data", data); err != nil || out != "ok\n" {
		t.Errorf("check after serve started: %q, %v", out, err)
	}

	// Once its writer is gone, the held file is a leftover like any other.
	hf.Close()
	out, err = registryCmd(t, "", "check", "--data", data)
	if err != nil {
		t.Errorf("check after the writer let go: %v", err)
	}
	golden(t, "check/released-upload.golden", out, data, "$DATA")

	// Damage is still a failure.
	db, err := store.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.Version(context.Background(), "kept", "1.0.0")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(data, "tarballs", v.Shasum[:2], v.Shasum+".tar.gz")
	if err := os.WriteFile(tarball, []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = registryCmd(t, "", "check", "--data", data)
	if err == nil || !strings.Contains(out, "problem: "+tarball+": kept@1.0.0: tarball does not match its SHA-1\n") {
		t.Errorf("check of a corrupt tarball: %q, %v", out, err)
	}
	if err := os.Remove(tarball); err != nil {
		t.Fatal(err)
	}
	out, err = registryCmd(t, "", "check", "--data", data)
	if err == nil || !strings.Contains(out, "problem: "+tarball+": kept@1.0.0: tarball missing or unreadable\n") {
		t.Errorf("check of a missing tarball: %q, %v", out, err)
	}
}
