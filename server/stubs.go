package server

import "net/http"

func notYet(c *call) error {
	return userError(http.StatusNotImplemented, "Not implemented yet")
}

func (s *Server) handlePublish(c *call) error        { return notYet(c) }
func (s *Server) handleCreateUser(c *call) error     { return notYet(c) }
func (s *Server) handleLogin(c *call) error          { return notYet(c) }
func (s *Server) handleLogout(c *call) error         { return notYet(c) }
func (s *Server) handleForgotPassword(c *call) error { return notYet(c) }
func (s *Server) handleResetPassword(c *call) error  { return notYet(c) }
func (s *Server) handleResetQR(c *call) error        { return notYet(c) }
func (s *Server) handleGraphQL(c *call) error        { return notYet(c) }
func (s *Server) handleReference(c *call) error      { return notYet(c) }

type refCache struct{}
