package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/nessemble/nessemble-registry/fastpath"
	"github.com/nessemble/nessemble-registry/registry"
)

// request is what the server works out about a request before a handler
// runs (serveHTTP counts it against the rate limit): the call that answers
// it shares it, through the request's context, and so does the access log.
type request struct {
	path  string // route path, mount and version prefixes removed
	base  string // absolute URL prefix for links in answers
	start time.Time
	rate  rateState
	// legacy is set for the nessemble 1.x client, whose 128-token JSON
	// parser needs trimmed answers.
	legacy bool
	status int // of the answer, once written
	bytes  int
	route  string // the route's pattern, for the metrics (see Server.named)

	// html is set for a request that gets web pages (representation).
	html bool
}

type requestKey struct{}

// call is one request at its handler: the writer and request net/http
// gave it, the route's parameters and the request's state.
type call struct {
	*request
	w  http.ResponseWriter
	r  *http.Request
	s  *Server
	ps httprouter.Params
}

// handler serves one route; an error goes to the error sink.
type handler func(c *call) error

// adapt makes h a handle of the router: the call is built here, from what
// net/http and the router give every handle.
func (s *Server) adapt(h handler) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		c := s.newCall(w, r, ps)
		defer c.recoverPanic()
		if err := h(c); err != nil {
			c.fail(err)
		}
	}
}

// newCall builds the call of a request that serveHTTP routed.
func (s *Server) newCall(w http.ResponseWriter, r *http.Request, ps httprouter.Params) *call {
	rq, _ := r.Context().Value(requestKey{}).(*request)
	if rq == nil {
		panic("server: a route was reached without serveHTTP")
	}
	return &call{request: rq, w: w, r: r, s: s, ps: ps}
}

// recoverPanic turns a handler's panic into a logged 500 with the usual
// JSON body: net/http would otherwise close the connection unanswered,
// and the client crashes on an empty answer.
func (c *call) recoverPanic() {
	p := recover()
	if p == nil {
		return
	}
	err := fmt.Errorf("panic: %v\n%s", p, debug.Stack())
	if c.status != 0 {
		c.s.log.Error("panic after the answer began", "method", c.r.Method, "path", c.r.URL.Path, "err", err)
		return
	}
	c.fail(err)
}

// apiError is an error whose message is meant for the user.
type apiError struct {
	status int
	msg    string
	allow  string // the Allow header of a 405
}

func (e *apiError) Error() string { return e.msg }

// userError makes an error shown to the user as it is.
func userError(status int, msg string) error { return &apiError{status: status, msg: msg} }

// serveHTTP is net/http's handler: it refuses what no route may have
// (over the rate limit, an API version we do not speak, a bad Host),
// answers CORS preflights, and routes the rest.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rq := &request{start: time.Now()}
	rq.legacy, rq.html = representation(r.Header.Get("User-Agent"), r.Header.Get("Accept"))
	rq.path, rq.base = s.route(r.Host, r.URL.Path)
	c := &call{request: rq, w: w, r: r, s: s} // for the answers given here
	if s.access != nil {
		defer func() { s.access.write(r.Method, r.URL.Path, rq.status, rq.bytes, rq.start, clientAddr(r)) }()
	}

	if s.m != nil {
		defer func() { s.m.request(rq.route, rq.status, rq.start) }()
	}

	if r.Method == http.MethodOptions {
		c.preflight()
		return
	}
	// Probes neither count against an address's limit nor are refused
	// by it: a monitor behind a busy NAT must still see the truth.
	probe := rq.path == "/healthz" || rq.path == "/readyz"
	ok := probe
	if !probe {
		rq.rate, ok = s.limiter.take(clientAddr(r), rq.start)
	}
	if !ok {
		if s.m != nil {
			s.m.rateLimited.Inc()
		}
		c.fail(userError(http.StatusTooManyRequests,
			"Too many requests from your address; wait "+strconv.Itoa(rq.rate.retryAfter)+" seconds and try again"))
		return
	}
	if v, bad := unsupportedVersion(r.Header.Get("Accept")); bad {
		c.fail(userError(http.StatusNotAcceptable, "API version "+v+" is not supported; this registry speaks version 1"))
		return
	}
	if !fastpath.ValidHost(r.Host) && (r.Host != "" || s.cfg.BaseURL == "") {
		// Without --base-url the Host goes into every link of an answer.
		c.fail(userError(http.StatusBadRequest, "Invalid Host header: give the registry's host name or address, and port"))
		return
	}
	h, ps, _ := s.router.Lookup(r.Method, rq.path)
	if h == nil {
		c.notRouted()
		return
	}
	// The core's audit trail names the client's address.
	ctx := registry.FromClient(context.WithValue(r.Context(), requestKey{}, rq), clientAddr(r))
	h(w, r.WithContext(ctx), ps)
}

