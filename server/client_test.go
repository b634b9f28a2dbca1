package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
)

// seedCanonical stores a version with a real canonical tarball, as
// publish would.
func (e *env) seedCanonical(title, version, desc string, libAsm, readme []byte, tags ...string) {
	e.t.Helper()
	m := archive.Manifest{Title: title, Description: desc, Version: version, Author: "alice", License: "MIT", Tags: tags}
	when := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	tarball, err := archive.Canonical(m, libAsm, readme, when)
	if err != nil {
		e.t.Fatal(err)
	}
	v := registry.Version{Title: title, Version: version, Description: desc, Author: "alice", License: "MIT",
		Tags: tags, Readme: string(readme), Published: when}
	if _, err := e.db.Publish(context.Background(), "alice", v, tarball, registry.PublishRule("alice", registry.Import, v.Title, v.Version)); err != nil {
		e.t.Fatal(err)
	}
}

// TestRealClientReadPaths drives every read path the nessemble client
// uses through a reader as strict as the client itself.
func TestRealClientReadPaths(t *testing.T) {
	for _, prefix := range []string{"", "/registry", "/v1", "/registry/v1"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			e := newEnv(t, server.Config{})
			if strings.HasPrefix(prefix, "/registry") {
				e = newEnvAt(t, "/registry")
			}
			cl := nesclient.Client{Registry: e.ts.URL + prefix}

			lib512 := []byte(strings.Repeat("; pad\n", 85) + "rts\n")[:512] // a multiple of 512: the client's off-by-one
			readme := []byte("# controller\n\nReads the pads & more.\n")
			e.seedCanonical("controller", "1.0.0", "Read the joypads", lib512, readme, "input", "joypad")
			e.seedCanonical("controller", "1.1.0", "Read the joypads, faster", []byte("lda $4016\nrts\n"), readme, "input")
			for i := 0; i < 14; i++ {
				e.seedCanonical(fmt.Sprintf("ctl-extra-%02d", i), "0.1.0", "Another controller helper with a longer description",
					[]byte("rts\n"), []byte("# x\n"), "input", "joypad", "controller", "nes", "6502")
			}

			// The second install reads the cached answers, which the
			// front writes without net/http.
			for range 2 {
				files, err := cl.Install("controller", "")
				if err != nil {
					t.Fatalf("install newest: %v", err)
				}
				if string(files["lib.asm"]) != "lda $4016\nrts\n" || string(files["README.md"]) != string(readme) ||
					!strings.Contains(string(files["package.json"]), `"version": "1.1.0"`) {
					t.Errorf("installed files: %q", files)
				}
			}
			files, err := cl.Install("controller", "1.0.0")
			if err != nil {
				t.Fatalf("install 1.0.0: %v", err)
			}
			if string(files["lib.asm"]) != string(lib512) || !strings.Contains(string(files["package.json"]), `"version": "1.0.0"`) {
				t.Errorf("installed 1.0.0: %q", files)
			}

			text, err := cl.Readme("controller", "")
			if err != nil || text != string(readme) {
				t.Errorf("info README = %q, %v", text, err)
			}

			doc, err := cl.PackageDoc("controller", "")
			if err != nil {
				t.Fatalf("package doc: %v", err)
			}
			if v, _ := doc.Get("version"); v != "1.1.0" {
				t.Errorf("doc version %q", v)
			}
			if _, err := cl.PackageDoc("nope", ""); err == nil {
				t.Errorf("unknown package: no error")
			}

			// Search pages stay inside the 128-token budget even with many tags.
			results, err := cl.Search("controller")
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			if len(results) != 10 || results[0].Title != "controller" || results[0].Description != "Read the joypads, faster" {
				t.Errorf("search results = %v", results)
			}
			if results, err := cl.Search("zzz"); err != nil || len(results) != 0 {
				t.Errorf("empty search = %v, %v", results, err)
			}

			// HEAD, as publish sends it, must not hang the client.
			for _, p := range []string{"/package/controller", "/package/nope", "/package/controller/data"} {
				if _, err := cl.Do("HEAD", p, nil, nil); err != nil {
					t.Errorf("HEAD %s: %v", p, err)
				}
			}
			// The list is read by the same rules (though the client never asks).
			r, err := cl.Do("GET", "/?per_page=5", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nesclient.CheckJSON(r); err != nil {
				t.Errorf("list: %v", err)
			}
		})
	}
}

// newEnvAt is newEnv whose base URL is its own address plus mount, so
// that absolute links in answers point back at it.
func newEnvAt(t *testing.T, mount string) *env {
	t.Helper()
	return startEnv(t, server.Config{}, mount, true)
}
