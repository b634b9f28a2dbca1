package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/store"
)

// TestBackupDuringPublishStorm backs up a registry while four clients
// publish into it as fast as they can, restores the backup into a new
// folder, and requires every version acknowledged (201) before the backup
// began to be there and complete: check is clean, and installing it gives
// the lib.asm that was uploaded.
func TestBackupDuringPublishStorm(t *testing.T) { backupDuringStorm(t) }

// TestBackupDuringPublishStormOnPostgres is TestBackupDuringPublishStorm
// on PostgreSQL and S3, where backup copies the registry while it grows
// (new packages included) before backing the copy up.
func TestBackupDuringPublishStormOnPostgres(t *testing.T) {
	backupDuringStorm(t, "--database", backendtest.Postgres(t), "--blobs", backendtest.S3(t))
}

func backupDuringStorm(t *testing.T, backend ...string) {
	data := t.TempDir()
	if len(backend) == 0 {
		addUser(t, data, "storm")
	} else if _, err := registryCmd(t, faultPassword+"\n", append([]string{"adduser", "storm", "--data", data, "--email", "storm@example.com", "--password-stdin"}, backend...)...); err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t, data, append([]string{"--rate-limit", "-1"}, backend...)...)
	token, err := reg.client().Login("storm", faultPassword)
	if err != nil {
		t.Fatal(err)
	}

	type ack struct {
		key string
		at  time.Time
	}
	var (
		mu    sync.Mutex
		acks  []ack
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		fails []string
	)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := reg.client()
			title := fmt.Sprintf("storm%d", w)
			for v := 0; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				version := fmt.Sprintf("1.%d.0", v)
				_, err := c.Publish("storm", token, packTgz(title, version, "storm", libAsmFor(title, version)))
				mu.Lock()
				if err != nil {
					fails = append(fails, title+"@"+version+": "+err.Error())
				} else {
					acks = append(acks, ack{title + "@" + version, time.Now()})
				}
				mu.Unlock()
			}
		}()
	}
	// Let the storm get going, then back up in its middle.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d publishes in 20 s", n)
		}
	}
	mu.Lock()
	began := time.Now()
	var before []string
	for _, a := range acks {
		before = append(before, a.key)
	}
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "registry.backup")
	_, stderr, err := runCmd(t, "", append([]string{"backup", backup, "--data", data}, backend...)...)
	took := time.Since(began)
	if err != nil {
		t.Fatalf("backup during publishes: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // some more after it, too
	close(stop)
	wg.Wait()
	during := 0
	for _, a := range acks {
		if a.at.After(began) && a.at.Before(began.Add(took)) {
			during++
		}
	}
	t.Logf("%d versions acknowledged before the backup, %d during its %v, %d in all; %s",
		len(before), during, took.Round(time.Millisecond), len(acks), strings.TrimSpace(stderr))
	if len(fails) > 0 {
		t.Errorf("publishes failed during the backup: %v", fails)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	out, _, err := runCmd(t, "", "restore", backup, "--data", restored)
	if err != nil || !strings.Contains(out, "check: ok") {
		t.Fatalf("restore: %v %q", err, out)
	}
	if out, _, err := runCmd(t, "", "check", "--data", restored); err != nil || out != "ok\n" {
		t.Errorf("check after restore: %q %v", out, err)
	}
	// The snapshot holds at least what was acknowledged before it began,
	// each version whole and with the tarball that was served.
	titles := []string{"storm0", "storm1", "storm2", "storm3"}
	have := map[string]bool{}
	for _, k := range storedVersions(t, restored, titles) {
		have[k] = true
	}
	addr, _ := startServe(t, "--data", restored, "--rate-limit", "-1")
	c := &nesclient.Client{Registry: "http://" + addr, Timeout: 10 * time.Second}
	for _, k := range before {
		if !have[k] {
			t.Errorf("%s was acknowledged before the backup began and is not in it", k)
			continue
		}
		installMatches(t, c, k)
	}
	if len(have) < len(before) || len(have) > len(acks) {
		t.Errorf("restored %d versions: %d were acknowledged before the backup, %d in all", len(have), len(before), len(acks))
	}
}

// TestRestoredServesSameAnswers backs a registry up to standard output,
// restores it from standard input, and compares what the two registries
// answer: documents, READMEs, tarballs, lists, search, reference, and a
// login with the password stored in the original.
func TestRestoredServesSameAnswers(t *testing.T) {
	data := t.TempDir()
	if _, _, err := runCmd(t, "correct horse battery\n", "adduser", "alice", "--email", "alice@example.org",
		"--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}
	addr, stop := startServe(t, "--data", data, "--rate-limit", "-1")
	c := &nesclient.Client{Registry: "http://" + addr, Timeout: 10 * time.Second}
	token, err := c.Login("alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, k := range []string{"joypad@1.0.0", "joypad@1.2.0", "sprites@0.1.0"} {
		title, version, _ := strings.Cut(k, "@")
		if _, err := c.Publish("alice", token, packTgz(title, version, "alice", libAsmFor(title, version))); err != nil {
			t.Fatal(err)
		}
		base := "/package/" + title + "/" + version
		paths = append(paths, base, base+"/README", base+"/data", "/package/"+title)
	}
	paths = append(paths, "/", "/?sort_by=description&order=desc", "/search/joy", "/reference", "/reference/registers/PPUCTRL")
	stop()

	backup, _, err := runCmd(t, "", "backup", "-", "--data", data)
	if err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "restored")
	if _, _, err := runCmd(t, backup, "restore", "-", "--data", restored); err != nil {
		t.Fatal(err)
	}

	a, _ := startServe(t, "--data", data, "--rate-limit", "-1", "--base-url", "http://registry.example.org")
	b, _ := startServe(t, "--data", restored, "--rate-limit", "-1", "--base-url", "http://registry.example.org")
	for _, p := range paths {
		ra, rb := fetch(t, a, p), fetch(t, b, p)
		if ra != rb {
			t.Errorf("GET %s:\noriginal %s\nrestored %s", p, ra, rb)
		}
	}
	rc := &nesclient.Client{Registry: "http://" + b, Timeout: 10 * time.Second}
	if _, err := rc.Login("alice", "correct horse battery"); err != nil {
		t.Errorf("login on the restored registry: %v", err)
	}
}

// fetch is an answer's status, content headers and body, as one string.
func fetch(t *testing.T, addr, path string) string {
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
	if res.StatusCode != 200 {
		t.Errorf("GET %s = %s", path, res.Status)
	}
	return fmt.Sprint(res.Status, " ", res.Header.Get("Content-Type"), " ", res.Header.Get("ETag"), " ",
		res.Header.Get("X-Integrity"), "\n", string(body))
}

func TestRestoreRefuses(t *testing.T) {
	data := t.TempDir()
	db, err := store.Open(context.Background(), data) // an empty registry
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	backup := filepath.Join(t.TempDir(), "b")
	if _, _, err := runCmd(t, "", "backup", backup, "--data", data); err != nil {
		t.Fatal(err)
	}

	full := t.TempDir()
	mine := filepath.Join(full, "notes")
	os.WriteFile(mine, []byte("keep"), 0o600)
	if _, _, err := runCmd(t, "", "restore", backup, "--data", full); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a non-empty folder: %v", err)
	}
	if b, _ := os.ReadFile(mine); string(b) != "keep" {
		t.Errorf("the folder's file became %q", b)
	}
	if _, _, err := runCmd(t, "", "restore", backup); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("restore without --data: %v", err)
	}
	if _, _, err := runCmd(t, "", "backup", filepath.Join(t.TempDir(), "x"), "--data", filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("backup of a folder that is no registry succeeded")
	}
	// A failed backup leaves no file that looks whole.
	entries, _ := os.ReadDir(filepath.Dir(backup))
	if len(entries) != 1 {
		t.Errorf("files beside the backup: %v", entries)
	}
}
