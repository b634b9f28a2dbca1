package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLog(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		var logs syncBuffer
		e := newEnv(t, server.Config{AccessLog: &logs, AccessLogJSON: asJSON})
		h := e.srv.Handler()
		for _, path := range []string{"/", `/package/a%20b"=c`} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = "192.0.2.7:5555"
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("json=%v: %d lines: %q", asJSON, len(lines), logs.String())
		}
		if !asJSON {
			want := regexp.MustCompile(`^time=\S+ level=INFO msg=request method=GET path=/ status=200 bytes=\d+ duration=\S+ remote=192\.0\.2\.7$`)
			if !want.MatchString(lines[0]) {
				t.Errorf("text line %q", lines[0])
			}
			if !strings.Contains(lines[1], `path="/package/a b\"=c" status=404`) {
				t.Errorf("text line with a path to quote: %q", lines[1])
			}
			continue
		}
		for i, l := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("json line %q: %v", l, err)
			}
			wantPath := []string{"/", `/package/a b"=c`}[i]
			if m["msg"] != "request" || m["method"] != "GET" || m["path"] != wantPath || m["remote"] != "192.0.2.7" {
				t.Errorf("json line %v", m)
			}
		}
	}
}
