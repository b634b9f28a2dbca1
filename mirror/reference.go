package mirror

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing/fstest"

	"github.com/nessemble/nessemble-registry/reference"
)

// reference copies the upstream's reference documentation through the
// API: the categories that GET /reference lists, the terms each category
// lists, and each term's text. It is checked by the rules of an import
// (reference.Load) and replaces the local reference only when it differs.
// The API tells a folder from a term only by its place, so the client's
// two levels are what is copied: a folder one level deeper upstream
// arrives as a term whose text is its listing.
func (r *run) reference(ctx context.Context) error {
	cats, err := r.listing(ctx, "")
	if err != nil {
		return err
	}
	files := fstest.MapFS{}
	total := 0
	for _, cat := range cats {
		terms, err := r.listing(ctx, cat)
		if err != nil {
			return err
		}
		for _, term := range terms {
			if len(files) >= reference.MaxFiles {
				return fmt.Errorf("more than %d reference terms", reference.MaxFiles)
			}
			a, err := r.f.get(ctx, "/reference/"+url.PathEscape(cat)+"/"+url.PathEscape(term), reference.MaxFileSize)
			if err != nil {
				return err
			}
			if a.status != http.StatusOK {
				return fmt.Errorf("reference %s/%s: status %d", cat, term, a.status)
			}
			if total += len(a.body); total > reference.MaxTotalSize {
				return fmt.Errorf("reference larger than %d bytes", reference.MaxTotalSize)
			}
			files[cat+"/"+term+".txt"] = &fstest.MapFile{Data: a.body, Mode: 0o644}
		}
	}
	entries, err := reference.Load(files)
	if err != nil {
		return err
	}
	changed, err := r.core.MirrorReference(ctx, entries)
	if changed {
		r.sum.Reference = true
		r.cfg.Log.Info("reference replaced", "terms", len(entries))
	}
	return err
}

// listing reads the names a reference folder lists, one per line after
// two spaces.
func (r *run) listing(ctx context.Context, path string) ([]string, error) {
	route := "/reference"
	if path != "" {
		route += "/" + url.PathEscape(path)
	}
	a, err := r.f.get(ctx, route, reference.MaxFileSize)
	if err != nil {
		return nil, err
	}
	if a.status != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", route, a.status)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimRight(string(a.body), "\n"), "\n") {
		name, ok := strings.CutPrefix(line, "  ")
		if !ok || !validRefName(name) {
			return nil, fmt.Errorf("%s: %q is not a line of a reference listing", route, printable(line, 80))
		}
		names = append(names, name)
	}
	return names, nil
}

func validRefName(s string) bool {
	if s == "" || len(s) > reference.MaxNameLength || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
