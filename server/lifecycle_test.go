package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/server"
)

// newRegistry starts a registry whose BaseURL is its own address plus
// mount (none when mount is ""), so that the absolute links in its answers
// lead back to it.
func newRegistry(t *testing.T, cfg server.Config, mount string) *env {
	t.Helper()
	return startEnv(t, cfg, mount, mount != "")
}

// TestLifecycle drives a whole account and package life cycle the way the
// nessemble client does, under the root, a mount prefix and /v1.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, mount, prefix string }{
		{"root", "", ""},
		{"mount", "/registry", "/registry"},
		{"v1", "", "/v1"},
		{"mount and v1", "/registry", "/registry/v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newRegistry(t, server.Config{}, tc.mount)
			c := &nesclient.Client{Registry: e.ts.URL + tc.prefix}
			const pw = "through the looking glass"

			if _, err := c.CreateUser("Alice Liddell", "alice", "alice@example.com", pw); err != nil {
				t.Fatalf("adduser: %v", err)
			}
			token, err := c.Login("alice", pw)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			head := func() int {
				t.Helper()
				r, err := c.Do("HEAD", "/package/ctl", nil, nil)
				if err != nil {
					t.Fatalf("HEAD: %v", err)
				}
				return r.Status
			}
			if s := head(); s != 404 {
				t.Fatalf("HEAD before publish: %d", s)
			}

			// First publish: HEAD says 404, so the client POSTs.
			doc, err := c.Publish("alice", token, pkgTgz(t, "ctl", "1.0.0", "alice"))
			if err != nil {
				t.Fatalf("publish 1.0.0: %v", err)
			}
			if v, _ := doc.Get("version"); v != "1.0.0" {
				t.Errorf("publish answer version %q", v)
			}
			if s := head(); s != 200 {
				t.Fatalf("HEAD after publish: %d", s)
			}
			// Second publish: HEAD says 200, so the client PUTs (a POST
			// would be refused with 405).
			if _, err := c.Publish("alice", token, pkgTgz(t, "ctl", "1.1.0", "alice")); err != nil {
				t.Fatalf("publish 1.1.0: %v", err)
			}

			for _, version := range []string{"", "1.1.0", "1.0.0"} {
				want := version
				if want == "" {
					want = "1.1.0"
				}
				files, err := c.Install("ctl", version)
				if err != nil {
					t.Fatalf("install ctl@%s: %v", version, err)
				}
				if string(files["lib.asm"]) != libAsmOf("ctl", want) || string(files["README.md"]) != readmeOf("ctl", want) {
					t.Errorf("install ctl@%s: lib.asm %q README.md %q", version, files["lib.asm"], files["README.md"])
				}
				var m archive.Manifest
				if err := json.Unmarshal(files["package.json"], &m); err != nil || m.Version != want || m.Author != "alice" || m.Title != "ctl" {
					t.Errorf("install ctl@%s: package.json %s", version, files["package.json"])
				}
			}
			readme, err := c.Readme("ctl", "")
			if err != nil || readme != readmeOf("ctl", "1.1.0") {
				t.Errorf("info: %q %v", readme, err)
			}
			results, err := c.Search("ctl")
			if err != nil || len(results) != 1 || results[0] != (nesclient.Result{Title: "ctl", Description: "The ctl package"}) {
				t.Errorf("search: %v %v", results, err)
			}

			if err := c.Logout("alice", token); err != nil {
				t.Fatalf("logout: %v", err)
			}
			_, err = c.Publish("alice", token, pkgTgz(t, "ctl", "1.2.0", "alice"))
			var se *nesclient.StatusError
			if !errors.As(err, &se) || se.Status != 401 {
				t.Fatalf("publish after logout: %v, want a 401", err)
			}
			if doc, err := c.PackageDoc("ctl", ""); err != nil {
				t.Fatal(err)
			} else if res, _ := doc.Get("resource"); res != e.ts.URL+tc.prefix+"/package/ctl/data" {
				t.Errorf("resource %q after the refused publish", res)
			}
			if v, err := e.db.Version(context.Background(), "ctl", ""); err != nil || v.Version != "1.1.0" {
				t.Errorf("newest version %q %v", v.Version, err)
			}
			e.checkFilesMatchVersions()
		})
	}
}
