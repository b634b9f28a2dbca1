//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// BenchmarkMirror mirrors a local upstream of 1,000 packages with 3
// versions each into an empty folder (first), and runs the mirror again
// with nothing new (no-change); without-feed does the first run through
// an upstream that has no change feed. The mirror is the real binary, in
// its own process, whose peak RSS (VmHWM) is read from /proc while it
// runs (getrusage's ru_maxrss of a child Go started reports the parent's
// RSS when that is larger, since Go forks with CLONE_VM):
//
//	go test -run '^$' -bench Mirror -benchtime 3x .
//
// The seeded upstream folder is kept in the system temp folder and reused
// by later runs. Goal (issue 13): first under 15 s, no-change under 0.5 s,
// peak RSS under 64 MiB.
func BenchmarkMirror(b *testing.B) {
	const packages, versions = 1000, 3
	upData := seededUpstream(b, packages, versions)
	up := startBenchRegistry(b, upData)

	// cpu sums the mirror processes' user and system time: on a shared
	// machine it varies less than the wall time.
	var cpu time.Duration
	mirrorOnce := func(b *testing.B, upstream, data string) (rssMiB float64, out string) {
		b.Helper()
		cmd := exec.Command(registryBinary(b), "mirror", upstream, "--data", data)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
		var hwm int
		for {
			// VmHWM only grows, so the last reading before the exit is
			// the peak but for the last 2 ms.
			if kb := procField(status, "VmHWM"); kb > hwm {
				hwm = kb
			}
			select {
			case err := <-done:
				if err != nil {
					b.Fatalf("mirror: %v\n%s\n%.2000s", err, o.String(), e.String())
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
				return float64(hwm) / 1024, o.String()
			case <-time.After(2 * time.Millisecond):
			}
		}
	}
	want := fmt.Sprintf("%d new packages, %d new versions", packages, packages*versions)
	first := func(upstream string) func(b *testing.B) {
		return func(b *testing.B) {
			var peak float64
			cpu = 0
			for b.Loop() {
				b.StopTimer()
				data := b.TempDir()
				b.StartTimer()
				rss, out := mirrorOnce(b, upstream, data)
				if !strings.Contains(out, want) {
					b.Fatalf("mirror printed %s, want %s", out, want)
				}
				peak = max(peak, rss)
			}
			b.ReportMetric(peak, "peak-RSS-MiB")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		}
	}
	b.Run("first", first(up))
	b.Run("no-change", func(b *testing.B) {
		data := b.TempDir()
		mirrorOnce(b, up, data)
		var peak float64
		cpu = 0
		for b.Loop() {
			rss, out := mirrorOnce(b, up, data)
			if !strings.Contains(out, "0 new packages, 0 new versions") {
				b.Fatalf("mirror printed %s", out)
			}
			peak = max(peak, rss)
		}
		b.ReportMetric(peak, "peak-RSS-MiB")
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	})
	b.Run("without-feed", func(b *testing.B) {
		first(seedOnly(b, up))(b)
	})
}

// seededUpstream returns a data folder of n generated packages with v
// versions each, published through the registry's rules.
func seededUpstream(b *testing.B, n, v int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("nessemble-registry-mirror-bench-%dx%d", n, v))
	done := filepath.Join(dir, "seeded")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.OpenWith(ctx, dir, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	core := registry.New(db, registry.Config{}, nil, nil)
	if err := core.EnsureReference(ctx); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	lib := strings.Repeat("  lda #$00\n  sta $2000\n", 60)
	for i := range n {
		for j := range v {
			title, version := fmt.Sprintf("pkg-%04d", i), fmt.Sprintf("1.%d.0", j)
			if _, err := core.Publish(ctx, registry.User{Username: "bench"}, registry.Import,
				bytes.NewReader(packTgz(title, version, "bench", "; "+title+" "+version+"\n"+lib))); err != nil {
				b.Fatal(err)
			}
		}
	}
	db.Close()
	b.Logf("seeded %d packages x %d versions in %v", n, v, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// startBenchRegistry serves data with the real binary, without a rate
// limit, until the benchmark ends, and returns its URL.
func startBenchRegistry(b *testing.B, data string) string {
	b.Helper()
	addr := freeAddrB(b)
	cmd := exec.Command(registryBinary(b), "serve", "--data", data, "--addr", addr, "--rate-limit", "-1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	url := "http://" + addr
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if res, err := http.Get(url + "/status"); err == nil {
			res.Body.Close()
			return url
		}
		if time.Since(start) > 20*time.Second {
			b.Fatal("the upstream did not come up")
		}
	}
}

// procField reads a field of a /proc status file, in KiB; 0 once the
// process is gone.
func procField(path, field string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	return 0
}

func freeAddrB(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
