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

// call is one request on its way through the server. It is the
// http.ResponseWriter the router's handles receive, so that handlers can
// reach the request's state without a context lookup.
type call struct {
	http.ResponseWriter
	r     *http.Request
	s     *Server
	ps    httprouter.Params
	path  string // route path, mount and version prefixes removed
	base  string // absolute URL prefix for links in answers
	start time.Time
	rate  rateState
	// legacy is set for the nessemble 1.x client, whose 128-token JSON
	// parser needs trimmed answers.
	legacy bool
	// cacheKey, when set, keeps a cacheable 200 answer for later reads;
	// gen is the store's change count before the answer was rendered.
	cacheKey string
	gen      int64
	// maxAge, when set, replaces the server's max-age for this answer.
	maxAge time.Duration
	status int
	bytes  int
}

// handler serves one route; an error goes to the error sink.
type handler func(c *call) error

func adapt(h handler) httprouter.Handle {
	return func(w http.ResponseWriter, _ *http.Request, ps httprouter.Params) {
		c := w.(*call)
		c.ps = ps
		defer c.recoverPanic()
		if err := h(c); err != nil {
			c.fail(err)
		}
	}
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
}

func (e *apiError) Error() string { return e.msg }

// userError makes an error shown to the user as it is.
func userError(status int, msg string) error { return &apiError{status, msg} }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{ResponseWriter: w, r: r, s: s, start: time.Now()}
	c.legacy = legacyClient(r.Header.Get("User-Agent"))
	c.path, c.base = s.route(r.Host, r.URL.Path)
	if s.access != nil {
		defer func() { s.access.write(r.Method, r.URL.Path, c.status, c.bytes, c.start, clientAddr(r)) }()
	}

	if r.Method == http.MethodOptions {
		c.preflight()
		return
	}
	var ok bool
	if c.rate, ok = s.limiter.take(clientAddr(r), c.start); !ok {
		c.fail(userError(http.StatusTooManyRequests,
			"Too many requests from your address; wait "+strconv.Itoa(c.rate.retryAfter)+" seconds and try again"))
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
	if params, ok := readQuery(c.path); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		r.URL.RawQuery = normalQuery(r.URL.RawQuery, params)
		c.cacheKey, c.gen = cacheKey(c.legacy, c.base, c.path, r.URL.RawQuery), s.core.Serial()
		if e := s.cache.get(c.cacheKey); c.cacheKey != "" && e != nil {
			c.send(e)
			return
		}
	}
	h, ps, _ := s.router.Lookup(r.Method, c.path)
	if h == nil {
		c.notRouted()
		return
	}
	h(c, r, ps)
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
	c.Header().Set("Allow", strings.Join(allow, ", "))
	c.fail(userError(http.StatusMethodNotAllowed,
		"Method "+c.r.Method+" is not allowed here; use "+strings.Join(allow, ", ")))
}

// preflight answers a CORS OPTIONS request.
func (c *call) preflight() {
	h := c.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
	h.Set("Access-Control-Max-Age", "86400")
	c.write(http.StatusNoContent, "", nil, noStore)
}

// cachePolicy says which caching headers an answer carries.
type cachePolicy int

const (
	noStore cachePolicy = iota // writes, user endpoints and errors
	// clientCache: a read clients may cache (max-age, Expires, ETag), but
	// rendered anew for every request, because it depends on something
	// the answer cache's key does not hold.
	clientCache
	// cacheable: a read of package data, also kept in the answer cache
	// until the next publish.
	cacheable
)

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

// write sends a whole answer with every header the protocol asks for and
// an exact Content-Length, so net/http never switches to chunked. A
// cacheable 200 is also kept for the next identical read.
func (c *call) write(status int, ctype string, body []byte, policy cachePolicy) {
	h := c.Header()
	if policy != noStore && status == http.StatusOK {
		etag := h["ETag"]
		if etag == nil {
			etag = []string{etagOf(body)}
		}
		e := &cached{
			body:        body,
			ctype:       []string{ctype},
			length:      []string{strconv.Itoa(len(body))},
			etag:        etag,
			disposition: h["Content-Disposition"],
			integrity:   h["X-Integrity"],
			vary:        h["Vary"],
		}
		if e.vary == nil && policy == cacheable && ctype == "application/json" {
			// Package JSON is trimmed for the nessemble 1.x client: a
			// shared cache must keep the two apart.
			e.vary = hdrVaryUA
		}
		if policy == cacheable && c.cacheKey != "" {
			c.s.cache.put(c.cacheKey, e, c.gen)
		}
		c.send(e)
		return
	}
	if ctype != "" {
		h["Content-Type"] = []string{ctype}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h["Cache-Control"] = hdrNoStore
	h["Expires"] = hdrExpiresNo
	c.finish(status, body)
}

// send writes a cacheable read answer, or 304 when the client's
// If-None-Match names it.
func (c *call) send(e *cached) {
	h := c.Header()
	h["ETag"] = e.etag
	if e.vary != nil {
		h["Vary"] = e.vary
	}
	if e.disposition != nil {
		h["Content-Disposition"] = e.disposition
		h["X-Integrity"] = e.integrity
	}
	if c.maxAge > 0 {
		h["Cache-Control"] = []string{"max-age=" + strconv.Itoa(int(c.maxAge/time.Second))}
		h["Expires"] = []string{c.start.Add(c.maxAge).UTC().Format(http.TimeFormat)}
	} else {
		h["Cache-Control"] = c.s.maxAge
		h["Expires"] = c.s.perSecond(c.start).expires
	}
	if inm := c.r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, e.etag[0]) {
		c.finish(http.StatusNotModified, nil)
		return
	}
	h["Content-Type"] = e.ctype
	h["Content-Length"] = e.length
	c.finish(http.StatusOK, e.body)
}

