// Package server is the registry's HTTP API: routes, handlers and the
// response conventions the nessemble client depends on (docs/PROTOCOL.md).
package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nessemble/nessemble-registry/fastpath"
	"github.com/nessemble/nessemble-registry/registry"
)

// Config holds the server's settings. Zero values take the defaults below.
type Config struct {
	// BaseURL is the registry's public URL, path prefix included. Absolute
	// URLs in answers are built from it; empty means "from the request's
	// Host". The server also answers under its path prefix.
	BaseURL string
	// RateLimit is how many requests one client address may make per
	// RateWindow; negative turns limiting off.
	RateLimit  int
	RateWindow time.Duration
	// MaxAge is how long clients may cache read answers.
	MaxAge time.Duration
	// MaxUpload bounds a publish request's body.
	MaxUpload int64
	// MaxConns and MaxConnsPerAddr cap the connections open at once, in
	// total and from one client address; connections over a cap are
	// refused at accept.
	MaxConns, MaxConnsPerAddr int
	// TrustedProxies are the addresses of proxies (a load balancer) whose
	// X-Forwarded-For is believed for login throttling: a login that comes
	// through one counts against the last address it added, not its own,
	// so that everyone behind it does not share one budget.
	TrustedProxies []netip.Prefix
	// Version is the server's own version, shown by /status.
	Version string
	// AccessLog, when set, receives one line per request, as slog's text
	// handler would write it, or its JSON handler with AccessLogJSON.
	AccessLog     io.Writer
	AccessLogJSON bool
	// Metrics, when set, receives the server's Prometheus metrics
	// (metrics.go); Stats, when set, adds what the data folder holds.
	Metrics prometheus.Registerer
	Stats   func(context.Context) (registry.Stats, error)
	// Ready reports whether the data folder can serve and store, for
	// GET /readyz (health.go): problem is shown, err logged. Nil: always.
	Ready func(context.Context) (problem string, err error)
}

// Defaults.
const (
	DefaultRateLimit  = 1200 // per address per minute: a classroom of 30 behind one NAT
	DefaultRateWindow = time.Minute
	DefaultMaxAge     = 60 * time.Second
	DefaultMaxUpload  = 1 << 20
	// About 65 MiB of held connections at most (16 KiB each in
	// net/http's hands, 4 in the fast path's: TestConnectionFloodRSS), and an
	// address needs 16 times its cap to fill it; 256 is well above a
	// classroom of 30 behind one NAT.
	DefaultMaxConns        = 4096
	DefaultMaxConnsPerAddr = 256
)

