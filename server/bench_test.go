package server_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
)

// BenchmarkHandler measures the server's own cost per cached read,
// without the network: the overhead the load script compares with nginx.
func BenchmarkHandler(b *testing.B) {
	e := newEnv(b, server.Config{RateLimit: 1 << 30})
	e.seed("ctl", "1.0.0", "Read the pads", "input")
	h := e.srv.Handler()
	for _, path := range []string{"/package/ctl", "/package/ctl/data", "/search/ctl", "/"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = "127.0.0.1:1234"
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
	// The package's web page, for a browser: a cached read too.
	b.Run("page /package/ctl", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, "/package/ctl", nil)
		req.RemoteAddr = "127.0.0.1:1234"
		req.Header.Set("Accept", browserHeaders["Accept"])
		b.ReportAllocs()
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 || w.Header().Get("Content-Type") != "text/html" {
				b.Fatal(w.Code, w.Header().Get("Content-Type"))
			}
		}
	})
}
