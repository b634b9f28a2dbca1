package registry

import (
	"sync"
	"time"
)

// Brute-force guard for logins. A lock on an account that anyone could
// trigger would hand strangers a way to keep its owner out, so failures
// are counted three ways, each with its own budget:
//
//   - per account and address: a few free failures, then locks that
//     double from 2 s up to 5 minutes. This is what a guesser at one
//     address runs into, and it touches nobody else.
//   - per address, over all accounts: more free failures (a classroom
//     shares one address), then the same locks. This stops one address
//     from spraying guesses over many accounts.
//   - per account, over all addresses: a much slower budget for guessing
//     spread over many addresses, whose locks grow from a minute to an
//     hour. An address with no failures of its own is not held to it: its
//     attempt is checked: a right password gets in, a wrong one counts
//     (and dirties the address). So a distributed guesser needs a fresh
//     address for every guess, and the owner, who does not guess, still
//     logs in.
type budget struct {
	free   int           // failures before the first lock
	first  time.Duration // the first lock; each further failure doubles it
	max    time.Duration // the longest lock
	forget time.Duration // a counter quiet this long starts afresh
}

var (
	pairBudget    = budget{free: 5, first: 2 * time.Second, max: 5 * time.Minute, forget: 15 * time.Minute}
	addrBudget    = budget{free: 20, first: 2 * time.Second, max: 5 * time.Minute, forget: 15 * time.Minute}
	accountBudget = budget{free: 20, first: time.Minute, max: time.Hour, forget: 24 * time.Hour}
)

const maxGuardKeys = 100_000 // beyond this, stale counters are swept

type guard struct {
	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	budget  *budget
	count   int // failed attempts
	pending int // attempts being checked right now
	last    time.Time
	locked  time.Time // refused until then
}

func newGuard() *guard { return &guard{keys: make(map[string]*failures)} }

// loginKeys are the counters of one login attempt, in the order of
// their budgets: pair, address, account. account is an ID, or the name
// typed when no account has it.
type loginKeys [3]string

func guardKeys(account, addr string) loginKeys {
	return loginKeys{"pair:" + account + "\x00" + addr, "addr:" + addr, "account:" + account}
}

var budgets = [3]*budget{&pairBudget, &addrBudget, &accountBudget}

// stale reports whether f counts for nothing any more.
func (f *failures) stale(now time.Time) bool {
	return f == nil || f.pending == 0 && now.Sub(f.last) > f.budget.forget && !f.locked.After(now)
}

// wait is how long f refuses an attempt: its lock, or while attempts are
// in flight, as many as failures are left before the lock and past it
// one at a time (so that a burst of parallel guesses cannot slip past the
// lock while the first ones are still being checked).
func (f *failures) wait(now time.Time) time.Duration {
	switch {
	case f.locked.After(now):
		return f.locked.Sub(now)
	case f.pending > 0 && f.count+f.pending > f.budget.free:
		return f.budget.first
	}
	return 0
}

// begin asks whether a login attempt may go ahead; 0 means yes, else how
// long to wait. An attempt that goes ahead counts as a failure until end
// says otherwise. Every begin that returns 0 must be followed by one end.
func (g *guard) begin(keys loginKeys, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	fs := [3]*failures{}
	for i, k := range keys {
		if f := g.keys[k]; !f.stale(now) {
			fs[i] = f
		}
	}
	var wait time.Duration
	for _, f := range fs[:2] {
		if f != nil {
			wait = max(wait, f.wait(now))
		}
	}
	// An address with no failures, nor attempts in flight, is not held to
	// the account's budget.
	if clean := fs[1] == nil || fs[1].count == 0 && fs[1].pending == 0; !clean && fs[2] != nil {
		wait = max(wait, fs[2].wait(now))
	}
	if wait > 0 {
		return wait
	}
	if len(g.keys) >= maxGuardKeys {
		g.sweep(now)
	}
	for i, k := range keys {
		f := fs[i]
		if f == nil {
			f = &failures{budget: budgets[i]}
			g.keys[k] = f
		}
		f.pending++
		f.last = now
	}
	return 0
}

// budgetNames name the counters of loginKeys, for the audit trail.
var budgetNames = [3]string{"account from this address", "address", "account"}

// end records how an attempt that begin let through went. A failure
// counts on every counter; a success forgets only the failures of its
// account at its address: it must reset neither a guessing run from that
// address against other accounts nor one from elsewhere against this one.
// It returns the names of the counters this attempt locked, with how long.
func (g *guard) end(keys loginKeys, now time.Time, ok bool) (locked []string) {
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
			if over := f.count - f.budget.free; over > 0 {
				lock := min(f.budget.first<<min(over-1, 20), f.budget.max)
				f.locked = now.Add(lock)
				locked = append(locked, budgetNames[i]+" locked for "+lock.String())
			}
		case i == 0:
			f.count, f.locked = 0, time.Time{}
		}
		if f.count == 0 && f.pending == 0 {
			delete(g.keys, k)
		}
	}
	return locked
}

// sweep drops counters with nothing in flight and no failure for a while.
func (g *guard) sweep(now time.Time) {
	for k, f := range g.keys {
		if f.stale(now) {
			delete(g.keys, k)
		}
	}
}
