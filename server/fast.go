package server

import (
	"context"
	"net/http"
	"time"

	"github.com/nessemble/nessemble-registry/fastpath"
)

// answerFast is the registry's Answer for the fast path (package
// fastpath): it answers cached reads from the answer cache, rendering a
// missing answer into it first, with the same status, headers (readFields)
// and body as serveRead; it declines everything else, and the connection
// goes to net/http (serveHTTP).
func (s *Server) answerFast(b []byte, r fastpath.Request) (head, body []byte, keepOpen, ok bool) {
	if _, bad := unsupportedVersion(r.Accept); bad {
		return nil, nil, false, false // net/http's path refuses it
	}
	path, base := s.route(r.Host, r.Path)
	rr, ps := s.findRead(path)
	if rr == nil {
		return nil, nil, false, false
	}
	legacy, html := representation(r.UserAgent, r.Accept)
	k := readKeyOf(rr, ps, legacy, html, base, path, r.Query)
	start := time.Now()
	// A read that fails (a missing package, say) is net/http's to answer:
	// the error sink is there. A Quick request takes only a cached answer.
	// The key goes where the head will: b's room is free until then.
	render := !r.Quick && s.limiter.allows(r.Remote, start)
	e, fromCache, err := s.answer(context.Background(), rr, k, render, b)
	if err != nil || e == nil {
		return nil, nil, false, false
	}
	rate, ok := s.limiter.take(r.Remote, start)
	if !ok {
		// net/http's path answers 429. It counts the request again,
		// which changes nothing for a client already over its limit.
		return nil, nil, false, false
	}

	nm := notModified(r.IfNoneMatch, e)
	closeAfter := k.legacy || r.Method == http.MethodHead || r.Close
	status := http.StatusOK
	if nm {
		status = http.StatusNotModified
		b = append(b, "HTTP/1.1 304 Not Modified\r\n"...)
	} else {
		b = append(b, "HTTP/1.1 200 OK\r\n"...)
	}
	s.readFields(func(name string, value []string) {
		for _, v := range value {
			b = appendHeader(b, name, v)
		}
	},
		e, nm, closeAfter, 0, start, rate)
	b = appendHeader(b, "Date", s.perSecond(start).date)
	b = append(b, "\r\n"...)
	if !nm && r.Method == http.MethodGet {
		body = e.body
	}
	if s.access != nil {
		s.access.write(r.Method, r.Path, status, len(body), start, r.Remote)
	}
	if rr.m != nil {
		rr.m.count(r.Conn, nm, fromCache, start)
	}
	return b, body, !closeAfter, true
}

func appendHeader(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}
