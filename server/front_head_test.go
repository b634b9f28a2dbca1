package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
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
