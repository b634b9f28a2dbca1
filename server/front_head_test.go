package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sendAndRead writes raw on a new connection to addr, half-closes it if
// asked, and returns what comes back within wait, and how long that took.
func sendAndRead(t *testing.T, addr, raw string, halfClose bool, wait time.Duration) ([]byte, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	io.WriteString(c, raw)
	if halfClose {
		c.(*net.TCPConn).CloseWrite()
	}
	c.SetReadDeadline(start.Add(wait))
	got, _ := io.ReadAll(c)
	return got, time.Since(start)
}

// TestFrontHandsOffPartialHeads: a head that never ends, but whose first
// lines already rule out the front, or that the client cuts short with
// the end of its stream, gets net/http's answer at once, byte for byte,
// rather than the silence of a head timeout.
func TestFrontHandsOffPartialHeads(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})
	// net/http alone, as the front hands it connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain := &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: headerTimeout}
	go plain.Serve(ln)
	t.Cleanup(func() { plain.Close() })

	for _, tc := range []struct {
		name, raw string
		halfClose bool
	}{
		{"header line without a colon", "GET /package/pad HTTP/1.1\r\nHost: x\r\nBadLine\r\n", false},
		{"request line with a fourth part", "GET /package/pad HTTP/1.1 extra\r\n", false},
		{"no request line", "GARBAGE\r\n", false},
		{"bare LF line ends, then a bad line", "GET /package/pad HTTP/1.1\nHost: x\nBadLine\n", false},
		{"end of stream after a header line", "GET /package/pad HTTP/1.1\r\nHost: x\r\n", true},
		{"end of stream inside the request line", "GET /package/pa", true},
		{"end of stream after an empty line", "\r\n", true},
	} {
		want, _ := sendAndRead(t, ln.Addr().String(), tc.raw, tc.halfClose, 3*time.Second)
		if !bytes.HasPrefix(want, []byte("HTTP/1.1 400 ")) {
			t.Fatalf("%s: net/http answered %q, not a 400 at once", tc.name, want)
		}
		got, took := sendAndRead(t, e.addr, tc.raw, tc.halfClose, 3*time.Second)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %q, want net/http's %q", tc.name, got, want)
		}
		if took > time.Second {
			t.Errorf("%s: answered after %v", tc.name, took)
		}
	}
}

// TestFrontSlowHead: a cached read whose head arrives a byte at a time is
// still the front's to answer.
func TestFrontSlowHead(t *testing.T) {
	t.Parallel()
	e := newFrontEnv(t, Config{RateLimit: -1})
	req := "GET /package/pad HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
	want := e.viaNetHTTP(req) // fills the cache, over a connection net/http has
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i := range len(req) {
		c.Write([]byte{req[i]})
		time.Sleep(2 * time.Millisecond)
	}
	got, err := readAnswer(bufio.NewReader(c), http.MethodGet)
	if err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, "slow head", want, got)
	// The connection waits for its next request in the front, not in
	// net/http (whose connections the front forgets at their request).
	for deadline := time.Now().Add(2 * time.Second); ; {
		if frontIdle(e.srv) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("after a slow head, the connection is not the front's")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// frontIdle counts the connections waiting in the front for a request.
func frontIdle(s *Server) int {
	f := &s.front
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for c := range f.conns {
		if c.state.Load() == connIdle {
			n++
		}
	}
	return n
}

// TestFrontHeadDeadlineCarriesOver: a head that outgrows the front's
// buffer late is handed to net/http with the time it has left, not a
// fresh head timeout; a head that does arrive in time is answered, and
// its body may take longer than the head's deadline.
func TestFrontHeadDeadlineCarriesOver(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	e := newFrontEnvWith(t, Config{RateLimit: -1}, func(s *Server) { s.front.headerTimeout = timeout })
	dial := func() (net.Conn, time.Time) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, time.Now()
	}
	start := "GET /package/pad HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 3900)

	// Past the buffer after most of the timeout, then a byte now and then.
	slow, opened := dial()
	io.WriteString(slow, start)
	time.Sleep(timeout * 3 / 4)
	io.WriteString(slow, strings.Repeat("p", 400))
	closed := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(slow)
		closed <- b
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for wrote := true; wrote; {
		select {
		case b := <-closed:
			took := time.Since(opened)
			if len(b) > 0 || took < timeout-100*time.Millisecond || took > timeout+500*time.Millisecond {
				t.Errorf("slow head: %q after %v, want nothing and a close after %v", b, took, timeout)
			}
			wrote = false
		case <-tick.C:
			if time.Since(opened) > 4*timeout {
				t.Fatalf("slow head still open after %v", time.Since(opened))
			}
			io.WriteString(slow, "p")
		}
	}

	// The same head, ended in time, is answered.
	late, _ := dial()
	io.WriteString(late, start)
	time.Sleep(timeout / 2)
	io.WriteString(late, strings.Repeat("p", 400)+"\r\nConnection: close\r\n\r\n")
	if a, err := readAnswer(bufio.NewReader(late), http.MethodGet); err != nil || a.code != http.StatusOK {
		t.Errorf("long head in time: %v %v", a.status, err)
	}

	// A body may arrive after the head's deadline: it has bodyTimeout.
	body := `{"name": "Slow", "username": "slowbody", "email": "slow@example.org", "password": "patience is a virtue"}`
	post, _ := dial()
	io.WriteString(post, "POST /user/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n")
	time.Sleep(timeout + 300*time.Millisecond)
	io.WriteString(post, body)
	if a, err := readAnswer(bufio.NewReader(post), http.MethodPost); err != nil || a.code != http.StatusCreated {
		t.Errorf("body after the head's deadline: %v %v %s", a.status, err, a.body)
	}
}
