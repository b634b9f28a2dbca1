package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// TestPasswd sets a password from the command line while the registry
// runs over the same data folder: the user is logged out everywhere, the
// old password and a pending reset stop working, the new password works.
func TestPasswd(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCmd(t, "first password\n", "adduser", "alice", "--email", "alice@example.com",
		"--password-stdin", "--data", dir); err != nil {
		t.Fatalf("adduser: %v", err)
	}
	addr, _ := startServe(t, "--data", dir, "--rate-limit", "-1", "--reset-qr")
	url := "http://" + addr
	c := &nesclient.Client{Registry: url}
	token, err := c.Login("alice", "first password")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := c.ForgotPassword("alice"); err != nil {
		t.Fatalf("forgotpassword: %v", err)
	}

	out, _, err := runCmd(t, "second password\n", "passwd", "ALICE", "--password-stdin", "--data", dir)
	if err != nil {
		t.Fatalf("passwd: %v", err)
	}
	golden(t, "passwd/changed.golden", out)

	var se *nesclient.StatusError
	if err := c.Logout("alice", token); !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("logout with a token from before passwd: %v", err)
	}
	if _, err := c.Login("alice", "first password"); err == nil {
		t.Error("the old password still works")
	}
	if _, err := c.Login("alice", "second password"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.UserByLogin(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResetOf(context.Background(), u.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the pending reset survived passwd: %v", err)
	}
}

func TestPasswdRefused(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := runCmd(t, "first password\n", "adduser", "alice", "--email", "alice@example.com",
		"--password-stdin", "--data", dir); err != nil {
		t.Fatalf("adduser: %v", err)
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"unknown user", "second password\n", []string{"passwd", "bob", "--password-stdin"}, "no user bob"},
		{"password rule", "short\n", []string{"passwd", "alice", "--password-stdin"}, "at least 8"},
		{"no terminal", "second password\n", []string{"passwd", "alice"}, "--password-stdin"},
		{"no username", "", []string{"passwd"}, "arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.stdin, append(tc.args, "--data", dir)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	// The refused commands left the password alone.
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if u, err := db.UserByLogin(context.Background(), "alice"); err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("alice: %+v, %v", u, err)
	}
}

// TestServeSMTPFlags: bad mail settings stop serve before it listens, and
// the password comes from a file, never from the command line.
func TestServeSMTPFlags(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	serve := []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--smtp-host", "127.0.0.1"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no sender", nil, "sender"},
		{"bad sender", []string{"--smtp-from", "not an address"}, "sender"},
		{"bad mode", []string{"--smtp-from", "r@example.org", "--smtp-tls", "ssl"}, "unknown TLS mode"},
		{"user without password", []string{"--smtp-from", "r@example.org", "--smtp-user", "u"}, "without a password"},
		{"missing password file", []string{"--smtp-password-file", filepath.Join(dir, "nope")}, "nope"},
		{"empty password file", []string{"--smtp-password-file", empty}, "one line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NESSEMBLE_REGISTRY_SMTP_PASSWORD", "")
			// Should serve start anyway, the deadline ends it with nil.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := run(ctx, append(serve, tc.args...), strings.NewReader(""), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}

	var pw string
	if err := (&passwordFile{p: &pw}).Set(pwFile); err != nil || pw != "s3cret" {
		t.Errorf("password file read as %q, %v", pw, err)
	}
}
