// Package mail delivers the registry's password-reset emails over SMTP.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"math"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/registry"
)

// SMTP security modes.
const (
	StartTLS = "starttls" // plain connection upgraded with STARTTLS, which is required
	TLS      = "tls"      // implicit TLS from the first byte (usually port 465)
	Plain    = "none"     // no TLS at all: only for a relay on the same host
)

// Config is the mail server that delivers password-reset tokens. Email
// delivery is on when Host is set.
type Config struct {
	Host string
	// Port defaults to 587 for starttls, 465 for tls and 25 for none.
	Port int
	// User and Password authenticate with AUTH PLAIN when User is set.
	// net/smtp sends them only over TLS or to localhost.
	User     string
	Password string
	// From is the sender address, e.g. "Nessemble registry <registry@example.org>".
	From string
	// TLS is StartTLS (the default), TLS or Plain.
	TLS string
	// RootCAs verifies the server's certificate; nil means the system's
	// roots. Tests set it to trust their own certificate.
	RootCAs *x509.CertPool
	// Registry is the registry's public URL, which the message names; ""
	// names none. Never one taken from a request's Host header: that
	// would let anyone put their own address in the mail.
	Registry string
}

// Enabled reports whether email delivery is configured.
func (c Config) Enabled() bool { return c.Host != "" }

// Sender sends reset emails through the mail server of its Config.
type Sender struct{ cfg Config }

// New returns a Sender for an enabled, valid configuration. The TLS mode
// is checked here, once: a mistyped mode must never mean plain text.
func New(c Config) (*Sender, error) {
	if !c.Enabled() {
		return nil, errors.New("smtp: no mail server host")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.setDefaults()
	return &Sender{cfg: c}, nil
}

// SendReset emails a reset token to its user.
func (s *Sender) SendReset(ctx context.Context, m registry.ResetMail) error {
	msg, err := buildResetMail(s.cfg.From, m.To, resetMail{
		Name:     m.Name,
		Username: m.Username,
		Token:    m.Token,
		Registry: s.cfg.Registry,
		Expires:  m.Expires.UTC().Format("2006-01-02 15:04 UTC"),
		Minutes:  int(math.Ceil(m.TTL.Minutes())),
	}, time.Now())
	if err != nil {
		return err
	}
	return s.cfg.send(ctx, m.To, msg)
}

func (c *Config) setDefaults() {
	if c.TLS == "" {
		c.TLS = StartTLS
	}
	if c.Port == 0 {
		switch c.TLS {
		case TLS:
			c.Port = 465
		case Plain:
			c.Port = 25
		default:
			c.Port = 587
		}
	}
}

// Validate checks the settings of an enabled configuration.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	c.setDefaults()
	switch c.TLS {
	case StartTLS, TLS, Plain:
	default:
		return fmt.Errorf("smtp: unknown TLS mode %q: use %s, %s or %s", c.TLS, StartTLS, TLS, Plain)
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("smtp: port %d out of range", c.Port)
	}
	if c.From == "" {
		return errors.New("smtp: a sender address (From) is required")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp: sender address: %w", err)
	}
	if c.User != "" && c.Password == "" {
		return errors.New("smtp: a user without a password: give the password in a file or the environment")
	}
	if strings.ContainsAny(c.Host+c.User+c.Password, "\r\n") {
		return errors.New("smtp: host, user and password must be single lines")
	}
	return nil
}

// send delivers msg to one recipient.
func (c Config) send(ctx context.Context, to string, msg []byte) error {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	tlsConfig := &tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	if c.TLS == TLS {
		conn, err = (&tls.Dialer{Config: tlsConfig}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect: %w", err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: greeting: %w", err)
	}
	defer cl.Close()
	if c.TLS == StartTLS {
		// Refuse to go on in the clear: a missing STARTTLS may be an
		// attacker stripping it.
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server does not offer STARTTLS")
		}
		if err := cl.StartTLS(tlsConfig); err != nil {
			return fmt.Errorf("smtp: starttls: %w", err)
		}
	}
	if c.User != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.User, c.Password, c.Host)); err != nil {
			return fmt.Errorf("smtp: auth: %w", err)
		}
	}
	if err := cl.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := cl.Rcpt(to); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	return cl.Quit()
}

// resetMail is what the reset message says.
type resetMail struct {
	Name, Username, Token string
	Registry              string // the registry's public URL, or ""
	Expires               string // e.g. "14:05 UTC"
	Minutes               int
}

var resetText = texttemplate.Must(texttemplate.New("text").Parse(`Hello {{.Name}},

Someone, hopefully you, asked to reset the password of the nessemble
registry account "{{.Username}}"{{if .Registry}} at {{.Registry}}{{end}}.

Your reset token is:

    {{.Token}}

Run "nessemble resetpassword" and give this token when it asks for one.
The token works once and expires at {{.Expires}} (in {{.Minutes}} minutes).

If you did not ask for this, ignore this message: your password stays as
it is.
`))

var resetHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body>
<p>Hello {{.Name}},</p>
<p>Someone, hopefully you, asked to reset the password of the nessemble registry account
<b>{{.Username}}</b>{{if .Registry}} at {{.Registry}}{{end}}.</p>
<p>Your reset token is:</p>
<pre style="font-size:120%">{{.Token}}</pre>
<p>Run <code>nessemble resetpassword</code> and give this token when it asks for one.
The token works once and expires at {{.Expires}} (in {{.Minutes}} minutes).</p>
<p>If you did not ask for this, ignore this message: your password stays as it is.</p>
</body></html>
`))

// buildResetMail renders the reset message: a multipart/alternative of a
// plain-text and an HTML part, both quoted-printable.
func buildResetMail(from, to string, m resetMail, now time.Time) ([]byte, error) {
	var text, html bytes.Buffer
	if err := resetText.Execute(&text, m); err != nil {
		return nil, err
	}
	if err := resetHTML.Execute(&html, m); err != nil {
		return nil, err
	}
	id, err := auth.RandomID()
	if err != nil {
		return nil, err
	}
	domain := "nessemble-registry"
	if a, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok {
			domain = d
		}
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, p := range []struct {
		ctype string
		data  []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		qw.Write(p.data) // in text mode it writes line ends as CRLF
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var msg bytes.Buffer
	for _, h := range [][2]string{
		{"From", from},
		{"To", to},
		{"Subject", "Your nessemble registry password reset token"},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + id + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", `multipart/alternative; boundary="` + mw.Boundary() + `"`},
	} {
		msg.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}
