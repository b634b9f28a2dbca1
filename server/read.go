package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

// Cached reads: the answers to reads of package data are rendered once
// and kept in the answer cache (cache.go) until package data changes.
// Both paths serve them, net/http (serveRead) and the fast path
// (answerFast), from one table and one list of headers.

// readKey is everything the answer to a cached read depends on, and so
// its key in the answer cache: what the client is and which
// representation it gets (representation), the link base, the route and
// the query parameters the route uses. A render function
// receives a readKey and nothing else of the request, so no request
// header can slip into an answer cached for everyone.
type readKey struct {
	legacy bool   // the nessemble 1.x client, whose 128-token parser needs trimmed JSON
	html   bool   // a browser: a web page rather than JSON (web.go)
	base   string // absolute URL prefix for links
	path   string // route path, mount and version prefixes removed
	ps     httprouter.Params
	query  url.Values // only the route's parameters (see normalQuery)
	raw    string     // query, encoded canonically
}

// readRoute is one cached read: a route, the query parameters it reads,
// and how its answer is rendered.
type readRoute struct {
	pattern string
	params  []string
	render  func(ctx context.Context, k readKey) (*cached, error)
	match   *httprouter.Router // pattern alone, to find the route of a path
	m       *readMetrics       // nil: metrics off
}

// readRoutes lists every cached read: adding one is one entry here.
func (s *Server) readRoutes() []*readRoute {
	// The most read first: findRead tries them in this order.
	return []*readRoute{
		// Documents, READMEs and tarballs take no parameter.
		{pattern: "/package/*path", render: s.renderPackage},
		{pattern: "/search/:term", params: []string{"page", "per_page"}, render: s.renderSearch},
		{pattern: "/search", params: []string{"q", "page", "per_page"}, render: s.renderSearch},
		{pattern: "/", params: []string{"page", "per_page", "sort_by", "order"}, render: s.renderList},
		{pattern: "/changes", params: []string{"since", "limit"}, render: s.renderChanges},
		{pattern: "/author/:name", params: []string{"page", "per_page"}, render: s.renderAuthor},
	}
}

// findRead returns the cached read whose route a path takes, with the
// route's parameters, or nil.
func (s *Server) findRead(path string) (*readRoute, httprouter.Params) {
	for _, rr := range s.reads {
		if h, ps, _ := rr.match.Lookup(http.MethodGet, path); h != nil {
			return rr, ps
		}
	}
	return nil, nil
}

// representation decides, from a request's User-Agent and Accept, what
// a read answers: trimmed JSON to the nessemble 1.x client (legacy), a
// web page to a request that prefers text/html (html), JSON or text to
// everyone else. Both paths decide here, and the answer cache keys on it
// (appendKey), so that a warm cache never hands a page to the client or
// JSON to a browser.
func representation(userAgent, accept string) (legacy, html bool) {
	legacy = legacyClient(userAgent)
	return legacy, !legacy && prefersHTML(accept)
}

// readKeyOf is the key of a read of path (already routed to rr) with the
// raw query rawQuery, for a client of the representation legacy and html.
func readKeyOf(rr *readRoute, ps httprouter.Params, legacy, html bool, base, path, rawQuery string) readKey {
	q, raw := normalQuery(rawQuery, rr.params)
	return readKey{legacy: legacy, html: html, base: base, path: path, ps: ps, query: q, raw: raw}
}

// answer looks a read up in the answer cache, rendering and keeping it
// when it is missing; fromCache says which. render is false to look
// only. scratch, if it has room, holds the key: no allocation for a
// cache hit.
func (s *Server) answer(ctx context.Context, rr *readRoute, k readKey, render bool, scratch []byte) (e *cached, fromCache bool, err error) {
	key, keep := appendKey(scratch[:0], k.legacy, k.html, k.base, k.path, k.raw)
	if keep {
		if hit := s.cache.get(key); hit != nil || !render {
			return hit, hit != nil, nil
		}
	}
	if !render {
		return nil, false, nil
	}
	gen := s.core.Serial() // before rendering: a change meanwhile makes it stale
	e, err = rr.render(ctx, k)
	if err != nil {
		return nil, false, err
	}
	if s.m != nil {
		s.m.rendered.Inc()
	}
	if keep {
		s.cache.put(string(key), e, gen)
	}
	return e, false, nil
}

