package server

import (
	"sync"
	"time"
)

// Brute-force guard for logins. Failures are counted per account and per
// client address; after freeFailures, each further failure locks that key
// out for twice as long as the last, up to maxLockout, so an attacker is
// soon slowed to a crawl while the real owner waits minutes at most.
const (
	freeFailures  = 5
	firstLockout  = 2 * time.Second
	maxLockout    = 5 * time.Minute
	forgetFailure = 15 * time.Minute // a quiet key starts afresh
	maxGuardKeys  = 100_000          // beyond this, stale keys are swept
)

type guard struct {
	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	count   int // failed attempts
	pending int // attempts being checked right now
	last    time.Time
	locked  time.Time // refused until then
}

func newGuard() *guard { return &guard{keys: make(map[string]*failures)} }

// guardKeys are the counters of a login attempt: its account (an ID, or
// the name typed when no account has it) and its client address.
func guardKeys(account, addr string) [2]string {
	return [2]string{"user:" + account, "addr:" + addr}
}

// begin asks whether a login attempt for keys may go ahead; 0 means yes,
// else how long to wait. An attempt that goes ahead counts as a failure
// until end says otherwise, so that a burst of parallel guesses cannot
// slip past the lock while the first ones are still being checked. Every
// begin that returns 0 must be followed by one end.
func (g *guard) begin(keys [2]string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		f := g.keys[k]
		switch {
		case f == nil || f.pending == 0 && now.Sub(f.last) > forgetFailure:
		case f.locked.After(now):
			wait = max(wait, f.locked.Sub(now))
		case f.pending > 0 && f.count+f.pending > freeFailures:
			// As many in flight as failures are left before the lock,
			// and past it one at a time.
			wait = max(wait, firstLockout)
		}
	}
	if wait > 0 {
		return wait
	}
	if len(g.keys) >= maxGuardKeys {
		g.sweep(now)
	}
	for _, k := range keys {
		f := g.keys[k]
		if f == nil || f.pending == 0 && now.Sub(f.last) > forgetFailure {
			f = new(failures)
			g.keys[k] = f
		}
		f.pending++
		f.last = now
	}
	return 0
}

// end records how an attempt that begin let through went. A success
// forgets the account's failures (not the address's: one good login must
// not reset a guessing run against other accounts).
func (g *guard) end(keys [2]string, now time.Time, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, k := range keys {
		f := g.keys[k]
		if f == nil {
			continue
		}
		f.pending--
		switch {
		case !ok:
			f.count++
			f.last = now
			if over := f.count - freeFailures; over > 0 {
				f.locked = now.Add(min(firstLockout<<min(over-1, 20), maxLockout))
			}
		case i == 0:
			f.count, f.locked = 0, time.Time{}
		}
		if f.count == 0 && f.pending == 0 {
			delete(g.keys, k)
		}
	}
}

// sweep drops keys with nothing in flight and no failure for a while.
func (g *guard) sweep(now time.Time) {
	for k, f := range g.keys {
		if f.pending == 0 && now.Sub(f.last) > forgetFailure {
			delete(g.keys, k)
		}
	}
}
