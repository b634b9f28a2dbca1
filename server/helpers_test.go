package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
	"github.com/nessemble/nessemble-registry/store"
)

// env is a running registry over a real SQLite file in a temp folder.
type env struct {
	t   testing.TB
	db  *store.DB
	srv *server.Server
	ts  *httptest.Server
}

func newEnv(t testing.TB, cfg server.Config) *env {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	srv := server.New(cfg, db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, db: db, srv: srv, ts: ts}
}

// seed stores a version directly through the store, as publish would.
func (e *env) seed(title, version, desc string, tags ...string) store.Version {
	e.t.Helper()
	v := store.Version{
		Title: title, Version: version, Description: desc, Author: "alice",
		License: "GPLv3", Tags: tags, Readme: "# " + title + " " + version + "\n",
	}
	tarball := []byte("tarball of " + title + " " + version)
	got, err := e.db.Publish(context.Background(), "alice", store.Import, v, tarball)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

type resp struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server sent Connection: close
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.body)
	}
	return m
}

func (e *env) do(method, path string, hdr map[string]string, body string) resp {
	e.t.Helper()
	return e.send(method, path, hdr, []byte(body), false)
}

// send makes one request; a chunked one has no Content-Length.
func (e *env) send(method, path string, hdr map[string]string, body []byte, chunked bool) resp {
	e.t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length from net/http
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{res.StatusCode, res.Header, b, res.Close}
}

func (e *env) get(path string) resp { return e.do(http.MethodGet, path, nil, "") }

// wantError asserts a JSON error answer with status and a message
// containing frag.
func wantError(t testing.TB, r resp, status int, frag string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	m := r.json(t)
	if m["status"] != float64(status) {
		t.Errorf("status field = %v", m["status"])
	}
	msg, _ := m["error"].(string)
	if !strings.Contains(msg, frag) || strings.Contains(msg, "%") {
		t.Errorf("error = %q, want it to contain %q and no %%", msg, frag)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
