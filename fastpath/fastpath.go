// Package fastpath is a small HTTP/1.1 server loop in front of net/http.
// It reads each request head itself and, while requests are plain GET or
// HEAD reads its Answer takes, writes the answers in one system call each.
// At the first request it does not take, it hands the connection to
// net/http with everything read so far still unread, and net/http serves
// that connection from then on. It takes only heads it can parse with
// certainty; anything unusual is net/http's to answer or refuse. It knows
// nothing of what it serves.
//
// Why: an answer ready in memory costs a map lookup, yet net/http spends
// more than that again on each one (it copies, sorts and writes the header
// map and wakes a goroutine to watch the connection). A connection's
// first request, if it can be answered without waiting, is answered by
// the goroutine that accepted it (see first).
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
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Timeouts and limits, for the fast path and net/http alike.
const (
	DefaultHeaderTimeout = 10 * time.Second  // a request head must arrive within this
	idleTimeout          = 120 * time.Second // between requests on an open connection
	bodyTimeout          = 60 * time.Second  // a whole request, body included
	writeTimeout         = 60 * time.Second  // an answer
	maxHeaderBytes       = 16 << 10
	// headBufSize is the fast path's read buffer: a longer head goes to
	// net/http, which allows up to maxHeaderBytes.
	headBufSize = 4096
	// shutdownGrace is how long a shutdown waits for clients that have
	// connected but not yet sent their request.
	shutdownGrace = 5 * time.Second
)

// Server holds the connections the fast path serves and the net/http
// server it hands connections to. Set its exported fields before Serve.
type Server struct {
	// Answer answers the requests the fast path may take.
	Answer Answer
	// Handler serves the connections handed to net/http.
	Handler http.Handler
	// MaxConns and MaxConnsPerAddr cap the connections open at once, in
	// total and from one client address (0: no cap); RefusedTotal and
	// RefusedAddr are the whole answers written to a connection over either
	// cap before it is closed.
	MaxConns, MaxConnsPerAddr int
	RefusedTotal, RefusedAddr []byte
	// HeaderTimeout is how long a request head may take to arrive;
	// DefaultHeaderTimeout when zero (tests shorten it).
	HeaderTimeout time.Duration
	// Log receives what goes wrong: panics, failed accepts, refusals.
	Log *slog.Logger

	mu sync.Mutex
	ln net.Listener
	// also is what Shutdown closes besides ln to end the accept loop.
	also io.Closer
	// acceptDone closes when Serve's accept loop has ended.
	acceptDone chan struct{}
	hs         *http.Server
	handoff    *handoffListener
	conns      map[*conn]struct{}
	closing    atomic.Bool
	bufs       sync.Pool // *connBufs
	// in and out are the accept loop's buffers for the first request of
	// a connection and its answer's head (see first): one each for the
	// loop, not one per connection.
	in, out []byte
	caps    connCaps
}

// Connection states, as a shutdown needs them.
const (
	connNew     int32 = iota // waiting for its first request
	connActive               // reading or answering a request
	connIdle                 // waiting for a later request
	connClosing              // a shutdown is closing it
	connHanded               // with net/http, its first request not yet at a handler
	connGone                 // closed, or no longer the fast path's concern
)

// conn is an accepted connection. Once handed to net/http, its reads
// drain the fast path's buffer first.
type conn struct {
	net.Conn
	*connBufs
	remote string // client address, as clientAddr gives it for net/http
	number uint64 // Request.Conn
	// firstDue is when the first request head is due: the head timeout
	// runs from the accept.
	firstDue time.Time
	state    atomic.Int32
	caps     *connCaps
	// counted: the connection still counts against caps.
	counted atomic.Bool

	// Once handed on, until its request reaches the handler: the head's
	// deadline, and the read deadline net/http last asked for.
	mu            sync.Mutex
	headBy, asked time.Time
}

func (c *conn) Read(p []byte) (int, error) { return c.br.Read(p) }

// CloseWrite half-closes a TCP connection, as net/http does before it
// closes one whose request body it did not read (after a 413, say): the
// client then gets the answer, not a reset.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close frees the connection's place under the caps, before it closes, so
// that a client that sees it close may connect again at once. net/http
// closes the connections it was handed with it too.
func (c *conn) Close() error {
	if c.counted.Swap(false) {
		c.caps.release(c.remote)
	}
	return c.Conn.Close()
}

