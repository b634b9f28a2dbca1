package server

import (
	"sync"
	"time"
)

// limiter counts requests per client address in fixed windows. A fixed
// window is what the X-RateLimit-* headers describe: a limit, what is left
// of it, and when it resets.
type limiter struct {
	limit  int // <= 0: off
	window time.Duration

	mu      sync.Mutex
	clients map[string]*window
	sweep   time.Time // next time stale entries are dropped
}

type window struct {
	reset time.Time
	used  int
}

// rateState is what one request learned from the limiter, for its headers.
type rateState struct {
	limit, remaining int
	reset            int64 // Unix seconds
	retryAfter       int   // seconds until reset
}

func newLimiter(limit int, win time.Duration) *limiter {
	return &limiter{limit: limit, window: win, clients: make(map[string]*window)}
}

// allows reports, without counting it, whether a request from addr at
// now would be within the limit.
func (l *limiter) allows(addr string, now time.Time) bool {
	if l.limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.clients[addr]
	return w == nil || !now.Before(w.reset) || w.used < l.limit
}

// take counts one request from addr and reports whether it may go on.
func (l *limiter) take(addr string, now time.Time) (rateState, bool) {
	if l.limit <= 0 {
		return rateState{}, true
	}
	l.mu.Lock()
	if now.After(l.sweep) {
		for k, w := range l.clients {
			if !now.Before(w.reset) {
				delete(l.clients, k)
			}
		}
		l.sweep = now.Add(l.window)
	}
	w := l.clients[addr]
	if w == nil || !now.Before(w.reset) {
		if w == nil {
			w = new(window)
			l.clients[addr] = w
		}
		w.reset, w.used = now.Add(l.window), 0
	}
	w.used++
	used, reset := w.used, w.reset
	l.mu.Unlock()

	st := rateState{
		limit:      l.limit,
		remaining:  max(l.limit-used, 0),
		reset:      reset.Unix(),
		retryAfter: int((reset.Sub(now) + time.Second - 1) / time.Second),
	}
	return st, used <= l.limit
}
