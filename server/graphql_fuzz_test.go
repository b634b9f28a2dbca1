package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
)

// FuzzGraphQL sends arbitrary queries and variables to /graphql. Whatever
// arrives, the answer must be JSON with the right content type, never a
// 500, and the server must keep answering.
//
//	go test -run '^$' -fuzz FuzzGraphQL -fuzztime 2m ./server
func FuzzGraphQL(f *testing.F) {
	for _, seed := range []struct{ query, vars string }{
		{`{ status }`, ``},
		{`{ packages(page: 1, perPage: 10) { package { title tags url } pagination { total next } } }`, ``},
		{`query Q($t: String!) { package(title: $t) { title versions(last: true) readme resource } }`, `{"t": "ctl"}`},
		{`{ search(term: "ctl") { term results { title } } }`, ``},
		{`{ reference(terms: ["registers", "PPUCTRL"]) }`, ``},
		{`{ a: package(title: "ctl") { resource } b: package(title: "ctl") { resource } }`, ``},
		{`{ __schema { types { name fields { name } } } }`, ``},
		{`{{{{`, `[1,2`},
	} {
		f.Add(seed.query, seed.vars)
	}
	e := newEnv(f, server.Config{})
	e.seed("ctl", "1.0.0", "Read the pads", "input")
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, query, vars string) {
		body, err := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(validJSONOrNull(vars))})
		if err != nil {
			t.Skip() // not a request a client could send
		}
		req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "127.0.0.1:1"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, query, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
	})
}

func validJSONOrNull(s string) string {
	if json.Valid([]byte(s)) {
		return s
	}
	return "null"
}
