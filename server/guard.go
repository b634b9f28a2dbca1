package server

import (
	"strings"
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
)

type guard struct {
	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	count  int
	last   time.Time
	locked time.Time // refused until then
}

func newGuard() *guard { return &guard{keys: make(map[string]*failures)} }

func guardKeys(account, addr string) [2]string {
	return [2]string{"user:" + strings.ToLower(account), "addr:" + addr}
}

// wait reports how long the keys are still locked out; 0 means go ahead.
func (g *guard) wait(keys [2]string, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if f := g.keys[k]; f != nil && f.locked.After(now) {
			d = max(d, f.locked.Sub(now))
		}
	}
	return d
}

// fail records a failed login for the keys.
func (g *guard) fail(keys [2]string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.keys) > 100_000 { // drop stale entries rather than grow without bound
		for k, f := range g.keys {
			if now.Sub(f.last) > forgetFailure {
				delete(g.keys, k)
			}
		}
	}
	for _, k := range keys {
		f := g.keys[k]
		if f == nil || now.Sub(f.last) > forgetFailure {
			f = new(failures)
			g.keys[k] = f
		}
		f.count++
		f.last = now
		if over := f.count - freeFailures; over > 0 {
			lock := firstLockout << min(over-1, 20)
			f.locked = now.Add(min(lock, maxLockout))
		}
	}
}

// succeed forgets the account's failures (not the address's: one good
// login must not reset a guessing run against other accounts).
func (g *guard) succeed(keys [2]string) {
	g.mu.Lock()
	delete(g.keys, keys[0])
	g.mu.Unlock()
}
