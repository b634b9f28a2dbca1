package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// within waits up to a second for ok: what a command writes is served
// by a running server within a second.
func within(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for start := time.Now(); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > time.Second {
			t.Fatalf("%s: not served within a second", what)
		}
	}
}

// mustRun runs a command that must succeed and returns what it printed.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, _, err := runCmd(t, stdin, args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestModerationCommands runs yank, unyank, owner, remove and user while
// serve runs over the same data folder: each change is served within a
// second, answers cached before it included; then audit shows every
// action once, with its actor and no secret.
func TestModerationCommands(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"alice", "bob"} {
		mustRun(t, faultPassword+"\n", "adduser", u, "--email", u+"@example.com", "--password-stdin", "--data", dir)
	}
	addr, _ := startServe(t, "--data", dir, "--rate-limit", "-1")
	c := &nesclient.Client{Registry: "http://" + addr}
	alice, err := c.Login("alice", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := c.Publish("alice", alice, packTgz("pad", v, "alice", libAsmFor("pad", v))); err != nil {
			t.Fatal(err)
		}
	}
	installs := func(version, want string) func() bool {
		return func() bool {
			files, err := c.Install("pad", version)
			return err == nil && string(files["lib.asm"]) == libAsmFor("pad", want)
		}
	}
	within(t, "before the yank", installs("", "1.1.0"))

	golden(t, "moderate/yank.golden", mustRun(t, "", "yank", "pad", "1.1.0", "--data", dir))
	within(t, "install pad after the yank", installs("", "1.0.0"))
	within(t, "install pad@1.1.0 after the yank", installs("1.1.0", "1.1.0"))
	if _, _, err := runCmd(t, "", "yank", "pad", "1.1.0", "--data", dir); err == nil || !strings.Contains(err.Error(), "yanked already") {
		t.Errorf("yank twice: %v", err)
	}
	golden(t, "moderate/unyank.golden", mustRun(t, "", "unyank", "pad", "1.1.0", "--data", dir))
	within(t, "install pad after the unyank", installs("", "1.1.0"))

	// A co-owner publishes; once removed, no longer.
	golden(t, "moderate/owner-add.golden", mustRun(t, "", "owner", "add", "pad", "bob", "--data", dir))
	bob, err := c.Login("bob", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish("bob", bob, packTgz("pad", "1.2.0", "bob", libAsmFor("pad", "1.2.0"))); err != nil {
		t.Fatalf("the co-owner's publish: %v", err)
	}
	golden(t, "moderate/owner-list.golden", mustRun(t, "", "owner", "list", "pad", "--data", dir))
	mustRun(t, "", "owner", "remove", "pad", "bob", "--data", dir)
	if _, err := c.Publish("bob", bob, packTgz("pad", "1.3.0", "bob", libAsmFor("pad", "1.3.0"))); err == nil {
		t.Error("the removed owner published")
	}
	if _, _, err := runCmd(t, "", "owner", "remove", "pad", "alice", "--data", dir); err == nil || !strings.Contains(err.Error(), "last owner") {
		t.Errorf("removing the last owner: %v", err)
	}

	// Removal: 410 for other clients, 404 with the reason for nessemble.
	if _, _, err := runCmd(t, "", "remove", "pad@1.2.0", "--data", dir); err == nil || !strings.Contains(err.Error(), "reason") {
		t.Errorf("remove without --reason: %v", err)
	}
	golden(t, "moderate/remove.golden", mustRun(t, "", "remove", "pad@1.2.0", "--reason", "Malware, report 7", "--data", dir))
	within(t, "install pad after the removal", installs("", "1.1.0"))
	var se *nesclient.StatusError
	_, err = c.Install("pad", "1.2.0")
	if !errors.As(err, &se) || se.Status != 404 || !strings.Contains(se.Message, "Malware, report 7") {
		t.Errorf("install of the removed version: %v", err)
	}

	// Disable: the token from before is refused at once.
	golden(t, "moderate/disable.golden", mustRun(t, "", "user", "disable", "alice", "--data", dir))
	if err := c.Logout("alice", alice); !errors.As(err, &se) || se.Status != 401 {
		t.Errorf("logout with a disabled user's token: %v", err)
	}
	if _, err := c.Login("alice", faultPassword); !errors.As(err, &se) || se.Status != 403 {
		t.Errorf("login of a disabled user: %v", err)
	}
	list := mustRun(t, "", "user", "list", "--data", dir)
	today := time.Now().UTC().Format("2006-01-02")
	golden(t, "moderate/user-list.golden", list, today, "$DATE")
	mustRun(t, "", "user", "enable", "alice", "--data", dir)
	if _, err := c.Login("alice", faultPassword); err != nil {
		t.Errorf("login after enable: %v", err)
	}
	mustRun(t, "a new password\n", "passwd", "alice", "--password-stdin", "--data", dir)
	if _, _, err := runCmd(t, "", "remove", "pad@", "--reason", "slip", "--data", dir); err == nil {
		t.Error("remove pad@ was taken")
	}

	// The audit trail: each action once, with its actor and address.
	var events []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, "", "audit", "--json", "--data", dir)), "\n") {
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit --json line %q: %v", line, err)
		}
		events = append(events, e)
	}
	var got []string
	for _, e := range events {
		actor := e["actor"]
		if strings.HasPrefix(actor, "operator") {
			actor = "operator"
			if e["addr"] != "command line" {
				t.Errorf("an operator's event from %q", e["addr"])
			}
		} else if e["addr"] != "127.0.0.1" {
			t.Errorf("a client's event from %q", e["addr"])
		}
		got = append(got, strings.Join([]string{actor, e["action"], e["package"], e["version"], e["account"], e["detail"]}, " "))
	}
	want := []string{
		"operator user-create   alice ",
		"operator user-create   bob ",
		"alice publish pad 1.0.0  ",
		"alice publish pad 1.1.0  ",
		"operator yank pad 1.1.0  ",
		"operator unyank pad 1.1.0  ",
		"operator owner-add pad  bob ",
		"bob publish pad 1.2.0  ",
		"operator owner-remove pad  bob ",
		"operator remove pad 1.2.0  Malware, report 7",
		"operator user-disable   alice ",
		"operator user-enable   alice ",
		"operator password-change   alice ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	text := mustRun(t, "", "audit", "--data", dir)
	for _, secret := range []string{faultPassword, "a new password", alice, bob} {
		if strings.Contains(text, secret) {
			t.Errorf("the audit trail shows a secret %q", secret)
		}
	}
	if n := strings.Count(mustRun(t, "", "audit", "--user", "BOB", "--data", dir), "\n"); n != 1+4 {
		t.Errorf("audit --user bob: %d lines", n)
	}
	if n := strings.Count(mustRun(t, "", "audit", "--package", "pad", "--since", "1h", "--data", dir), "\n"); n != 1+8 {
		t.Errorf("audit --package pad: %d lines", n)
	}
	if _, _, err := runCmd(t, "", "audit", "--since", "-1h", "--data", dir); err == nil {
		t.Error("audit --since -1h was taken")
	}
}

