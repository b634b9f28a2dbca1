package fastpath

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The test server: the fast path answers GET and HEAD /hello, /render
// (but not when asked Quick) and /big (8 MiB), and panics on /panic; net/http answers the same /hello, reads the body of POST
// /echo, refuses the body of POST /refuse with 413 unread, and 404s the
// rest.
const helloBody = "hello\n"

var bigBody = bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB

func helloHead(method string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(helloBody)) + "\r\nContent-Type: text/plain\r\n\r\n"
}

type testEnv struct {
	t        *testing.T
	fp       *Server
	addr     string
	answered atomic.Int32 // requests the fast path answered
	quick    atomic.Int32 // requests Answer was asked with Quick
	served   chan error
	// holds says whether the accept loop holds sockets until their
	// request arrives: the sockets mode, on Linux.
	holds bool
}

// acceptModes are the two ways the accept loop takes connections: as bare
// sockets (from a TCP listener, on Linux: socket_linux.go) and as the
// net.Conns of any other listener (here a TCP listener in disguise).
var acceptModes = []struct {
	name string
	wrap func(net.Listener) net.Listener
}{
	{"sockets", func(ln net.Listener) net.Listener { return ln }},
	{"net.Conns", func(ln net.Listener) net.Listener { return struct{ net.Listener }{ln} }},
}

// eachAcceptMode runs test in parallel on a server for each accept mode.
func eachAcceptMode(t *testing.T, set func(*Server), test func(*testing.T, *testEnv)) {
	for _, m := range acceptModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnvOn(t, m.wrap, set)
			e.holds = m.name == "sockets" && runtime.GOOS == "linux"
			test(t, e)
		})
	}
}

func newTestEnv(t *testing.T, set func(*Server)) *testEnv {
	t.Helper()
	return newTestEnvOn(t, acceptModes[0].wrap, set)
}

// newTestEnvOn starts a server on a listener that wrap may disguise.
func newTestEnvOn(t *testing.T, wrap func(net.Listener) net.Listener, set func(*Server)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, served: make(chan error, 1)}
	e.fp = &Server{
		Answer: func(buf []byte, r Request) (head, body []byte, keepOpen, ok bool) {
			switch r.Path {
			case "/panic":
				panic("boom")
			case "/hello":
				e.answered.Add(1)
				if r.Quick {
					e.quick.Add(1)
				}
				if r.Method == http.MethodGet {
					body = []byte(helloBody)
				}
				return append(buf, helloHead(r.Method)...), body, !r.Close, true
			case "/render": // an answer that is not ready in memory
				if r.Quick {
					e.quick.Add(1)
					return nil, nil, false, false
				}
				e.answered.Add(1)
				return append(buf, helloHead(r.Method)...), []byte(helloBody), !r.Close, true
			case "/big": // more than a socket takes at once
				e.answered.Add(1)
				head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(bigBody)) + "\r\n\r\n"
				return append(buf, head...), bigBody, !r.Close, true
			}
			return nil, nil, false, false
		},
		Handler: http.HandlerFunc(netHTTPHandler),
		Log:     slog.New(slog.DiscardHandler),
	}
	if set != nil {
		set(e.fp)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go func() { e.served <- e.fp.Serve(wrap(ln)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.fp.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-e.served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return e
}

func netHTTPHandler(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/hello":
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(helloBody)))
		io.WriteString(w, helloBody)
	case r.Method == http.MethodPost && r.URL.Path == "/echo":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write(b)
	case r.Method == http.MethodPost && r.URL.Path == "/refuse":
		w.Header().Set("Connection", "close")
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	default:
		http.NotFound(w, r)
	}
}

// dial connects to the server, for the rest of the test at most.
func (e *testEnv) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

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

// TestAnswersAndHandsOff: the requests Answer takes are answered by the
// fast path, on a connection kept open for the next; the first it
// declines goes to net/http, with the rest of the connection.
func TestAnswersAndHandsOff(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		got, _ := sendAndRead(t, e.addr, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, 3*time.Second)
		br := bufio.NewReader(bytes.NewReader(got))
		var codes []int
		for _, method := range []string{"GET", "HEAD", "GET", "GET"} {
			res, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("after %v: %v in %q", codes, err, got)
			}
			io.Copy(io.Discard, res.Body)
			codes = append(codes, res.StatusCode)
		}
		if want := []int{200, 200, 404, 200}; !equalInts(codes, want) {
			t.Errorf("statuses %v, want %v", codes, want)
		}
		if n := e.answered.Load(); n != 2 {
			t.Errorf("the fast path answered %d, want the 2 before the hand-off", n)
		}
	})
}

