package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The front is a small HTTP/1.1 loop of our own in front of net/http.
//
// A cached read costs the registry a map lookup, yet net/http spends more
// than that again on each answer: it copies, sorts and writes the header
// map and wakes a goroutine to watch the connection. The front reads each
// request head itself and, while requests are plain GET or HEAD reads of
// package data, answers them from the answer cache (rendering a missing
// answer into it first) in one system call. At the first request it does
// not take, it hands the connection to net/http
// with everything read so far still unread, and net/http serves that
// connection from then on. The front takes only heads it can parse with
// certainty; anything unusual is net/http's to answer or refuse.

// Timeouts and limits, for the front and net/http alike.
const (
	headerTimeout  = 10 * time.Second  // a request head must arrive within this
	idleTimeout    = 120 * time.Second // between requests on an open connection
	bodyTimeout    = 60 * time.Second  // a whole request, body included
	writeTimeout   = 60 * time.Second  // an answer
	maxHeaderBytes = 16 << 10
	// frontHeadMax is the front's read buffer: a longer head goes to
	// net/http, which allows up to maxHeaderBytes.
	frontHeadMax = 4096
	// shutdownGrace is how long a shutdown waits for clients that have
	// connected but not yet sent their request.
	shutdownGrace = 5 * time.Second
)

// front holds the connections the front serves and the net/http server
// it hands connections to.
type front struct {
	mu sync.Mutex
	ln net.Listener
	// acceptDone closes when Serve's accept loop has ended.
	acceptDone chan struct{}
	hs         *http.Server
	handoff    *handoffListener
	conns      map[*frontConn]struct{}
	closing    atomic.Bool
	bufs       sync.Pool // *connBufs
	caps       connCaps
	// headerTimeout is the constant of that name, but shorter in tests that
	// cannot wait for it.
	headerTimeout time.Duration
}

// Connection states, as a shutdown needs them.
const (
	connNew     int32 = iota // waiting for its first request
	connActive               // reading or answering a request
	connIdle                 // waiting for a later request
	connClosing              // a shutdown is closing it
	connHanded               // with net/http, its first request not yet at a handler
	connGone                 // closed, or no longer the front's concern
)

// frontConn is an accepted connection. Once handed to net/http, its reads
// drain the front's buffer first.
type frontConn struct {
	net.Conn
	*connBufs
	remote string // client address, as clientAddr gives it for net/http
	state  atomic.Int32
	caps   *connCaps
	// counted: the connection still counts against caps.
	counted atomic.Bool

	// Once handed on, until its request reaches the handler: the head's
	// deadline, and the read deadline net/http last asked for.
	mu            sync.Mutex
	headBy, asked time.Time
}

func (c *frontConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// Close frees the connection's place under the caps, before it closes, so
// that a client that sees it close may connect again at once. net/http
// closes the connections it was handed with it too.
func (c *frontConn) Close() error {
	if c.counted.Swap(false) {
		c.caps.release(c.remote)
	}
	return c.Conn.Close()
}

// SetReadDeadline is how net/http times a handed connection. Until the
// head the front was reading when it handed the connection on is in,
// no deadline may end after the front's for that head, or a head that
// outgrows the front's buffer would win a fresh ReadHeaderTimeout. No
// deadline at all, which net/http asks for only once it has read a head
// (a read in the background while the handler runs), goes through.
func (c *frontConn) SetReadDeadline(t time.Time) error {
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
func (c *frontConn) headIn() {
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

type frontConnKey struct{}

// Serve answers HTTP on ln until Shutdown, then returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	f := &s.front
	f.mu.Lock()
	if f.closing.Load() {
		f.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed // as net/http's Serve after Shutdown
	}
	if f.ln != nil {
		f.mu.Unlock()
		return errors.New("server: Serve called twice")
	}
	f.ln = ln
	if f.headerTimeout == 0 {
		f.headerTimeout = headerTimeout
	}
	f.acceptDone = make(chan struct{})
	f.conns = make(map[*frontConn]struct{})
	f.caps.init(s.cfg.MaxConns, s.cfg.MaxConnsPerAddr, s.log)
	f.handoff = &handoffListener{addr: ln.Addr(), conns: make(chan net.Conn), done: make(chan struct{})}
	f.hs = &http.Server{
		Handler: http.HandlerFunc(f.handedRequest(s)),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, frontConnKey{}, c)
		},
		ConnState:         f.handedState,
		ReadHeaderTimeout: f.headerTimeout,
		ReadTimeout:       bodyTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	f.mu.Unlock()
	go f.hs.Serve(f.handoff)
	go s.core.Follow(s.stopFollow)

	defer close(f.acceptDone)
	defer f.caps.flush() // the refusals not yet reported
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if f.closing.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors, most likely: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		remote := addrHost(raw.RemoteAddr().String())
		if refused := f.caps.admit(remote); refused != nil {
			refuse(raw, refused)
			continue
		}
		// Tracked here, before the next Accept: once this loop has ended,
		// a shutdown knows every connection it must wait for, even one
		// accepted just before the listener closed.
		c := &frontConn{Conn: raw, connBufs: f.getBufs(raw), remote: remote, caps: &f.caps}
		c.counted.Store(true)
		c.state.Store(connActive)
		f.track(c)
		go f.serve(s, c)
	}
}

