package server_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/server"
)

func TestHealthAndReadiness(t *testing.T) {
	// A limit of 2 requests a minute: probes must not count against it.
	e := newEnv(t, server.Config{RateLimit: 2, RateWindow: time.Minute})
	// A registry whose readiness is its data folder's.
	ready := start(t, envOptions{ready: true})

	for i := 0; i < 5; i++ {
		for _, path := range []string{"/healthz", "/readyz", "/v1/healthz"} {
			r := ready.get(path)
			if r.status != 200 {
				t.Fatalf("GET %s #%d = %d %s", path, i, r.status, r.body)
			}
			if ct, cc := r.header.Get("Content-Type"), r.header.Get("Cache-Control"); ct != "application/json" || cc == "" || r.header.Get("ETag") != "" {
				t.Errorf("GET %s: Content-Type %q, Cache-Control %q, ETag %q", path, ct, cc, r.header.Get("ETag"))
			}
		}
	}
	if got := ready.get("/healthz").json(t)["status"]; got != "ok" {
		t.Errorf("healthz status %v", got)
	}
	if got := ready.get("/readyz").json(t)["status"]; got != "ready" {
		t.Errorf("readyz status %v", got)
	}
	// Probes do not use up an address's requests, and other routes are
	// rate limited as before.
	for i := 0; i < 3; i++ {
		e.get("/healthz")
		e.get("/readyz")
	}
	for i := 0; i < 2; i++ {
		if r := e.get("/status"); r.status != 200 {
			t.Fatalf("/status #%d after probes, at 2 a minute = %d", i+1, r.status)
		}
	}
	if r := e.get("/status"); r.status != 429 {
		t.Errorf("third /status at 2 a minute = %d", r.status)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.get(path); r.status != 200 {
			t.Errorf("%s for a rate-limited address = %d %s", path, r.status, r.body)
		}
	}

	// The data folder stops taking files: tmp/ replaced by a file (a
	// permission would not stop root, who runs CI).
	tmp := filepath.Join(ready.db.Dir(), "tmp")
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the second a result is kept
	r := ready.get("/readyz")
	wantError(t, r, 503, "Not ready: the data folder is not writable")
	if r := ready.get("/healthz"); r.status != 200 {
		t.Errorf("healthz while not ready = %d", r.status)
	}
	os.Remove(tmp)
	if err := os.Mkdir(tmp, 0o750); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if r := ready.get("/readyz"); r.status != 200 {
		t.Errorf("readyz once writable again = %d %s", r.status, r.body)
	}

	// The database goes away.
	ready.db.Close()
	time.Sleep(1100 * time.Millisecond)
	wantError(t, ready.get("/readyz"), 503, "Not ready: the database does not answer")
}

// TestReadinessWhileShuttingDown asks a server whose Shutdown has begun:
// it is no longer ready, though still healthy.
func TestReadinessWhileShuttingDown(t *testing.T) {
	e := start(t, envOptions{ready: true})
	srv := server.New(server.Config{RateLimit: -1, Ready: e.db.Ready}, e.core, discardLogger())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The handler alone, as it serves the connections Shutdown waits for.
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	e.ts.URL = ts.URL
	wantError(t, e.get("/readyz"), 503, "Not ready: the registry is shutting down")
	if r := e.get("/healthz"); r.status != 200 {
		t.Errorf("healthz while shutting down = %d", r.status)
	}
}