// serveRead answers a cached read through net/http.
func (s *Server) serveRead(rr *readRoute) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		c := s.newCall(w, r, ps)
		defer c.recoverPanic()
		k := readKeyOf(rr, ps, c.legacy, c.html, c.base, c.path, r.URL.RawQuery)
		e, fromCache, err := s.answer(r.Context(), rr, k, true, nil)
		if err != nil {
			c.fail(err)
			return
		}
		if fromCache && rr.m != nil {
			rr.m.shards[0].fromCache.Add(1) // the answer itself is counted by serveHTTP
		}
		c.read(e)
	}
}

// readFields gives emit the headers of a read answer of e, in the order
// both paths write them: sorted by name, as net/http writes its header
// map (Date, which net/http adds after them, the fast path adds last
// too); a value of several strings is as many lines of the header.
// notModified is for a 304, which has no body. maxAge, when set,
// replaces the server's. Values are shared: emit must not change them.
func (s *Server) readFields(emit func(name string, value []string), e *cached, notModified, closeAfter bool,
	maxAge time.Duration, start time.Time, rate rateState) {
	cacheControl, expires := s.maxAge, s.perSecond(start).expires
	if maxAge > 0 {
		cacheControl = []string{"max-age=" + strconv.Itoa(int(maxAge/time.Second))}
		expires = []string{start.Add(maxAge).UTC().Format(http.TimeFormat)}
	}
	took, limits := varyingValues(start, rate)
	emit("Access-Control-Allow-Origin", hdrStar)
	emit("Cache-Control", cacheControl)
	if closeAfter {
		emit("Connection", hdrClose)
	}
	if e.disposition != nil {
		emit("Content-Disposition", e.disposition)
	}
	if !notModified {
		emit("Content-Length", e.length)
	}
	if e.csp != nil {
		emit("Content-Security-Policy", e.csp)
	}
	if !notModified {
		emit("Content-Type", e.ctype)
	}
	emit("ETag", e.etag)
	emit("Expires", expires)
	if limits != nil {
		emit("Retry-After", limits[3:4:4])
	}
	emit("Server", hdrServer)
	if e.vary != nil {
		emit("Vary", e.vary)
	}
	emit("X-Content-Type-Options", hdrNosniff)
	if e.integrity != nil {
		emit("X-Integrity", e.integrity)
	}
	if limits != nil {
		// The documented spelling "RateLimit" (Go's canonical form would
		// be "Ratelimit").
		emit("X-RateLimit-Limit", limits[0:1:1])
		emit("X-RateLimit-Remaining", limits[1:2:2])
		emit("X-RateLimit-Reset", limits[2:3:3])
	}
	emit("X-Response-Time", took)
}

// varyingValues formats the header values that differ from answer to
// answer: X-Response-Time, and the rate limit's (limit, remaining, reset,
// retry after; nil when there is no limit). They share one string and one
// array, two allocations instead of ten.
func varyingValues(start time.Time, st rateState) (took, limits []string) {
	var scratch [96]byte
	b := strconv.AppendFloat(scratch[:0], time.Since(start).Seconds(), 'f', 3, 64)
	var ends [5]int
	ends[0] = len(b)
	n := 1
	if st.limit > 0 {
		for _, v := range [...]int64{int64(st.limit), int64(st.remaining), st.reset, int64(st.retryAfter)} {
			b = strconv.AppendInt(b, v, 10)
			ends[n] = len(b)
			n++
		}
	}
	all := string(b)
	vals := make([]string, n)
	from := 0
	for i := range n {
		vals[i] = all[from:ends[i]]
		from = ends[i]
	}
	// Full slice expressions: a later Add must not write into a neighbour.
	if n > 1 {
		limits = vals[1:5:5]
	}
	return vals[0:1:1], limits
}

// notModified reports whether a request's If-None-Match names e.
func notModified(ifNoneMatch string, e *cached) bool {
	return ifNoneMatch != "" && etagMatch(ifNoneMatch, e.etag[0])
}
