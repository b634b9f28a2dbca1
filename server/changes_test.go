package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
)

type feed struct {
	Changes []struct {
		Serial                             int64
		Kind, Title, Version, Shasum, Date string
	}
	Last int64
	Next *string
}

func (e *env) feed(path string) feed {
	e.t.Helper()
	r := e.get(path)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("%s: %d %s %s", path, r.status, r.header.Get("Content-Type"), r.body)
	}
	var f feed
	if err := json.Unmarshal(r.body, &f); err != nil {
		e.t.Fatal(err)
	}
	return f
}

// TestChangesFeed: GET /changes?since=N gives every change after N, oldest
// first, paged, each once, with the log's last serial; a client that
// stores the last serial it saw and asks again sees only what came since.
func TestChangesFeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	var want []registry.Version
	for _, tv := range [][2]string{{"alpha", "1.0.0"}, {"beta", "0.1.0"}, {"alpha", "1.1.0"}, {"gamma", "2.0.0"}, {"beta", "0.2.0"}} {
		want = append(want, e.seed(tv[0], tv[1], "Package "+tv[0], "t"))
	}

	all := e.feed("/changes")
	if len(all.Changes) != len(want) || all.Next != nil {
		t.Fatalf("feed from 0: %+v", all)
	}
	for i, c := range all.Changes {
		v := want[i]
		if c.Kind != "publish" || c.Title != v.Title || c.Version != v.Version || c.Shasum != v.Shasum ||
			c.Date != v.Published.UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("change %d = %+v, want %s %s %s", i, c, v.Title, v.Version, v.Shasum)
		}
		if i > 0 && c.Serial <= all.Changes[i-1].Serial {
			t.Errorf("serials not increasing: %d after %d", c.Serial, all.Changes[i-1].Serial)
		}
	}
	if last := all.Changes[len(all.Changes)-1].Serial; all.Last != last {
		t.Errorf("last = %d, want %d", all.Last, last)
	}

	// Paged two at a time, following next: each change once, in order.
	var seen []int64
	path := "/changes?since=0&limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		f := e.feed(path)
		for _, c := range f.Changes {
			seen = append(seen, c.Serial)
		}
		path = ""
		if f.Next != nil {
			path = (*f.Next)[len(e.ts.URL):]
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("paged serials %v, want %d of them", seen, len(want))
	}
	for i := range seen {
		if seen[i] != all.Changes[i].Serial {
			t.Fatalf("paged serials %v, want those of %+v", seen, all.Changes)
		}
	}

	// A client at the last serial sees nothing, then exactly what is new.
	stored := all.Last
	if f := e.feed("/changes?since=" + strconv.FormatInt(stored, 10)); len(f.Changes) != 0 || f.Last != stored || f.Next != nil {
		t.Fatalf("feed at the end: %+v", f)
	}
	v := e.seed("delta", "1.0.0", "Package delta", "t")
	f := e.feed("/changes?since=" + strconv.FormatInt(stored, 10))
	if len(f.Changes) != 1 || f.Changes[0].Title != "delta" || f.Changes[0].Shasum != v.Shasum || f.Last != f.Changes[0].Serial {
		t.Fatalf("feed after one publish: %+v", f)
	}

	for _, bad := range []string{"/changes?since=-1", "/changes?since=x", "/changes?limit=0", "/changes?limit=1001"} {
		wantError(t, e.get(bad), http.StatusBadRequest, "Invalid")
	}
}

// TestReadOnly: on a read-only registry every write is refused with 403
// and a message the client prints, nothing is stored, and reads work.
func TestReadOnly(t *testing.T) {
	t.Parallel()
	e := start(t, envOptions{registry: registry.Config{ReadOnly: true, ResetQR: true}})
	e.seed("mirrored", "1.0.0", "A mirrored package", "t")
	token := e.newAccount("alice")
	before := e.snapshot()
	const msg = "This registry is a read-only mirror; publish to its upstream"
	sign := func(method, route string) map[string]string {
		return map[string]string{"Authorization": auth.HMACHeader("alice", token, method, route)}
	}
	for _, w := range []struct {
		method, path string
		hdr          map[string]string
		body         string
	}{
		{"POST", "/user/create", nil, `{"name":"B","username":"bob","email":"bob@example.org","password":"long enough pw"}`},
		{"POST", "/user/login", map[string]string{"Authorization": "Basic YWxpY2U6Y29ycmVjdCBob3JzZSBiYXR0ZXJ5"}, ""},
		{"POST", "/user/logout", sign("POST", "/user/logout"), "{}"},
		{"GET", "/user/logout", sign("GET", "/user/logout"), ""},
		{"POST", "/user/forgotpassword", nil, `{"username":"alice"}`},
		{"POST", "/user/resetpassword", sign("POST", "/user/resetpassword"), `{"username":"alice","password":"new password 1"}`},
		{"POST", "/package/mirrored/1.0.0/yank", sign("POST", "/package/mirrored/1.0.0/yank"), ""},
		{"POST", "/package/mirrored/owners/add", sign("POST", "/package/mirrored/owners/add"), `{"username":"alice"}`},
	} {
		wantError(t, e.do(w.method, w.path, w.hdr, w.body), http.StatusForbidden, msg)
	}
	for _, method := range []string{"POST", "PUT"} {
		wantError(t, e.sendPackage(method, "alice", token, pkgTgz(t, "mirrored", "2.0.0", "alice")), http.StatusForbidden, msg)
		wantError(t, e.sendPackage(method, "alice", token, pkgTgz(t, "fresh", "1.0.0", "alice")), http.StatusForbidden, msg)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("a refused write changed the registry:\n%s\nwas\n%s", after, before)
	}
	for _, path := range []string{"/package/mirrored", "/package/mirrored/1.0.0/data", "/search/mirrored", "/", "/changes"} {
		if r := e.get(path); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, r.status, r.body)
		}
	}
}
