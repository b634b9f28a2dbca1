package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freeAddr finds a free 127.0.0.1 port for a command that takes --addr.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs `serve` with args until the returned stop is called;
// stop returns what the command returned.
func startServe(t *testing.T, args ...string) (addr string, stop func() error) {
	t.Helper()
	return startServeAt(t, freeAddr(t), args...)
}

// startServeAt is startServe on a given address.
func startServeAt(t *testing.T, addr string, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", addr}, args...), strings.NewReader(""), io.Discard, &logs)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/status")
		if err == nil {
			res.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

func TestServeOnDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	addr, stop := startServe(t)
	if _, err := os.Stat(filepath.Join(dir, "nessemble-registry-data", "registry.db")); err != nil {
		t.Errorf("default data folder: %v", err)
	}
	// The embedded reference is loaded on first start.
	res, err := http.Get("http://" + addr + "/reference")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "  addressing\n  instructions\n  mappers\n  registers\n" {
		t.Errorf("GET /reference = %d %q", res.StatusCode, body)
	}
	if err := stop(); err != nil {
		t.Errorf("serve returned %v after shutdown", err)
	}
}

func TestServeEnvDataFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "from-env")
	t.Setenv("NESSEMBLE_REGISTRY_DATA", dir)
	_, stop := startServe(t)
	stop()
	if _, err := os.Stat(filepath.Join(dir, "registry.db")); err != nil {
		t.Errorf("NESSEMBLE_REGISTRY_DATA not used: %v", err)
	}
}

// TestShutdownFinishesInFlight stops the server while a handler is still
// reading a request body, and expects that request answered in full.
func TestShutdownFinishesInFlight(t *testing.T) {
	addr, stop := startServe(t, "--data", t.TempDir())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"name": "Ada", "username": "ada", "email": "ada@example.org", "password": "correct horse"}`
	head := "POST /user/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the handler is now waiting for the rest of the body
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-stopped:
		t.Fatalf("server stopped with a request in flight: %v", err)
	default:
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Errorf("in-flight request got %d", res.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve returned %v", err)
	}
}

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if out.String() != "nessemble-registry "+version+"\n" {
		t.Errorf("version printed %q", out.String())
	}
}

func TestServeRejectsBadLogFormat(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--addr", freeAddr(t), "--log-format", "xml"},
		nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "log-format") {
		t.Errorf("bad --log-format: %v", err)
	}
}

// TestServeRejectsZeroLimits: a limit of zero would silently become the
// default, so serve refuses it.
func TestServeRejectsZeroLimits(t *testing.T) {
	for _, flag := range []string{"--rate-limit=0", "--rate-limit=-2", "--rate-window=0s", "--max-age=0s",
		"--token-ttl=0s", "--reset-ttl=-1m", "--max-upload=0"} {
		err := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", flag},
			nil, io.Discard, io.Discard)
		name, _, _ := strings.Cut(flag, "=")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", flag, err)
		}
	}
}

// TestServeFlags checks that serve's flags reach the server: the base URL
// (links, and answering under its prefix), the cache lifetime, and the
// password-reset QR fallback being off unless asked for.
func TestServeFlags(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr + "/reg"
	startServeAt(t, addr, "--data", t.TempDir(), "--base-url", base, "--max-age", "90s")

	res, err := http.Get(base + "/?page=2&per_page=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"prev":"`+base+`/?page=1&per_page=1`) {
		t.Errorf("list under the base URL's prefix: %d %s", res.StatusCode, body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "max-age=90" {
		t.Errorf("Cache-Control = %q, want max-age=90", cc)
	}
	expires, err := http.ParseTime(res.Header.Get("Expires"))
	date, err2 := http.ParseTime(res.Header.Get("Date"))
	if err != nil || err2 != nil || expires.Sub(date) < 89*time.Second || expires.Sub(date) > 91*time.Second {
		t.Errorf("Expires %q is not 90 s after Date %q", res.Header.Get("Expires"), res.Header.Get("Date"))
	}

	res, err = http.Post(base+"/user/forgotpassword", "application/json", strings.NewReader(`{"username": "alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "operator") {
		t.Errorf("forgotpassword without --reset-qr or SMTP: %d %s", res.StatusCode, body)
	}
}
