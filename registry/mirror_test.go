package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// TestReadOnlyRule: a read-only registry refuses its users' writes in
// the core, whatever calls it, and lets the operator's commands through.
func TestReadOnlyRule(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Publish(ctx, "alice", version("pkg", "1.0.0"), []byte("tarball"),
		registry.PublishRule("alice", registry.Create, "pkg", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	core := registry.New(db, registry.Config{ReadOnly: true}, nil, slog.New(slog.DiscardHandler))
	alice := registry.User{Username: "alice"}
	readOnly := func(what string, err error) {
		t.Helper()
		var re *registry.Error
		if !errors.As(err, &re) || re.Kind != registry.Forbidden || re.Msg != registry.MsgReadOnly {
			t.Errorf("%s: %v, want the read-only refusal", what, err)
		}
	}
	_, err = core.Yank(ctx, registry.UserActor(alice), "pkg", "1.0.0", true)
	readOnly("yank", err)
	_, _, err = core.ChangeOwner(ctx, registry.UserActor(alice), "pkg", "bob", true)
	readOnly("owner add", err)
	_, err = core.Login(ctx, "alice", "a password", "127.0.0.1")
	readOnly("login", err)
	readOnly("logout", core.Logout(ctx, alice, "token"))
	readOnly("sign-up", core.SignupOpen())
	readOnly("forgot password", core.ForgotAvailable())
	if p, err := core.Yank(ctx, registry.OperatorActor, "pkg", "1.0.0", true); err != nil || p.Latest != "" {
		t.Errorf("the operator's yank: %+v, %v", p, err)
	}
}
