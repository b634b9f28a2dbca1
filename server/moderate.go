package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/nessemble/nessemble-registry/registry"
)

// The owners' writes on a package, signed as publish is (HMAC of
// "POST+" and the bare route, docs/PROTOCOL.md §3):
//
//	POST /package/NAME/VERSION/yank
//	POST /package/NAME/VERSION/unyank
//	POST /package/NAME/owners/add      {"username": "bob"}
//	POST /package/NAME/owners/remove   {"username": "bob"}
//
// and the read GET /package/NAME/owners (package.go).

// handlePackagePost serves every POST under /package/: publish, and the
// owners' writes.
func (s *Server) handlePackagePost(c *call) error {
	parts := strings.Split(strings.Trim(c.ps.ByName("path"), "/"), "/")
	if len(parts) == 3 && parts[0] != "" {
		switch {
		case parts[2] == "yank" || parts[2] == "unyank":
			return s.handleYank(c, parts[0], parts[1], parts[2] == "yank")
		case parts[1] == "owners" && (parts[2] == "add" || parts[2] == "remove"):
			return s.handleOwner(c, parts[0], parts[2] == "add")
		}
	}
	return s.counted(outPublish, s.handlePublish)(c)
}

// signedRoute is the route a write on c's path is signed with: the path
// without mount or version prefix, as the client signs /package/publish.
func signedRoute(c *call) string { return c.path }

func (s *Server) handleYank(c *call, title, version string, yank bool) error {
	u, _, err := s.authorize(c, signedRoute(c))
	if err != nil {
		return err
	}
	p, err := s.core.Yank(c.r.Context(), registry.UserActor(u), title, version, yank)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, struct {
		Title   string `json:"title"`
		Version string `json:"version"`
		Yanked  bool   `json:"yanked"`
		// Latest is what `install NAME` gets now; "" when every
		// version is yanked.
		Latest string `json:"latest"`
	}{p.Title, version, yank, p.Latest})
}

func (s *Server) handleOwner(c *call, title string, add bool) error {
	u, _, err := s.authorize(c, signedRoute(c))
	if err != nil {
		return err
	}
	m, err := readJSONObject(c)
	if err != nil {
		return err
	}
	f, err := stringFields(m, "username")
	if err != nil {
		return err
	}
	stored, owners, err := s.core.ChangeOwner(c.r.Context(), registry.UserActor(u), title, f[0], add)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, ownersDoc{stored, owners})
}

type ownersDoc struct {
	Title  string   `json:"title"`
	Owners []string `json:"owners"`
}

// renderOwners renders GET /package/NAME/owners.
func (s *Server) renderOwners(ctx context.Context, k readKey, title string) (*cached, error) {
	stored, owners, err := s.core.Owners(ctx, title)
	if err != nil {
		return nil, err
	}
	return jsonAnswer(k, ownersDoc{stored, owners})
}