// SetReadDeadline is how net/http times a handed connection. Until the
// head the fast path was reading when it handed the connection on is in,
// no deadline may end after the fast path's for that head, or a head that
// outgrows the fast path's buffer would win a fresh ReadHeaderTimeout. No
// deadline at all, which net/http asks for only once it has read a head
// (a read in the background while the handler runs), goes through.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = t
	if !c.headBy.IsZero() && t.After(c.headBy) {
		t = c.headBy
	}
	return c.Conn.SetReadDeadline(t)
}

// headIn ends the hold of SetReadDeadline once the head is in, with the
// deadline net/http last asked for: the one for the request's body.
func (c *conn) headIn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.headBy.IsZero() {
		c.headBy = time.Time{}
		c.Conn.SetReadDeadline(c.asked)
	}
}

// connBufs are a connection's read buffer and answer scratch space, pooled
// because a client of the nessemble kind opens a connection per request.
type connBufs struct {
	br  *bufio.Reader
	out []byte
}

type connKey struct{}

// Serve answers HTTP on ln until Shutdown, then returns http.ErrServerClosed.
func (f *Server) Serve(ln net.Listener) error {
	f.mu.Lock()
	if f.closing.Load() {
		f.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed // as net/http's Serve after Shutdown
	}
	if f.ln != nil {
		f.mu.Unlock()
		return errors.New("fastpath: Serve called twice")
	}
	l, also, err := listenerOf(ln)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	f.ln, f.also = ln, also
	if f.HeaderTimeout == 0 {
		f.HeaderTimeout = DefaultHeaderTimeout
	}
	f.acceptDone = make(chan struct{})
	f.in, f.out = make([]byte, headBufSize), make([]byte, 0, 1024)
	f.conns = make(map[*conn]struct{})
	f.caps.init(f.MaxConns, f.MaxConnsPerAddr, f.RefusedTotal, f.RefusedAddr, f.Log)
	f.handoff = &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	f.hs = &http.Server{
		Handler: http.HandlerFunc(f.handedRequest),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ConnState:         f.handedState,
		ReadHeaderTimeout: f.HeaderTimeout,
		ReadTimeout:       bodyTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(f.Log.Handler(), slog.LevelWarn),
	}
	f.mu.Unlock()
	go f.hs.Serve(f.handoff)

	defer close(f.acceptDone)
	defer f.caps.flush() // the refusals not yet reported
	// The sockets still held go on as any other connection, so that a
	// shutdown waits for their requests too.
	defer func() {
		for _, a := range l.release() {
			f.serveLater(a, nil, true)
		}
	}()
	var backoff time.Duration
	var accepted uint64
	for {
		a, err := l.next()
		if err != nil {
			if f.closing.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors, most likely: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			f.Log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if a.held {
			if !time.Now().Before(a.by) {
				f.drop(a) // silent for its whole head timeout
				continue
			}
			f.first(l, a)
			continue
		}
		if refused := f.caps.admit(a.remote); refused != nil {
			refuse(a.s, refused)
			continue
		}
		accepted++
		a.number, a.by = accepted, time.Now().Add(f.HeaderTimeout)
		f.first(l, a)
	}
}

// first serves a, accepted just now or held by l until now. The
// nessemble client opens a connection per request, and a goroutine for
// each costs more than the answer: the scheduler wakes another thread to
// run it. So when a's first request head has arrived and Answer has the
// answer ready in memory, first answers it here, on the accepting
// goroutine, if the answer goes out in one write that does not wait. A
// socket with nothing to read yet, l holds for the accept loop to come
// back to (socket_linux.go). Anything else that would wait (a head still
// arriving, an answer to render, a socket that does not take it all, a
// next request on the connection) goes to a goroutine of the
// connection's own, which takes over where this left off.
func (f *Server) first(l listener, a fresh) {
	defer func() {
		if p := recover(); p != nil {
			f.Log.Error("panic in the fast path", "panic", p, "stack", string(debug.Stack()))
			f.drop(a)
		}
	}()
	n, err := a.s.readNow(f.in)
	switch {
	case err != nil: // the client has gone
		f.drop(a)
		return
	case n == 0 && !a.held && !f.closing.Load() && l.hold(a):
		return
	}
	in := f.in[:n]
	end := headEnd(in)
	if end < 0 {
		f.serveLater(a, in, true)
		return
	}
	out, body, keepOpen, ok := f.answer(f.out[:0], a.remote, a.number, in[:end], true)
	if !ok { // to ask Answer again, allowed to wait, or to hand on
		f.serveLater(a, in, true)
		return
	}
	f.out = out
	keepOpen = keepOpen && !f.closing.Load()
	unsent, err := a.s.writeNow(net.Buffers{out, body})
	switch {
	case err != nil:
		f.drop(a)
	case len(unsent) > 0:
		if c := f.adopt(a, in[end:]); c != nil {
			if len(unsent) == 2 { // the head's rest, out of the loop's f.out
				unsent[0] = append(c.out[:0], unsent[0]...)
			}
			go f.finish(c, unsent, keepOpen)
		}
	case keepOpen:
		f.serveLater(a, in[end:], false)
	default:
		f.drop(a)
	}
}

// serveLater gives a, whose reads start with the bytes already read from
// it, a goroutine that serves it; first says whether its first request is
// still to come.
func (f *Server) serveLater(a fresh, read []byte, first bool) {
	if c := f.adopt(a, read); c != nil {
		go f.serve(c, first)
	}
}

// drop closes a, which is done with.
func (f *Server) drop(a fresh) {
	a.s.close()
	f.caps.release(a.remote)
}

// adopt makes a a conn, whose reads start with the bytes already read
// from it, for a goroutine of its own; nil if it cannot.
func (f *Server) adopt(a fresh, read []byte) *conn {
	raw, err := a.s.conn()
	if err != nil { // and the socket is closed
		f.Log.Warn("cannot take a connection", "err", err)
		f.caps.release(a.remote)
		return nil
	}
	c := &conn{Conn: raw, connBufs: f.getBufs(raw), remote: a.remote, number: a.number, firstDue: a.by, caps: &f.caps}
	if len(read) > 0 {
		c.br.Reset(&carried{first: bytes.Clone(read), r: raw})
	}
	c.counted.Store(true)
	c.state.Store(connActive)
	// Tracked here, before the next accept: once the accept loop has
	// ended, a shutdown knows every connection it must wait for, even
	// one accepted just before the listener closed.
	f.track(c)
	return c
}

// finish writes the rest of the answer first began on c, and serves
// c's next requests if keepOpen.
func (f *Server) finish(c *conn, unsent net.Buffers, keepOpen bool) {
	defer f.recoverPanic(c)
	if f.write(c, unsent) && keepOpen {
		f.serveRequests(c, false)
		return
	}
	f.end(c)
}

// serve answers requests on c until it closes or goes to net/http; first
// says whether c has had none yet.
func (f *Server) serve(c *conn, first bool) {
	defer f.recoverPanic(c)
	f.serveRequests(c, first)
}

// recoverPanic ends c after a panic, which would otherwise take the whole
// server down: net/http's own recovery does not cover the fast path.
func (f *Server) recoverPanic(c *conn) {
	if p := recover(); p != nil {
		f.Log.Error("panic in the fast path", "panic", p, "stack", string(debug.Stack()))
		c.Close()
		f.forget(c)
	}
}

// end closes c, which is done with.
func (f *Server) end(c *conn) {
	c.Close()
	f.forget(c)
	f.putBufs(c.connBufs)
}

func (f *Server) serveRequests(c *conn, first bool) {
	raw := c.Conn
	for ; ; first = false {
		// headBy is when the request head must be in, which a hand-off
		// carries over to net/http (see conn.SetReadDeadline).
		headBy, waiting := time.Now().Add(idleTimeout), connIdle
		if first {
			headBy, waiting = c.firstDue, connNew
		}
		// The deadline goes before the state that lets a shutdown close
		// the connection, so that the shutdown's deadline (see quiet)
		// comes after it and wins.
		raw.SetReadDeadline(headBy)
		c.state.Store(waiting)
		_, err := c.br.Peek(1)
		if err != nil || !c.state.CompareAndSwap(waiting, connActive) {
			break // the client left, timed out, or a shutdown closed it
		}
		if !first {
			headBy = time.Now().Add(f.HeaderTimeout)
			raw.SetReadDeadline(headBy)
		}
		head, err := readHead(c.br)
		if errors.Is(err, errNotOurs) {
			f.handOff(c, headBy)
			return
		}
		if err != nil {
			break
		}
		out, body, keepOpen, ok := f.answer(c.out[:0], c.remote, c.number, head, false)
		if !ok {
			f.handOff(c, headBy)
			return
		}
		c.out = out
		c.br.Discard(len(head))
		if !f.write(c, net.Buffers{out, body}) || !keepOpen || f.closing.Load() {
			break
		}
	}
	f.end(c)
}

// handOff gives c to net/http, its read buffer still holding what the
// fast path has read of it, and the request head in it due by headBy.
func (f *Server) handOff(c *conn, headBy time.Time) {
	c.Conn.SetWriteDeadline(time.Time{}) // net/http sets its own
	c.headBy = headBy                    // before net/http has c
	c.state.Store(connHanded)
	if !f.handoff.give(c) {
		c.Close()
		f.forget(c)
	}
}

// handedRequest is net/http's handler: the first request of a handed
// connection that reaches it releases the connection from the fast path's
// shutdown wait.
func (f *Server) handedRequest(w http.ResponseWriter, r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(*conn); ok {
		c.headIn()
		if c.state.Load() != connGone {
			f.forget(c)
		}
	}
	f.Handler.ServeHTTP(w, r)
}

func (f *Server) handedState(nc net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		if c, ok := nc.(*conn); ok {
			f.forget(c)
		}
	}
}

