package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// resetClock is a settable clock for expiry tests.
type resetClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *resetClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *resetClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openResetDB opens a store in a temp folder with one user, alice, whose
// password hash is "old", and a fixed clock.
func openResetDB(t *testing.T) (*store.DB, registry.User, *resetClock) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &resetClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	db.SetClock(clock.now)
	u, err := db.CreateUser(ctx, registry.User{Username: "alice", Email: "alice@example.org", Name: "Alice", PasswordHash: "old"})
	if err != nil {
		t.Fatal(err)
	}
	return db, u, clock
}

func passwordHash(t *testing.T, db *store.DB, login string) string {
	t.Helper()
	u, err := db.UserByLogin(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

func TestResetLifecycle(t *testing.T) {
	ctx := context.Background()
	db, u, clock := openResetDB(t)
	if _, err := db.ResetOf(ctx, u.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("ResetOf before any reset: %v, want ErrNotFound", err)
	}
	if err := db.AddToken(ctx, u.ID, "login-token", time.Hour); err != nil {
		t.Fatal(err)
	}

	first, err := db.CreateReset(ctx, u.ID, "token-1", "", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	second, err := db.CreateReset(ctx, u.ID, "token-2", "qr-2", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.ResetOf(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != second.ID || got.Token != "token-2" || !got.QR || got.QRID != "qr-2" || got.Username != "alice" {
		t.Fatalf("ResetOf = %+v, want the second reset", got)
	}
	if !got.Expires.Equal(clock.now().Add(10 * time.Minute)) {
		t.Errorf("Expires = %v, want ten minutes from now", got.Expires)
	}
	if err := db.ResetPassword(ctx, first.ID, "h1"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("the replaced reset still works: %v", err)
	}

	if err := db.ResetPassword(ctx, second.ID, "new"); err != nil {
		t.Fatal(err)
	}
	if h := passwordHash(t, db, "alice"); h != "new" {
		t.Errorf("password hash = %q, want new", h)
	}
	if toks, _ := db.LiveTokens(ctx, u.ID); len(toks) != 0 {
		t.Errorf("login tokens survived the reset: %v", toks)
	}
	got, _ = db.ResetOf(ctx, u.ID)
	if got.State(clock.now()) != registry.ResetUsed || got.QRID != "" {
		t.Errorf("after use: state %v, QRID %q", got.State(clock.now()), got.QRID)
	}
	if err := db.ResetPassword(ctx, second.ID, "again"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("second use: %v, want ErrResetDead", err)
	}
	if h := passwordHash(t, db, "alice"); h != "new" {
		t.Errorf("a used reset changed the password to %q", h)
	}
}

func TestResetExpiry(t *testing.T) {
	ctx := context.Background()
	db, u, clock := openResetDB(t)
	r, err := db.CreateReset(ctx, u.ID, "tok", "qr", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(10*time.Minute - time.Millisecond)
	if s := r.State(clock.now()); s != registry.ResetLive {
		t.Fatalf("state just before expiry = %v", s)
	}
	if _, err := db.QRReset(ctx, "qr"); err != nil {
		t.Fatalf("QRReset just before expiry: %v", err)
	}
	clock.add(time.Millisecond)
	if s := r.State(clock.now()); s != registry.ResetExpired {
		t.Fatalf("state at expiry = %v", s)
	}
	if _, err := db.TakeQR(ctx, "qr"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("TakeQR after expiry: %v", err)
	}
	if err := db.ResetPassword(ctx, r.ID, "new"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("ResetPassword after expiry: %v", err)
	}
	if h := passwordHash(t, db, "alice"); h != "old" {
		t.Errorf("an expired reset changed the password to %q", h)
	}

	// A day after expiry the row is pruned by the next reset of anyone.
	bob, err := db.CreateUser(ctx, registry.User{Username: "bob", Email: "bob@example.org", Name: "Bob", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	clock.add(24 * time.Hour)
	if _, err := db.CreateReset(ctx, bob.ID, "bob-tok", "", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResetOf(ctx, u.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a reset dead for a day was kept: %v", err)
	}
}

func TestResetFailuresCancel(t *testing.T) {
	ctx := context.Background()
	db, u, clock := openResetDB(t)
	r, err := db.CreateReset(ctx, u.ID, "tok", "qr", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= registry.MaxResetFailures; i++ {
		n, err := db.FailReset(ctx, r.ID)
		if err != nil || n != i {
			t.Fatalf("FailReset #%d = %d, %v", i, n, err)
		}
	}
	got, _ := db.ResetOf(ctx, u.ID)
	if s := got.State(clock.now()); s != registry.ResetCancelled {
		t.Errorf("state after %d failures = %v", registry.MaxResetFailures, s)
	}
	if _, err := db.TakeQR(ctx, "qr"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("TakeQR of a cancelled reset: %v", err)
	}
	if err := db.ResetPassword(ctx, r.ID, "new"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("ResetPassword of a cancelled reset: %v", err)
	}
}

func TestTakeQROnce(t *testing.T) {
	ctx := context.Background()
	db, u, _ := openResetDB(t)
	if _, err := db.CreateReset(ctx, u.ID, "tok", "qr-id", time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // peeking does not use it up
		if r, err := db.QRReset(ctx, "qr-id"); err != nil || r.Token != "tok" {
			t.Fatalf("QRReset = %+v, %v", r, err)
		}
	}
	r, err := db.TakeQR(ctx, "qr-id")
	if err != nil || r.Token != "tok" || r.Username != "alice" {
		t.Fatalf("TakeQR = %+v, %v", r, err)
	}
	if _, err := db.TakeQR(ctx, "qr-id"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("second TakeQR: %v, want ErrNotFound", err)
	}
	// The reset itself lives on: only the image is gone.
	if got, _ := db.ResetOf(ctx, u.ID); got.ID != r.ID || got.Used {
		t.Errorf("the reset was consumed with its image: %+v", got)
	}
}

// TestResetSingleUseConcurrent races many uses of one reset: exactly one
// may win.
func TestResetSingleUseConcurrent(t *testing.T) {
	ctx := context.Background()
	db, u, _ := openResetDB(t)
	r, err := db.CreateReset(ctx, u.ID, "tok", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.ResetPassword(ctx, r.ID, "hash-"+string(rune('a'+i)))
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("uses %d and %d both succeeded", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, registry.ErrResetDead):
			t.Fatalf("use %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no use succeeded")
	}
	if h := passwordHash(t, db, "alice"); h != "hash-"+string(rune('a'+won)) {
		t.Errorf("password hash = %q, want the winner's", h)
	}
}

func TestSetPasswordEndsReset(t *testing.T) {
	ctx := context.Background()
	db, u, _ := openResetDB(t)
	r, err := db.CreateReset(ctx, u.ID, "tok", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetPassword(ctx, u.ID, "operator's"); err != nil {
		t.Fatal(err)
	}
	if err := db.ResetPassword(ctx, r.ID, "new"); !errors.Is(err, registry.ErrResetDead) {
		t.Errorf("a deleted reset still works: %v", err)
	}
}