// TestAnswersAtOnce: a connection's first request, when its head is in
// and its answer ready, is asked Quick (on the accepting goroutine); one
// declined then is asked again, and answered; the connection then takes
// further requests as usual.
func TestAnswersAtOnce(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		for range 3 {
			got, _ := sendAndRead(t, e.addr, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, 3*time.Second)
			if want := helloHead("GET") + helloBody; string(got) != want {
				t.Fatalf("got %q, want %q and the end of the stream", got, want)
			}
		}
		// Sockets wait in the accept loop for their requests; a net.Conn
		// accepted before its request arrives goes to its own goroutine,
		// so only the sockets' count is certain.
		if n := e.quick.Load(); e.holds && n != 3 {
			t.Errorf("%d of 3 requests were asked Quick", n)
		}

		e.quick.Store(0)
		got, _ := sendAndRead(t, e.addr, "GET /render HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, 3*time.Second)
		if want := helloHead("GET") + helloBody; string(got) != want {
			t.Fatalf("declined when Quick: got %q, want %q", got, want)
		}

		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for i := range 3 {
			io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
			res, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
			if err != nil {
				t.Fatalf("request %d on one connection: %v", i+1, err)
			}
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || string(body) != helloBody {
				t.Fatalf("request %d on one connection: %d %q", i+1, res.StatusCode, body)
			}
		}
	})
}

// TestNothingHoldsUpAccepting: neither a client whose head is still
// arriving nor one that does not read its large answer delays the next
// client; both get their answers, whole, once they go on.
func TestNothingHoldsUpAccepting(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		partial := e.dial(t)
		io.WriteString(partial, "GET /hello HTTP/1.1\r\nHo")
		unread := e.dial(t)
		io.WriteString(unread, "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		time.Sleep(100 * time.Millisecond) // the socket fills up

		got, took := sendAndRead(t, e.addr, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, 3*time.Second)
		if !bytes.HasSuffix(got, []byte(helloBody)) || took > time.Second {
			t.Fatalf("the next client got %q after %v", got, took)
		}

		res, err := http.ReadResponse(bufio.NewReader(unread), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil || !bytes.Equal(body, bigBody) {
			t.Fatalf("the large answer: %d of %d bytes, %v", len(body), len(bigBody), err)
		}
		io.WriteString(partial, "st: x\r\nConnection: close\r\n\r\n")
		if got, _ := io.ReadAll(partial); string(got) != helloHead("GET")+helloBody {
			t.Fatalf("the head that came in two parts: %q", got)
		}
	})
}

// TestLateRequests: a client that sends its request a while after it
// connects is answered as one that sends it at once, from the accept loop
// where the loop can wait for it (sockets: asked Quick); a partial head
// that comes late too; and a client that sends nothing is closed when the
// head timeout, counted from the accept, is up.
func TestLateRequests(t *testing.T) {
	t.Parallel()
	const timeout = 600 * time.Millisecond
	eachAcceptMode(t, func(s *Server) { s.HeaderTimeout = timeout }, func(t *testing.T, e *testEnv) {
		want := helloHead("GET") + helloBody
		late := e.dial(t)
		time.Sleep(100 * time.Millisecond)
		io.WriteString(late, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if got, _ := io.ReadAll(late); string(got) != want {
			t.Fatalf("a request sent 100 ms after connecting: %q", got)
		}
		if e.holds && e.quick.Load() != 1 {
			t.Errorf("the late request was asked Quick %d times, want once: from the accept loop", e.quick.Load())
		}

		partial := e.dial(t)
		time.Sleep(50 * time.Millisecond)
		io.WriteString(partial, "GET /hello HTTP/1.1\r\nHo")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(partial, "st: x\r\nConnection: close\r\n\r\n")
		if got, _ := io.ReadAll(partial); string(got) != want {
			t.Fatalf("a head that came late and in two parts: %q", got)
		}

		silent, opened := e.dial(t), time.Now()
		time.Sleep(timeout / 2)
		if got, err := io.ReadAll(silent); len(got) != 0 || err != nil {
			t.Fatalf("a silent client: %q, %v; want the end of the stream", got, err)
		}
		if took := time.Since(opened); took < timeout-100*time.Millisecond || took > timeout+500*time.Millisecond {
			t.Errorf("a silent client was closed after %v, want %v", took, timeout)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHandsOffPartialHeads: a head that never ends, but whose first lines
// already rule out the fast path, or that the client cuts short with the
// end of its stream, gets net/http's answer at once, byte for byte,
// rather than the silence of a head timeout.
func TestHandsOffPartialHeads(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		// net/http alone, as the fast path hands it connections.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		plain := &http.Server{Handler: http.HandlerFunc(netHTTPHandler), ReadHeaderTimeout: DefaultHeaderTimeout}
		go plain.Serve(ln)
		t.Cleanup(func() { plain.Close() })

		for _, tc := range []struct {
			name, raw string
			halfClose bool
		}{
			{"header line without a colon", "GET /hello HTTP/1.1\r\nHost: x\r\nBadLine\r\n", false},
			{"request line with a fourth part", "GET /hello HTTP/1.1 extra\r\n", false},
			{"no request line", "GARBAGE\r\n", false},
			{"bare LF line ends, then a bad line", "GET /hello HTTP/1.1\nHost: x\nBadLine\n", false},
			{"end of stream after a header line", "GET /hello HTTP/1.1\r\nHost: x\r\n", true},
			{"end of stream inside the request line", "GET /hel", true},
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
	})
}

// TestSlowHead: a head that arrives a byte at a time is still the fast
// path's to answer, and the connection then waits in the fast path.
func TestSlowHead(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		req := "GET /hello HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
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
		res, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != helloBody || e.answered.Load() != 1 {
			t.Fatalf("slow head: %d %q, fast path answers %d", res.StatusCode, body, e.answered.Load())
		}
		for deadline := time.Now().Add(2 * time.Second); e.idle() != 1; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("after a slow head, the connection is not waiting in the fast path")
			}
		}
	})
}

