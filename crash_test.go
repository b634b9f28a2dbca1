//go:build linux

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// The fault tests run the real binary, built once per test run, as an
// operator would: kill -9, SIGTERM and file-size limits only mean something
// for a separate process.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// registryBinary builds nessemble-registry from this package, once.
func registryBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "nessemble-registry-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "nessemble-registry")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// longRun reports whether the long versions of the fault tests were asked
// for; CI runs the same tests with fewer rounds.
func longRun() bool { return os.Getenv("NESSEMBLE_LONG") != "" }

// registryProc is the real binary serving one data folder on a fixed
// address, so that it can be killed and started again where clients
// expect it.
type registryProc struct {
	t       *testing.T
	data    string
	addr    string
	args    []string // extra serve flags
	logPath string   // stdout and stderr of every life, appended

	cmd     *exec.Cmd
	done    chan struct{} // closed when the current life ended
	waitErr error         // how it ended; read only after done
}

// startRegistry starts `serve` on data with JSON logs and args, and waits
// until it answers.
func startRegistry(t *testing.T, data string, args ...string) *registryProc {
	t.Helper()
	p := &registryProc{t: t, data: data, addr: freeAddr(t), args: args,
		logPath: filepath.Join(t.TempDir(), "registry.log")}
	// The cleanup comes first, so that a life that fails to come up is
	// still killed.
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("registry log (tail):\n%s", p.logTail(4000))
		}
	})
	p.start()
	return p
}

func (p *registryProc) url() string { return "http://" + p.addr }

func (p *registryProc) client() *nesclient.Client {
	return &nesclient.Client{Registry: p.url(), Timeout: 10 * time.Second}
}

