package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

func version(title, v string) registry.Version {
	return registry.Version{Title: title, Version: v, Description: "d " + v, Author: "alice",
		License: "MIT", Tags: []string{"t"}, Readme: "# " + title}
}

// TestPublishRule: who may publish which version, run by the real store.
func TestPublishRule(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	publish := func(owner string, mode registry.Mode, title, v string) error {
		_, err := db.Publish(ctx, owner, version(title, v), []byte("tarball "+title+" "+v),
			registry.PublishRule(owner, mode, title, v))
		return err
	}
	refused := func(what string, err error, kind registry.Kind, msg string) {
		t.Helper()
		var re *registry.Error
		if !errors.As(err, &re) || re.Kind != kind || re.Msg != msg {
			t.Errorf("%s: %v, want kind %d %q", what, err, kind, msg)
		}
	}
	refused("update of a missing package", publish("alice", registry.Update, "pkg", "1.0.0"),
		registry.NotFound, "Package `pkg` does not exist; publish it with POST first")
	if err := publish("alice", registry.Create, "pkg", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	err = publish("alice", registry.Create, "pkg", "2.0.0")
	refused("create of an existing own package", err, registry.WrongMethod, "Package `pkg` already exists; publish a new version with PUT")
	if re := (*registry.Error)(nil); !errors.As(err, &re) || re.Allow != "PUT" {
		t.Errorf("Allow %v", err)
	}
	refused("update by another user", publish("bob", registry.Update, "PKG", "2.0.0"), registry.Refused, "Package `PKG` already exists")
	refused("import by another user", publish("bob", registry.Import, "pkg", "0.1.0"), registry.Refused, "Package `pkg` already exists")
	for _, v := range []string{"1.0.0", "0.9.0", "1.0.0-rc.1"} {
		refused("update to "+v, publish("alice", registry.Update, "pkg", v), registry.Refused,
			"Cannot upgrade to version "+v+" (currently at 1.0.0)")
	}
	for _, v := range []string{"1.9.0", "1.10.0"} {
		if err := publish("alice", registry.Update, "pkg", v); err != nil {
			t.Fatalf("update to %s: %v", v, err)
		}
	}
	// Import may add an older version, once: versions never change.
	if err := publish("alice", registry.Import, "pkg", "1.5.0"); err != nil {
		t.Fatal(err)
	}
	refused("same version twice", publish("alice", registry.Import, "pkg", "1.5.0"), registry.Conflict,
		"Version 1.5.0 of `pkg` already exists; versions never change")
}
