package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	v, err := db.Publish(context.Background(), "alice", store.Create, store.Version{Title: "ctl", Version: "1.0.0",
		Description: "d", Author: "alice", License: "MIT", Tags: []string{"t"}, Readme: "#"}, []byte("tarball"))
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	if out, err := runCheck(t, data); err != nil || out != "ok\n" {
		t.Fatalf("clean folder: %q %v", out, err)
	}

	leftover := filepath.Join(data, "tmp", "upload-1")
	os.WriteFile(leftover, []byte("half"), 0o600)
	out, err := runCheck(t, data)
	if err == nil || !strings.Contains(out, "problem: "+leftover+": temporary file") {
		t.Errorf("leftover file: %q %v", out, err)
	}
	out, err = runCheck(t, data, "--repair")
	if err != nil || !strings.Contains(out, "removed: "+leftover) || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("repair: %q %v", out, err)
	}

	tarball := filepath.Join(data, "tarballs", v.Shasum[:2], v.Shasum+".tar.gz")
	os.WriteFile(tarball, []byte("damaged"), 0o600)
	for _, args := range [][]string{nil, {"--repair"}} {
		out, err = runCheck(t, data, args...)
		if err == nil || !strings.Contains(out, "ctl@1.0.0: tarball does not match its SHA-1") {
			t.Errorf("check %v of a damaged tarball: %q %v", args, out, err)
		}
	}
}
