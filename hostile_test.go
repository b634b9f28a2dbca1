//go:build linux

package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// rawResponse is an answer read off the wire.
type rawResponse struct {
	head   string // status line and header lines, exactly as sent
	status int
	header http.Header
	body   []byte
}

// exchange sends head and then body on a new connection from the local
// address (any if ""), and reads the answer until the server closes. The
// body goes out from another goroutine, and write errors are ignored: a
// server may answer and hang up before it has read a huge body.
func exchange(local, addr, head string, body io.Reader) (*rawResponse, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		if _, err := io.WriteString(conn, head); err == nil && body != nil {
			io.Copy(conn, body)
		}
	}()
	raw, err := io.ReadAll(conn)
	if len(raw) == 0 {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		return nil, fmt.Errorf("unreadable answer %q: %v", raw, err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("answer body: %v", err)
	}
	h, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	return &rawResponse{head: h, status: res.StatusCode, header: res.Header, body: b}, nil
}

// jsonError checks an error answer as the real client needs it: exact
// JSON content type, a status field matching the status, a message.
func (r *rawResponse) jsonError(t *testing.T, status int, frag string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%d answer has Content-Type %q", status, ct)
	}
	var e struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Status != status || e.Error == "" || !strings.Contains(e.Error, frag) {
		t.Errorf("%d answer body %s: want status %d and an error mentioning %q", status, r.body, status, frag)
	}
}

