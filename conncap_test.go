//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// holdConn opens a connection from local that sends nothing.
func holdConn(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refusedWith waits up to wait for the server to answer c and close it,
// and returns the answer; ok is false when c is still open.
func refusedWith(c net.Conn, wait time.Duration) (answer string, ok bool) {
	c.SetReadDeadline(time.Now().Add(wait))
	var b bytes.Buffer
	_, err := b.ReadFrom(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && b.Len() == 0 {
		return "", false
	}
	return b.String(), true
}

// refusalsLogged sums the counts of the log's "connections refused" lines.
func refusalsLogged(t *testing.T, p *registryProc) (overAddr, overTotal, lines int) {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e struct {
			Msg, Level string
			OverAddr   int `json:"over_addr_cap"`
			OverTotal  int `json:"over_total_cap"`
		}
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "connections refused" {
			if e.Level != "WARN" {
				t.Errorf("refusals logged at %s", e.Level)
			}
			overAddr += e.OverAddr
			overTotal += e.OverTotal
			lines++
		}
	}
	return overAddr, overTotal, lines
}

// TestConnectionCaps runs the real binary with small caps: connections
// from one address over --max-conns-per-addr, and any over --max-conns,
// are refused at once with a 503 while other clients are served; the log
// counts the refusals in a few lines; once the held connections close, the
// address is served again.
func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, t.TempDir(), "--rate-limit", "-1", "--max-conns", "8", "--max-conns-per-addr", "3")
	const ordinary = "GET /reference HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n"
	get := func(local string) *rawResponse {
		t.Helper()
		r, err := exchange(local, reg.addr, ordinary, nil)
		if err != nil {
			t.Fatalf("GET from %s: %v", local, err)
		}
		return r
	}
	refusedAddr, refusedTotal := 0, 0
	mustRefuse := func(c net.Conn, why string) {
		t.Helper()
		answer, ok := refusedWith(c, 2*time.Second)
		if !ok || !strings.HasPrefix(answer, "HTTP/1.1 503 ") || !strings.Contains(answer, why) {
			t.Fatalf("over the cap: %q (closed %v), want a 503 saying %q", answer, ok, why)
		}
	}
	mustHold := func(c net.Conn) {
		t.Helper()
		if answer, closed := refusedWith(c, 200*time.Millisecond); closed {
			t.Fatalf("within the caps, a connection got %q", answer)
		}
	}

	// One address, over its cap, with connections the front holds (they
	// sent nothing) and one net/http holds (it sent half a POST head).
	holdThree := func() []net.Conn {
		t.Helper()
		held := []net.Conn{holdConn(t, "127.0.0.2", reg.addr), holdConn(t, "127.0.0.2", reg.addr),
			holdConn(t, "127.0.0.2", reg.addr)}
		io.WriteString(held[2], "POST /user/create HTTP/1.1\r\nHost: registry\r\n")
		for _, c := range held {
			mustHold(c)
		}
		return held
	}
	held := holdThree()
	mustRefuse(holdConn(t, "127.0.0.2", reg.addr), "from your address")
	refusedAddr++
	get("127.0.0.2").jsonError(t, 503, "Too many connections from your address")
	refusedAddr++
	if r := get("127.0.0.3"); r.status != 200 {
		t.Errorf("another address while one is at its cap: %d %s", r.status, r.body)
	}

	// All addresses, over the total: 3 + 3 + 2 = 8.
	var others []net.Conn
	for _, local := range []string{"127.0.0.4", "127.0.0.4", "127.0.0.4", "127.0.0.5", "127.0.0.5"} {
		others = append(others, holdConn(t, local, reg.addr))
	}
	for _, c := range others {
		mustHold(c)
	}
	mustRefuse(holdConn(t, "127.0.0.6", reg.addr), "too many open connections")
	refusedTotal++
	get("127.0.0.3").jsonError(t, 503, "The registry has too many open connections")
	refusedTotal++

	// Once its connections close, the first address is served again.
	for _, c := range held {
		c.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		r := get("127.0.0.2")
		if r.status == 200 {
			break
		}
		if r.status == 503 && strings.Contains(string(r.body), "too many open connections") {
			refusedTotal++ // the server has not seen every close yet
		} else if r.status == 503 {
			refusedAddr++
		}
		if time.Now().After(deadline) {
			t.Fatalf("after its connections closed, 127.0.0.2 still gets %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range others {
		c.Close()
	}
	// Every place is free again, net/http's included.
	held = holdThree()
	mustRefuse(holdConn(t, "127.0.0.2", reg.addr), "from your address")
	refusedAddr++
	for _, c := range held {
		c.Close() // or the shutdown below gives them its grace
	}

	// The log has every refusal, in at most a line per minute and one at
	// shutdown.
	if err := reg.terminate(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	overAddr, overTotal, lines := refusalsLogged(t, reg)
	if overAddr != refusedAddr || overTotal != refusedTotal || lines < 1 || lines > 2 {
		t.Errorf("log: %d refused over the address cap and %d over the total in %d lines, want %d and %d in 1 or 2",
			overAddr, overTotal, lines, refusedAddr, refusedTotal)
	}
}

// vmStatus reads a field of /proc/PID/status, in KiB.
func vmStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestConnectionFloodRSS floods the real binary, on its default caps,
// with 5000 connections from 20 addresses (250 each, under the address
// cap) that hold on without a whole head: first ones that send nothing,
// which the front holds, then ones that send the start of a POST, which
// net/http holds. The total cap keeps 4096 of them and refuses the rest,
// and the process's memory stays bounded by that.
func TestConnectionFloodRSS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, send string
		boundMiB   int
	}{
		{"idle, in the front", "", 100},
		{"partial heads, in net/http", "POST /user/create HTTP/1.1\r\nHost: registry\r\n", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := startRegistry(t, t.TempDir())
			pid := reg.cmd.Process.Pid
			before := vmStatus(t, pid, "VmRSS")
			const flood, addrs = 5000, 20
			conns := make([]net.Conn, 0, flood)
			for i := range flood {
				d := net.Dialer{Timeout: 10 * time.Second,
					LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i%addrs))}}
				c, err := d.Dial("tcp", reg.addr)
				if err != nil {
					t.Fatalf("connection %d: %v", i, err)
				}
				defer c.Close()
				if tc.send != "" {
					c.Write([]byte(tc.send))
				}
				conns = append(conns, c)
			}
			held := make(chan bool, flood)
			for _, c := range conns {
				go func() {
					answer, closed := refusedWith(c, 2*time.Second)
					if closed && !strings.HasPrefix(answer, "HTTP/1.1 503 ") {
						t.Errorf("a refused connection got %q", answer)
					}
					held <- !closed
				}()
			}
			n := 0
			for range flood {
				if <-held {
					n++
				}
			}
			rss, hwm := vmStatus(t, pid, "VmRSS"), vmStatus(t, pid, "VmHWM")
			t.Logf("%d connections: %d held, %d refused; RSS %.1f MiB before, %.1f MiB held (peak %.1f MiB)",
				flood, n, flood-n, float64(before)/1024, float64(rss)/1024, float64(hwm)/1024)
			if n != 4096 {
				t.Errorf("%d connections held, want the default --max-conns, 4096", n)
			}
			if rss > tc.boundMiB<<10 {
				t.Errorf("RSS %d KiB with the connections held, want under %d MiB", rss, tc.boundMiB)
			}
		})
	}
}