// serve answers requests on c until it closes or goes to net/http.
func (f *front) serve(s *Server, c *frontConn) {
	raw := c.Conn
	// A panic here would otherwise take the whole server down: net/http's
	// own recovery does not cover the front's goroutines.
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in the front", "panic", p, "stack", string(debug.Stack()))
			c.Close()
			f.forget(c)
		}
	}()
	for first := true; ; first = false {
		wait, waiting := idleTimeout, connIdle
		if first {
			wait, waiting = f.headerTimeout, connNew
		}
		// headBy is when the request head must be in, which a hand-off
		// carries over to net/http (see frontConn.SetReadDeadline).
		headBy := time.Now().Add(wait)
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
			headBy = time.Now().Add(f.headerTimeout)
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
		answered, keepOpen := s.answerCached(c, head)
		if !answered {
			f.handOff(c, headBy)
			return
		}
		c.br.Discard(len(head))
		if !keepOpen || f.closing.Load() {
			break
		}
	}
	c.Close()
	f.forget(c)
	f.putBufs(c.connBufs)
}

// errNotOurs is readHead's word that a request is net/http's to answer.
var errNotOurs = errors.New("server: a request head the front does not take")

// readHead waits for a whole request head in br and returns it, still
// unread. It fails with errNotOurs as soon as what has arrived shows that
// the front cannot take the request (a head longer than the buffer, a
// line parseRead refuses), and when the client ends its stream inside a
// head: net/http answers those at once (400 for a head cut short, see
// TestFrontHandsOffPartialHeads), where waiting for the rest of the head
// would only run out its deadline.
func readHead(br *bufio.Reader) ([]byte, error) {
	for n, checked := 1, 0; ; {
		_, err := br.Peek(n)
		buf, _ := br.Peek(br.Buffered())
		switch {
		case errors.Is(err, bufio.ErrBufferFull), err == io.EOF && len(buf) > 0:
			return nil, errNotOurs
		case err != nil:
			return nil, err
		}
		if end := headEnd(buf); end > 0 {
			return buf[:end], nil
		}
		var ok bool
		if checked, ok = takeableLines(buf, checked); !ok {
			return nil, errNotOurs
		}
		n = len(buf) + 1
	}
}

// headEnd returns the length of the head in b, up to and including the
// blank line that ends it, or -1 when b holds no blank line yet. Bare LF
// line ends count here, so that such a head is found and handed on.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// takeableLines looks at the complete lines of a partial head from offset
// from on, and returns the offset after them; ok is false when one of them
// is a line parseRead refuses: a request line other than a plain GET or
// HEAD of HTTP/1.1, a malformed header line, a bare LF line end.
// FuzzFrontHead holds it to parseRead.
func takeableLines(b []byte, from int) (next int, ok bool) {
	for {
		j := bytes.IndexByte(b[from:], '\n')
		if j < 0 {
			return from, true
		}
		line, cr := bytes.CutSuffix(b[from:from+j], []byte("\r"))
		if !cr {
			return from, false
		}
		if from == 0 {
			method, rest, _ := strings.Cut(string(line), " ")
			target, proto, _ := strings.Cut(rest, " ")
			ok = (method == http.MethodGet || method == http.MethodHead) && proto == "HTTP/1.1" && plainTarget(target)
		} else {
			name, value, colon := strings.Cut(string(line), ":")
			ok = colon && validHeaderName(name) && validHeaderValue(value)
		}
		if !ok {
			return from, false
		}
		from += j + 1
	}
}

// plainRead is a request head the front may answer.
type plainRead struct {
	method, path, query          string
	host, userAgent, accept, inm string
	close                        bool // the client sent Connection: close
}

