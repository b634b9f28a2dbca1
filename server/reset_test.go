package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"image/color"
	"image/png"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	netmail "net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/mail"
	"github.com/nessemble/nessemble-registry/registry"
)

// resetT0 starts a TOTP step, so that ±30 s are the adjacent steps.
var resetT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// resetClock is a settable clock shared by the server and the store.
type resetClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *resetClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *resetClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

const resetOldPassword = "old password"

var (
	resetHashOnce sync.Once
	resetHash     string
)

// newResetEnv starts a registry with rc, and email through m unless it is
// nil, on a fixed clock at resetT0.
func newResetEnv(t *testing.T, rc registry.Config, m *mail.Config) (*env, *resetClock) {
	t.Helper()
	e := newRegistryEnv(t, rc, m)
	clock := &resetClock{t: resetT0}
	e.core.SetClock(clock.now)
	e.db.SetClock(clock.now)
	return e, clock
}

// addResetUser creates a user whose password is resetOldPassword (hashed
// once for the whole package: argon2 is slow under -race).
func (e *env) addResetUser(username, name string) registry.User {
	e.t.Helper()
	resetHashOnce.Do(func() {
		var err error
		if resetHash, err = auth.HashPassword(resetOldPassword); err != nil {
			panic(err)
		}
	})
	u, err := e.db.CreateUser(context.Background(), registry.User{
		Username: username, Email: username + "@example.org", Name: name, PasswordHash: resetHash})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) client() *nesclient.Client { return &nesclient.Client{Registry: e.ts.URL} }

// resetToken reads the user's reset token from the store: the only way
// to learn what a QR code encodes without a QR decoder.
func (e *env) resetToken(u registry.User) string {
	e.t.Helper()
	r, err := e.db.ResetOf(context.Background(), u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return r.Token
}

// resetRequest sends POST /user/resetpassword signed by key for login.
func (e *env) resetRequest(login, key, body string) resp {
	e.t.Helper()
	return e.do(http.MethodPost, "/user/resetpassword", map[string]string{
		"Authorization": auth.HMACHeader(login, key, http.MethodPost, "/user/resetpassword"),
		"Content-Type":  "application/json",
	}, body)
}

func wantClientError(t *testing.T, err error, status int, frag string) {
	t.Helper()
	var se *nesclient.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a status %d error", err, status)
	}
	if se.Status != status || !strings.Contains(se.Message, frag) {
		t.Fatalf("got %d %q, want %d containing %q", se.Status, se.Message, status, frag)
	}
}

// --- a real SMTP server on 127.0.0.1 ---

type mailMsg struct {
	from, auth string
	to         []string
	tls        bool
	data       []byte
}

type smtpServer struct {
	port     int
	msgs     chan mailMsg
	tls      *tls.Config
	implicit bool          // TLS from the first byte
	startTLS bool          // offer STARTTLS
	slow     time.Duration // wait before greeting
}

// newSMTPServer listens on 127.0.0.1 and speaks just enough SMTP for
// net/smtp, in the security mode of mail.Config.TLS. It returns the
// pool that trusts its self-signed certificate.
func newSMTPServer(t *testing.T, mode string) (*smtpServer, *x509.CertPool) {
	t.Helper()
	return newSlowSMTPServer(t, mode, 0)
}

// newSlowSMTPServer is newSMTPServer that waits slow before each greeting.
func newSlowSMTPServer(t *testing.T, mode string, slow time.Duration) (*smtpServer, *x509.CertPool) {
	t.Helper()
	cert, pool := selfSigned(t)
	s := &smtpServer{
		slow:     slow,
		msgs:     make(chan mailMsg, 16),
		tls:      &tls.Config{Certificates: []tls.Certificate{cert}},
		implicit: mode == mail.TLS,
		startTLS: mode == mail.StartTLS,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s.port = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.session(conn)
		}
	}()
	return s, pool
}

func (s *smtpServer) session(conn net.Conn) {
	defer func() { conn.Close() }()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	secure := s.implicit
	if secure {
		conn = tls.Server(conn, s.tls)
	}
	tp := textproto.NewConn(conn)
	time.Sleep(s.slow)
	tp.PrintfLine("220 127.0.0.1 test ESMTP")
	var m mailMsg
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			tp.PrintfLine("250-127.0.0.1 hello")
			if s.startTLS && !secure {
				tp.PrintfLine("250-STARTTLS")
			}
			tp.PrintfLine("250 AUTH PLAIN")
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(conn, s.tls)
			if tc.Handshake() != nil {
				return
			}
			conn, secure = tc, true
			tp = textproto.NewConn(conn)
		case "AUTH":
			_, ir, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(ir)
			m.auth = string(b)
			tp.PrintfLine("235 accepted")
		case "MAIL":
			m.from = arg
			tp.PrintfLine("250 ok")
		case "RCPT":
			m.to = append(m.to, arg)
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go on")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data, m.tls = data, secure
			s.msgs <- m
			m = mailMsg{}
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 unknown command")
		}
	}
}

