package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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

// startServe runs `serve` with args on a free port of 127.0.0.1 until the
// returned stop is called (or the test ends), and returns its address,
// read from the JSON log. stop returns what the command returned.
func startServe(t *testing.T, args ...string) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logR, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...),
			strings.NewReader(""), io.Discard, logW)
		logW.Close()
		done <- err
	}()
	addrs := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addrs <- line.Addr
			}
		}
		io.Copy(io.Discard, logR) // keep draining after a very long line
	}()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case addr = <-addrs:
		return addr, stop
	case err := <-done:
		runErr = err
		once.Do(cancel)
		t.Fatalf("serve ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", stop
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
	if res.StatusCode != 200 {
		t.Errorf("GET /reference = %d %q", res.StatusCode, body)
	}
	golden(t, "serve/reference.golden", string(body))
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
	err := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--log-format", "xml"},
		nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "log-format") {
		t.Errorf("bad --log-format: %v", err)
	}
}

// TestServeRejectsZeroLimits: a limit of zero would silently become the
// default, so serve refuses it.
func TestServeRejectsZeroLimits(t *testing.T) {
	for _, flag := range []string{"--rate-limit=0", "--rate-limit=-2", "--rate-window=0s", "--max-age=0s",
		"--token-ttl=0s", "--reset-ttl=-1m", "--max-upload=0", "--max-conns=0", "--max-conns-per-addr=-1"} {
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
	// Links carry the base URL; requests still reach the real address.
	const base = "http://registry.example/reg"
	addr, _ := startServe(t, "--data", t.TempDir(), "--base-url", base, "--max-age", "90s")
	at := "http://" + addr + "/reg"

	res, err := http.Get(at + "/?page=2&per_page=1")
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

	res, err = http.Post(at+"/user/forgotpassword", "application/json", strings.NewReader(`{"username": "alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "operator") {
		t.Errorf("forgotpassword without --reset-qr or SMTP: %d %s", res.StatusCode, body)
	}
}
