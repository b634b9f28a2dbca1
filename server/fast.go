package server

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nessemble/nessemble-registry/fastpath"
)

// The fast path (package fastpath) answers plain reads of package data
// from the answer cache, rendering a missing answer into it first, and
// hands everything else to net/http (serveHTTP).

// answerFast answers a plain read from the answer cache for the fast
// path, with the same status, headers and body as serveHTTP would send.
func (s *Server) answerFast(b []byte, r *fastpath.Request) (head, body []byte, keepOpen, ok bool) {
	if _, bad := unsupportedVersion(r.Accept); bad {
		return nil, nil, false, false // net/http's path refuses it
	}
	legacy := legacyClient(r.UserAgent)
	path, base := s.route(r.Host, r.Path)
	params, ok := readQuery(path)
	if !ok {
		return nil, nil, false, false
	}
	query := normalQuery(r.Query, params)
	key := cacheKey(legacy, base, path, query)
	if key == "" {
		return nil, nil, false, false
	}
	e := s.cache.get(key)
	if e == nil && s.limiter.allows(r.Remote, time.Now()) {
		s.fill(legacy, r.Path, query, path, base, key)
		e = s.cache.get(key)
	}
	if e == nil {
		return nil, nil, false, false
	}
	start := time.Now()
	rate, ok := s.limiter.take(r.Remote, start)
	if !ok {
		// net/http's path answers 429. It counts the request again,
		// which changes nothing for a client already over its limit.
		return nil, nil, false, false
	}

	status := http.StatusOK
	if r.IfNoneMatch != "" && etagMatch(r.IfNoneMatch, e.etag[0]) {
		status = http.StatusNotModified
	}
	closeAfter := legacy || r.Method == http.MethodHead || r.Close
	sec := s.perSecond(start)
	// The headers of send and finish, in net/http's order (sorted, then
	// Date); TestFrontMatchesNetHTTP holds the two paths together.
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

	if status == http.StatusOK && r.Method == http.MethodGet {
		body = e.body
	}
	if s.access != nil {
		s.access.write(r.Method, r.Path, status, len(body), start, r.Remote)
	}
	return b, body, !closeAfter, true
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
