//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/postgres"
)

// TestReplicas runs two serve processes on one PostgreSQL database and
// one S3 bucket, with publishers on both at once racing for the same
// versions, and kills one replica with SIGKILL midway while the other
// keeps serving. Every version is won at most once; every publish
// answered 201 is stored whole and served by both replicas, each within a
// second of its publish on the other; the replica left alone answers
// every request; check finds nothing but leftovers of the killed
// replica's publishes, which its restart removes. A login token from one
// replica works on the other, and a password reset asked for on one is
// finished on the other, once.
func TestReplicas(t *testing.T) {
	t.Parallel()
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	backendArgs := []string{"--database", dbURL, "--blobs", s3URL}
	cmd := func(stdin string, args ...string) string {
		t.Helper()
		out, err := registryCmd(t, stdin, append(args, append([]string{"--data", t.TempDir()}, backendArgs...)...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cmd(faultPassword+"\n", "adduser", "writer", "--email", "writer@example.org", "--password-stdin")
	// Each replica has a data folder of its own, which holds nothing with
	// these backends: they share only the database and the bucket.
	// They answer under one public URL, as behind a load balancer.
	serveArgs := append([]string{"--base-url", "http://registry.example", "--reset-qr"}, backendArgs...)
	a := startRegistry(t, t.TempDir(), serveArgs...)
	b := startRegistry(t, t.TempDir(), serveArgs...)
	replicas := []*registryProc{a, b}

	// A token from one replica works on the other.
	token, err := a.client().Login("writer", faultPassword)
	if err != nil {
		t.Fatal(err)
	}

	const versions = 8
	titles := []string{"alpha", "beta", "gamma"}
	var (
		mu       sync.Mutex
		won      = map[string]int{} // title@version: its 201s
		answered = map[string][]outcome{}
		lateness time.Duration // the longest a version took to reach the other replica
		aDead    atomic.Bool
		aAnswers atomic.Int32
	)
	// seen waits until replica r serves key, and says how long it took.
	seen := func(r *registryProc, key string) (time.Duration, bool) {
		title, version, _ := strings.Cut(key, "@")
		hc := &http.Client{Timeout: time.Second}
		start := time.Now()
		for time.Since(start) < time.Second {
			res, err := hc.Get(r.url() + "/package/" + title + "/" + version)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					return time.Since(start), true
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start), false
	}

	var wg sync.WaitGroup
	for client := range 4 {
		r := client % 2
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &nesclient.Client{Registry: replicas[r].url(), Timeout: 10 * time.Second}
			for k := range versions {
				for _, title := range titles {
					v := fmt.Sprintf("1.0.%d", k)
					key := title + "@" + v
					_, err := c.Publish("writer", token, packTgz(title, v, "writer", libAsmFor(title, v)))
					if r == 0 && !aDead.Load() {
						aAnswers.Add(1)
					}
					mu.Lock()
					answered[key] = append(answered[key], outcome{r, err})
					if err == nil {
						won[key]++
					}
					mu.Unlock()
					if err == nil && (r == 0 || !aDead.Load()) {
						other := replicas[1-r]
						took, ok := seen(other, key)
						if !ok && !(r == 1 && aDead.Load()) {
							t.Errorf("%s published on replica %d not served by the other within a second", key, r)
						}
						mu.Lock()
						lateness = max(lateness, took)
						mu.Unlock()
					}
				}
			}
		}()
	}
	// Kill replica A midway, while its clients are publishing.
	for int(aAnswers.Load()) < versions*len(titles)/2 {
		time.Sleep(5 * time.Millisecond)
	}
	a.kill()
	aDead.Store(true)
	wg.Wait()
	t.Logf("slowest version to reach the other replica: %v", lateness.Round(time.Millisecond))

	// Replica B answered everything; a loser got a refusal, never a 5xx.
	for key, outs := range answered {
		for _, o := range outs {
			if o.replica == 1 && o.err != nil {
				var se *nesclient.StatusError
				if !errors.As(o.err, &se) || se.Status >= 500 {
					t.Errorf("replica B, %s: %v", key, o.err)
				}
			}
		}
	}
	for key, n := range won {
		if n > 1 {
			t.Errorf("%s won %d times", key, n)
		}
	}

	// check sees nothing wrong; leftovers only of A's interrupted
	// publishes, which A's restart removes.
	out := cmd("", "check")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "ok" && !strings.HasPrefix(line, "leftover: ") {
			t.Errorf("check: %s", line)
		}
	}
	a.start()
	if out := cmd("", "check"); out != "ok\n" {
		t.Errorf("check after A's restart: %q", out)
	}

	// Both replicas serve every version won, the same bytes, and the
	// tarball is the one uploaded.
	stored := 0
	for _, title := range titles {
		for k := range versions {
			key := fmt.Sprintf("%s@1.0.%d", title, k)
			docs := make([]string, 2)
			for i, r := range replicas {
				res, err := http.Get(r.url() + "/package/" + title + "/" + fmt.Sprintf("1.0.%d", k))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				docs[i] = fmt.Sprintf("%d %s", res.StatusCode, body)
			}
			if docs[0] != docs[1] {
				t.Errorf("%s: replicas disagree:\n A %.200s\n B %.200s", key, docs[0], docs[1])
			}
			if strings.HasPrefix(docs[0], "200 ") {
				stored++
				tarballMatches(t, replicas, key)
				if won[key] == 0 && !lostOnA(answered[key]) {
					t.Errorf("%s is stored, but no publish of it was answered 201 or cut off", key)
				}
			} else if won[key] > 0 {
				t.Errorf("%s was answered 201 but is not stored: %s", key, docs[0])
			}
		}
	}
	if stored < versions {
		t.Errorf("only %d versions stored", stored)
	}
	t.Logf("%d versions stored of %d tried", stored, versions*len(titles))

	// A password reset asked for on one replica is finished on the other,
	// and ends the sessions of the old password on both.
	if _, err := a.client().ForgotPassword("writer"); err != nil {
		t.Fatal(err)
	}
	resetToken := pendingReset(t, dbURL, s3URL, "writer")
	const newPassword = "a brand new password"
	if err := b.client().ResetPassword("writer", newPassword, resetToken); err != nil {
		t.Fatalf("reset on the other replica: %v", err)
	}
	if err := a.client().ResetPassword("writer", "yet another one", resetToken); err == nil {
		t.Error("the reset was used twice")
	}
	if err := a.client().Logout("writer", token); err == nil {
		t.Error("the old token still works after the reset")
	}
	if _, err := a.client().Login("writer", newPassword); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}

// pendingReset reads the token of a user's pending reset from the
// database, as the user would read it from the QR code.
func pendingReset(t *testing.T, dbURL, s3URL, username string) string {
	t.Helper()
	ctx := context.Background()
	bs, err := blobs.Open(ctx, s3URL, t.TempDir(), blobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, dbURL, bs)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.ResetByLogin(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	return r.Token
}

type outcome struct {
	replica int
	err     error
}

// lostOnA reports whether a publish to replica A got no answer (A was
// killed under it): then it may be stored without a 201.
func lostOnA(outs []outcome) bool {
	for _, o := range outs {
		var se *nesclient.StatusError
		if o.replica == 0 && o.err != nil && !errors.As(o.err, &se) {
			return true
		}
	}
	return false
}

// tarballMatches fetches the tarball of key from every replica: the same
// bytes everywhere, matching X-Integrity, with the lib.asm uploaded.
func tarballMatches(t *testing.T, replicas []*registryProc, key string) {
	t.Helper()
	title, version, _ := strings.Cut(key, "@")
	var first []byte
	for i, r := range replicas {
		res, err := http.Get(r.url() + "/package/" + title + "/" + version + "/data")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		sum := sha1.Sum(body)
		if res.StatusCode != 200 || res.Header.Get("X-Integrity") != hex.EncodeToString(sum[:]) {
			t.Errorf("%s from replica %d: %d, X-Integrity %q", key, i, res.StatusCode, res.Header.Get("X-Integrity"))
			return
		}
		if first == nil {
			first = body
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(zr)
			found := false
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if h.Name == "lib.asm" {
					b, _ := io.ReadAll(tr)
					found = string(b) == libAsmFor(title, version)
				}
			}
			if !found {
				t.Errorf("%s: the tarball's lib.asm is not the one uploaded", key)
			}
		} else if !bytes.Equal(first, body) {
			t.Errorf("%s: replicas serve different tarballs", key)
		}
	}
}
