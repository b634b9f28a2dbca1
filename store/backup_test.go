package store_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// backupOf publishes a few versions into a new folder and backs it up.
func backupOf(t *testing.T) (dir string, backup []byte, info store.BackupInfo) {
	t.Helper()
	dir = t.TempDir()
	db := open(t, dir)
	for _, v := range []registry.Version{version("alpha", "1.0.0"), version("alpha", "1.1.0"), version("beta", "0.1.0")} {
		mode := registry.Create
		if v.Title == "alpha" && v.Version != "1.0.0" {
			mode = registry.Update
		}
		if _, err := publish(t, db, "alice", mode, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	info, err := store.Backup(context.Background(), dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	return dir, buf.Bytes(), info
}

func TestBackupRestore(t *testing.T) {
	src, backup, info := backupOf(t)
	if info.Packages != 2 || info.Versions != 3 || info.Tarballs != 3 || info.Schema < 1 {
		t.Errorf("manifest %+v", info)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	got, err := store.Restore(context.Background(), bytes.NewReader(backup), dst)
	if err != nil {
		t.Fatal(err)
	}
	if got != info {
		t.Errorf("restore read %+v, backup wrote %+v", got, info)
	}
	a, b := open(t, src), open(t, dst)
	ctx := context.Background()
	for _, title := range []string{"alpha", "beta"} {
		ra, err1 := a.Releases(ctx, title)
		rb, err2 := b.Releases(ctx, title)
		if err1 != nil || err2 != nil || len(ra) != len(rb) {
			t.Fatalf("%s: releases %v (%v) and %v (%v)", title, ra, err1, rb, err2)
		}
		for _, r := range ra {
			va, _ := a.Version(ctx, title, r.Version)
			vb, err := b.Version(ctx, title, r.Version)
			if err != nil || va.Shasum != vb.Shasum {
				t.Errorf("%s@%s: %v, shasum %s and %s", title, r.Version, err, va.Shasum, vb.Shasum)
			}
			ta, _ := a.Tarball(va.Shasum)
			tb, err := b.Tarball(vb.Shasum)
			if err != nil || !bytes.Equal(ta, tb) {
				t.Errorf("%s@%s: tarball differs (%v)", title, r.Version, err)
			}
		}
	}
	if probs, err := b.Check(ctx, false); err != nil || len(probs) > 0 {
		t.Errorf("check after restore: %v %v", probs, err)
	}
}

func TestRestoreRefusesNonEmptyFolder(t *testing.T) {
	_, backup, _ := backupOf(t)
	dst := t.TempDir()
	keep := filepath.Join(dst, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o600)
	_, err := store.Restore(context.Background(), bytes.NewReader(backup), dst)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a non-empty folder: %v", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("the folder's file was touched: %q %v", b, err)
	}
}

// rewrite copies a backup, changing members with edit (nil drops one).
func rewrite(t *testing.T, backup []byte, edit func(h *tar.Header, body []byte) (*tar.Header, []byte)) []byte {
	t.Helper()
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(backup)), tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		h, body = edit(h, body)
		if h == nil {
			continue
		}
		h.Size = int64(len(body))
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	return out.Bytes()
}

func TestRestoreRefusesDamagedBackups(t *testing.T) {
	_, backup, _ := backupOf(t)
	tarball := func(h *tar.Header) bool { return strings.HasPrefix(h.Name, "tarballs/") }
	dropped := false
	for _, tc := range []struct {
		name   string
		backup []byte
		msg    string
	}{
		{"cut short", backup[:len(backup)/2], "not a complete backup"},
		{"not a backup", []byte("hello"), "not a registry backup"},
		{"altered tarball", rewrite(t, backup, func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if tarball(h) {
				b = append([]byte{}, b...)
				b[0] ^= 1
			}
			return h, b
		}), "does not match its SHA-1"},
		{"missing tarball", rewrite(t, backup, func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if tarball(h) && !dropped {
				dropped = true
				return nil, nil
			}
			return h, b
		}), "the manifest says 3"},
		{"altered database", rewrite(t, backup, func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if h.Name == "registry.db" {
				b = append(append([]byte{}, b...), 0)
			}
			return h, b
		}), "registry.db does not match the manifest"},
		{"path outside", rewrite(t, backup, func(h *tar.Header, b []byte) (*tar.Header, []byte) {
			if tarball(h) {
				h.Name = "tarballs/../../escape.tar.gz"
			}
			return h, b
		}), "unexpected member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "restored")
			_, err := store.Restore(context.Background(), bytes.NewReader(tc.backup), dst)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("restore: %v, want %q", err, tc.msg)
			}
			if _, err := os.Stat(dst); !os.IsNotExist(err) {
				t.Errorf("a failed restore left %s behind (%v)", dst, err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "escape.tar.gz")); err == nil {
				t.Error("a member was written outside the folder")
			}
		})
	}
}

// TestBackupOfRemovedVersions: a removed version keeps its row but not
// its tarball; the backup carries the rest, and the restored registry
// still refuses the removed version and passes check.
func TestBackupOfRemovedVersions(t *testing.T) {
	ctx := context.Background()
	dir, _, _ := backupOf(t)
	db := open(t, dir)
	if err := db.Remove(ctx, "alpha", "1.1.0", "malware", allow); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := store.Backup(ctx, dir, &buf)
	if err != nil {
		t.Fatalf("backup of a registry with a removed version: %v", err)
	}
	if info.Versions != 3 || info.Tarballs != 2 {
		t.Errorf("manifest %+v, want 3 versions and 2 tarballs", info)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := store.Restore(ctx, &buf, dst); err != nil {
		t.Fatal(err)
	}
	b := open(t, dst)
	if v, err := b.Version(ctx, "alpha", "1.1.0"); err != nil || !v.Removed || v.RemovedReason != "malware" {
		t.Errorf("restored removed version: %+v %v", v, err)
	}
	if probs, err := b.Check(ctx, false); err != nil || len(probs) > 0 {
		t.Errorf("check after restore: %v %v", probs, err)
	}
}