// finish adds the headers every answer carries and writes it.
func (c *call) finish(status int, body []byte) {
	h := c.Header()
	h["Access-Control-Allow-Origin"] = hdrStar
	h["Server"] = hdrServer
	h["X-Content-Type-Options"] = hdrNosniff
	// The nessemble client never reuses a connection, and a HEAD answer
	// with a length on an open connection would hang it: close those.
	if c.legacy || c.r.Method == http.MethodHead {
		h["Connection"] = hdrClose
	}
	c.setVaryingHeaders(h)
	c.status = status
	c.WriteHeader(status)
	if c.r.Method != http.MethodHead && len(body) > 0 {
		n, _ := c.Write(body)
		c.bytes = n
	}
}

// setVaryingHeaders sets the values that differ from request to request:
// X-Response-Time and the rate limit's. They are formatted into one
// string and share one backing array, two allocations instead of ten on
// every answer.
func (c *call) setVaryingHeaders(h http.Header) {
	var scratch [96]byte
	b := strconv.AppendFloat(scratch[:0], time.Since(c.start).Seconds(), 'f', 3, 64)
	var ends [5]int
	ends[0] = len(b)
	n := 1
	st := c.rate
	if st.limit > 0 {
		for _, v := range [...]int64{int64(st.limit), int64(st.remaining), st.reset, int64(st.retryAfter)} {
			b = strconv.AppendInt(b, v, 10)
			ends[n] = len(b)
			n++
		}
	}
	all := string(b)
	vals := make([]string, n)
	start := 0
	for i := range n {
		vals[i] = all[start:ends[i]]
		start = ends[i]
	}
	// Full slice expressions: a later Add must not write into a neighbour.
	h["X-Response-Time"] = vals[0:1:1]
	if n > 1 {
		// Set directly to keep the documented spelling "RateLimit" (Go's
		// canonical form would be "Ratelimit").
		h["X-RateLimit-Limit"] = vals[1:2:2]
		h["X-RateLimit-Remaining"] = vals[2:3:3]
		h["X-RateLimit-Reset"] = vals[3:4:4]
		if _, set := h["Retry-After"]; !set {
			h["Retry-After"] = vals[4:5:5]
		}
	}
}

// perSecond holds the header values that change once a second, formatted
// once per second rather than per request.
type perSecond struct {
	sec     int64
	date    string   // Date; the front writes it, net/http writes its own
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

// json sends v as a JSON answer.
func (c *call) json(status int, v any, policy cachePolicy) error {
	b, err := marshal(v)
	if err != nil {
		return err
	}
	c.write(status, "application/json", b, policy)
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
		// search results: 503 makes it say the registry is unreachable.
		status = http.StatusServiceUnavailable
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if _, set := c.Header()["Retry-After"]; !set {
			c.Header()["Retry-After"] = []string{strconv.Itoa(max(c.rate.retryAfter, 1))}
		}
	}
	body, _ := marshal(struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}{status, safeMessage(msg)})
	c.write(status, "application/json", body, noStore)
}

// classify maps an error to the status and message the user sees, and
// logs it when the cause is ours. The REST sink and GraphQL share it.
func (c *call) classify(err error) (status int, msg string) {
	var ae *apiError
	var re *registry.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.msg
	case errors.As(err, &re):
		if re.Allow != "" {
			c.Header().Set("Allow", re.Allow)
		}
		if re.RetryAfter > 0 {
			c.Header()["Retry-After"] = []string{strconv.Itoa(int((re.RetryAfter + time.Second - 1) / time.Second))}
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