// track adds c to the connections a shutdown waits for.
func (f *Server) track(c *conn) {
	f.mu.Lock()
	f.conns[c] = struct{}{}
	f.mu.Unlock()
}

func (f *Server) forget(c *conn) {
	if c.state.Swap(connGone) == connGone {
		return
	}
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *Server) getBufs(raw net.Conn) *connBufs {
	b, _ := f.bufs.Get().(*connBufs)
	if b == nil {
		return &connBufs{br: bufio.NewReaderSize(raw, headBufSize), out: make([]byte, 0, 1024)}
	}
	b.br.Reset(raw)
	return b
}

func (f *Server) putBufs(b *connBufs) {
	b.br.Reset(nil)
	f.bufs.Put(b)
}

// Shutdown stops the server without losing a request. It stops accepting;
// lets each connection already accepted deliver its request (waiting up to
// shutdownGrace for clients that have sent nothing yet); closes idle
// connections; and waits for the answers under way, or until ctx ends. A
// second call does nothing.
func (f *Server) Shutdown(ctx context.Context) error {
	f.mu.Lock()
	already := f.closing.Swap(true)
	ln, also, hs, acceptDone := f.ln, f.also, f.hs, f.acceptDone
	f.mu.Unlock()
	if ln == nil || already {
		return nil
	}
	ln.Close()
	if also != nil {
		also.Close()
	}
	select {
	case <-acceptDone: // every accepted connection is tracked now
	case <-ctx.Done():
		return ctx.Err()
	}
	grace := time.Now().Add(shutdownGrace)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !f.quiet(time.Now().After(grace)) {
		select {
		case <-ctx.Done():
			f.closeAll()
			hs.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
	// net/http's own shutdown drops a request it finishes reading after
	// the shutdown has begun (golang/go#75591): by now every handed
	// connection has delivered its request, or had its grace.
	return hs.Shutdown(ctx)
}

// quiet closes the connections a shutdown need not wait for and reports
// whether no other is left.
func (f *Server) quiet(graceOver bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	busy := false
	for c := range f.conns {
		switch st := c.state.Load(); {
		case st == connIdle, st == connNew && graceOver:
			if c.state.CompareAndSwap(st, connClosing) {
				c.Conn.SetReadDeadline(time.Unix(1, 0)) // wakes its reader
			}
			busy = true // until its goroutine has closed it
		case st == connHanded && graceOver:
			// net/http's Shutdown takes it from here.
		default:
			busy = true
		}
	}
	return !busy
}

func (f *Server) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Conn.Close()
	}
}

