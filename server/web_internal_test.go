package server

import (
	"strings"
	"testing"
)

// pageReads are the cached reads a browser gets as pages.
var pageReads = []struct{ name, path string }{
	{"list", "/?per_page=5"},
	{"search", "/search/pad?page=1"},
	{"search box", "/search?q=pad"},
	{"package", "/package/pad"},
	{"version", "/package/pad/1.0.0"},
	{"author", "/author/alice"},
	{"v1", "/v1/package/pad"},
}

const (
	browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	pageReq       = "GET %s HTTP/1.1\r\nHost: reg.example\r\nUser-Agent: Mozilla/5.0\r\nAccept: " + browserAccept + "\r\n\r\n"
	clientReq     = "GET %s HTTP/1.1\r\nHost: reg.example\r\nUser-Agent: nessemble/1.1.1\r\nAccept: application/json\r\n\r\n"
	curlReq       = "GET %s HTTP/1.1\r\nHost: reg.example\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
)

func req(format, path string) string { return strings.Replace(format, "%s", path, 1) }

// TestFrontMatchesNetHTTPForPages: the fast path's page is net/http's,
// and whichever path rendered a read first, for whichever client, each
// client gets its own representation from the warm cache on both paths.
func TestFrontMatchesNetHTTPForPages(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"browser first", "client first"} {
		e := newFrontEnv(t, Config{RateLimit: 1000})
		for _, tc := range pageReads {
			page, client, curl := req(pageReq, tc.path), req(clientReq, tc.path), req(curlReq, tc.path)
			if order == "browser first" {
				sameAnswer(t, tc.name+" page", e.viaNetHTTP(page), e.viaFront(page))
			} else {
				sameAnswer(t, tc.name+" client", e.viaNetHTTP(client), e.viaFront(client))
			}
			for _, a := range []answer{e.viaNetHTTP(page), e.viaFront(page)} {
				if a.header.Get("Content-Type") != "text/html" || !strings.HasPrefix(string(a.body), "<!DOCTYPE html>") {
					t.Errorf("%s, %s: a browser got %q", order, tc.name, a.header.Get("Content-Type"))
				}
				if v := a.header.Values("Vary"); len(v) != 2 || v[0] != "User-Agent" || v[1] != "Accept" {
					t.Errorf("%s, %s: page Vary %q", order, tc.name, v)
				}
			}
			for _, r := range []string{client, curl} {
				for _, a := range []answer{e.viaNetHTTP(r), e.viaFront(r)} {
					if a.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(a.body), "{") {
						t.Errorf("%s, %s: %q got %q", order, tc.name, r, a.header.Get("Content-Type"))
					}
				}
			}
		}
	}
}

// TestRepresentationKeys: the three representations of one read have
// three keys.
func TestRepresentationKeys(t *testing.T) {
	seen := map[string]bool{}
	for _, rep := range [][2]bool{{true, false}, {false, true}, {false, false}} {
		k, ok := appendKey(nil, rep[0], rep[1], "http://reg.example", "/package/pad", "")
		if !ok || seen[string(k)] {
			t.Errorf("legacy %v, html %v: key %q (ok %v) not its own", rep[0], rep[1], k, ok)
		}
		seen[string(k)] = true
	}
	// The nessemble client never gets a page, whatever it accepts.
	if legacy, html := representation("nessemble/1.1.1", "text/html"); !legacy || html {
		t.Errorf("representation(nessemble, text/html) = %v, %v", legacy, html)
	}
}
