package server_test

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
)

// tarballFile finds where the store keeps the tarball with this SHA-1.
func (e *env) tarballFile(shasum string) string {
	e.t.Helper()
	var found string
	filepath.WalkDir(filepath.Join(e.dataDir(), "tarballs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == shasum+".tar.gz" {
			found = p
		}
		return nil
	})
	if found == "" {
		e.t.Fatalf("no tarball file for %s", shasum)
	}
	return found
}

// TestDamagedTarball: a tarball missing from disk, or altered, is data
// loss: 500 with a message for the operator and an ERROR naming the file,
// never a 404 ("Package does not exist" to the client); 503 for the
// nessemble client, which reads every other status as success.
func TestDamagedTarball(t *testing.T) {
	var logs syncBuffer
	e := newLoggedEnv(t, server.Config{}, slog.New(slog.NewTextHandler(&logs, nil)))
	gone := e.seed("gone", "1.0.0", "Its tarball is deleted", "t")
	bent := e.seed("bent", "1.0.0", "Its tarball is altered", "t")
	goneFile, bentFile := e.tarballFile(gone.Shasum), e.tarballFile(bent.Shasum)
	if err := os.Remove(goneFile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bentFile, []byte("not the tarball"), 0o644); err != nil {
		t.Fatal(err)
	}
	for title, file := range map[string]string{"gone": goneFile, "bent": bentFile} {
		r := e.get("/package/" + title + "/data")
		wantError(t, r, http.StatusInternalServerError, "The registry's copy of this version is damaged; tell its operator")
		legacy := e.do(http.MethodGet, "/package/"+title+"/data", map[string]string{"User-Agent": "nessemble/1.1.1"}, "")
		wantError(t, legacy, http.StatusServiceUnavailable, "damaged")
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), file) {
			t.Errorf("%s: the log does not name %s:\n%s", title, file, logs.String())
		}
		g := e.graphql(`{ package(title: "`+title+`") { resource } }`, nil)
		if len(g.Errors) != 1 || !strings.Contains(g.Errors[0].Message, "damaged") {
			t.Errorf("%s through GraphQL: %s", title, g.body)
		}
	}
}
