package nesclient_test

import (
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

func TestDoRequestAndKeepAliveResponse(t *testing.T) {
	// The server keeps the connection open: the body must be complete
	// from Content-Length alone.
	url, reqs := rawServer(t, true,
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": \"b\"}\n",
		"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
	c := &nesclient.Client{Registry: url + "/v1/", Timeout: 5 * time.Second}

	start := time.Now()
	r, err := c.Do("GET", "/search/a b", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v: waited for the connection to close", d)
	}
	if r.Status != 200 || r.Reason != "OK" || string(r.Body) != "{\"a\": \"b\"}\n" || r.ContentType() != "application/json" {
		t.Errorf("got %+v", r)
	}
	req := <-reqs
	for _, want := range []string{"GET /v1/search/a b HTTP/1.1\r\n", "\r\nHost: " + strings.TrimPrefix(url, "http://") + "\r\n",
		"\r\nUser-Agent: nessemble/1.1.1\r\n", "\r\nAccept: application/json\r\n"} {
		if !strings.Contains(req, want) {
			t.Errorf("request %q lacks %q", req, want)
		}
	}
	for _, bad := range []string{"Connection", "Content-Length"} {
		if strings.Contains(req, bad) {
			t.Errorf("request %q has %s", req, bad)
		}
	}

	if _, err := c.Do("PUT", "/x", [][2]string{{"Accept", "text/plain"}}, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	req = <-reqs
	if !strings.HasSuffix(req, "\r\nContent-Length: 5\r\n\r\nhello") || strings.Contains(req, "application/json") ||
		!strings.Contains(req, "\r\nAccept: text/plain\r\n") {
		t.Errorf("request %q", req)
	}
}

func TestResponseFraming(t *testing.T) {
	headers := func(n int) string {
		return strings.Repeat("X-Pad: 1\r\n", n)
	}
	tests := []struct {
		name, resp string
		body       string // when no error is expected
		err        string
	}{
		{name: "32 header lines", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + headers(31) + "\r\nok", body: "ok"},
		{name: "33 header lines", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + headers(32) + "\r\nok", err: "more than 32 header lines"},
		{name: "HTTP/1.0", resp: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", body: "ok"},
		{name: "first Content-Length wins", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokay", body: "ok"},
		{name: "no Content-Length reads nothing", resp: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nunread", body: ""},
		{name: "chunked", resp: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", err: "Transfer-Encoding"},
		{name: "no space after colon", resp: "HTTP/1.1 200 OK\r\nContent-Length:2\r\n\r\nok", err: "one space"},
		{name: "two spaces after colon", resp: "HTTP/1.1 200 OK\r\nContent-Length:  2\r\n\r\nok", err: "more than one space"},
		{name: "empty value", resp: "HTTP/1.1 200 OK\r\nX-Empty: \r\nContent-Length: 2\r\n\r\nok", err: "empty value"},
		{name: "lowercase name", resp: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", err: "spelled Content-Length"},
		{name: "long line", resp: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 4090) + "\r\n\r\n", err: "longer than"},
		{name: "no reason", resp: "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", err: "bad status line"},
		{name: "empty reason", resp: "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok", err: "bad status line"},
		{name: "HTTP/2", resp: "HTTP/2 200 OK\r\n\r\n", err: "bad status line"},
		{name: "bare LF", resp: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", err: "CRLF"},
		{name: "bad Content-Length", resp: "HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok", err: "bad Content-Length"},
		{name: "truncated body", resp: "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok", err: "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := rawServer(t, false, tt.resp)
			r, err := (&nesclient.Client{Registry: url}).Do("GET", "/", nil, nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Body) != tt.body {
				t.Errorf("body %q, want %q", r.Body, tt.body)
			}
		})
	}
}

func TestBodyLeftIncompleteOnOpenConnection(t *testing.T) {
	url, _ := rawServer(t, true, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nok")
	_, err := (&nesclient.Client{Registry: url, Timeout: 300 * time.Millisecond}).Do("GET", "/", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "got 2 of 9") {
		t.Fatalf("err = %v", err)
	}
}

func TestHead(t *testing.T) {
	tests := []struct {
		name, resp string
		keepOpen   bool
		hang       bool
	}{
		{"length left open", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, true},
		{"length then close", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false, false},
		{"zero length left open", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, false},
		{"no length left open", "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, _ := rawServer(t, tt.keepOpen, tt.resp)
			r, err := (&nesclient.Client{Registry: url}).Do("HEAD", "/package/foo", nil, nil)
			if tt.hang {
				if err == nil || !strings.Contains(err.Error(), "HEAD would hang the client") {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || len(r.Body) != 0 {
				t.Fatalf("r = %+v, err = %v", r, err)
			}
		})
	}
}

func TestBadURLs(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1", "ftp://x", "http://", "http://u@127.0.0.1", "http://[::1]:80", "http://127.0.0.1:0"} {
		if _, err := (&nesclient.Client{Registry: u}).Do("GET", "/", nil, nil); err == nil {
			t.Errorf("%s: no error", u)
		}
	}
}