// idle counts the connections waiting in the fast path for a request.
func (e *testEnv) idle() int {
	f := e.fp
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

// TestHeadDeadlineCarriesOver: a head that outgrows the fast path's
// buffer late is handed to net/http with the time it has left, not a
// fresh head timeout; a head that does arrive in time is answered, and
// its body may take longer than the head's deadline.
func TestHeadDeadlineCarriesOver(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	e := newTestEnv(t, func(s *Server) { s.HeaderTimeout = timeout })
	dial := func() (net.Conn, time.Time) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, time.Now()
	}
	start := "GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 3900)

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

	// The same head, ended in time, is answered (by net/http: it is over
	// the fast path's buffer).
	late, _ := dial()
	io.WriteString(late, start)
	time.Sleep(timeout / 2)
	io.WriteString(late, strings.Repeat("p", 400)+"\r\nConnection: close\r\n\r\n")
	if res, err := http.ReadResponse(bufio.NewReader(late), &http.Request{Method: http.MethodGet}); err != nil || res.StatusCode != 200 {
		t.Errorf("long head in time: %v %v", res, err)
	}

	// A body may arrive after the head's deadline: it has bodyTimeout.
	post, _ := dial()
	io.WriteString(post, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
	time.Sleep(timeout + 300*time.Millisecond)
	io.WriteString(post, "late")
	res, err := http.ReadResponse(bufio.NewReader(post), &http.Request{Method: http.MethodPost})
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Errorf("body after the head's deadline: %v %v", res, err)
	}
}

// TestSurvivesPanic: a panic in Answer closes that connection and nothing
// else.
func TestSurvivesPanic(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		got, _ := sendAndRead(t, e.addr, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", false, 3*time.Second)
		if len(got) != 0 {
			t.Fatalf("after the panic: %q, want the connection closed", got)
		}
		if got, _ := sendAndRead(t, e.addr, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false, 3*time.Second); !bytes.HasSuffix(got, []byte(helloBody)) {
			t.Fatalf("after the panic: %q", got)
		}
	})
}

// TestHandedConnectionsCloseWrite: net/http half-closes a connection
// whose request body it did not read, then waits a moment before it
// closes it (which resets a connection with unread data). It can only
// half-close the connections it is handed if they can. A client that
// reads to the end of the stream then gets the whole answer and the end
// at once, not a reset half a second later.
func TestHandedConnectionsCloseWrite(t *testing.T) {
	t.Parallel()
	eachAcceptMode(t, nil, func(t *testing.T, e *testEnv) {
		for i := range 3 {
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
			c.Write(bytes.Repeat([]byte("x"), 1<<20)) // more than net/http reads of it
			start := time.Now()
			got, err := io.ReadAll(c)
			took := time.Since(start)
			c.Close()
			if err != nil || !bytes.HasPrefix(got, []byte("HTTP/1.1 413 ")) || took > 400*time.Millisecond {
				t.Fatalf("try %d: %q, %v after %v; want the 413 and the end of the stream at once", i, got, err, took)
			}
		}
	})
}
