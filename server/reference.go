package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/nessemble/nessemble-registry/reference"
)

// refCache is the reference tree built from the store, kept until an
// import bumps the store's reference generation.
type refCache struct {
	gen  int64
	tree *reference.Tree
}

// referenceTree returns the current reference tree, rebuilding it only
// when the stored reference changed (import-reference may run while the
// server does: the change log tells).
func (s *Server) referenceTree(ctx context.Context) (*reference.Tree, error) {
	gen := s.db.ReferenceGeneration()
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if s.ref != nil && s.ref.gen == gen {
		return s.ref.tree, nil
	}
	stored, err := s.db.Reference(ctx)
	if err != nil {
		return nil, err
	}
	entries := make([]reference.Entry, len(stored))
	for i, e := range stored {
		entries[i] = reference.Entry{Path: e.Path, Text: e.Text}
	}
	s.ref = &refCache{gen: gen, tree: reference.NewTree(entries)}
	return s.ref.tree, nil
}

// referenceText looks terms up in the reference: a listing for the root or
// a category, the text for a term.
func (s *Server) referenceText(ctx context.Context, terms []string) (string, bool, error) {
	tree, err := s.referenceTree(ctx)
	if err != nil {
		return "", false, err
	}
	text, ok := tree.Lookup(terms)
	return text, ok, nil
}

func (s *Server) handleReference(c *call) error {
	var terms []string
	if p := strings.Trim(c.ps.ByName("path"), "/"); p != "" {
		terms = strings.Split(p, "/")
	}
	text, ok, err := s.referenceText(c.r.Context(), terms)
	if err != nil {
		return err
	}
	if !ok {
		return userError(http.StatusNotFound, "Not Found: no such reference entry; GET /reference lists the categories")
	}
	// Not kept in the answer cache: import-reference, another process,
	// may change the reference at any time (referenceTree notices).
	c.write(http.StatusOK, "text/plain", []byte(text), clientCache)
	return nil
}
