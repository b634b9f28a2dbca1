package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/store"
)

// runCmd runs one command line and returns its output and error.
func runCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestAddUser creates a user from the command line, with sign-up closed
// on the server, and logs in as that user the way the client does.
func TestAddUser(t *testing.T) {
	dir := t.TempDir()
	out, _, err := runCmd(t, "tea party 1865\r\n", "adduser", "carol", "--email", "carol@example.com",
		"--name", "Carol Hatter", "--password-stdin", "--data", dir)
	if err != nil {
		t.Fatalf("adduser: %v", err)
	}
	golden(t, "adduser/created.golden", out)
	// The name defaults to the username.
	if _, _, err := runCmd(t, "another password", "adduser", "dave", "--email", "dave@example.com",
		"--password-stdin", "--data", dir); err != nil {
		t.Fatalf("adduser dave: %v", err)
	}

	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	carol, err := db.UserByLogin(context.Background(), "carol")
	dave, err2 := db.UserByLogin(context.Background(), "dave")
	db.Close()
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	if carol.Name != "Carol Hatter" || carol.Email != "carol@example.com" || dave.Name != "dave" {
		t.Errorf("stored %+v and %+v", carol, dave)
	}
	if !strings.HasPrefix(carol.PasswordHash, "$argon2id$") || strings.Contains(carol.PasswordHash, "tea party") {
		t.Errorf("password stored as %q", carol.PasswordHash)
	}

	addr, _ := startServe(t, "--data", dir, "--signup=false", "--rate-limit", "-1")
	url := "http://" + addr
	c := &nesclient.Client{Registry: url}
	token, err := c.Login("carol", "tea party 1865") // the line break is not part of the password
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if err := c.Logout("carol", token); err != nil {
		t.Errorf("logout: %v", err)
	}
	_, err = c.CreateUser("Eve", "eve", "eve@example.com", "long enough")
	var se *nesclient.StatusError
	if !errors.As(err, &se) || se.Status != 403 || !strings.Contains(se.Message, "operator") {
		t.Errorf("sign-up with --signup=false: %v", err)
	}

	// A second account with a taken name, while the server runs.
	if _, _, err := runCmd(t, "long enough", "adduser", "CAROL", "--email", "c2@example.com",
		"--password-stdin", "--data", dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate adduser: %v", err)
	}
}

func TestAddUserRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, stdin string
		args        []string
		msg         string
	}{
		{"no terminal", "", []string{"adduser", "bob", "--email", "bob@example.com"}, "--password-stdin"},
		{"short password", "short\n", []string{"adduser", "bob", "--email", "bob@example.com", "--password-stdin"}, "at least 8 characters"},
		{"empty stdin", "", []string{"adduser", "bob", "--email", "bob@example.com", "--password-stdin"}, "at least 8 characters"},
		{"no email", "long enough\n", []string{"adduser", "bob", "--password-stdin"}, "email"},
		{"bad email", "long enough\n", []string{"adduser", "bob", "--email", "bob", "--password-stdin"}, "Invalid email address"},
		{"bad username", "long enough\n", []string{"adduser", "bob smith", "--email", "bob@example.com", "--password-stdin"}, "Invalid username"},
		{"no username", "long enough\n", []string{"adduser", "--email", "bob@example.com", "--password-stdin"}, "arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.stdin, append(tc.args, "--data", dir)...)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tc.msg)
			}
		})
	}
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, users, err := db.Counts(context.Background()); err != nil || users != 0 {
		t.Errorf("%d users after refused adduser commands (%v)", users, err)
	}
}