// keepServing checks, until stop is closed, that an ordinary client is
// answered; it sends how many requests were answered. A request that runs
// into the client's timeout (5 s) counts as a failure.
func keepServing(t *testing.T, c *nesclient.Client, stop <-chan struct{}) <-chan int {
	n := make(chan int, 1)
	c.Timeout = 5 * time.Second
	go func() {
		answered := 0
		defer func() { n <- answered }()
		for {
			text, status, err := c.Reference()
			if err != nil || status != 200 || !strings.Contains(text, "instructions") {
				t.Errorf("ordinary client: %d %v", status, err)
			} else {
				answered++
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return n
}

// TestSlowloris holds 200 connections that send their request header a
// byte at a time. Ordinary clients must be answered all along, and the
// server must drop each slow connection once its header deadline
// (10 s for a request head) passes, however steadily it trickles.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, t.TempDir(), "--rate-limit", "-1")
	const slow = 200
	type result struct {
		open time.Duration
		err  error
	}
	results := make(chan result, slow)
	// firstDone closes when the first slow connection ends, however it
	// ends, so that a server that never drops them fails the test
	// instead of hanging it.
	firstDone := make(chan struct{})
	var doneOnce sync.Once
	for range slow {
		go func() {
			defer doneOnce.Do(func() { close(firstDone) })
			conn, err := net.Dial("tcp", reg.addr)
			if err != nil {
				results <- result{err: err}
				return
			}
			defer conn.Close()
			opened := time.Now()
			closed := make(chan struct{})
			go func() {
				io.Copy(io.Discard, conn) // returns when the server hangs up
				close(closed)
			}()
			head := "GET /status HTTP/1.1\r\nHost: registry\r\nX-Slow: "
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			giveUp := time.After(20 * time.Second)
			for i := 0; ; i++ {
				select {
				case <-closed:
					results <- result{open: time.Since(opened)}
					return
				case <-giveUp:
					results <- result{err: errors.New("still open after 20s")}
					return
				case <-tick.C:
					b := byte('a')
					if i < len(head) {
						b = head[i]
					}
					conn.Write([]byte{b}) // a failure shows up as the close above
				}
			}
		}()
	}

	// While every slow connection is open, others are served.
	stop := make(chan struct{})
	served := keepServing(t, reg.client(), stop)
	<-firstDone
	close(stop)
	if n := <-served; n < 20 {
		t.Errorf("only %d ordinary requests answered while the slow connections were open", n)
	}
	var longest time.Duration
	for range slow {
		r := <-results
		switch {
		case r.err != nil:
			t.Errorf("slow connection: %v", r.err)
		case r.open < 5*time.Second || r.open > 13*time.Second:
			t.Errorf("slow connection closed after %v, want about 10s (the request head timeout)", r.open)
		}
		longest = max(longest, r.open)
	}
	t.Logf("%d slow connections, all dropped within %v", slow, longest.Round(time.Millisecond))
	if _, status, err := reg.client().Reference(); err != nil || status != 200 {
		t.Errorf("after the slow connections: %d %v", status, err)
	}
}

// randomUpload is a valid gzip upload of size bytes or more: a tar whose
// lib.asm is random data, which does not compress.
func randomUpload(t *testing.T, size int) []byte {
	t.Helper()
	junk := make([]byte, size)
	rand.Read(junk)
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: "lib/lib.asm", Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(junk)
	tw.Close()
	var gb bytes.Buffer
	zw := gzip.NewWriter(&gb)
	zw.Write(tb.Bytes())
	zw.Close()
	return gb.Bytes()
}

// endless is an unbounded body of one byte repeated.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

// TestOversizedRequests sends huge headers, a huge URL and huge bodies,
// and expects each refused with the right status while an ordinary client
// goes on being served.
//
// Oversized headers and URLs are refused by net/http before the registry
// sees the request: its answer is a plain-text 431, not the registry's
// JSON error, and nothing in a handler can change that.
func TestOversizedRequests(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	addUser(t, data, "big")
	reg := startRegistry(t, data, "--rate-limit", "-1")
	token, err := reg.client().Login("big", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	served := keepServing(t, reg.client(), stop)

	const host = "Host: registry\r\nConnection: close\r\n"
	var manyHeaders strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&manyHeaders, "X-Header-%d: value\r\n", i)
	}
	upload := randomUpload(t, 3<<20)
	publishHead := func(method string) string {
		return method + " /package/publish HTTP/1.1\r\n" + host +
			"Authorization: " + nesclient.Authorization("big", token, method, "/package/publish") + "\r\n" +
			"Content-Type: application/tar+gzip\r\n"
	}
	for _, tc := range []struct {
		name   string
		head   string
		body   io.Reader
		status int
		json   bool   // false for net/http's own plain-text answer
		frag   string // in the JSON error message
	}{
		{name: "64 KiB header", head: "GET /reference HTTP/1.1\r\n" + host + "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n",
			status: 431},
		{name: "3000 headers", head: "GET /reference HTTP/1.1\r\n" + host + manyHeaders.String() + "\r\n", status: 431},
		{name: "100 KB URL", head: "GET /package/" + strings.Repeat("x", 100_000) + " HTTP/1.1\r\n" + host + "\r\n",
			status: 431},
		{name: "3 MiB upload with Content-Length",
			head: publishHead("POST") + "Content-Length: " + strconv.Itoa(len(upload)) + "\r\n\r\n",
			body: bytes.NewReader(upload), status: 413, json: true, frag: "too large"},
		{name: "3 MiB upload chunked", head: publishHead("POST") + "Transfer-Encoding: chunked\r\n\r\n",
			// Without a length, whichever limit is hit first refuses it:
			// the body's size or what it unpacks to.
			body: chunked(bytes.NewReader(upload)), status: 413, json: true},
		{name: "endless upload without login", head: "POST /package/publish HTTP/1.1\r\n" + host +
			"Content-Type: application/tar+gzip\r\nContent-Length: 1000000000\r\n\r\n",
			body: endless('x'), status: 401, json: true, frag: "Not logged in"},
		{name: "endless sign-up body", head: "POST /user/create HTTP/1.1\r\n" + host +
			"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
			body: io.MultiReader(strings.NewReader(`{"name": "`), endless('x')), status: 413, json: true, frag: "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := exchange("", reg.addr, tc.head, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.json {
				r.jsonError(t, tc.status, tc.frag)
			} else if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}
	close(stop)
	if n := <-served; n == 0 {
		t.Error("no ordinary request was answered")
	}
	if _, status, err := reg.client().Reference(); err != nil || status != 200 {
		t.Errorf("after the oversized requests: %d %v", status, err)
	}
}

// chunked frames r in HTTP/1.1 chunked encoding, 32 KiB a chunk.
func chunked(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				if _, werr := fmt.Fprintf(pw, "%x\r\n%s\r\n", n, buf[:n]); werr != nil {
					pw.CloseWithError(werr)
					return
				}
			}
			if err != nil {
				io.WriteString(pw, "0\r\n\r\n")
				pw.Close()
				return
			}
		}
	}()
	return pr
}