// start begins a new life of the server and waits until /status answers.
func (p *registryProc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	args := append([]string{"serve", "--data", p.data, "--addr", p.addr, "--log-format", "json"}, p.args...)
	cmd := exec.Command(registryBinary(p.t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Dies with the test binary, even when a timeout panic skips cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		p.waitErr = cmd.Wait()
		close(done)
	}()

	// Without keep-alive, so that the probe leaves no connection open to
	// count against --max-conns.
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := hc.Get(p.url() + "/status")
		if err == nil {
			res.Body.Close()
			return
		}
		select {
		case <-done:
			p.t.Fatalf("registry exited while starting: %v\n%s", p.waitErr, p.logTail(2000))
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("registry did not come up: %v\n%s", err, p.logTail(2000))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running reports whether the current life has not ended yet.
func (p *registryProc) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill ends the current life with SIGKILL, as a power cut would.
func (p *registryProc) kill() {
	if !p.running() {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

// terminate sends SIGTERM and returns how the process exited.
func (p *registryProc) terminate() error {
	p.t.Helper()
	if !p.running() {
		p.t.Fatal("terminate: the registry is not running")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(45 * time.Second):
		p.kill()
		return errors.New("still running 45s after SIGTERM")
	}
}

func (p *registryProc) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// accessLog returns the access-log entries written so far.
func (p *registryProc) accessLog() []accessEntry {
	p.t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	var out []accessEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e accessEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "request" {
			out = append(out, e)
		}
	}
	return out
}

// logged counts the log lines, of every life, whose message is msg.
func (p *registryProc) logged(msg string) int {
	p.t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		p.t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e accessEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == msg {
			n++
		}
	}
	return n
}

// accessEntry is one line of the JSON access log.
type accessEntry struct {
	Msg    string `json:"msg"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
}

// registryCmd runs a command of the binary and returns its standard output.
func registryCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(registryBinary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

const faultPassword = "correct horse battery staple"

// addUser creates an account with the binary's adduser command.
func addUser(t *testing.T, data, username string) {
	t.Helper()
	if _, err := registryCmd(t, faultPassword+"\n", "adduser", username, "--data", data,
		"--email", username+"@example.org", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
}

// uploadFiles are the templates of a test package's files, in
// testdata/package/: the member names of the uploads packTgz builds, in
// their order. Their values are not escaped, which the plain titles and
// versions of these tests do not need.
var uploadFiles = []string{"lib.asm", "package.json", "README.md"}

// uploadTemplates holds them, parsed once, before any test changes the
// working folder.
var uploadTemplates = template.Must(template.ParseFS(os.DirFS(filepath.Join(testdata, "package")), uploadFiles...))

// uploadFile renders testdata/package/name for one version of a package.
func uploadFile(name, title, version, author string) string {
	var b strings.Builder
	// Rendering to memory fails only on a broken template.
	if err := uploadTemplates.ExecuteTemplate(&b, name, struct{ Title, Version, Author string }{title, version, author}); err != nil {
		panic(err)
	}
	return b.String()
}

// packTgz packs a package the way the documentation tells users to
// (tar -zcf of a lib/ folder): a plain gzip header without a file name,
// which is what the client's publish expects. Its package.json and
// README.md come from testdata/package/.
func packTgz(title, version, author, libAsm string) []byte {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	mtime := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range uploadFiles {
		body := libAsm
		if name != "lib.asm" {
			body = uploadFile(name, title, version, author)
		}
		h := &tar.Header{Name: "lib/" + name, Mode: 0o644, Size: int64(len(body)), ModTime: mtime, Typeflag: tar.TypeReg}
		// Writing to memory fails only on a bug in this function.
		if err := tw.WriteHeader(h); err != nil {
			panic(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return gb.Bytes()
}

// libAsmFor is the lib.asm of a test version (testdata/package/lib.asm):
// unique, so that an install proves which upload it came from.
func libAsmFor(title, version string) string {
	return uploadFile("lib.asm", title, version, "")
}

// checkAfterCrash runs `check` on the folder of a killed registry, then
// starts it again, stops it, and runs `check` once more. The first check
// must pass, listing at most leftovers of interrupted publishes
// (temporary uploads, tarballs no version names), never a version whose
// tarball is missing or damaged; the restart must have removed them, so
// that the second check finds nothing at all. It returns the number of
// leftovers the first check listed.
func checkAfterCrash(t *testing.T, reg *registryProc) int {
	t.Helper()
	out, err := registryCmd(t, "", "check", "--data", reg.data)
	if err != nil {
		t.Errorf("check after a kill: %v", err)
	}
	leftovers := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case line == "ok":
		case strings.HasPrefix(line, "leftover: ") &&
			(strings.HasSuffix(line, " (temporary upload of an interrupted publish; serve removes it at start, check --repair now)") ||
				strings.HasSuffix(line, " (tarball of an interrupted publish, no version refers to it; serve removes it at start, check --repair now)")):
			leftovers++
		default:
			t.Errorf("check: %s", line)
		}
	}
	reg.start()
	if err := reg.terminate(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	if out, err := registryCmd(t, "", "check", "--data", reg.data); err != nil || out != "ok\n" {
		t.Errorf("check after a restart: %q, %v", out, err)
	}
	return leftovers
}

// storedVersions lists every version in the data folder, title@version.
func storedVersions(t *testing.T, data string, titles []string) []string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	for _, title := range titles {
		rs, err := db.Releases(ctx, title)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			out = append(out, title+"@"+r.Version)
		}
	}
	return out
}

// installMatches installs title@version with the strict client and checks
// that lib.asm is the one uploaded for that version.
func installMatches(t *testing.T, c *nesclient.Client, key string) {
	t.Helper()
	title, version, _ := strings.Cut(key, "@")
	files, err := c.Install(title, version)
	if err != nil {
		t.Errorf("install %s: %v", key, err)
		return
	}
	if got, want := string(files["lib.asm"]), libAsmFor(title, version); got != want {
		t.Errorf("install %s: lib.asm %q, want %q", key, got, want)
	}
}

// TestCrashLoop publishes from several clients while the server is killed
// with SIGKILL at random moments and started again on the same folder.
// Every publish answered 201 must survive whole; anything else an
// interrupted publish left must be either a complete version or a
// leftover that check lists without failing and the next start removes.
// NESSEMBLE_LONG=1 runs 30 kills.
func TestCrashLoop(t *testing.T) {
	kills, clients := 3, 3
	if longRun() {
		kills, clients = 30, 6
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d, %d kills, %d clients", seed, kills, clients)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))

	data := t.TempDir()
	addUser(t, data, "crash")
	reg := startRegistry(t, data, "--rate-limit", "-1")
	token, err := reg.client().Login("crash", faultPassword)
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		acked    []string // title@version answered 201
		attempts atomic.Int64
		netErrs  atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Should the test stop early, the clients stop before it ends.
	t.Cleanup(func() { cancel(); wg.Wait() })
	titles := make([]string, clients)
	for i := range clients {
		titles[i] = fmt.Sprintf("crash-%d", i)
		wg.Add(1)
		go func(title string) {
			defer wg.Done()
			c := &nesclient.Client{Registry: reg.url(), Timeout: 5 * time.Second}
			// Every attempt gets a new version: one that was committed just
			// before a kill, unanswered, must not block the next.
			for n := 0; ctx.Err() == nil; n++ {
				version := fmt.Sprintf("1.0.%d", n)
				attempts.Add(1)
				_, err := c.Publish("crash", token, packTgz(title, version, "crash", libAsmFor(title, version)))
				var se *nesclient.StatusError
				switch {
				case err == nil:
					mu.Lock()
					acked = append(acked, title+"@"+version)
					mu.Unlock()
				case errors.As(err, &se):
					t.Errorf("publish %s@%s answered %v", title, version, err)
				default:
					// The server is down or died mid-request.
					netErrs.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			}
		}(titles[i])
	}

	start := time.Now()
	for range kills - 1 {
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		reg.kill()
		reg.start()
	}
	// The last kill, with publishes under way, is checked before a start
	// removes what it left.
	time.Sleep(200 * time.Millisecond)
	reg.kill()
	cancel()
	wg.Wait()
	elapsed := time.Since(start)

	// Publishes are serialized in the server, so one kill interrupts at
	// most one of them and leaves at most one file behind; and each start
	// removes what the kill before it left.
	if leftovers := checkAfterCrash(t, reg); leftovers > 1 {
		t.Errorf("%d leftover files after the last kill", leftovers)
	}
	removed := reg.logged("removed leftover")
	if removed > kills {
		t.Errorf("starts removed %d leftover files after %d kills", removed, kills)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no publish succeeded")
	}
	stored := storedVersions(t, data, titles)
	have := make(map[string]bool, len(stored))
	for _, k := range stored {
		have[k] = true
	}
	for _, k := range acked {
		if !have[k] {
			t.Errorf("%s was answered 201 but is gone", k)
		}
	}

	reg.start()
	c := reg.client()
	for _, k := range stored {
		installMatches(t, c, k)
	}
	t.Logf("%d kills in %v: %d publish attempts, %d answered 201, %d stored, %d cut off, %d leftover files removed at start",
		kills, elapsed.Round(time.Millisecond), attempts.Load(), len(acked), len(stored), netErrs.Load(), removed)
}

// TestShutdownUnderLoad sends SIGTERM while clients read and publish as
// fast as they can. Every request the server accepted must be answered in
// full: clients see only complete answers, refused connections (sent
// after the listener closed) or resets of connections the kernel had
// queued but the server never accepted; and the server's access log must
// count exactly the answers the clients received.
func TestShutdownUnderLoad(t *testing.T) {
	data := t.TempDir()
	addUser(t, data, "load")
	reg := startRegistry(t, data, "--rate-limit", "-1")
	c := reg.client()
	token, err := c.Login("load", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	const publishers, readers = 4, 6
	for i := range publishers {
		title := fmt.Sprintf("load-%d", i)
		if _, err := c.Publish("load", token, packTgz(title, "1.0.0", "load", libAsmFor(title, "1.0.0"))); err != nil {
			t.Fatal(err)
		}
	}

	var (
		answered, refused, reset atomic.Int64
		mu                       sync.Mutex
		acked                    = []string{}
	)
	// do sends one request and sorts the outcome: ok when answered with
	// want, more until the listener is gone.
	do := func(c *nesclient.Client, method, path string, hdr [][2]string, body []byte, want int) (ok, more bool) {
		r, err := c.Do(method, path, hdr, body)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			refused.Add(1)
			return false, false
		case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
			reset.Add(1)
			return false, true
		case err != nil:
			t.Errorf("%s %s lost: %v", method, path, err)
			return false, false
		}
		answered.Add(1)
		if r.Status != want {
			t.Errorf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
			return false, true
		}
		return true, true
	}

	var wg sync.WaitGroup
	// Should the test stop early, the clients stop (refused) before it ends.
	t.Cleanup(func() { reg.kill(); wg.Wait() })
	for i := range publishers {
		wg.Add(1)
		go func(title string) {
			defer wg.Done()
			c := reg.client()
			for n := 1; ; n++ {
				version := fmt.Sprintf("1.0.%d", n)
				auth := nesclient.Authorization("load", token, "PUT", "/package/publish")
				body := packTgz(title, version, "load", libAsmFor(title, version))
				ok, more := do(c, "PUT", "/package/publish", [][2]string{{"Content-Type", "application/tar+gzip"}, {"Authorization", auth}}, body, 201)
				if ok {
					mu.Lock()
					acked = append(acked, title+"@"+version)
					mu.Unlock()
				}
				if !more {
					return
				}
			}
		}(fmt.Sprintf("load-%d", i))
	}
	for i := range readers {
		wg.Add(1)
		go func(title string) {
			defer wg.Done()
			c := reg.client()
			for {
				for _, path := range []string{"/package/" + title, "/package/" + title + "/data"} {
					if _, more := do(c, "GET", path, nil, nil, 200); !more {
						return
					}
				}
			}
		}(fmt.Sprintf("load-%d", i%publishers))
	}

	time.Sleep(500 * time.Millisecond)
	if err := reg.terminate(); err != nil {
		t.Errorf("exit after SIGTERM under load: %v", err)
	}
	wg.Wait()

	logged := 0
	for _, e := range reg.accessLog() {
		if e.Method == "GET" && strings.HasPrefix(e.Path, "/package/") || e.Method == "PUT" {
			logged++
		}
	}
	if int64(logged) != answered.Load() {
		t.Errorf("the server answered %d load requests, the clients received %d", logged, answered.Load())
	}
	if answered.Load() < 20 {
		t.Errorf("only %d requests answered before SIGTERM: no load", answered.Load())
	}
	t.Logf("answered %d, refused after close %d, reset in the listen queue %d, %d publishes",
		answered.Load(), refused.Load(), reset.Load(), len(acked))

	// What was acknowledged before the shutdown is there after it.
	reg.start()
	c = reg.client()
	mu.Lock()
	defer mu.Unlock()
	for _, k := range acked {
		installMatches(t, c, k)
	}
}
