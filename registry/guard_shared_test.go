package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/postgres"
	"github.com/nessemble/nessemble-registry/registry"
)

// TestAccountBudgetSharedByReplicas: two replicas on one PostgreSQL
// database count one account's failed logins together. Twenty failures
// spread over many addresses on one replica use up the account's budget,
// so that on the other an address that fails once is held back by the
// account-wide lock, while a clean address still gets in.
func TestAccountBudgetSharedByReplicas(t *testing.T) {
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	ctx := context.Background()
	replica := func() *registry.Service {
		bs, err := blobs.Open(ctx, s3URL, t.TempDir(), blobs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		db, err := postgres.Open(ctx, dbURL, bs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return registry.New(db, registry.Config{}, nil, slog.New(slog.DiscardHandler))
	}
	a, b := replica(), replica()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := func() time.Time { return now }
	a.SetClock(clock)
	b.SetClock(clock)
	const password = "the right password"
	if _, err := a.CreateUser(ctx, registry.NewUser{Name: "Alice", Username: "alice", Email: "alice@example.org", Password: password}); err != nil {
		t.Fatal(err)
	}
	kind := func(err error) registry.Kind {
		var e *registry.Error
		if errors.As(err, &e) {
			return e.Kind
		}
		return 0
	}
	for i := range 20 { // one failure per address, under every address budget
		if _, err := a.Login(ctx, "alice", "guess", fmt.Sprintf("10.0.0.%d", i)); kind(err) != registry.Unauthorized {
			t.Fatalf("failure %d on A: %v", i+1, err)
		}
	}
	// On B, a fresh address is checked; its failure is the account's 21st.
	if _, err := b.Login(ctx, "alice", "guess", "10.1.0.1"); kind(err) != registry.Unauthorized {
		t.Fatalf("a fresh address on B: %v", err)
	}
	if _, err := b.Login(ctx, "alice", password, "10.1.0.1"); kind(err) != registry.TooMany {
		t.Errorf("an address that failed, on B, account over its budget on A and B: %v, want TooMany", err)
	}
	if _, err := a.Login(ctx, "alice", password, "10.0.0.3"); kind(err) != registry.TooMany {
		t.Errorf("an address that failed, on A: %v, want TooMany", err)
	}
	if _, err := b.Login(ctx, "alice", password, "10.1.0.2"); err != nil {
		t.Errorf("the owner from a clean address on B: %v", err)
	}
	// The lock passes; a day later the counter starts afresh.
	now = now.Add(25 * time.Hour)
	if _, err := b.Login(ctx, "alice", password, "10.1.0.1"); err != nil {
		t.Errorf("a day later: %v", err)
	}
}
