package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// answer is what a registry at addr answers to GET path: status, content
// type, integrity header and body (not the ETag, which numbers changes
// and may differ between a registry and its copy).
func answer(t *testing.T, addr, path string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(res.Status, " ", res.Header.Get("Content-Type"), " ", res.Header.Get("X-Integrity"), "\n", string(body))
}

// TestBackupRestoreOnPostgres publishes on PostgreSQL and S3 (packages, a
// yank, an added owner, a removal), backs the registry up to standard
// output while serve runs on it, and restores the backup onto a fresh
// PostgreSQL database and bucket and into a data folder: each restored
// registry answers as the original does (documents, lists, search, the
// tarballs byte for byte; the removed version, 410 Gone on the original,
// is unknown, 404, on the copies: the backup does not carry removals),
// keeps the accounts' passwords and the audit trail, and check is clean.
// A target where serve has run (it stores the embedded reference) is
// empty; restore refuses one that holds anything and leaves it as it was;
// and a backup of the data folder restores onto PostgreSQL and S3.
func TestBackupRestoreOnPostgres(t *testing.T) {
	on := []string{"--data", t.TempDir(), "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t)}
	with := func(args []string, more ...string) []string { return append(more, args...) }
	for _, u := range []string{"alice", "bob"} {
		mustRun(t, faultPassword+"\n", with(on, "adduser", u, "--email", u+"@example.com", "--password-stdin")...)
	}
	addr, _ := startServe(t, with(on, "--rate-limit", "-1", "--base-url", "http://registry.example.org")...)
	c := &nesclient.Client{Registry: "http://" + addr, Timeout: 10 * time.Second}
	token, err := c.Login("alice", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"pad@1.0.0", "pad@1.1.0", "pad@1.2.0", "snd@0.1.0", "snd@0.2.0", "gfx@2.0.0"}
	for _, k := range keys {
		title, version, _ := strings.Cut(k, "@")
		if _, err := c.Publish("alice", token, packTgz(title, version, "alice", libAsmFor(title, version))); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, "", with(on, "yank", "pad", "1.2.0")...)
	mustRun(t, "", with(on, "owner", "add", "snd", "bob")...)
	mustRun(t, "", with(on, "remove", "pad@1.0.0", "--reason", "broken")...)
	var paths []string
	for _, k := range keys[1:] {
		title, version, _ := strings.Cut(k, "@")
		base := "/package/" + title + "/" + version
		paths = append(paths, base, base+"/README", base+"/data")
	}
	paths = append(paths, "/package/pad", "/package/snd", "/package/gfx", "/", "/search/pad", "/?sort_by=description&order=desc")
	// A backup of PostgreSQL does not know what was removed before it
	// (removal deletes the tarball, and storage keeps no version without
	// one): the original says 410 Gone, a restored copy 404 Not Found.
	removed := []string{"/package/pad/1.0.0", "/package/pad/1.0.0/data"}
	want := map[string]string{}
	// The removal, the last change, is served (so are those before it).
	within(t, "the removal", func() bool { return strings.HasPrefix(answer(t, addr, "/package/pad/1.0.0/data"), "410 ") })
	for _, p := range paths {
		want[p] = answer(t, addr, p)
	}
	if !strings.HasPrefix(want["/package/pad/1.1.0/data"], "200 ") {
		t.Fatalf("the original's answer: %q", want["/package/pad/1.1.0/data"])
	}
	for _, p := range removed {
		if a := answer(t, addr, p); !strings.HasPrefix(a, "410 ") {
			t.Errorf("the original's GET %s: %q", p, a)
		}
	}

	backup, stderr, err := runCmd(t, "", with(on, "backup", "-")...)
	if err != nil {
		t.Fatalf("backup - on PostgreSQL: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "backup: 3 packages, 5 versions, 2 users, 5 tarballs") || !strings.Contains(stderr, "audit trail:") {
		t.Errorf("backup's summary: %s", stderr)
	}

	pg := []string{"--data", t.TempDir(), "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t)}
	// serve has run on the target once, which stores the embedded
	// reference there: the target is still empty.
	_, stopNew := startServe(t, with(pg, "--rate-limit", "-1")...)
	if err := stopNew(); err != nil {
		t.Fatal(err)
	}
	folder := []string{"--data", filepath.Join(t.TempDir(), "restored")}
	for _, to := range [][]string{pg, folder} {
		out, _, err := runCmd(t, backup, with(to, "restore", "-")...)
		if err != nil || !strings.Contains(out, "restored 3 packages, 5 versions, 2 users, 5 tarballs") || !strings.Contains(out, "check: ok") {
			t.Fatalf("restore %v: %v\n%s", to, err, out)
		}
		if out := mustRun(t, "", with(to, "check")...); out != "ok\n" {
			t.Errorf("check of the restored %v: %q", to, out)
		}
	}
	sameAnswers := func(what string, to []string) {
		t.Helper()
		raddr, stop := startServe(t, with(to, "--rate-limit", "-1", "--base-url", "http://registry.example.org")...)
		defer stop()
		for _, p := range paths {
			if got := answer(t, raddr, p); got != want[p] {
				t.Errorf("%s: GET %s:\n got %q\nwant %q", what, p, got, want[p])
			}
		}
		for _, p := range removed {
			if got := answer(t, raddr, p); !strings.HasPrefix(got, "404 ") {
				t.Errorf("%s: GET %s: %q", what, p, got)
			}
		}
		rc := &nesclient.Client{Registry: "http://" + raddr, Timeout: 10 * time.Second}
		for _, u := range []string{"alice", "bob"} {
			if _, err := rc.Login(u, faultPassword); err != nil {
				t.Errorf("%s: login as %s: %v", what, u, err)
			}
		}
		if out := mustRun(t, "", with(to, "owner", "list", "snd")...); !strings.Contains(out, "alice") || !strings.Contains(out, "bob") {
			t.Errorf("%s: the owners of snd: %q", what, out)
		}
		audit := mustRun(t, "", with(to, "audit")...)
		for _, a := range []string{"publish", "yank", "owner-add", "remove", "user-create"} {
			if !strings.Contains(audit, a) {
				t.Errorf("%s: the audit trail has no %s:\n%s", what, a, audit)
			}
		}
	}
	sameAnswers("restored onto PostgreSQL", pg)
	sameAnswers("restored into a data folder", folder)

	// A target that holds anything is refused and left as it was.
	for _, to := range [][]string{pg, {"--data", t.TempDir(), "--database", on[3], "--blobs", backendtest.S3(t)}} {
		_, _, err := runCmd(t, backup, with(to, "restore", "-")...)
		if err == nil || !strings.Contains(err.Error(), "packages and 2 users; restore goes into an empty registry only") {
			t.Errorf("restore onto a registry: %v", err)
		}
	}
	if out := mustRun(t, "", with(pg, "check")...); out != "ok\n" {
		t.Errorf("check after the refused restore: %q", out)
	}
	sameAnswers("after the refused restore", pg)

	// A backup of a data folder restores onto PostgreSQL and S3, one that
	// holds a package whose only version was removed included: that
	// package is left out, and restore says so.
	file := filepath.Join(t.TempDir(), "folder.backup")
	mustRun(t, "", with(folder, "backup", file)...)
	pg2 := []string{"--data", t.TempDir(), "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t)}
	if out := mustRun(t, "", with(pg2, "restore", file)...); !strings.Contains(out, "check: ok") {
		t.Errorf("restore of a folder's backup onto PostgreSQL: %q", out)
	}
	sameAnswers("a folder's backup restored onto PostgreSQL", pg2)

	mustRun(t, "", with(folder, "remove", "gfx@2.0.0", "--reason", "broken")...)
	mustRun(t, "", with(folder, "backup", file)...)
	pg3 := []string{"--data", t.TempDir(), "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t)}
	out := mustRun(t, "", with(pg3, "restore", file)...)
	if !strings.Contains(out, "not copied: 1 packages every version of which was removed") || !strings.Contains(out, "check: ok") {
		t.Errorf("restore of a backup with an empty package onto PostgreSQL: %q", out)
	}
	raddr, _ := startServe(t, with(pg3, "--rate-limit", "-1", "--base-url", "http://registry.example.org")...)
	for _, p := range paths {
		if strings.HasPrefix(p, "/package/pad") || strings.HasPrefix(p, "/package/snd") {
			if got := answer(t, raddr, p); got != want[p] {
				t.Errorf("with an empty package: GET %s:\n got %q\nwant %q", p, got, want[p])
			}
		}
	}
	if got := answer(t, raddr, "/package/gfx/2.0.0/data"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("the removed gfx@2.0.0 on PostgreSQL: %q", got)
	}
}
