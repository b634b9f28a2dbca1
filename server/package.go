package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/nessemble/nessemble-registry/registry"
)

// isoMillis is the seed's date format: ISO 8601, UTC, milliseconds, "Z".
const isoMillis = "2006-01-02T15:04:05.000Z"

// renderPackage renders /package/NAME[/VERSION][/README|/data].
func (s *Server) renderPackage(ctx context.Context, k readKey) (*cached, error) {
	parts := strings.Split(strings.Trim(k.ps.ByName("path"), "/"), "/")
	if parts[0] == "publish" && len(parts) == 1 {
		return nil, &apiError{status: http.StatusMethodNotAllowed, allow: "POST, PUT, OPTIONS",
			msg: "Publish with POST (new package) or PUT (new version)"}
	}
	name, version, what := parts[0], "", ""
	switch len(parts) {
	case 1:
	case 2:
		if parts[1] == "owners" && name != "" {
			return s.renderOwners(ctx, k, name)
		}
		if parts[1] == "README" || parts[1] == "data" {
			what = parts[1]
		} else {
			version = parts[1]
		}
	case 3:
		version, what = parts[1], parts[2]
		if what != "README" && what != "data" {
			return nil, userError(http.StatusNotFound, "Not Found: use /package/NAME/VERSION/README or /data")
		}
	default:
		return nil, userError(http.StatusNotFound, "Not Found: no such endpoint under /package")
	}
	if name == "" {
		return nil, userError(http.StatusNotFound, "Not Found: name a package, as in /package/NAME")
	}
	v, err := s.core.Version(ctx, name, version)
	if err != nil {
		return nil, err
	}
	switch what {
	case "README":
		return newAnswer("text/plain", []byte(v.Readme)), nil
	case "data":
		return s.renderTarball(v)
	}
	return s.renderDocument(ctx, k, v, version != "")
}

// docLink is the package document's URL, naming the version only when the
// request did (pinned), so that the document's links stay on it.
func docLink(base string, v registry.Version, pinned bool) string {
	link := base + "/package/" + v.Title
	if pinned {
		link += "/" + v.Version
	}
	return link
}

func (s *Server) renderTarball(v registry.Version) (*cached, error) {
	data, err := s.core.Tarball(v.Shasum)
	if err != nil {
		return nil, err
	}
	e := newAnswer("application/tar+gzip", data)
	e.disposition = []string{`attachment; filename="` + v.Title + "-" + v.Version + `.tar.gz"`}
	e.integrity = []string{v.Shasum}
	e.etag = []string{`"` + v.Shasum + `"`}
	return e, nil
}

// renderDocument renders the package document. pinned is set when the
// URL named the version, so that links name it too.
func (s *Server) renderDocument(ctx context.Context, k readKey, v registry.Version, pinned bool) (*cached, error) {
	link := docLink(k.base, v, pinned)
	date := v.Published.UTC().Format(isoMillis)
	if k.legacy { // never k.html too (representation)
		// The client reads only resource and readme, taking the first
		// string equal to the key anywhere: so those come first, and the
		// version list and tags, which cost tokens, are left out.
		return jsonAnswer(k, struct {
			Resource    string `json:"resource"`
			Readme      string `json:"readme"`
			Title       string `json:"title"`
			Description string `json:"description"`
			Version     string `json:"version"`
			Author      string `json:"author"`
			License     string `json:"license"`
			Date        string `json:"date"`
			Shasum      string `json:"shasum"`
		}{link + "/data", link + "/README", v.Title, v.Description, v.Version, v.Author, v.License, date, v.Shasum})
	}
	rels, err := s.core.Releases(ctx, v.Title)
	if err != nil {
		return nil, err
	}
	_, owners, err := s.core.Owners(ctx, v.Title)
	if err != nil {
		return nil, err
	}
	if k.html {
		return s.htmlPackage(k, v, rels, owners)
	}
	yanked := []string{}
	for _, r := range rels {
		if r.Yanked {
			yanked = append(yanked, r.Version)
		}
	}
	// The seed's fields in the seed's order, then ours.
	return jsonAnswer(k, struct {
		Title          string   `json:"title"`
		Description    string   `json:"description"`
		Version        string   `json:"version"`
		Versions       releases `json:"versions"`
		Author         string   `json:"author"`
		License        string   `json:"license"`
		Tags           []string `json:"tags"`
		Date           string   `json:"date"`
		Readme         string   `json:"readme"`
		Resource       string   `json:"resource"`
		Shasum         string   `json:"shasum"`
		Yanked         bool     `json:"yanked"`
		YankedVersions []string `json:"yanked_versions"`
		Owners         []string `json:"owners"`
	}{v.Title, v.Description, v.Version, rels, v.Author, v.License, v.Tags, date,
		link + "/README", link + "/data", v.Shasum, v.Yanked, yanked, owners})
}

// releases encodes as a JSON object from version to date, newest first:
// encoding/json would sort a map's keys.
type releases []registry.Release

func (rs releases) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(r.Version)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteString(`:"`)
		b.WriteString(r.Published.UTC().Format(isoMillis))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
