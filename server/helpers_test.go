package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/mail"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
	"github.com/nessemble/nessemble-registry/store"
)

// env is a running registry over a real SQLite file in a temp folder,
// serving on a port of 127.0.0.1.
type env struct {
	t    testing.TB
	db   *store.DB
	core *registry.Service
	srv  *server.Server
	ts   *live
}

// live is where a test registry listens.
type live struct {
	URL    string
	client *http.Client
}

func (l *live) Client() *http.Client { return l.client }

// envOptions are what a test registry is started with.
type envOptions struct {
	server   server.Config
	registry registry.Config
	mail     *mail.Config // nil: no email
	log      *slog.Logger // nil: discarded
	mount    string
	selfBase bool // BaseURL is the registry's own address plus mount
	ready    bool // readiness from the data folder (store.DB.Ready)
}

func newEnv(t testing.TB, cfg server.Config) *env { return start(t, envOptions{server: cfg}) }

// newLoggedEnv starts a registry whose log goes to log.
func newLoggedEnv(t testing.TB, cfg server.Config, log *slog.Logger) *env {
	return start(t, envOptions{server: cfg, log: log})
}

// newRegistryEnv starts a registry with the rules' settings rc, and email
// through m unless it is nil.
func newRegistryEnv(t testing.TB, rc registry.Config, m *mail.Config) *env {
	return start(t, envOptions{registry: rc, mail: m})
}

// startEnv starts a registry; with selfBase, its BaseURL is its own
// address plus mount, so that absolute links in answers lead back to it.
func startEnv(t testing.TB, cfg server.Config, mount string, selfBase bool) *env {
	return start(t, envOptions{server: cfg, mount: mount, selfBase: selfBase})
}

func start(t testing.TB, o envOptions) *env {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if o.log == nil {
		o.log = discardLogger()
	}
	var mailer registry.Mailer
	if o.mail != nil {
		s, err := mail.New(*o.mail)
		if err != nil {
			t.Fatal(err)
		}
		mailer = s
	}
	core := registry.New(db, o.registry, mailer, o.log)
	cfg, mount, log := o.server, o.mount, o.log
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	if o.selfBase {
		cfg.BaseURL = url + mount
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = -1
	}
	if o.ready {
		cfg.Ready = db.Ready
	}
	srv := server.New(cfg, core, log)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &env{t: t, db: db, core: core, srv: srv, ts: &live{URL: url, client: client}}
}

// seed stores a version directly through the store, as publish would.
func (e *env) seed(title, version, desc string, tags ...string) registry.Version {
	e.t.Helper()
	v := registry.Version{
		Title: title, Version: version, Description: desc, Author: "alice",
		License: "GPLv3", Tags: tags, Readme: "# " + title + " " + version + "\n",
	}
	tarball := []byte("tarball of " + title + " " + version)
	got, err := e.db.Publish(context.Background(), "alice", v, tarball, registry.PublishRule("alice", registry.Import, title, version))
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