func (s *smtpServer) next(t *testing.T) mailMsg {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no email arrived")
		return mailMsg{}
	}
}

// none asserts that no email arrives for a while.
func (s *smtpServer) none(t *testing.T) {
	t.Helper()
	select {
	case m := <-s.msgs:
		t.Fatalf("unexpected email to %v", m.to)
	case <-time.After(300 * time.Millisecond):
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

var hexToken = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

// readResetMail checks the message's shape and returns its two parts.
func readResetMail(t *testing.T, data []byte) (text, html string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail message: %v", err)
	}
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version"} {
		if msg.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if _, err := msg.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[ct] = string(b)
	}
	if len(parts) != 2 || parts["text/plain"] == "" || parts["text/html"] == "" {
		t.Fatalf("parts: %v, want text/plain and text/html", parts)
	}
	return parts["text/plain"], parts["text/html"]
}

// --- email delivery ---

func TestForgotPasswordEmail(t *testing.T) {
	for _, mode := range []string{mail.StartTLS, mail.TLS, mail.Plain} {
		t.Run(mode, func(t *testing.T) {
			smtpd, pool := newSMTPServer(t, mode)
			// No Registry: the mail must not name the registry from a Host header.
			e, _ := newResetEnv(t, registry.Config{}, &mail.Config{Host: "127.0.0.1", Port: smtpd.port, User: "mailer",
				Password: "s3cret", From: "Nessemble registry <registry@example.org>", TLS: mode, RootCAs: pool})
			u := e.addResetUser("alice", "Alice <b> & co")
			if err := e.db.AddToken(context.Background(), u.ID, "login-token", time.Hour); err != nil {
				t.Fatal(err)
			}

			doc, err := e.client().ForgotPassword("alice")
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"email": "true", "url": "", "data": ""} {
				if v, ok := doc.Get(k); !ok || v != want {
					t.Errorf("%s = %q (present %v), want %q", k, v, ok, want)
				}
			}

			m := smtpd.next(t)
			if m.tls != (mode != mail.Plain) {
				t.Errorf("delivered over TLS = %v in mode %s", m.tls, mode)
			}
			if m.auth != "\x00mailer\x00s3cret" {
				t.Errorf("AUTH PLAIN = %q", m.auth)
			}
			if !strings.Contains(m.from, "<registry@example.org>") || len(m.to) != 1 || !strings.Contains(m.to[0], "<alice@example.org>") {
				t.Errorf("envelope from %q to %v", m.from, m.to)
			}
			text, html := readResetMail(t, m.data)
			token := hexToken.FindString(text)
			if token == "" || !strings.Contains(html, token) {
				t.Fatalf("no token in both parts:\n%s\n%s", text, html)
			}
			for _, part := range []string{text, html} {
				if !strings.Contains(part, "2026-03-01 12:10 UTC") || !strings.Contains(part, "10 minutes") {
					t.Errorf("expiry missing from:\n%s", part)
				}
				if strings.Contains(part, "127.0.0.1:") {
					t.Errorf("the mail names the registry from the Host header:\n%s", part)
				}
			}
			if !strings.Contains(text, "Alice <b> & co") || !strings.Contains(html, "Alice &lt;b&gt; &amp; co") {
				t.Errorf("name not shown, or not escaped in HTML:\n%s\n%s", text, html)
			}
			if mode != mail.StartTLS {
				return // one full reset is enough; argon2 is slow
			}

			// An emailed reset takes only the token: its TOTP codes would
			// shrink 256 bits to six digits.
			code, err := auth.TOTPCode(token, resetT0)
			if err != nil {
				t.Fatal(err)
			}
			wantClientError(t, e.client().ResetPassword("alice", "brand new pw", code), 401, "Wrong reset token")

			if err := e.client().ResetPassword("alice", "brand new pw", token); err != nil {
				t.Fatalf("reset with the emailed token: %v", err)
			}
			if _, err := e.client().Login("alice", "brand new pw"); err != nil {
				t.Errorf("login with the new password: %v", err)
			}
			if _, err := e.client().Login("alice", resetOldPassword); err == nil {
				t.Error("the old password still works")
			}
			if toks, _ := e.db.LiveTokens(context.Background(), u.ID); len(toks) != 1 {
				t.Errorf("live tokens after reset and one login: %d, want 1 (the old one revoked)", len(toks))
			}
			wantClientError(t, e.client().ResetPassword("alice", "another pw 1", token), 401, "already used")
		})
	}
}