// legacyClient reports whether a User-Agent is the nessemble 1.x client,
// whose 128-token JSON parser needs trimmed answers.
func legacyClient(userAgent string) bool { return strings.HasPrefix(userAgent, "nessemble/") }

// route strips the mount prefix of the base URL and a /v1 version prefix
// from a request's URL path, and works out the base for absolute links
// from the request's Host.
func (s *Server) route(host, urlPath string) (path, base string) {
	path = urlPath
	if s.mount != "" && (path == s.mount || strings.HasPrefix(path, s.mount+"/")) {
		path = path[len(s.mount):]
	}
	version := ""
	if path == "/v1" || strings.HasPrefix(path, "/v1/") {
		path, version = path[len("/v1"):], "/v1"
	}
	if path == "" {
		path = "/"
	}
	if s.cfg.BaseURL != "" {
		return path, s.cfg.BaseURL + version
	}
	return path, "http://" + host + version
}

func (c *call) notRouted() {
	var allow []string
	for _, m := range allMethods {
		if h, _, _ := c.s.router.Lookup(m, c.path); h != nil {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		c.fail(userError(http.StatusNotFound, "Not Found: no such endpoint; see the registry API documentation"))
		return
	}
	allow = append(allow, http.MethodOptions)
	c.fail(&apiError{status: http.StatusMethodNotAllowed, allow: strings.Join(allow, ", "),
		msg: "Method " + c.r.Method + " is not allowed here; use " + strings.Join(allow, ", ")})
}

// preflight answers a CORS OPTIONS request.
func (c *call) preflight() {
	h := c.w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
	h.Set("Access-Control-Max-Age", "86400")
	c.write(http.StatusNoContent, "", nil)
}

var (
	hdrNoStore    = []string{"no-store, no-cache, must-revalidate, post-check=0, pre-check=0, max-age=0"}
	hdrExpiresNo  = []string{"-1"}
	hdrServer     = []string{"Nessemble"}
	hdrStar       = []string{"*"}
	hdrClose      = []string{"close"}
	hdrVaryUA     = []string{"User-Agent"}
	hdrVaryAccept = []string{"Accept"}
	// hdrNosniff keeps browsers from taking a README for HTML.
	hdrNosniff = []string{"nosniff"}
)

// hdrVaryUAAccept is two lines of Vary, which mean "User-Agent, Accept":
// the first as the JSON answers carried before there were web pages.
var hdrVaryUAAccept = []string{"User-Agent", "Accept"}

// write sends a whole answer that nobody may cache (writes, user
// endpoints, errors), with every header the protocol asks for and an
// exact Content-Length, so net/http never switches to chunked.
func (c *call) write(status int, ctype string, body []byte) {
	h := c.w.Header()
	if ctype != "" {
		h["Content-Type"] = []string{ctype}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = hdrNoStore
	h["Expires"] = hdrExpiresNo
	h["Access-Control-Allow-Origin"] = hdrStar
	h["Server"] = hdrServer
	h["X-Content-Type-Options"] = hdrNosniff
	if c.closeAfter() {
		h["Connection"] = hdrClose
	}
	took, limits := varyingValues(c.start, c.rate)
	h["X-Response-Time"] = took
	if limits != nil {
		// The documented spelling "RateLimit" (Go's canonical form would
		// be "Ratelimit").
		h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"], h["X-RateLimit-Reset"] = limits[0:1:1], limits[1:2:2], limits[2:3:3]
		if _, set := h["Retry-After"]; !set {
			h["Retry-After"] = limits[3:4:4]
		}
	}
	c.send(status, body)
}

// read sends a read answer, which clients may cache (ETag, max-age,
// Expires), or 304 when the client's If-None-Match names it. Its headers
// are the fast path's (readFields).
func (c *call) read(e *cached) { c.readFor(e, 0) }

// readFor is read with a max-age of its own.
func (c *call) readFor(e *cached, maxAge time.Duration) {
	nm := notModified(c.r.Header.Get("If-None-Match"), e)
	h := c.w.Header()
	c.s.readFields(func(name string, value []string) { h[name] = value }, e, nm, c.closeAfter(), maxAge, c.start, c.rate)
	if nm {
		c.send(http.StatusNotModified, nil)
		return
	}
	c.send(http.StatusOK, e.body)
}

// closeAfter reports whether the connection closes after this answer: the
// nessemble client never reuses one, and a HEAD answer with a length on
// an open connection would hang it.
func (c *call) closeAfter() bool {
	return c.legacy || c.r.Method == http.MethodHead || c.r.Close
}

// send writes the status and the body (none for HEAD).
func (c *call) send(status int, body []byte) {
	c.status = status
	c.w.WriteHeader(status)
	if c.r.Method != http.MethodHead && len(body) > 0 {
		n, _ := c.w.Write(body)
		c.bytes = n
	}
}

// perSecond holds the header values that change once a second, formatted
// once per second rather than per request.
type perSecond struct {
	sec     int64
	date    string   // Date; the fast path writes it, net/http writes its own
	expires []string // Expires of reads
}

func (s *Server) perSecond(now time.Time) *perSecond {
	sec := now.Unix()
	if v := s.second.Load(); v != nil && v.sec == sec {
		return v
	}
	v := &perSecond{
		sec:     sec,
		date:    now.UTC().Format(http.TimeFormat),
		expires: []string{now.Add(s.cfg.MaxAge).UTC().Format(http.TimeFormat)},
	}
	s.second.Store(v)
	return v
}

// json sends v as a JSON answer that nobody may cache.
func (c *call) json(status int, v any) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	c.write(status, "application/json", b)
	return nil
}

// marshal encodes v as JSON without HTML escaping: the client unescapes
// only \n and \t, so "&" must stay "&".
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// fail is the one error sink: it maps errors to statuses, writes the JSON
// error body and logs only internal errors, whose text the client never
// sees.
func (c *call) fail(err error) {
	status, msg := c.classify(err)
	if c.legacy && status != http.StatusNotFound && c.clientRead() {
		// The client takes every status but 404 and 503 on these answers
		// for success, and would read this error as a package or as
		// search results: 503 makes it say the registry is unreachable,
		// and 404 that the package does not exist, which is what a
		// removed one (410 for others) has become.
		status = http.StatusServiceUnavailable
		if statusGone(err) {
			status = http.StatusNotFound
		}
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if _, set := c.w.Header()["Retry-After"]; !set {
			c.w.Header()["Retry-After"] = []string{strconv.Itoa(max(c.rate.retryAfter, 1))}
		}
	}
	if c.wantsPage() {
		if page := c.errorPage(status, msg); page != nil {
			h := c.w.Header()
			h["Content-Security-Policy"] = hdrCSP
			h["Vary"] = hdrVaryUAAccept
			c.write(status, "text/html", page)
			return
		}
	}
	body, _ := marshal(struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}{status, safeMessage(msg)})
	c.write(status, "application/json", body)
}