// TestAddUserCSV: a class from a CSV file, generated passwords printed
// once and working; one bad row creates nobody, and says which line.
func TestAddUserCSV(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mustRun(t, faultPassword+"\n", "adduser", "teacher", "--email", "teacher@example.com", "--password-stdin", "--data", dir)
	for _, tc := range []struct{ name, csv, want string }{
		{"bad email", "username,email,name\nann,ann@example.com,Ann\nben,not-an-email,Ben\n", "line 3: Invalid email address"},
		{"taken", "ann,ann@example.com,Ann\n\nTEACHER,t2@example.com,T\n", "line 3: User already exists: TEACHER"},
		{"twice", "ann,ann@example.com,Ann\nann,ann2@example.com,Ann\n", "line 2: Username ann appears twice"},
		{"columns", "ann,ann@example.com\n", "line 1: 2 columns"},
		{"short password", "ann,ann@example.com,Ann,short\n", "line 1: Password"},
		{"empty", "username,email,name,password\n", "no accounts"},
		{"quotes", "ann,\"ann@example.com\nben\n", "parse error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, "", "adduser", "--csv", write("class.csv", tc.csv), "--data", dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if list := mustRun(t, "", "user", "list", "--data", dir); strings.Count(list, "\n") != 2 {
		t.Fatalf("refused files created accounts:\n%s", list)
	}
	if _, _, err := runCmd(t, "", "adduser", "--csv", write("big.csv", strings.Repeat("x", maxCSVBytes+1)), "--data", dir); err == nil ||
		!strings.Contains(err.Error(), "larger than") {
		t.Errorf("an oversized file: %v", err)
	}

	out := mustRun(t, "", "adduser", "--csv", write("class.csv",
		"Username, Email, Name, Password\nann,ann@example.com,Ann Smith\nben,ben@example.com,\"Ben, Jr.\",ben's own pw\n"), "--data", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "created 2 users") {
		t.Fatalf("output:\n%s", out)
	}
	ann := strings.Fields(lines[2])
	if len(ann) != 2 || ann[0] != "ann" || strings.Count(ann[1], "-") != 3 {
		t.Fatalf("ann's line %q", lines[2])
	}
	if !strings.Contains(lines[3], "ben") || strings.Contains(out, "ben's own pw") {
		t.Errorf("ben's line %q shows the password from the file", lines[3])
	}
	addr, _ := startServe(t, "--data", dir, "--rate-limit", "-1")
	c := &nesclient.Client{Registry: "http://" + addr}
	if _, err := c.Login("ann", ann[1]); err != nil {
		t.Errorf("login with the generated password: %v", err)
	}
	if _, err := c.Login("ben", "ben's own pw"); err != nil {
		t.Errorf("login with the file's password: %v", err)
	}
	if _, _, err := runCmd(t, "", "adduser", "ann", "--csv", "x.csv", "--data", dir); err == nil {
		t.Error("adduser took a username and --csv at once")
	}
}
