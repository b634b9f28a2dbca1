package server

import (
	"context"
	"net/url"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nessemble/nessemble-registry/fastpath"
)

// TestRenderSeesOnlyTheKey: what a cached read's render function receives
// is, by its type, the context and the read's key, whose fields hold
// nothing of the request but the key's parts: no header, no request, no
// writer can reach it, so no answer kept for everyone can depend on one.
func TestRenderSeesOnlyTheKey(t *testing.T) {
	var render func(context.Context, readKey) (*cached, error)
	allowed := map[reflect.Type]bool{
		reflect.TypeFor[bool](): true, reflect.TypeFor[string](): true,
		reflect.TypeFor[httprouter.Params](): true, reflect.TypeFor[url.Values](): true,
	}
	key := reflect.TypeFor[readKey]()
	for i := range key.NumField() {
		if f := key.Field(i); !allowed[f.Type] {
			t.Errorf("readKey.%s is a %v: only the key's parts may reach a render function", f.Name, f.Type)
		}
	}
	s := &Server{}
	for _, rr := range s.readRoutes() {
		if reflect.TypeOf(rr.render) != reflect.TypeOf(render) {
			t.Errorf("%s renders with a %T", rr.pattern, rr.render)
		}
	}
}

// BenchmarkAnswerFast is the registry's work per cached read on the fast
// path, sockets aside, with the metrics off and on.
func BenchmarkAnswerFast(b *testing.B) {
	off := newFrontEnv(b, Config{RateLimit: -1})
	on := newFrontEnv(b, Config{RateLimit: -1, Metrics: prometheus.NewRegistry()})
	for _, tc := range []struct {
		path    string
		metrics string
		e       *frontEnv
	}{
		{"/package/pad", "off", off}, {"/package/pad", "on", on},
		{"/search/pad", "off", off}, {"/search/pad", "on", on},
		{"/", "off", off}, {"/", "on", on},
	} {
		e, path := tc.e, tc.path
		b.Run(path+"/metrics="+tc.metrics, func(b *testing.B) {
			head := []byte("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n\r\n")
			r, _ := fastpath.ParseRequest(head)
			buf := make([]byte, 0, 1024)
			if _, _, _, ok := e.srv.answerFast(buf, r); !ok {
				b.Fatal("not answered")
			}
			b.ReportAllocs()
			for b.Loop() {
				e.srv.answerFast(buf, r)
			}
		})
	}
}

func BenchmarkAnswerFastParallel(b *testing.B) {
	off := newFrontEnv(b, Config{RateLimit: -1})
	on := newFrontEnv(b, Config{RateLimit: -1, Metrics: prometheus.NewRegistry()})
	for _, tc := range []struct {
		metrics string
		e       *frontEnv
	}{{"off", off}, {"on", on}} {
		e := tc.e
		b.Run("metrics="+tc.metrics, func(b *testing.B) {
			head := []byte("GET /package/pad HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n\r\n")
			var conns atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				r, _ := fastpath.ParseRequest(head)
				r.Conn = conns.Add(1) // a connection per goroutine
				buf := make([]byte, 0, 1024)
				for pb.Next() {
					e.srv.answerFast(buf, r)
				}
			})
		})
	}
}