// TestShutdownWaitsForResetMail: a reset email still being sent when the
// server shuts down goes out before Shutdown returns.
func TestShutdownWaitsForResetMail(t *testing.T) {
	smtpd, pool := newSlowSMTPServer(t, mail.Plain, 500*time.Millisecond)
	e, _ := newResetEnv(t, registry.Config{}, &mail.Config{
		Host: "127.0.0.1", Port: smtpd.port, From: "registry@example.org", TLS: mail.Plain, RootCAs: pool})
	e.addResetUser("alice", "Alice")
	r := e.do(http.MethodPost, "/user/forgotpassword", map[string]string{"Content-Type": "application/json"},
		`{"username": "alice"}`)
	if r.status != http.StatusOK {
		t.Fatalf("forgot password: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-smtpd.msgs:
	default:
		t.Fatal("Shutdown returned before the reset email went out")
	}
}

// TestForgotPasswordEmailUnknownUser: with email delivery, an unknown
// name gets exactly the answer a real one gets, and no mail goes out.
func TestForgotPasswordEmailUnknownUser(t *testing.T) {
	smtpd, pool := newSMTPServer(t, mail.Plain)
	e, clock := newResetEnv(t, registry.Config{}, &mail.Config{
		Host: "127.0.0.1", Port: smtpd.port, From: "registry@example.org", TLS: mail.Plain, RootCAs: pool})
	e.addResetUser("alice", "Alice")

	forgot := func(name string) resp {
		return e.do(http.MethodPost, "/user/forgotpassword", map[string]string{"Content-Type": "application/json"},
			`{"username": "`+name+`"}`)
	}
	unknown := forgot("mallory")
	smtpd.none(t)
	known := forgot("alice")
	if unknown.status != known.status || !bytes.Equal(unknown.body, known.body) {
		t.Errorf("unknown: %d %s; known: %d %s", unknown.status, unknown.body, known.status, known.body)
	}
	if want := `{"email":true,"url":"","data":""}`; string(known.body) != want {
		t.Errorf("body = %s, want %s", known.body, want)
	}
	first := smtpd.next(t)
	if !strings.Contains(first.to[0], "alice@example.org") {
		t.Fatalf("mail to %v", first.to)
	}
	firstText, _ := readResetMail(t, first.data)

	// Asking again within a minute sends nothing: no mailbox flooding.
	forgot("alice")
	smtpd.none(t)

	// A minute later a new token replaces the old one.
	clock.set(resetT0.Add(61 * time.Second))
	forgot("alice@example.org") // the email address names the user too
	secondText, _ := readResetMail(t, smtpd.next(t).data)
	old, fresh := hexToken.FindString(firstText), hexToken.FindString(secondText)
	if old == "" || fresh == "" || old == fresh {
		t.Fatalf("tokens %q and %q", old, fresh)
	}
	wantClientError(t, e.client().ResetPassword("alice", "brand new pw", old), 401, "Wrong reset token")
}

func TestForgotPasswordUnavailable(t *testing.T) {
	e, _ := newResetEnv(t, registry.Config{}, nil)
	e.addResetUser("alice", "Alice")
	_, err := e.client().ForgotPassword("alice")
	wantClientError(t, err, 403, "ask its operator")
}

// --- QR delivery ---

// decodeQRData reads the data field as the client does: a signed side
// byte, then the modules packed eight per byte, MSB first.
func decodeQRData(t *testing.T, data string) (int, []bool) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil || len(b) == 0 {
		t.Fatalf("data is not base64: %v", err)
	}
	side := int(int8(b[0]))
	if side < 21 {
		t.Fatalf("side %d as a signed char", side)
	}
	n := side * side
	if len(b) != 1+(n+7)/8 {
		t.Fatalf("%d bytes for side %d", len(b), side)
	}
	if pad := n % 8; pad != 0 && b[len(b)-1]&(0xff>>pad) != 0 {
		t.Error("padding bits are not zero")
	}
	dark := make([]bool, n)
	for i := range dark {
		dark[i] = b[1+i/8]&(0x80>>(i%8)) != 0
	}
	return side, dark
}