// TestRateLimitPerClient runs the limiter of the real binary: a client
// over its limit gets 429 with Retry-After and X-RateLimit-* values that
// say when it may go on, while a client from another address is not
// affected. The two clients use other loopback addresses than the
// 127.0.0.1 of the start-up probe.
func TestRateLimitPerClient(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, t.TempDir(), "--rate-limit", "5", "--rate-window", "3s")
	const a, b = "127.0.0.2", "127.0.0.3"
	get := func(local string) *rawResponse {
		t.Helper()
		r, err := exchange(local, reg.addr, "GET /reference HTTP/1.1\r\nHost: registry\r\nConnection: close\r\n\r\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// header returns a header as spelled on the wire ("X-RateLimit-...",
	// not Go's canonical "X-Ratelimit-...").
	header := func(r *rawResponse, name string) string {
		t.Helper()
		for _, line := range strings.Split(r.head, "\r\n") {
			if v, ok := strings.CutPrefix(line, name+": "); ok {
				return v
			}
		}
		t.Errorf("no %s header in %q", name, r.head)
		return ""
	}
	number := func(r *rawResponse, name string) int64 {
		t.Helper()
		n, err := strconv.ParseInt(header(r, name), 10, 64)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		return n
	}

	start := time.Now().Unix()
	var reset int64
	for i := range 5 {
		r := get(a)
		if r.status != 200 {
			t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
		}
		if got := number(r, "X-RateLimit-Limit"); got != 5 {
			t.Errorf("X-RateLimit-Limit %d", got)
		}
		if got := number(r, "X-RateLimit-Remaining"); got != int64(4-i) {
			t.Errorf("request %d: X-RateLimit-Remaining %d, want %d", i+1, got, 4-i)
		}
		if i == 0 {
			reset = number(r, "X-RateLimit-Reset")
			if reset < start || reset > start+4 {
				t.Errorf("X-RateLimit-Reset %d, want within the 3s window from %d", reset, start)
			}
		} else if got := number(r, "X-RateLimit-Reset"); got != reset {
			t.Errorf("X-RateLimit-Reset moved from %d to %d within one window", reset, got)
		}
	}

	over := get(a)
	over.jsonError(t, 429, "Too many requests")
	now := time.Now().Unix()
	retry := number(over, "Retry-After")
	if retry < 1 || retry > 3 {
		t.Errorf("Retry-After %d, want 1-3 seconds", retry)
	}
	// Retry-After counts whole seconds up, X-RateLimit-Reset is the Unix
	// second the window ends in: they must name the same moment.
	if d := now + retry - reset; d < 0 || d > 2 {
		t.Errorf("Retry-After %d at %d disagrees with X-RateLimit-Reset %d", retry, now, reset)
	}
	if got := number(over, "X-RateLimit-Remaining"); got != 0 {
		t.Errorf("429 with X-RateLimit-Remaining %d", got)
	}
	if got := number(over, "X-RateLimit-Reset"); got != reset {
		t.Errorf("429 with X-RateLimit-Reset %d, want %d", got, reset)
	}

	other := get(b)
	if other.status != 200 || number(other, "X-RateLimit-Remaining") != 4 {
		t.Errorf("another client: %d, remaining %s", other.status, header(other, "X-RateLimit-Remaining"))
	}

	// Once Retry-After has passed, the first client is welcome again.
	time.Sleep(time.Duration(retry)*time.Second + 100*time.Millisecond)
	again := get(a)
	if again.status != 200 || number(again, "X-RateLimit-Remaining") != 4 {
		t.Errorf("after Retry-After: %d, remaining %s", again.status, header(again, "X-RateLimit-Remaining"))
	}
}

// processMemory reads a process's resident set now and at its peak, in MiB.
func processMemory(t *testing.T, pid int) (rss, peak float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		switch {
		case err != nil:
		case name == "VmRSS":
			rss = kb / 1024
		case name == "VmHWM":
			peak = kb / 1024
		}
	}
	return rss, peak
}

// TestCacheFloodMemory floods the registry with distinct reads, each with
// a 250-byte Host, a new search term and 12 KB of query parameters search
// does not use: what the answer cache keeps stays small, so the process's
// peak memory does too (before keys counted toward the bound and left
// unused parameters out, four clients took it past 120 MiB).
func TestCacheFloodMemory(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, t.TempDir(), "--rate-limit", "-1")
	host := strings.Repeat("h", 246) + ":80"
	junk := "junk=" + strings.Repeat("j", 12<<10)
	const clients, each = 4, 1500
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := range each {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/search/%s%d-%d?%s", reg.url(), strings.Repeat("t", 80), c, i, junk), nil)
				req.Host = host
				res, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rss, peak := processMemory(t, reg.cmd.Process.Pid)
	t.Logf("after %d distinct reads: RSS %.1f MiB, peak %.1f MiB", clients*each, rss, peak)
	if peak > 60 {
		t.Errorf("peak RSS %.1f MiB after the flood, want under 60", peak)
	}
}
