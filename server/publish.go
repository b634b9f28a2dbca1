package server

import (
	"net/http"
	"strings"

	"github.com/nessemble/nessemble-registry/registry"
)

// handlePublish serves POST (new package) and PUT (new version) on
// /package/publish. The body is the gzip tarball as the user packed it;
// what is stored and served is the canonical tarball built from it.
func (s *Server) handlePublish(c *call) error {
	if strings.Trim(c.ps.ByName("path"), "/") != "publish" {
		c.w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		return userError(http.StatusMethodNotAllowed, "Publish to /package/publish; package URLs are read-only")
	}
	u, _, err := s.authorize(c, "/package/publish")
	if err != nil {
		return err
	}
	if c.r.ContentLength > s.cfg.MaxUpload {
		// Refused before reading; the sink words it as when the reader
		// below runs into the limit.
		return &http.MaxBytesError{Limit: s.cfg.MaxUpload}
	}
	mode := registry.Create
	if c.r.Method == http.MethodPut {
		mode = registry.Update
	}
	// A body over MaxUpload becomes 413 at the sink.
	m, err := s.core.Publish(c.r.Context(), u, mode, http.MaxBytesReader(c.w, c.r.Body, s.cfg.MaxUpload))
	if err != nil {
		return err
	}
	return c.json(http.StatusCreated, m)
}
