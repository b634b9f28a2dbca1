package server

import "net/http"

func notYet(c *call) error {
	return userError(http.StatusNotImplemented, "Not implemented yet")
}

func (s *Server) handleForgotPassword(c *call) error { return notYet(c) }
func (s *Server) handleResetPassword(c *call) error  { return notYet(c) }
func (s *Server) handleResetQR(c *call) error        { return notYet(c) }
