package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/store"
)

// handlePublish serves POST (new package) and PUT (new version) on
// /package/publish. The body is the gzip tarball as the user packed it;
// what is stored and served is the canonical tarball built from it.
func (s *Server) handlePublish(c *call) error {
	if strings.Trim(c.ps.ByName("path"), "/") != "publish" {
		c.Header().Set("Allow", "GET, HEAD, OPTIONS")
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
	up, err := archive.ReadUpload(http.MaxBytesReader(c, c.r.Body, s.cfg.MaxUpload), archive.DefaultLimits)
	if ae := (*archive.Error)(nil); errors.As(err, &ae) {
		status := http.StatusUnprocessableEntity
		if errors.Is(err, archive.ErrTooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		return userError(status, ae.Msg)
	}
	if err != nil {
		return err // a body over MaxUpload becomes 413 at the sink
	}
	m := up.Manifest
	if !strings.EqualFold(m.Author, u.Username) {
		return userError(http.StatusUnprocessableEntity, "Author username mismatch: package.json must name you ("+
			u.Username+") as its author")
	}
	m.Author = u.Username
	published := s.now()
	tarball, err := archive.Canonical(m, up.LibAsm, up.Readme, published)
	if errors.Is(err, archive.ErrTooLarge) {
		return userError(http.StatusUnprocessableEntity, "Package too large for the nessemble client: its tarball must stay under 64 KiB "+
			"(compressed and uncompressed), so make lib.asm or README.md smaller")
	}
	if err != nil {
		return err
	}
	mode := store.Create
	if c.r.Method == http.MethodPut {
		mode = store.Update
	}
	v := store.Version{
		Title: m.Title, Version: m.Version, Description: m.Description, Author: m.Author,
		License: m.License, Tags: m.Tags, Readme: string(up.Readme), Published: published,
	}
	_, err = s.db.Publish(c.r.Context(), u.Username, mode, v, tarball)
	var nn *store.NotNewerError
	switch {
	case errors.Is(err, store.ErrNotOwner):
		return userError(http.StatusUnprocessableEntity, "Package `"+m.Title+"` already exists")
	case errors.Is(err, store.ErrPackageExists):
		c.Header().Set("Allow", "PUT")
		return userError(http.StatusMethodNotAllowed, "Package `"+m.Title+"` already exists; publish a new version with PUT")
	case errors.Is(err, store.ErrNotFound):
		return userError(http.StatusNotFound, "Package `"+m.Title+"` does not exist; publish it with POST first")
	case errors.As(err, &nn):
		return userError(http.StatusUnprocessableEntity, "Cannot upgrade to version "+m.Version+" (currently at "+nn.Current+")")
	case errors.Is(err, store.ErrConflict):
		return userError(http.StatusConflict, "Version "+m.Version+" of `"+m.Title+"` already exists; versions never change")
	case err != nil:
		return err
	}
	return c.json(http.StatusCreated, m, noStore)
}
