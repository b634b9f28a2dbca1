package fastpath

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzRequestHead checks the fast path's request parser against
// net/http's: a head the fast path takes must read the same through
// http.ReadRequest. And readHead's look at a head still arriving must
// never give up on one that parseRequest takes, whichever way it is cut
// into reads.
//
//	go test -fuzz FuzzRequestHead -fuzztime 2m ./fastpath
func FuzzRequestHead(f *testing.F) {
	for _, seed := range []string{
		"GET /package/pad HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD /v1/search/pad?page=2&per_page=5 HTTP/1.1\r\nHost: [::1]:8080\r\nUser-Agent: nessemble/1.1.1\r\nAccept: application/json;version=1\r\n\r\n",
		"GET / HTTP/1.1\r\nhost:x\r\nIf-None-Match: W/\"abc\", \"def\"\r\nConnection: keep-alive, close\r\n\r\n",
		"GET /package/pad HTTP/1.1\nHost: x\n\n",
		"GET /package/p%61d HTTP/1.1\r\nHost: x\r\nX-A: \t b \r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if n := headEnd(head); n > 0 {
			head = head[:n]
		}
		got, ok := parseRequest(head)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("the fast path takes %q, net/http refuses it: %v", head, err)
		}
		want := Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host,
			UserAgent: r.Header.Get("User-Agent"), Accept: r.Header.Get("Accept"),
			IfNoneMatch: r.Header.Get("If-None-Match"), Close: r.Close,
		}
		if got != want {
			t.Fatalf("%q: the fast path reads %+v, net/http %+v", head, got, want)
		}
		if r.ContentLength != 0 || len(r.TransferEncoding) != 0 {
			t.Fatalf("%q: the fast path takes a request with a body", head)
		}
		for i, checked := 1, 0; i < len(head); i++ {
			var ok bool
			if checked, ok = takeableLines(head[:i], checked); !ok {
				t.Fatalf("%q: readHead gives up on it after %d bytes", head, i)
			}
			if _, ok := takeableLines(head[:i], 0); !ok {
				t.Fatalf("%q: readHead gives up on it when %d bytes arrive at once", head, i)
			}
		}
	})
}
