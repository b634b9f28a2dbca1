package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/mail"
	"github.com/nessemble/nessemble-registry/registry"
)

// The answers that take a user name must not tell whether an account of
// that name exists: not in status, not in body, not in time.

// sameAnswer asserts that two answers are equal in status, type and body.
func sameAnswer(t *testing.T, what string, a, b resp) {
	t.Helper()
	if a.status != b.status || a.header.Get("Content-Type") != b.header.Get("Content-Type") || !bytes.Equal(a.body, b.body) {
		t.Errorf("%s: the answers differ:\n  %d %s\n  %d %s", what, a.status, a.body, b.status, b.body)
	}
}

// TestResetAnswersDoNotRevealAccounts: a reset signed for an account that
// exists (with or without a pending reset, with a body naming another
// user, with a wrong token) answers byte for byte as one for a name that
// is no account, on every kind of registry.
func TestResetAnswersDoNotRevealAccounts(t *testing.T) {
	smtpd, pool := newSMTPServer(t, mail.Plain)
	smtp := &mail.Config{Host: "127.0.0.1", Port: smtpd.port, From: "registry@example.org", TLS: mail.Plain, RootCAs: pool}
	for name, tc := range map[string]struct {
		rc   registry.Config
		mail *mail.Config
	}{
		"resets off":     {},
		"sign-up closed": {rc: registry.Config{SignupClosed: true}},
		"email":          {mail: smtp},
		"QR":             {rc: registry.Config{ResetQR: true}},
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := newResetEnv(t, tc.rc, tc.mail)
			email, qr := tc.mail != nil, tc.rc.ResetQR
			e.addResetUser("alice", "Alice")
			u := e.addResetUser("bob", "Bob")
			if email || qr {
				if r := e.do(http.MethodPost, "/user/forgotpassword", nil, `{"username": "bob"}`); r.status != 200 {
					t.Fatalf("forgotpassword: %d %s", r.status, r.body)
				}
				if email {
					smtpd.next(t)
				}
			}
			wrong := fmt.Sprintf("%064x", 1)
			body := func(user string) string { return `{"username": "` + user + `", "password": "brand new pw"}` }
			unknown := e.resetRequest("mallory", wrong, body("mallory"))
			if unknown.status != http.StatusUnauthorized {
				t.Fatalf("unknown user: %d %s", unknown.status, unknown.body)
			}
			sameAnswer(t, "no reset pending", unknown, e.resetRequest("alice", wrong, body("alice")))
			sameAnswer(t, "body names another user", unknown, e.resetRequest("alice", wrong, body("bob")))
			sameAnswer(t, "unknown user named by email", unknown, e.resetRequest("mallory@example.org", wrong, body("mallory@example.org")))
			if email || qr {
				sameAnswer(t, "pending reset, wrong token", unknown, e.resetRequest("bob", wrong, body("bob")))
				sameAnswer(t, "pending reset, right token, body names another user", unknown,
					e.resetRequest("bob", e.resetToken(u), body("alice")))
			}
			// Forgotpassword too, where the kind of registry allows it.
			forgot := func(user string) resp {
				return e.do(http.MethodPost, "/user/forgotpassword", nil, `{"username": "`+user+`"}`)
			}
			if !qr {
				sameAnswer(t, "forgotpassword", forgot("mallory"), forgot("alice"))
			}
		})
	}
}

// TestAccountTimingDoesNotRevealAccounts times answers for an account
// that exists and for a name that is no account, interleaved, and
// compares the two distributions: the chance that a request of the one
// kind takes longer than one of the other must stay near one half.
func TestAccountTimingDoesNotRevealAccounts(t *testing.T) {
	if raceDetector {
		// Instrumented, SQLite's B-tree walks cost ten times more, and the
		// account's one row more than the unknown name's none; .ci/run
		// runs this test without -race first.
		t.Skip("timings under -race say nothing of the real binary's")
	}
	smtpd, pool := newSMTPServer(t, mail.Plain)
	e, _ := newResetEnv(t, registry.Config{}, &mail.Config{
		Host: "127.0.0.1", Port: smtpd.port, From: "registry@example.org", TLS: mail.Plain, RootCAs: pool})
	e.addResetUser("alice", "Alice")
	go func() { // the mails of the forgotpassword requests below
		for range smtpd.msgs {
		}
	}()
	if r := e.do(http.MethodPost, "/user/forgotpassword", nil, `{"username": "alice"}`); r.status != 200 {
		t.Fatalf("forgotpassword: %d %s", r.status, r.body)
	}
	wrong := fmt.Sprintf("%064x", 1)
	for _, tc := range []struct {
		name string
		req  func(user string) resp
	}{
		{"forgotpassword", func(user string) resp {
			return e.do(http.MethodPost, "/user/forgotpassword", nil, `{"username": "`+user+`"}`)
		}},
		{"resetpassword, wrong token", func(user string) resp {
			return e.resetRequest(user, wrong, `{"username": "`+user+`", "password": "brand new pw"}`)
		}},
		{"publish, wrong signature", func(user string) resp {
			return e.do(http.MethodPost, "/package/publish", map[string]string{
				"Authorization": auth.HMACHeader(user, wrong, http.MethodPost, "/package/publish"),
				"Content-Type":  "application/tar+gzip",
			}, "x")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			known, unknown := timeRequests(t, 300, func() { tc.req("alice") }, func() { tc.req("mallory") })
			p := probGreater(known, unknown)
			t.Logf("median %v for the account, %v for the unknown name; P(account slower) = %.3f",
				median(known), median(unknown), p)
			if p < 0.4 || p > 0.6 {
				t.Errorf("P(account slower) = %.3f, want 0.4-0.6: the time taken tells whether the account exists", p)
			}
		})
	}
}

// timeRequests runs a and b n times each, interleaved in random order
// pairs, and returns how long each run took. A pause after each lets work
// an answer left running (a reset email) finish before the next request.
func timeRequests(t *testing.T, n int, a, b func()) (ta, tb []time.Duration) {
	t.Helper()
	a()
	b() // warm up both paths
	for i := range n {
		first, second, tf, ts := a, b, &ta, &tb
		if i%2 == 1 {
			first, second, tf, ts = b, a, &tb, &ta
		}
		for _, run := range []struct {
			f func()
			d *[]time.Duration
		}{{first, tf}, {second, ts}} {
			start := time.Now()
			run.f()
			*run.d = append(*run.d, time.Since(start))
			time.Sleep(time.Millisecond)
		}
	}
	return ta, tb
}

// probGreater is the chance that a sample of a is longer than one of b,
// ties counting half (the Mann-Whitney U statistic over n*m).
func probGreater(a, b []time.Duration) float64 {
	sb := slices.Clone(b)
	slices.Sort(sb)
	var u float64
	for _, x := range a {
		lo, _ := slices.BinarySearch(sb, x)
		hi := lo
		for hi < len(sb) && sb[hi] == x {
			hi++
		}
		u += float64(lo) + float64(hi-lo)/2
	}
	return u / float64(len(a)*len(b))
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
