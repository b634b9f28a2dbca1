//go:build linux

package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// nginxSite turns dist/nginx-replicas.conf into a site nginx can run
// here: the same upstream and location, listening on addr without TLS,
// the replicas' addresses in place of the example ones, and a request
// rate per client that the test's readers stay under.
func nginxSite(t *testing.T, addr string, replicas []string) string {
	t.Helper()
	b, err := os.ReadFile("dist/nginx-replicas.conf")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	example := []string{"10.0.0.11:8000", "10.0.0.12:8000"}
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "listen 443"):
			line = "    listen " + addr + ";"
		case strings.HasPrefix(trimmed, "ssl_certificate"):
			continue
		case strings.HasPrefix(trimmed, "listen 80;"):
			// The redirect to https: cut it and what follows.
			out = out[:len(out)-1] // its "server {"
			return strings.Join(out, "\n")
		}
		line = strings.Replace(line, "rate=20r/s", "rate=100000r/s", 1)
		for i, e := range example {
			line = strings.Replace(line, e, replicas[i], 1)
		}
		out = append(out, line)
	}
	t.Fatal("dist/nginx-replicas.conf: no port-80 server found")
	return ""
}

// TestReplicasBehindNginx runs the nginx of dist/nginx-replicas.conf in
// front of two replicas on one PostgreSQL and one bucket, reads through
// it without pause, and stops the replica that serves those reads with
// SIGTERM: not one read fails, the other replica takes them over, and a
// login and a publish through nginx work before and after.
func TestReplicasBehindNginx(t *testing.T) {
	t.Parallel()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv(backendtest.RequireEnv) == "1" {
			t.Fatal("nginx is not installed (Debian nginx-light), and " + backendtest.RequireEnv + "=1 requires it")
		}
		t.Skip("needs nginx (Debian nginx-light)")
	}
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	backendArgs := []string{"--database", dbURL, "--blobs", s3URL}
	if _, err := registryCmd(t, faultPassword+"\n", append([]string{"adduser", "writer", "--email", "w@example.org",
		"--password-stdin", "--data", t.TempDir()}, backendArgs...)...); err != nil {
		t.Fatal(err)
	}
	serveArgs := append([]string{"--base-url", "http://registry.example", "--trusted-proxy", "127.0.0.1", "--rate-limit", "-1"}, backendArgs...)
	replicas := []*registryProc{startRegistry(t, t.TempDir(), serveArgs...), startRegistry(t, t.TempDir(), serveArgs...)}

	dir := t.TempDir()
	front := freeAddr(t)
	site := nginxSite(t, front, []string{replicas[0].addr, replicas[1].addr})
	conf := fmt.Sprintf(`user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
%[2]s
}
`, dir, site)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var nginxOut strings.Builder
	cmd.Stdout, cmd.Stderr = &nginxOut, &nginxOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx: %s\n%s", nginxOut.String(), b)
		}
	})
	url := "http://" + front
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := hc.Get(url + "/status")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	c := &nesclient.Client{Registry: url, Timeout: 10 * time.Second}
	token, err := c.Login("writer", faultPassword)
	if err != nil {
		t.Fatalf("login through nginx: %v", err)
	}
	if _, err := c.Publish("writer", token, packTgz("pad", "1.0.0", "writer", libAsmFor("pad", "1.0.0"))); err != nil {
		t.Fatalf("publish through nginx: %v", err)
	}
	served := func(r *registryProc, path string) int {
		n := 0
		for _, e := range r.accessLog() {
			if e.Path == path {
				n++
			}
		}
		return n
	}
	const path = "/package/pad"
	// Which replica this client address is sent to.
	for range 5 {
		res, err := hc.Get(url + path)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("read through nginx: %v %v", res, err)
		}
		res.Body.Close()
	}
	time.Sleep(300 * time.Millisecond) // the access log is written in batches
	busy := 0
	if served(replicas[1], path) > served(replicas[0], path) {
		busy = 1
	}
	other := replicas[1-busy]
	before := served(other, path)

	var reads, failed atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := hc.Get(url + path)
				reads.Add(1)
				if err != nil {
					failed.Add(1)
					t.Errorf("read: %v", err)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || !strings.Contains(string(body), `"title":"pad"`) {
					failed.Add(1)
					t.Errorf("read: %d %.100s", res.StatusCode, body)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := replicas[busy].terminate(); err != nil {
		t.Errorf("replica's exit after SIGTERM: %v", err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	t.Logf("%d reads through nginx, %d failed; the other replica served %d of them", reads.Load(), failed.Load(), served(other, path)-before)
	if served(other, path) == before {
		t.Error("the other replica served none of the reads after the stop")
	}
	// Writes go on through the replica left.
	token, err = c.Login("writer", faultPassword)
	if err != nil {
		t.Fatalf("login after the stop: %v", err)
	}
	if _, err := c.Publish("writer", token, packTgz("pad", "1.1.0", "writer", libAsmFor("pad", "1.1.0"))); err != nil {
		t.Errorf("publish after the stop: %v", err)
	}
}