// parseRead parses a request head, strictly. ok is false for anything
// but an HTTP/1.1 GET or HEAD without a body, with a target of plain
// printable characters and one valid Host, and well-formed header lines.
func parseRead(head []byte) (r plainRead, ok bool) {
	h := string(head) // one copy; every field below is a substring of it
	line, rest, _ := strings.Cut(h, "\r\n")
	method, line, _ := strings.Cut(line, " ")
	target, proto, _ := strings.Cut(line, " ")
	if method != http.MethodGet && method != http.MethodHead || proto != "HTTP/1.1" || !plainTarget(target) {
		return r, false
	}
	r.method = method
	r.path, r.query, _ = strings.Cut(target, "?")
	hosts := 0
	for {
		line, rest, ok = strings.Cut(rest, "\r\n")
		if !ok {
			return r, false // a bare LF line end
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validHeaderName(name) || !validHeaderValue(value) {
			return r, false
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Host"):
			r.host = value
			hosts++
		case strings.EqualFold(name, "User-Agent"):
			if r.userAgent == "" {
				r.userAgent = value
			}
		case strings.EqualFold(name, "Accept"):
			if r.accept == "" {
				r.accept = value
			}
		case strings.EqualFold(name, "If-None-Match"):
			if r.inm == "" {
				r.inm = value
			}
		case strings.EqualFold(name, "Connection"):
			for _, tok := range strings.Split(value, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "close") {
					r.close = true
				}
			}
		case strings.EqualFold(name, "Content-Length"), strings.EqualFold(name, "Transfer-Encoding"),
			strings.EqualFold(name, "Expect"), strings.EqualFold(name, "Upgrade"):
			return r, false
		}
	}
	return r, hosts == 1 && validHost(r.host)
}

// plainTarget accepts an origin-form target of printable ASCII without
// escapes or fragment, whose URL path is then the target's path as it is.
func plainTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '#' {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue refuses control characters other than tab, as
// net/http does.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// answerCached answers a plain read from the answer cache, with the same
// status, headers and body as serveHTTP would send. It reports whether it
// answered, and whether the connection stays open.
func (s *Server) answerCached(c *frontConn, head []byte) (answered, keepOpen bool) {
	r, ok := parseRead(head)
	if !ok {
		return false, false
	}
	if _, bad := unsupportedVersion(r.accept); bad {
		return false, false // net/http's path refuses it
	}
	legacy := legacyClient(r.userAgent)
	path, base := s.route(r.host, r.path)
	params, ok := readQuery(path)
	if !ok {
		return false, false
	}
	query := normalQuery(r.query, params)
	key := cacheKey(legacy, base, path, query)
	if key == "" {
		return false, false
	}
	e := s.cache.get(key)
	if e == nil && s.limiter.allows(c.remote, time.Now()) {
		s.fill(legacy, r.path, query, path, base, key)
		e = s.cache.get(key)
	}
	if e == nil {
		return false, false
	}
	start := time.Now()
	rate, ok := s.limiter.take(c.remote, start)
	if !ok {
		// net/http's path answers 429. It counts the request again,
		// which changes nothing for a client already over its limit.
		return false, false
	}

	status := http.StatusOK
	if r.inm != "" && etagMatch(r.inm, e.etag[0]) {
		status = http.StatusNotModified
	}
	closeAfter := legacy || r.method == http.MethodHead || r.close
	sec := s.perSecond(start)
	// The headers of send and finish, in net/http's order (sorted, then
	// Date); TestFrontMatchesNetHTTP holds the two paths together.
	b := c.out[:0]
	if status == http.StatusOK {
		b = append(b, "HTTP/1.1 200 OK\r\n"...)
	} else {
		b = append(b, "HTTP/1.1 304 Not Modified\r\n"...)
	}
	b = appendHeader(b, "Access-Control-Allow-Origin", hdrStar[0])
	b = appendHeader(b, "Cache-Control", s.maxAge[0])
	if closeAfter {
		b = appendHeader(b, "Connection", hdrClose[0])
	}
	if e.disposition != nil {
		b = appendHeader(b, "Content-Disposition", e.disposition[0])
	}
	if status == http.StatusOK {
		b = appendHeader(b, "Content-Length", e.length[0])
		b = appendHeader(b, "Content-Type", e.ctype[0])
	}
	b = appendHeader(b, "ETag", e.etag[0])
	b = appendHeader(b, "Expires", sec.expires[0])
	if rate.limit > 0 {
		b = append(b, "Retry-After: "...)
		b = strconv.AppendInt(b, int64(rate.retryAfter), 10)
		b = append(b, "\r\n"...)
	}
	b = appendHeader(b, "Server", hdrServer[0])
	if e.vary != nil {
		b = appendHeader(b, "Vary", e.vary[0])
	}
	b = appendHeader(b, "X-Content-Type-Options", hdrNosniff[0])
	if e.integrity != nil {
		b = appendHeader(b, "X-Integrity", e.integrity[0])
	}
	if rate.limit > 0 {
		b = append(b, "X-RateLimit-Limit: "...)
		b = strconv.AppendInt(b, int64(rate.limit), 10)
		b = append(b, "\r\nX-RateLimit-Remaining: "...)
		b = strconv.AppendInt(b, int64(rate.remaining), 10)
		b = append(b, "\r\nX-RateLimit-Reset: "...)
		b = strconv.AppendInt(b, rate.reset, 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Response-Time: "...)
	b = strconv.AppendFloat(b, time.Since(start).Seconds(), 'f', 3, 64)
	b = append(b, "\r\n"...)
	b = appendHeader(b, "Date", sec.date)
	b = append(b, "\r\n"...)
	c.out = b

	var body []byte
	if status == http.StatusOK && r.method == http.MethodGet {
		body = e.body
	}
	c.Conn.SetWriteDeadline(start.Add(writeTimeout))
	var err error
	if len(body) > 0 {
		bufs := net.Buffers{b, body}
		_, err = bufs.WriteTo(c.Conn) // one writev
	} else {
		_, err = c.Conn.Write(b)
	}
	if s.access != nil {
		s.access.write(r.method, r.path, status, len(body), start, c.remote)
	}
	return true, err == nil && !closeAfter
}

// fill renders a read into the answer cache when its route is one of the
// cacheable reads, so that a client on a kept-alive connection whose read
// misses the cache (the first read after a start or a publish) stays with
// the front. The rendered answer itself is thrown away, and so is an
// error: net/http's path answers that one.
func (s *Server) fill(legacy bool, urlPath, query, path, base, key string) {
	h, ps, _ := s.reads.Lookup(http.MethodGet, path)
	if h == nil {
		return
	}
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: urlPath, RawQuery: query}}
	c := &call{
		ResponseWriter: &discardWriter{}, r: r, s: s, path: path, base: base, start: time.Now(),
		legacy: legacy, cacheKey: key, gen: s.core.Serial(),
	}
	h(c, r, ps)
}

// discardWriter is the ResponseWriter of fill, whose answer nobody reads.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = make(http.Header)
	}
	return d.h
}
func (*discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (*discardWriter) WriteHeader(int)             {}

func appendHeader(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// handOff gives c to net/http, its read buffer still holding what the
// front has read of it, and the request head in it due by headBy.
func (f *front) handOff(c *frontConn, headBy time.Time) {
	c.Conn.SetWriteDeadline(time.Time{}) // net/http sets its own
	c.headBy = headBy                    // before net/http has c
	c.state.Store(connHanded)
	if !f.handoff.give(c) {
		c.Close()
		f.forget(c)
	}
}

// handedRequest is net/http's handler: the first request of a handed
// connection that reaches it releases the connection from the front's
// shutdown wait.
func (f *front) handedRequest(s *Server) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(frontConnKey{}).(*frontConn); ok {
			c.headIn()
			if c.state.Load() != connGone {
				f.forget(c)
			}
		}
		s.serveHTTP(w, r)
	}
}