// classify maps an error to the status and message the user sees, and
// logs it when the cause is ours. The REST sink and GraphQL share it.
func (c *call) classify(err error) (status int, msg string) {
	var ae *apiError
	var re *registry.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		if ae.allow != "" {
			c.w.Header().Set("Allow", ae.allow)
		}
		return ae.status, ae.msg
	case errors.As(err, &re):
		if re.Allow != "" {
			c.w.Header().Set("Allow", re.Allow)
		}
		if re.RetryAfter > 0 {
			c.w.Header()["Retry-After"] = []string{strconv.Itoa(int((re.RetryAfter + time.Second - 1) / time.Second))}
		}
		return kindStatus[re.Kind], re.Msg
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge,
			"Request body too large: the limit is " + strconv.FormatInt(mbe.Limit, 10) + " bytes"
	case errors.Is(err, registry.ErrNotFound):
		return http.StatusNotFound, "Not Found"
	case errors.Is(err, context.Canceled) && c.r.Context().Err() != nil:
		// The client went away (net/http cancels the request when it
		// closes or half-closes its side): not the registry's fault.
		c.s.log.Debug("request cancelled by the client", "method", c.r.Method, "path", c.r.URL.Path)
		return statusClientClosed, "Request cancelled: the client closed its side of the connection"
	case errors.Is(err, registry.ErrDamaged):
		c.s.log.Error("damaged data folder", "method", c.r.Method, "path", c.r.URL.Path, "err", err)
		return http.StatusInternalServerError, "The registry's copy of this version is damaged; tell its operator (nessemble-registry check)"
	case errors.Is(err, registry.ErrNoSpace):
		// The operator must hear about it; the user only needs to know
		// that retrying later can work.
		c.s.log.Error("disk full", "method", c.r.Method, "path", c.r.URL.Path, "err", err)
		return http.StatusInsufficientStorage, "The registry's disk is full; try again later or tell its operator"
	}
	c.s.log.Error("internal error", "method", c.r.Method, "path", c.r.URL.Path, "err", err)
	return http.StatusInternalServerError, internalMessage
}

