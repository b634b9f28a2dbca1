package server

// Password recovery over HTTP: POST /user/forgotpassword,
// GET /user/2FA/ID and POST /user/resetpassword. The rules, the state
// machine and the mail are the registry's (registry/reset.go).

import (
	"net/http"

	"github.com/nessemble/nessemble-registry/auth"
)

const msgNoAuthorization = "Missing authorization: nessemble resetpassword signs the request with your reset token"

// forgotAnswer is the body of a successful forgotpassword. The client
// reads url and data only when email is false.
type forgotAnswer struct {
	Email bool   `json:"email"`
	URL   string `json:"url"`
	Data  string `json:"data"`
}

func (s *Server) handleForgotPassword(c *call) error {
	if err := s.core.ForgotAvailable(); err != nil {
		return err // before reading a body it would refuse anyway
	}
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "username")
	if err != nil {
		return err
	}
	got, err := s.core.ForgotPassword(c.r.Context(), f[0])
	if err != nil {
		return err
	}
	if got.Email {
		return c.json(http.StatusOK, forgotAnswer{Email: true})
	}
	s.log.Info("password reset QR code issued", "login", f[0], "remote", clientAddr(c.r))
	return c.json(http.StatusOK, forgotAnswer{URL: c.base + "/user/2FA/" + got.QRID, Data: got.QRData})
}

// handleResetQR serves the QR code of a reset as a PNG, once.
func (s *Server) handleResetQR(c *call) error {
	// A HEAD must not use up the one fetch.
	png, err := s.core.ResetQR(c.r.Context(), c.ps.ByName("id"), c.r.Method != http.MethodHead)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, "image/png", png)
	return nil
}

func (s *Server) handleResetPassword(c *call) error {
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "username", "password")
	if err != nil {
		return err
	}
	username, password := f[0], f[1]
	h := c.r.Header.Get("Authorization")
	if h == "" {
		return userError(http.StatusUnauthorized, msgNoAuthorization)
	}
	login, mac, err := auth.ParseHMAC(h)
	if err != nil {
		return userError(http.StatusUnauthorized, err.Error())
	}
	user, err := s.core.ResetPassword(c.r.Context(), login, username, password, mac)
	if err != nil {
		return err
	}
	s.log.Info("password reset", "user", user, "remote", clientAddr(c.r))
	c.write(http.StatusOK, "application/json", []byte("{}"))
	return nil
}
