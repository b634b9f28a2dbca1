package systemd_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/systemd"
)

// listenNotify opens a unixgram socket as systemd's manager does and
// returns its name.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readDatagram(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := systemd.Notify("READY=1"); sent || err != nil {
		t.Errorf("without NOTIFY_SOCKET: sent %v, %v", sent, err)
	}

	path := filepath.Join(t.TempDir(), "notify")
	conn := listenNotify(t, path)
	t.Setenv("NOTIFY_SOCKET", path)
	for _, state := range []string{"READY=1", "STOPPING=1"} {
		if sent, err := systemd.Notify(state); !sent || err != nil {
			t.Fatalf("Notify(%s): sent %v, %v", state, sent, err)
		}
		if got := readDatagram(t, conn); got != state {
			t.Errorf("received %q, want %q", got, state)
		}
	}

	// systemd names an abstract socket with a leading "@".
	abstract := fmt.Sprintf("@nessemble-registry-test-%d", os.Getpid())
	aconn := listenNotify(t, "\x00"+abstract[1:])
	t.Setenv("NOTIFY_SOCKET", abstract)
	if _, err := systemd.Notify("WATCHDOG=1"); err != nil {
		t.Fatal(err)
	}
	if got := readDatagram(t, aconn); got != "WATCHDOG=1" {
		t.Errorf("abstract socket received %q", got)
	}

	// A socket nobody listens on is an error, not a silent loss.
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody"))
	if _, err := systemd.Notify("READY=1"); err == nil {
		t.Error("Notify to a missing socket: no error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		bad       bool
	}{
		{"", "", 0, false},
		{"2000000", "", time.Second, false},
		{"2000000", fmt.Sprint(os.Getpid()), time.Second, false},
		{"2000000", "1", 0, false}, // another process's
		{"soon", "", 0, true},
		{"0", "", 0, true},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, err := systemd.WatchdogInterval()
		if got != tc.want || (err != nil) != tc.bad {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, %v", tc.usec, tc.pid, got, err)
		}
	}
}

// TestListenersInherited passes a real listening socket to a child
// process (this test binary again) as systemd does: descriptor 3, with
// LISTEN_FDS=1 and LISTEN_PID set to the child's pid (by a shell that
// execs the child, which keeps its pid). The child accepts one connection
// on it and answers.
func TestListenersInherited(t *testing.T) {
	if os.Getenv("SYSTEMD_TEST_CHILD") == "1" {
		childServe()
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ exec "$0" -test.run '^TestListenersInherited$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "SYSTEMD_TEST_CHILD=1", "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// The child's descriptor is the same socket: a connection to our
	// address reaches the child, which has never called listen.
	ln.Close()
	f.Close()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	if want := "served by the inherited socket; env unset\n"; string(got) != want {
		t.Errorf("child answered %q, want %q\n%s", got, want, out.String())
	}
}

func childServe() {
	lns, err := systemd.Listeners()
	if err != nil || len(lns) != 1 {
		fmt.Println("Listeners:", len(lns), err)
		os.Exit(2)
	}
	c, err := lns[0].Accept()
	if err != nil {
		fmt.Println("accept:", err)
		os.Exit(2)
	}
	msg := "served by the inherited socket"
	if os.Getenv("LISTEN_FDS") == "" && os.Getenv("LISTEN_PID") == "" {
		msg += "; env unset"
	}
	io.WriteString(c, msg+"\n")
	c.Close()
	os.Exit(0)
}

func TestListenersOtherProcess(t *testing.T) {
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_PID", "1")
	lns, err := systemd.Listeners()
	if lns != nil || err != nil {
		t.Errorf("sockets of another process taken: %v, %v", lns, err)
	}
	t.Setenv("LISTEN_FDS", "")
	if lns, err := systemd.Listeners(); lns != nil || err != nil {
		t.Errorf("without LISTEN_FDS: %v, %v", lns, err)
	}
}
