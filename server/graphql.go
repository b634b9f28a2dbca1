package server

func (s *Server) handleGraphQL(c *call) error { return notYet(c) }