// statusClientClosed is nginx's status for a request its client
// abandoned; the access log shows it, and a client still reading gets it.
const statusClientClosed = 499

// kindStatus is the status of each kind of the registry's errors.
var kindStatus = map[registry.Kind]int{
	registry.Invalid:      http.StatusBadRequest,
	registry.Unauthorized: http.StatusUnauthorized,
	registry.Forbidden:    http.StatusForbidden,
	registry.NotFound:     http.StatusNotFound,
	registry.WrongMethod:  http.StatusMethodNotAllowed,
	registry.Conflict:     http.StatusConflict,
	registry.TooLarge:     http.StatusRequestEntityTooLarge,
	registry.Refused:      http.StatusUnprocessableEntity,
	registry.TooMany:      http.StatusTooManyRequests,
	registry.Gone:         http.StatusGone,
}

// statusGone reports whether err is the core's answer to a read of what
// the operator removed.
func statusGone(err error) bool {
	var re *registry.Error
	return errors.As(err, &re) && re.Kind == registry.Gone
}

const internalMessage = "Internal server error; the registry's operator can find the cause in its log"

// clientRead reports whether the request is one of the reads the
// nessemble client checks only for 404 and 503: package documents, data,
// READMEs and search.
func (c *call) clientRead() bool {
	return (c.r.Method == http.MethodGet || c.r.Method == http.MethodHead) &&
		(strings.HasPrefix(c.path, "/package/") || c.path == "/search" || strings.HasPrefix(c.path, "/search/"))
}

// safeMessage keeps an error message printable by the client, which passes
// it to printf as the format: a "%" there would crash it.
func safeMessage(s string) string {
	return strings.ReplaceAll(s, "%", "％")
}

func clientAddr(r *http.Request) string { return addrHost(r.RemoteAddr) }

// addrHost is the host part of a "host:port" address.
func addrHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func etagOf(body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	return fmt.Sprintf(`"%016x"`, h.Sum64())
}

// etagMatch reports whether an If-None-Match list names etag.
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