func (f *front) handedState(nc net.Conn, st http.ConnState) {
	if st == http.StateClosed || st == http.StateHijacked {
		if c, ok := nc.(*frontConn); ok {
			f.forget(c)
		}
	}
}

// track adds c to the connections a shutdown waits for.
func (f *front) track(c *frontConn) {
	f.mu.Lock()
	f.conns[c] = struct{}{}
	f.mu.Unlock()
}

func (f *front) forget(c *frontConn) {
	if c.state.Swap(connGone) == connGone {
		return
	}
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

func (f *front) getBufs(raw net.Conn) *connBufs {
	b, _ := f.bufs.Get().(*connBufs)
	if b == nil {
		return &connBufs{br: bufio.NewReaderSize(raw, frontHeadMax), out: make([]byte, 0, 1024)}
	}
	b.br.Reset(raw)
	return b
}

func (f *front) putBufs(b *connBufs) {
	b.br.Reset(nil)
	f.bufs.Put(b)
}

// Shutdown stops the server without losing a request. It stops accepting;
// lets each connection already accepted deliver its request (waiting up to
// shutdownGrace for clients that have sent nothing yet); closes idle
// connections; waits for the answers under way and for work they left
// running (reset emails); or until ctx ends. A second call only waits for
// that work.
func (s *Server) Shutdown(ctx context.Context) error {
	f := &s.front
	f.mu.Lock()
	already := f.closing.Swap(true)
	ln, hs, acceptDone := f.ln, f.hs, f.acceptDone
	f.mu.Unlock()
	if ln == nil || already {
		return s.core.Wait(ctx)
	}
	ln.Close()
	close(s.stopFollow)
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
	if err := hs.Shutdown(ctx); err != nil {
		return err
	}
	return s.core.Wait(ctx)
}

// quiet closes the connections a shutdown need not wait for and reports
// whether no other is left.
func (f *front) quiet(graceOver bool) bool {
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

func (f *front) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Conn.Close()
	}
}

// handoffListener is the listener net/http serves: it yields the
// connections the front hands over.
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
