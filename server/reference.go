package server

import (
	"net/http"
	"strings"
)

func (s *Server) handleReference(c *call) error {
	var terms []string
	if p := strings.Trim(c.ps.ByName("path"), "/"); p != "" {
		terms = strings.Split(p, "/")
	}
	if c.wantsPage() {
		p, ok, err := s.core.ReferencePage(c.r.Context(), terms)
		if err != nil {
			return err
		}
		if !ok {
			return userError(http.StatusNotFound, "There is no such entry in the reference.")
		}
		return s.htmlReference(c, p)
	}
	text, ok, err := s.core.ReferenceText(c.r.Context(), terms)
	if err != nil {
		return err
	}
	if !ok {
		return userError(http.StatusNotFound, "Not Found: no such reference entry; GET /reference lists the categories")
	}
	// Not kept in the answer cache: it would need to empty on reference
	// imports too, and the tree answers from memory already.
	c.read(newAnswer("text/plain", []byte(text)))
	return nil
}