func TestForgotPasswordQR(t *testing.T) {
	e, clock := newResetEnv(t, registry.Config{ResetQR: true}, nil)
	u := e.addResetUser("alice", "Alice")
	if err := e.db.AddToken(context.Background(), u.ID, "login-token", time.Hour); err != nil {
		t.Fatal(err)
	}

	doc, err := e.client().ForgotPassword("alice")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := doc.Get("email"); v != "false" {
		t.Errorf("email = %q", v)
	}
	url, _ := doc.Get("url")
	data, _ := doc.Get("data")
	if !strings.HasPrefix(url, e.ts.URL+"/user/2FA/") {
		t.Fatalf("url = %q", url)
	}
	side, dark := decodeQRData(t, data)

	// The matrix encodes otpauth://totp/Nessemble:alice?secret=BASE32(token).
	token := e.resetToken(u)
	want, err := auth.QR(auth.OTPAuthURL("alice", token))
	if err != nil {
		t.Fatal(err)
	}
	if want.Size() != side {
		t.Fatalf("side %d, want %d", side, want.Size())
	}
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			if dark[y*side+x] != want.Dark(x, y) {
				t.Fatalf("module (%d,%d) differs from the otpauth URL's QR code", x, y)
			}
		}
	}

	// HEAD does not use up the image; GET serves it once.
	if r := e.do(http.MethodHead, url[len(e.ts.URL):], nil, ""); r.status != 200 {
		t.Fatalf("HEAD: %d", r.status)
	}
	r := e.get(url[len(e.ts.URL):])
	if r.status != 200 || r.header.Get("Content-Type") != "image/png" {
		t.Fatalf("GET image: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	scale := img.Bounds().Dx() / side
	if scale < 1 || img.Bounds().Dx() != side*scale || img.Bounds().Dy() != side*scale {
		t.Fatalf("image %v for %d modules", img.Bounds(), side)
	}
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			px := color.GrayModel.Convert(img.At(x*scale+scale/2, y*scale+scale/2)).(color.Gray)
			if (px.Y < 128) != dark[y*side+x] {
				t.Fatalf("PNG module (%d,%d) differs from data", x, y)
			}
		}
	}
	wantError(t, e.get(url[len(e.ts.URL):]), 404, "already fetched")

	// The current TOTP code resets the password.
	code, err := auth.TOTPCode(token, clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client().ResetPassword("alice", "brand new pw", code); err != nil {
		t.Fatalf("reset with the current code: %v", err)
	}
	if toks, _ := e.db.LiveTokens(context.Background(), u.ID); len(toks) != 0 {
		t.Errorf("login tokens survived: %v", toks)
	}
	wantError(t, e.do(http.MethodPost, "/user/logout", map[string]string{
		"Authorization": auth.HMACHeader("alice", "login-token", http.MethodPost, "/user/logout")}, "{}"), 401, "Invalid authorization")
	wantClientError(t, e.client().ResetPassword("alice", "another pw 1", code), 401, "already used")
	wantClientError(t, e.client().ResetPassword("alice", "another pw 1", token), 401, "already used")
	if _, err := e.client().Login("alice", "brand new pw"); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}

// TestResetTOTPSteps: the codes of the adjacent 30-second steps are
// accepted, those two steps away are not.
func TestResetTOTPSteps(t *testing.T) {
	e, _ := newResetEnv(t, registry.Config{ResetQR: true}, nil)
	u := e.addResetUser("alice", "Alice")
	for _, step := range []time.Duration{-30 * time.Second, 30 * time.Second} {
		if _, err := e.client().ForgotPassword("alice"); err != nil {
			t.Fatal(err)
		}
		token := e.resetToken(u)
		for _, far := range []time.Duration{-60 * time.Second, 60 * time.Second} {
			code, _ := auth.TOTPCode(token, resetT0.Add(far))
			wantClientError(t, e.client().ResetPassword("alice", "brand new pw", code), 401, "Wrong reset token")
		}
		code, _ := auth.TOTPCode(token, resetT0.Add(step))
		// Names are matched without regard to case.
		if err := e.client().ResetPassword("ALICE", "brand new pw", code); err != nil {
			t.Errorf("code of step %v: %v", step, err)
		}
	}
}

