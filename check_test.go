package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

func runCheck(t *testing.T, data string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCmd(t, "", append([]string{"check", "--data", data}, args...)...)
	return out, err
}

func TestCheckCommand(t *testing.T) {
	data := t.TempDir()
	db, err := store.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.Publish(context.Background(), "alice", registry.Version{Title: "ctl", Version: "1.0.0",
		Description: "d", Author: "alice", License: "MIT", Tags: []string{"t"}, Readme: "#"}, []byte("tarball"),
		registry.PublishRule("alice", registry.Create, "ctl", "1.0.0"))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	if out, err := runCheck(t, data); err != nil || out != "ok\n" {
		t.Fatalf("clean folder: %q %v", out, err)
	}

	// Leftovers of a killed publish are listed, and are no failure.
	leftover := filepath.Join(data, "tmp", "upload-1")
	orphan := filepath.Join(data, "tarballs", "ff", strings.Repeat("f", 40)+".tar.gz")
	os.WriteFile(leftover, []byte("half"), 0o600)
	os.MkdirAll(filepath.Dir(orphan), 0o750)
	os.WriteFile(orphan, []byte("whole"), 0o600)
	out, err := runCheck(t, data)
	if err != nil {
		t.Errorf("check of leftovers: %v", err)
	}
	golden(t, "check/leftovers.golden", out, data, "$DATA")
	out, err = runCheck(t, data, "--repair")
	if err != nil {
		t.Errorf("repair: %v", err)
	}
	golden(t, "check/leftovers-repaired.golden", out, data, "$DATA")
	if out, err := runCheck(t, data); err != nil || out != "ok\n" {
		t.Errorf("after repair: %q %v", out, err)
	}

	// A file no publish writes is for the operator to look at.
	stray := filepath.Join(data, "tmp", "notes.txt")
	os.WriteFile(stray, []byte("mine"), 0o600)
	out, err = runCheck(t, data)
	if err == nil {
		t.Errorf("check passed with a stray file")
	}
	golden(t, "check/stray.golden", out, data, "$DATA")
	out, err = runCheck(t, data, "--repair")
	if err != nil {
		t.Errorf("repair of a stray file: %v", err)
	}
	golden(t, "check/stray-repaired.golden", out, data, "$DATA")

	tarball := filepath.Join(data, "tarballs", v.Shasum[:2], v.Shasum+".tar.gz")
	os.WriteFile(tarball, []byte("damaged"), 0o600)
	// A damaged tarball cannot be repaired: --repair reports it the same.
	for _, args := range [][]string{nil, {"--repair"}} {
		out, err = runCheck(t, data, args...)
		if err == nil {
			t.Errorf("check %v passed with a damaged tarball", args)
		}
		golden(t, "check/damaged.golden", out, data, "$DATA")
	}
}
