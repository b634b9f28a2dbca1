package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// scrape reads the metrics listener's text format, as Prometheus does.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /metrics = %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("metrics are not in the text format: %v", err)
	}
	return fams
}

// sample is the value of the series of name with exactly labels (name=value
// pairs), or -1 when there is none. Histograms give their count.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels)/2 {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// TestServeMetrics drives a registry through reads, publishes, logins,
// a refused reset and the rate limit, then scrapes --metrics-addr and
// reads each count back.
func TestServeMetrics(t *testing.T) {
	data := t.TempDir()
	if _, _, err := runCmd(t, "correct horse battery\n", "adduser", "alice", "--email", "alice@example.org",
		"--password-stdin", "--data", data); err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	addr, _ := startServe(t, "--data", data, "--metrics-addr", metricsAddr, "--rate-limit", "40")
	url := "http://" + addr
	c := &nesclient.Client{Registry: url, Timeout: 10 * time.Second}

	token, err := c.Login("alice", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	// Wrong passwords until the throttle locks the account at this
	// address (after five, registry/guard.go).
	failed := 0
	for ; failed < 10; failed++ {
		_, err := c.Login("alice", "wrong password")
		var se *nesclient.StatusError
		if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
			break
		}
		if err == nil {
			t.Fatal("login with a wrong password succeeded")
		}
	}
	if failed == 10 {
		t.Fatal("ten wrong passwords and no lock")
	}
	if _, err := c.Publish("alice", token, packTgz("metered", "1.0.0", "alice", libAsmFor("metered", "1.0.0"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish("alice", "not-a-token", packTgz("metered", "1.1.0", "alice", "nop\n")); err == nil {
		t.Fatal("publish with a bad token succeeded")
	}
	if _, err := c.ForgotPassword("alice"); err == nil {
		t.Fatal("forgotpassword without email or QR succeeded")
	}
	// Cached reads, over one keep-alive connection (the fast path): the
	// first renders, the second comes from the cache, the third is a 304.
	hc := &http.Client{}
	var etag string
	for i, inm := range []bool{false, false, true} {
		req, _ := http.NewRequest("GET", url+"/package/metered", nil)
		if inm {
			req.Header.Set("If-None-Match", etag)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		etag = res.Header.Get("ETag")
		if want := map[bool]int{false: 200, true: 304}[inm]; res.StatusCode != want {
			t.Fatalf("read %d = %d, want %d", i, res.StatusCode, want)
		}
	}
	for _, p := range []string{"/no/such/route", "/healthz", "/readyz"} {
		res, err := http.Get(url + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	// Metrics are on their own listener only.
	if res, err := http.Get(url + "/metrics"); err != nil || res.StatusCode != 404 {
		t.Errorf("GET /metrics on the API listener: %v %v", res.StatusCode, err)
	}
	// 127.0.0.2 runs into the rate limit of 40.
	limited := 0
	for i := 0; i < 41; i++ {
		r, err := exchange("127.0.0.2", addr, "GET /status HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status == 429 {
			limited++
		}
	}
	if limited != 1 {
		t.Fatalf("%d of 41 requests limited at 40", limited)
	}

	fams := scrape(t, metricsAddr)
	const req = "nessemble_registry_http_requests_total"
	for _, tc := range []struct {
		name    string
		labels  []string
		want    float64
		atLeast bool
	}{
		// Two reads, and the HEAD by which the client's second publish
		// finds the package (the first one's HEAD is the 404).
		{req, []string{"route", "/package/*path", "status", "200"}, 3, false},
		{req, []string{"route", "/package/*path", "status", "404"}, 1, false},
		{req, []string{"route", "/package/*path", "status", "304"}, 1, false},
		{req, []string{"route", "/package/*path", "status", "201"}, 1, false}, // the publish
		{req, []string{"route", "/package/*path", "status", "401"}, 1, false}, // the bad token
		{req, []string{"route", "/user/login", "status", "200"}, 1, false},
		{req, []string{"route", "/user/login", "status", "401"}, float64(failed), false},
		{req, []string{"route", "/user/login", "status", "429"}, 1, false},
		{req, []string{"route", "/healthz", "status", "200"}, 1, false},
		{req, []string{"route", "/readyz", "status", "200"}, 1, false},
		{req, []string{"route", "/status", "status", "200"}, 40, false},
		{req, []string{"route", "unmatched", "status", "404"}, 2, false}, // also /metrics
		{req, []string{"route", "unmatched", "status", "429"}, 1, false},
		{"nessemble_registry_http_request_duration_seconds", []string{"route", "/package/*path"}, 5, true},
		{"nessemble_registry_read_answers_total", []string{"source", "cache"}, 1, true},
		{"nessemble_registry_read_answers_total", []string{"source", "rendered"}, 1, true},
		{"nessemble_registry_publishes_total", []string{"result", "accepted"}, 1, false},
		{"nessemble_registry_publishes_total", []string{"result", "unauthorized"}, 1, false},
		{"nessemble_registry_logins_total", []string{"result", "succeeded"}, 1, false},
		{"nessemble_registry_logins_total", []string{"result", "failed"}, float64(failed), false},
		{"nessemble_registry_logins_total", []string{"result", "locked_out"}, 1, false},
		{"nessemble_registry_password_resets_total", []string{"step", "request", "result", "refused"}, 1, false},
		{"nessemble_registry_rate_limited_total", nil, 1, false},
		{"nessemble_registry_packages", nil, 1, false},
		{"nessemble_registry_versions", nil, 1, false},
		{"nessemble_registry_users", nil, 1, false},
		{"nessemble_registry_database_bytes", nil, 4096, true},
		{"nessemble_registry_tarball_bytes", nil, 100, true},
		{"nessemble_registry_cache_entries", nil, 1, true},
		{"nessemble_registry_build_info", []string{"version", "dev"}, 1, false},
		{"go_goroutines", nil, 1, true},
		{"process_resident_memory_bytes", nil, 1 << 20, true},
	} {
		got := sample(fams, tc.name, tc.labels...)
		if got != tc.want && !(tc.atLeast && got >= tc.want) {
			t.Errorf("%s%v = %v, want %v (at least: %v)", tc.name, tc.labels, got, tc.want, tc.atLeast)
		}
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "nessemble_registry_") && f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
}

// TestServeUnderSystemd runs the built binary as systemd would with
// Type=notify, socket activation and a watchdog: it takes the inherited
// listening socket (the --addr given cannot even be bound), sends
// READY=1 once it serves, WATCHDOG=1 at half of WATCHDOG_USEC, and
// STOPPING=1 on SIGTERM. The listening socket outlives the process, as
// it does in systemd's hands: a connection made while no server runs is
// answered by the next one, so a restart loses none.
func TestServeUnderSystemd(t *testing.T) {
	bin := registryBinary(t)
	dir := t.TempDir()
	notifyPath := filepath.Join(dir, "notify")
	notifySock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notifySock.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()
	addr := ln.Addr().String()

	var logs strings.Builder
	start := func() *exec.Cmd {
		t.Helper()
		// The shell sets LISTEN_PID to its own pid, which exec keeps, as
		// systemd sets it between fork and exec. 192.0.2.1 (TEST-NET) is
		// no address of this machine: listening there would fail.
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, bin,
			"serve", "--data", filepath.Join(dir, "data"), "--addr", "192.0.2.1:80", "--log-format", "json")
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifyPath, "LISTEN_FDS=1", "WATCHDOG_USEC=300000")
		cmd.ExtraFiles = []*os.File{lnFile}
		cmd.Stdout, cmd.Stderr = &logs, &logs
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		return cmd
	}
	// await reads notifications until one is want, counting watchdog pings.
	await := func(want string) (pings int) {
		t.Helper()
		buf := make([]byte, 4096)
		for {
			notifySock.SetReadDeadline(time.Now().Add(15 * time.Second))
			n, err := notifySock.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v\n%s", want, err, logs.String())
			}
			got := string(buf[:n])
			switch {
			case got == "WATCHDOG=1":
				pings++
			case got == want:
				return pings
			default:
				t.Fatalf("notification %q while waiting for %q", got, want)
			}
		}
	}
	stop := func(cmd *exec.Cmd) {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		await("STOPPING=1")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	}

	first := start()
	await("READY=1\nSTATUS=serving on " + addr)
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /healthz on the inherited socket = %d", res.StatusCode)
	}
	// Three pings at 150 ms take about half a second.
	pings := 0
	deadline := time.Now().Add(10 * time.Second)
	for pings < 3 && time.Now().Before(deadline) {
		notifySock.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, err := notifySock.Read(buf)
		if err != nil {
			t.Fatalf("no watchdog ping: %v", err)
		}
		if string(buf[:n]) == "WATCHDOG=1" {
			pings++
		}
	}
	if pings < 3 {
		t.Errorf("%d watchdog pings", pings)
	}
	stop(first)

	// No server runs: the kernel still queues a connection on the socket.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect between two lives: %v", err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /readyz HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n")
	second := start()
	await("READY=1\nSTATUS=serving on " + addr)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the connection made between two lives: %v\n%s", err, logs.String())
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("GET /readyz queued across a restart = %d", r.StatusCode)
	}
	stop(second)
	if got := strings.Count(logs.String(), "listening on the socket systemd passed"); got != 2 {
		t.Errorf("%d lives logged socket activation\n%s", got, logs.String())
	}
}

// TestServeUnderSystemdSocketActivate has systemd's own tool hand the
// built binary its socket (systemd-socket-activate, from the systemd
// package that .ci/run installs): the same protocol as the service
// manager, written by systemd, not by this test.
func TestServeUnderSystemdSocketActivate(t *testing.T) {
	tool, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (Debian package systemd)")
	}
	addr := freeAddr(t)
	cmd := exec.Command(tool, "-l", addr, registryBinary(t), "serve", "--data", t.TempDir(), "--addr", "192.0.2.1:80")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The tool listens first and starts the registry on the first
	// connection, which the registry then answers.
	var res *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err = http.Get("http://" + addr + "/readyz")
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("GET /readyz: %v\n%s", err, logs.String())
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("GET /readyz = %d", res.StatusCode)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "listening on the socket systemd passed") {
		t.Errorf("no socket activation in the log:\n%s", logs.String())
	}
}