func TestResetExpires(t *testing.T) {
	e, clock := newResetEnv(t, registry.Config{ResetQR: true, ResetTTL: 5 * time.Minute}, nil)
	u := e.addResetUser("alice", "Alice")
	doc, err := e.client().ForgotPassword("alice")
	if err != nil {
		t.Fatal(err)
	}
	token := e.resetToken(u)
	clock.set(resetT0.Add(5 * time.Minute))
	code, _ := auth.TOTPCode(token, clock.now())
	wantClientError(t, e.client().ResetPassword("alice", "brand new pw", code), 401, "expired")
	wantClientError(t, e.client().ResetPassword("alice", "brand new pw", token), 401, "expired")
	url, _ := doc.Get("url")
	wantError(t, e.get(url[len(e.ts.URL):]), 404, "expired")
	if _, err := e.client().Login("alice", resetOldPassword); err != nil {
		t.Errorf("the old password stopped working: %v", err)
	}
}

// TestResetWrongCodesCancel: guessing six-digit codes is bounded.
func TestResetWrongCodesCancel(t *testing.T) {
	e, _ := newResetEnv(t, registry.Config{ResetQR: true}, nil)
	u := e.addResetUser("alice", "Alice")
	if _, err := e.client().ForgotPassword("alice"); err != nil {
		t.Fatal(err)
	}
	token := e.resetToken(u)
	right, _ := auth.TOTPCode(token, resetT0)
	wrong := "000000"
	if wrong == right {
		wrong = "000001"
	}
	for i := 1; i < registry.MaxResetFailures; i++ {
		wantClientError(t, e.client().ResetPassword("alice", "brand new pw", wrong), 401, "Wrong reset token")
	}
	wantClientError(t, e.client().ResetPassword("alice", "brand new pw", wrong), 401, "cancelled")
	wantClientError(t, e.client().ResetPassword("alice", "brand new pw", right), 401, "cancelled")
}

func TestResetPasswordErrors(t *testing.T) {
	e, _ := newResetEnv(t, registry.Config{ResetQR: true}, nil)
	e.addResetUser("alice", "Alice")
	e.addResetUser("bob", "Bob")
	if _, err := e.client().ForgotPassword("alice"); err != nil {
		t.Fatal(err)
	}
	u, _ := e.db.UserByLogin(context.Background(), "alice")
	token := e.resetToken(u)
	body := `{"username": "alice", "password": "brand new pw"}`

	for _, tc := range []struct {
		name   string
		r      resp
		status int
		frag   string
	}{
		{"missing fields", e.resetRequest("alice", token, `{"username": "alice"}`), 400, "Missing fields: `password`"},
		{"not JSON", e.resetRequest("alice", token, `username=alice`), 400, "JSON object"},
		{"password rule", e.resetRequest("alice", token, `{"username": "alice", "password": "short"}`), 400, "at least 8"},
		{"no authorization", e.do(http.MethodPost, "/user/resetpassword", nil, body), 401, "Missing authorization"},
		{"malformed authorization", e.do(http.MethodPost, "/user/resetpassword",
			map[string]string{"Authorization": "HMAC-SHA1 !!"}, body), 401, "Malformed"},
		{"username mismatch", e.resetRequest("alice", token, `{"username": "bob", "password": "brand new pw"}`), 401, "Wrong reset token, or no password reset is pending"},
		{"wrong token", e.resetRequest("alice", strings.Repeat("0", 64), body), 401, "Wrong reset token, or no password reset is pending"},
		{"unknown user", e.resetRequest("mallory", token, `{"username": "mallory", "password": "brand new pw"}`), 401, "Wrong reset token, or no password reset is pending"},
		{"no reset pending", e.resetRequest("bob", token, `{"username": "bob", "password": "brand new pw"}`), 401, "Wrong reset token, or no password reset is pending"},
		{"forgot: unknown user", e.do(http.MethodPost, "/user/forgotpassword", nil, `{"username": "mallory"}`), 404, "User does not exist"},
		{"forgot: no username", e.do(http.MethodPost, "/user/forgotpassword", nil, `{}`), 400, "Missing fields: `username`"},
		{"QR: unknown id", e.get("/user/2FA/0123456789abcdef0123456789abcdef"), 404, "already fetched"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantError(t, tc.r, tc.status, tc.frag) })
	}

	// None of that used up or changed anything: the email in the body
	// names alice too, and the token still works.
	if r := e.resetRequest("alice", token, `{"username": "alice@example.org", "password": "brand new pw"}`); r.status != 200 || len(r.body) == 0 {
		t.Fatalf("reset after the errors: %d %s", r.status, r.body)
	}
}