// handoffListener is the listener net/http serves: it yields the
// connections the fast path hands over.
type handoffListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// Answer is the fast path's side of a request. It appends the whole head
// of the answer to r (status line to blank line) to buf and returns it,
// with the body to send after it (none for HEAD or 304); keepOpen says
// whether the connection may take another request. ok false declines
// the request: the connection goes to net/http, the head still unread.
type Answer func(buf []byte, r Request) (head, body []byte, keepOpen, ok bool)

// answer asks Answer, appending to buf, for the answer to one request
// head from the number-th connection, whose client is remote, with its
// Quick as given; ok false declines it.
func (f *Server) answer(buf []byte, remote string, number uint64, head []byte, quick bool) (out, body []byte, keepOpen, ok bool) {
	r, ok := parseRequest(head)
	if !ok {
		return nil, nil, false, false
	}
	r.Remote, r.Conn, r.Quick = remote, number, quick
	return f.Answer(buf, r) // by value: a pointer would escape
}

// write writes an answer to c, in one system call when the socket takes
// it all, and reports whether it went out.
func (f *Server) write(c *conn, answer net.Buffers) bool {
	c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := answer.WriteTo(c.Conn) // one writev
	return err == nil
}

// remoteHost is the host part of a "host:port" address.
func remoteHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}
