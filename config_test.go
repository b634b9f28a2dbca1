package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/nessemble/nessemble-registry/internal/backendtest"
)

// serveLog runs serve with args until its "serving" line, stops it, and
// returns every JSON log line it wrote.
func serveLog(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logR, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve", "--log-format", "json"}, args...), strings.NewReader(""), io.Discard, logW)
		logW.Close()
		done <- err
	}()
	var lines []map[string]any
	sc := bufio.NewScanner(logR)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		lines = append(lines, m)
		if m["msg"] == "serving" {
			cancel()
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return lines
}

func logLine(t *testing.T, lines []map[string]any, msg string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["msg"] == msg {
			return l
		}
	}
	t.Fatalf("no %q line in the log: %v", msg, lines)
	return nil
}

// TestServeConfigFromEnvironment sets every serve flag through its
// NESSEMBLE_REGISTRY_ variable, to a value other than its default, and
// reads each back from the configuration serve logs at start; a flag on
// the command line wins over its variable, and the SMTP password is
// logged only as "set".
func TestServeConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pwFile, []byte("hunter2-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A value for every flag: a new flag without one fails the test.
	values := map[string]string{
		"trusted-proxy":      "10.0.0.10",
		"data":               filepath.Join(dir, "data"),
		"addr":               freeAddr(t),
		"metrics-addr":       freeAddr(t),
		"base-url":           "http://registry.example.org/sub",
		"log-format":         "json",
		"rate-limit":         "77",
		"rate-window":        "2m0s",
		"max-age":            "42s",
		"token-ttl":          "3h0m0s",
		"signup":             "false",
		"max-upload":         "4096",
		"max-conns":          "99",
		"max-conns-per-addr": "9",
		"reset-ttl":          "7m0s",
		"reset-qr":           "true",
		"smtp-host":          "127.0.0.1",
		"smtp-port":          "2525",
		"smtp-tls":           "none",
		"smtp-user":          "registry",
		"smtp-password-file": pwFile,
		"smtp-from":          "Registry <registry@example.org>",
		"read-only":          "true",
		"mirror":             "http://127.0.0.1:1",
		"mirror-every":       "3h0m0s",
		"jobs":               "2",
		"timeout":            "5s",
		"max-bytes":          "1048576",
		"follow-redirects":   "true",
	}
	// PostgreSQL with a password (which the test server, trusting its
	// socket, ignores): the log shows it redacted. Without the servers
	// (.ci/backends.sh) the rest is still tried.
	pg := &url.URL{}
	backends := backendtest.Have() || os.Getenv(backendtest.RequireEnv) == "1"
	if backends {
		var err error
		if pg, err = url.Parse(backendtest.Postgres(t)); err != nil {
			t.Fatal(err)
		}
		pg.User = url.UserPassword(pg.User.Username(), "pg-secret-77")
		values["database"], values["blobs"] = pg.String(), backendtest.S3(t)
	} else {
		t.Log("no PostgreSQL and S3 servers: --database and --blobs are left at their defaults")
	}
	newServeCmd().Flags().VisitAll(func(f *pflag.Flag) {
		v, ok := values[f.Name]
		if !ok && !backends && (f.Name == "database" || f.Name == "blobs") {
			return
		}
		if !ok {
			t.Errorf("no test value for --%s", f.Name)
			return
		}
		if v == f.DefValue {
			t.Errorf("--%s: the test value is the default", f.Name)
		}
		t.Setenv(envName(f.Name), v)
	})
	// The command line wins: --max-age is given both ways.
	lines := serveLog(t, "--max-age", "13s")
	cfg := logLine(t, lines, "configuration")
	logged := map[string]string{"max-age": "13s", "database": pg.Redacted(), "trusted-proxy": "[10.0.0.10]"}
	for name, want := range values {
		if w, ok := logged[name]; ok {
			want = w
		}
		if got := cfg[name]; got != want {
			t.Errorf("%s: logged %v, want %q", envName(name), got, want)
		}
	}
	for _, l := range lines {
		if b, _ := json.Marshal(l); strings.Contains(string(b), "pg-secret-77") {
			t.Errorf("the database password in the log: %s", b)
		}
	}
	if cfg["smtp-password"] != "set" {
		t.Errorf("smtp-password logged as %v, want set", cfg["smtp-password"])
	}
	// All but the two given on the command line (serveLog gives --log-format).
	var fromEnv []string
	for name := range values {
		if name != "max-age" && name != "log-format" {
			fromEnv = append(fromEnv, name)
		}
	}
	sort.Strings(fromEnv)
	if got := cfg["from-env"]; got != strings.Join(fromEnv, ",") {
		t.Errorf("from-env = %q, want %q", got, strings.Join(fromEnv, ","))
	}
	serving := logLine(t, lines, "serving")
	if serving["addr"] != values["addr"] || serving["data"] != values["data"] {
		t.Errorf("served %v on %v, want %s on %s", serving["data"], serving["addr"], values["data"], values["addr"])
	}
	if m := logLine(t, lines, "metrics"); m["addr"] != values["metrics-addr"] {
		t.Errorf("metrics on %v", m["addr"])
	}
	for _, l := range lines {
		b, _ := json.Marshal(l)
		if strings.Contains(string(b), "hunter2") {
			t.Errorf("the SMTP password is in the log: %s", b)
		}
	}
}

// TestServeEnvironmentTakesEffect checks that a setting from the
// environment is what the server does, not only what it logs.
func TestServeEnvironmentTakesEffect(t *testing.T) {
	t.Setenv("NESSEMBLE_REGISTRY_RATE_LIMIT", "3")
	t.Setenv("NESSEMBLE_REGISTRY_SIGNUP", "false")
	addr, _ := startServe(t, "--data", t.TempDir())
	res, err := http.Get("http://" + addr + "/status")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("X-RateLimit-Limit"); got != "3" {
		t.Errorf("X-RateLimit-Limit = %q, want 3", got)
	}
	res, err = http.Post("http://"+addr+"/user/create", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("sign-up with NESSEMBLE_REGISTRY_SIGNUP=false: %d", res.StatusCode)
	}
}

func TestServeRefusesBadEnvironment(t *testing.T) {
	t.Setenv("NESSEMBLE_REGISTRY_RATE_LIMIT", "lots")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "NESSEMBLE_REGISTRY_RATE_LIMIT") {
		t.Errorf("serve with a bad variable: %v", err)
	}
}
