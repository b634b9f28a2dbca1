//go:build linux

package main

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// setFileSizeLimit sets the soft RLIMIT_FSIZE of a running process and
// returns the limit it replaced. Past the limit every write of that
// process fails with EFBIG (Go ignores SIGXFSZ), which is how a full disk
// looks to the registry, without needing root to mount a small
// filesystem.
func setFileSizeLimit(t *testing.T, pid int, soft uint64) syscall.Rlimit {
	t.Helper()
	var old syscall.Rlimit
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, nil, &old); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	lim := syscall.Rlimit{Cur: min(soft, old.Max), Max: old.Max}
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, &lim, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	return old
}

func restoreFileSizeLimit(t *testing.T, pid int, old syscall.Rlimit) {
	t.Helper()
	if err := prlimit(pid, syscall.RLIMIT_FSIZE, &old, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
}

func prlimit(pid, resource int, set, get *syscall.Rlimit) error {
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(resource),
		uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(get)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// TestDiskFull publishes while the server cannot write past a growing
// file-size limit: from nothing at all (the tarball cannot be written) to
// room for the tarball but not for the database (SQLite's write fails).
// Each publish either succeeds whole or fails with a clear 5xx JSON error
// and leaves nothing behind; reads go on meanwhile; and once there is room
// again the same publish goes through.
func TestDiskFull(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "disk")
	reg := startRegistry(t, data, "--rate-limit", "-1")
	c := reg.client()
	token, err := c.Login("disk", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	const title = "disk-pkg"
	publish := func(version string) error {
		_, err := c.Publish("disk", token, packTgz(title, version, "disk", libAsmFor(title, version)))
		return err
	}
	if err := publish("1.0.0"); err != nil {
		t.Fatal(err)
	}

	statuses := map[int]int{}
	n := 1
	for _, limit := range []uint64{0, 1, 100, 1 << 10, 4 << 10, 8 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		version := fmt.Sprintf("1.0.%d", n)
		old := setFileSizeLimit(t, reg.cmd.Process.Pid, limit)
		err := publish(version)
		// Reads need no writes and must go on.
		installMatches(t, c, title+"@1.0.0")
		if res, err := c.Search("disk"); err != nil || len(res) != 1 {
			t.Errorf("search while the disk is full: %v, %v", res, err)
		}
		restoreFileSizeLimit(t, reg.cmd.Process.Pid, old)

		var se *nesclient.StatusError
		switch {
		case err == nil:
			statuses[201]++
			installMatches(t, c, title+"@"+version)
			n++
			continue
		case !errors.As(err, &se):
			t.Fatalf("publish with writes limited to %d bytes: %v", limit, err)
		}
		statuses[se.Status]++
		t.Logf("limit %d: %d %s", limit, se.Status, se.Message)
		// Below the size of any tarball the tarball's own write fails,
		// which the store recognizes; past it SQLite's write fails, which
		// SQLite reports as a generic I/O error.
		switch {
		case limit <= 100 && (se.Status != 507 || !strings.Contains(se.Message, "disk is full")):
			t.Errorf("tarball write failed on a full disk: %d %q, want 507 saying the disk is full", se.Status, se.Message)
		case se.Status < 500:
			t.Errorf("publish on a full disk: %d %s, want a 5xx", se.Status, se.Message)
		}
		// Nothing of the failed version is there, not even a stray file.
		if _, err := c.PackageDoc(title, version); !errors.Is(err, nesclient.ErrNotFound) {
			t.Errorf("after a failed publish, GET /package/%s/%s: %v, want 404", title, version, err)
		}
		if out, err := registryCmd(t, "", "check", "--data", data); err != nil || out != "ok\n" {
			t.Errorf("check after a publish failed on a full disk (limit %d): %q, %v", limit, out, err)
		}
		if err := publish(version); err != nil {
			t.Errorf("publish once there is room again: %v", err)
			continue
		}
		installMatches(t, c, title+"@"+version)
		n++
	}
	t.Logf("statuses: %v", statuses)
	if statuses[507] == 0 {
		t.Errorf("no publish failed with 507: %v", statuses)
	}
	if err := reg.terminate(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if out, err := registryCmd(t, "", "check", "--data", data); err != nil || out != "ok\n" {
		t.Errorf("final check: %q, %v", out, err)
	}
}
