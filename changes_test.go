package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestChangesReachARunningServer: what other processes write to the data
// folder while serve runs (a publish through a second server on the same
// folder, a reference import by the command) is served by the first
// server within a second, answers it had cached included, without a
// restart.
func TestChangesReachARunningServer(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	addUser(t, data, "writer")
	a := startRegistry(t, data)
	b := startRegistry(t, data)
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(a.url() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	// within waits up to a second for ok, and says how long it took.
	within := func(what string, ok func() bool) {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > time.Second {
				t.Fatalf("%s: not served within a second", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: served after %v", what, time.Since(start).Round(time.Millisecond))
	}

	// The first server has these answers cached before the changes.
	if status, body := get("/search/changelog"); status != 200 || strings.Contains(body, `"title":"changelog"`) {
		t.Fatalf("search before: %d %s", status, body)
	}
	if status, _ := get("/package/changelog"); status != 404 {
		t.Fatalf("package before: %d", status)
	}
	if _, body := get("/"); strings.Contains(body, "changelog") {
		t.Fatalf("list before: %s", body)
	}

	token, err := b.client().Login("writer", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.client().Publish("writer", token, packTgz("changelog", "1.0.0", "writer", libAsmFor("changelog", "1.0.0"))); err != nil {
		t.Fatal(err)
	}
	within("search", func() bool { _, body := get("/search/changelog"); return strings.Contains(body, `"title":"changelog"`) })
	within("list", func() bool { _, body := get("/"); return strings.Contains(body, `"title":"changelog"`) })
	within("package", func() bool { status, _ := get("/package/changelog"); return status == 200 })

	tree := writeTree(t, map[string]string{"songs/ode.txt": "Ode to joy\n"})
	if _, err := registryCmd(t, "", "import-reference", tree, "--data", data); err != nil {
		t.Fatal(err)
	}
	within("reference", func() bool { _, body := get("/reference/songs/ode"); return body == "Ode to joy\n" })
}
