package server_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/nessemble/nessemble-registry/server"
)

// TestConcurrentPublishes runs many publishes at once (meant for -race):
// racing users leave one owner, racing versions leave one version,
// unrelated publishes all succeed, and no file is left without its row.
func TestConcurrentPublishes(t *testing.T) {
	t.Parallel()
	const n = 16
	e := newEnv(t, server.Config{})
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = e.newAccount(fmt.Sprintf("user%02d", i))
	}
	user := func(i int) string { return fmt.Sprintf("user%02d", i) }

	// run starts one goroutine per i and collects the answers' statuses.
	run := func(f func(i int) resp) []resp {
		out := make([]resp, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				out[i] = f(i)
			})
		}
		close(start)
		wg.Wait()
		return out
	}
	count := func(rs []resp, status int) int {
		c := 0
		for _, r := range rs {
			if r.status == status {
				c++
			}
		}
		return c
	}

	t.Run("users race for a new title", func(t *testing.T) {
		// Two users, eight goroutines each, all POSTing the same title.
		racer := func(i int) int { return i % 2 }
		bodies := [2][]byte{pkgTgz(t, "race", "1.0.0", user(0)), pkgTgz(t, "race", "1.0.0", user(1))}
		rs := run(func(i int) resp {
			return e.sendPackage(http.MethodPost, user(racer(i)), tokens[racer(i)], bodies[racer(i)])
		})
		if c := count(rs, 201); c != 1 {
			t.Fatalf("%d publishes of the new title succeeded, want 1", c)
		}
		p, err := e.db.Package(context.Background(), "race")
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rs {
			switch {
			case r.status == 201:
				if p.Owner != user(racer(i)) {
					t.Errorf("owner %s, but %s's publish got the 201", p.Owner, user(racer(i)))
				}
			case user(racer(i)) == p.Owner:
				wantError(t, r, 405, "publish a new version with PUT")
			default:
				wantError(t, r, 422, "Package `race` already exists")
			}
		}
	})

	t.Run("one version many times", func(t *testing.T) {
		owner, _ := e.db.Package(context.Background(), "race")
		var idx int
		for i := range n {
			if user(i) == owner.Owner {
				idx = i
			}
		}
		body := pkgTgz(t, "race", "1.1.0", user(idx))
		rs := run(func(int) resp {
			return e.sendPackage(http.MethodPut, user(idx), tokens[idx], body)
		})
		if c := count(rs, 201); c != 1 {
			t.Fatalf("%d PUTs of 1.1.0 succeeded, want 1", c)
		}
		for _, r := range rs {
			if r.status != 201 {
				wantError(t, r, 422, "Cannot upgrade to version 1.1.0 (currently at 1.1.0)")
			}
		}
		rels, err := e.db.Releases(context.Background(), "race")
		if err != nil || len(rels) != 2 {
			t.Errorf("releases %v %v", rels, err)
		}
	})

	t.Run("distinct packages at once", func(t *testing.T) {
		var v1, v2 [n][]byte
		for i := range n {
			v1[i] = pkgTgz(t, fmt.Sprintf("pkg%02d", i), "1.0.0", user(i))
			v2[i] = pkgTgz(t, fmt.Sprintf("pkg%02d", i), "2.0.0", user(i))
		}
		rs := run(func(i int) resp {
			if r := e.sendPackage(http.MethodPost, user(i), tokens[i], v1[i]); r.status != 201 {
				return r
			}
			return e.sendPackage(http.MethodPut, user(i), tokens[i], v2[i])
		})
		for i, r := range rs {
			if r.status != 201 {
				t.Errorf("%s: %d %s", user(i), r.status, r.body)
			}
		}
		if pkgs, _, _ := e.db.Counts(context.Background()); pkgs != n+1 {
			t.Errorf("%d packages, want %d", pkgs, n+1)
		}
	})

	t.Run("reads during writes", func(t *testing.T) {
		var v3 [n][]byte
		for i := range n {
			v3[i] = pkgTgz(t, fmt.Sprintf("pkg%02d", i), "3.0.0", user(i))
		}
		rs := run(func(i int) resp {
			if i%2 == 0 {
				return e.get("/package/race")
			}
			return e.sendPackage(http.MethodPut, user(i), tokens[i], v3[i])
		})
		for i, r := range rs {
			if r.status != 200 && r.status != 201 {
				t.Errorf("request %d: %d %s", i, r.status, r.body)
			}
		}
	})

	e.checkFilesMatchVersions()
}
