package main

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// unreadConns tracks accepted connections whose first request has not
// reached a handler yet, so that a shutdown can wait for them.
type unreadConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

type connKey struct{}

func newUnreadConns() *unreadConns {
	return &unreadConns{conns: make(map[net.Conn]struct{})}
}

// track is the server's ConnState hook.
func (u *unreadConns) track(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		u.mu.Lock()
		u.conns[c] = struct{}{}
		u.mu.Unlock()
	case http.StateIdle, http.StateHijacked, http.StateClosed:
		u.forget(c)
	}
}

func (u *unreadConns) forget(c net.Conn) {
	u.mu.Lock()
	delete(u.conns, c)
	u.mu.Unlock()
}

// conn is what the handler learns of the connection a request came on.
type conn struct {
	net.Conn
	delivered atomic.Bool // a request of it has reached the handler
}

// connContext is the server's ConnContext hook: it lets the handler find the
// connection a request came on.
func (u *unreadConns) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &conn{Conn: c})
}

// handler forgets a connection once its first request has reached h;
// later requests on it cost one atomic load, not the lock.
func (u *unreadConns) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := r.Context().Value(connKey{}).(*conn); ok && !c.delivered.Load() {
			c.delivered.Store(true)
			u.forget(c.Conn)
		}
		h.ServeHTTP(w, r)
	})
}

// wait returns once every tracked connection has delivered its request
// or closed, or after timeout (a client that connects and sends nothing
// must not hold up a shutdown).
func (u *unreadConns) wait(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		u.mu.Lock()
		n := len(u.conns)
		u.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
