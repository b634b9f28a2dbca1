package registry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

func newService(t *testing.T) (*registry.Service, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return registry.New(db, registry.Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil))), db
}

func wantKind(t *testing.T, what string, err error, kind registry.Kind, frag string) {
	t.Helper()
	var re *registry.Error
	if !errors.As(err, &re) || re.Kind != kind || !strings.Contains(re.Msg, frag) {
		t.Errorf("%s: %v, want kind %d with %q", what, err, kind, frag)
	}
}

// TestRemoveReasons: a reason is required, one printable line without %,
// at most 200 characters; only the operator removes.
func TestRemoveReasons(t *testing.T) {
	ctx := context.Background()
	s, db := newService(t)
	if _, err := db.Publish(ctx, "alice", version("pad", "1.0.0"), []byte("t"),
		registry.PublishRule("alice", registry.Create, "pad", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, reason, frag string }{
		{"empty", "  ", "Give the reason"},
		{"percent", "100% malware", "%"},
		{"two lines", "malware\nreally", "one line"},
		{"too long", strings.Repeat("x", 201), "200 characters"},
	} {
		wantKind(t, tc.name, s.Remove(ctx, registry.OperatorActor, "pad", "1.0.0", tc.reason), registry.Invalid, tc.frag)
	}
	alice := registry.UserActor(registry.User{Username: "alice"})
	wantKind(t, "the owner", s.Remove(ctx, alice, "pad", "1.0.0", "mine"), registry.Forbidden, "operator")
	wantKind(t, "a missing version", s.Remove(ctx, registry.OperatorActor, "pad", "2.0.0", "x"), registry.NotFound, "no version 2.0.0")
	if err := s.Remove(ctx, registry.OperatorActor, "PAD", "1.0.0", strings.Repeat("é", 200)); err != nil {
		t.Errorf("200 characters of reason: %v", err)
	}
	if v, err := db.Version(ctx, "pad", "1.0.0"); err != nil || !v.Removed {
		t.Errorf("after the removal: %+v %v", v, err)
	}
}

// TestCreateUsersAllOrNothing: one bad account of a batch creates none,
// and says which; generated passwords work and are returned once.
func TestCreateUsersAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, db := newService(t)
	batch := []registry.NewUser{
		{Username: "ann", Email: "ann@example.com", Name: "Ann"},
		{Username: "ben", Email: "ben@example.com", Name: "Ben", Password: "ben's password"},
		{Username: "cy", Email: "nope", Name: "Cy"},
	}
	_, _, err := s.CreateUsers(ctx, batch)
	var be *registry.BatchError
	if !errors.As(err, &be) || be.Index != 2 || !strings.Contains(err.Error(), "email") {
		t.Fatalf("bad batch: %v", err)
	}
	if us, err := db.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("a refused batch created %v (%v)", us, err)
	}
	if batch[0].Password != "" {
		t.Error("CreateUsers wrote into its caller's batch")
	}
	created, passwords, err := s.CreateUsers(ctx, batch[:2])
	if err != nil || len(created) != 2 || passwords[1] != "" || passwords[0] == "" {
		t.Fatalf("created %v, passwords %q, %v", created, passwords, err)
	}
	if _, err := s.Login(ctx, "ann", passwords[0], "10.0.0.1"); err != nil {
		t.Errorf("login with the generated password: %v", err)
	}
	if _, err := s.Login(ctx, "ben", "ben's password", "10.0.0.1"); err != nil {
		t.Errorf("login with the given password: %v", err)
	}
	_, _, err = s.CreateUsers(ctx, []registry.NewUser{{Username: "dee", Email: "ANN@example.com", Name: "Dee"}})
	if !errors.As(err, &be) || be.Index != 0 || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a taken email: %v", err)
	}
}