func (c *Config) setDefaults() {
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateWindow <= 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = DefaultMaxUpload
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerAddr <= 0 {
		c.MaxConnsPerAddr = DefaultMaxConnsPerAddr
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
}

// Server answers the registry API over the registry's rules.
type Server struct {
	cfg     Config
	core    *registry.Service
	log     *slog.Logger
	router  *httprouter.Router
	reads   []*readRoute // the cached reads of router
	limiter *limiter
	cache   *respCache
	maxAge  []string // Cache-Control of reads
	second  atomic.Pointer[perSecond]
	access  *accessLog // nil: no access log
	started time.Time

	// mount is the path prefix of BaseURL ("" or "/registry"), which the
	// server strips from requests that still carry it.
	mount string

	fast *fastpath.Server // see fast.go
	m    *metrics         // nil: metrics off
	// stopping is set when Shutdown begins; /readyz answers 503 then.
	stopping atomic.Bool
	ready    readiness
	// stopFollow ends the change log follower that Serve starts.
	stopFollow chan struct{}
	stopOnce   sync.Once
}

// New builds a server. The logger receives what goes wrong inside it.
func New(cfg Config, core *registry.Service, log *slog.Logger) *Server {
	cfg.setDefaults()
	s := &Server{
		cfg:     cfg,
		core:    core,
		log:     log,
		started: time.Now(),
	}
	if u, err := url.Parse(cfg.BaseURL); err == nil {
		s.mount = strings.TrimRight(u.Path, "/")
	}
	s.limiter = newLimiter(cfg.RateLimit, cfg.RateWindow)
	s.cache = newRespCache(core.Serial)
	s.maxAge = []string{"max-age=" + strconv.Itoa(int(cfg.MaxAge/time.Second))}
	s.access = newAccessLog(cfg.AccessLog, cfg.AccessLogJSON)
	if cfg.Metrics != nil {
		s.m = newMetrics(cfg.Metrics, s)
	}
	s.router, s.reads = s.routes()
	s.stopFollow = make(chan struct{})
	s.fast = &fastpath.Server{
		Answer:          s.answerFast,
		Handler:         http.HandlerFunc(s.serveHTTP),
		MaxConns:        cfg.MaxConns,
		MaxConnsPerAddr: cfg.MaxConnsPerAddr,
		// 503, not 429: the nessemble client takes every status but 404
		// and 503 for success (docs/PROTOCOL.md), and for 503 says the
		// registry cannot be reached, which is what happened.
		RefusedTotal: refusal("The registry has too many open connections; try again later"),
		RefusedAddr:  refusal("Too many connections from your address; close some or try again later"),
		Log:          log,
	}
	return s
}

// refusal is the whole answer to a connection over a cap.
func refusal(msg string) []byte {
	body := `{"status":503,"error":"` + msg + `"}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nContent-Type: application/json\r\nRetry-After: 10\r\nServer: " + hdrServer[0] + "\r\n\r\n" + body)
}

// Serve answers HTTP on ln until Shutdown, then returns http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	go s.core.Follow(s.stopFollow)
	return s.fast.Serve(ln)
}

// Shutdown stops the server without losing a request (see
// fastpath.Server.Shutdown), then waits for the work answers left running
// (reset emails), or until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.stopOnce.Do(func() { close(s.stopFollow) })
	if err := s.fast.Shutdown(ctx); err != nil {
		return err
	}
	return s.core.Wait(ctx)
}

// Handler serves the API through net/http alone, without the fast path
// of Serve (see fast.go): for tests and for embedding in another server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// routes lists every route in one place. The cached reads (readRoutes)
// are served by serveRead, which keeps their answers.
func (s *Server) routes() (r *httprouter.Router, reads []*readRoute) {
	r = httprouter.New()
	get := func(path string, h httprouter.Handle) {
		h = s.named(path, h)
		r.Handle(http.MethodGet, path, h)
		r.Handle(http.MethodHead, path, h)
	}
	// Every write is refused at once on a read-only registry, before
	// its body or its signature is read.
	write := func(h handler) handler {
		return func(c *call) error {
			if err := s.core.Writable(); err != nil {
				return err
			}
			return h(c)
		}
	}
	post := func(path string, h handler) { r.Handle(http.MethodPost, path, s.named(path, s.adapt(write(h)))) }

	reads = s.readRoutes()
	for _, rr := range reads {
		get(rr.pattern, s.serveRead(rr))
		rr.match = httprouter.New()
		rr.match.Handle(http.MethodGet, rr.pattern, func(http.ResponseWriter, *http.Request, httprouter.Params) {})
		if s.m != nil {
			rr.m = s.m.forRead(rr.pattern)
		}
	}
	get("/status", s.adapt(s.handleStatus))
	get("/assets/style.css", s.adapt(s.handleStyle))
	// Probes: never cached, never rate limited (serveHTTP), see health.go.
	get("/healthz", s.adapt(s.handleHealthz))
	get("/readyz", s.adapt(s.handleReadyz))
	post("/package/*path", s.handlePackagePost) // publish, yank, unyank, owners (moderate.go)
	r.Handle(http.MethodPut, "/package/*path", s.named("/package/*path", s.adapt(write(s.counted(outPublish, s.handlePublish)))))
	get("/reference", s.adapt(s.handleReference))
	get("/reference/*path", s.adapt(s.handleReference))
	post("/user/create", s.handleCreateUser)
	post("/user/login", s.counted(outLogin, s.handleLogin))
	post("/user/logout", s.handleLogout)
	r.Handle(http.MethodGet, "/user/logout", s.named("/user/logout", s.adapt(write(s.handleLogout))))
	post("/user/forgotpassword", s.counted(outResetRequest, s.handleForgotPassword))
	post("/user/resetpassword", s.counted(outResetComplete, s.handleResetPassword))
	get("/user/2FA/:id", s.adapt(s.handleResetQR))
	get("/graphql", s.adapt(s.handleGraphQL))
	r.Handle(http.MethodPost, "/graphql", s.named("/graphql", s.adapt(s.handleGraphQL))) // reads only
	return r, reads
}

// methods the router may know, for Allow headers.
var allMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut}

// named is h, which records its route pattern in the request for the
// metrics when they are on.
func (s *Server) named(pattern string, h httprouter.Handle) httprouter.Handle {
	if s.m == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		if rq, _ := r.Context().Value(requestKey{}).(*request); rq != nil {
			rq.route = pattern
		}
		h(w, r, ps)
	}
}
