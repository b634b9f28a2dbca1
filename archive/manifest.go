// Package archive reads the package tarballs users upload and builds the
// canonical tarball the registry stores and serves, in the exact shape the
// nessemble 1.1 client can install (see docs/PROTOCOL.md).
package archive

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Manifest holds the fields of a package's package.json. The JSON field
// order is the one the registry writes everywhere.
type Manifest struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Version     string   `json:"version"`
	Author      string   `json:"author"`
	License     string   `json:"license"`
	Tags        []string `json:"tags"`
}

// MaxManifestSize bounds package.json; real ones are a few hundred bytes.
const MaxManifestSize = 16 << 10

// ParseManifest reads package.json strictly: it must be one JSON object in
// valid UTF-8 (a leading byte order mark is allowed), at most
// MaxManifestSize bytes, with every field of Manifest present exactly once
// and of the right JSON type (tags an array of strings). Keys match exactly
// (case-sensitively); other keys are ignored. It does not Validate the
// values. Failures are *Error values naming the problem, all missing fields
// at once.
func ParseManifest(data []byte) (Manifest, error) {
	var m Manifest
	if len(data) > MaxManifestSize {
		return m, &Error{Msg: "package.json is larger than 16 KiB."}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	// encoding/json would silently replace invalid UTF-8 with U+FFFD.
	if !utf8.Valid(data) {
		return m, &Error{Msg: "package.json is not valid UTF-8 text."}
	}
	fields, err := manifestObject(data)
	if err != nil {
		return m, err
	}

	var missing []string
	for _, name := range manifestFields {
		if _, ok := fields[name]; !ok {
			missing = append(missing, "`"+name+"`")
		}
	}
	switch len(missing) {
	case 0:
	case 1:
		return m, &Error{Msg: "Missing field in package.json: " + missing[0] + "."}
	default:
		return m, &Error{Msg: "Missing fields in package.json: " + strings.Join(missing, ", ") + "."}
	}

	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"title", &m.Title}, {"description", &m.Description}, {"version", &m.Version},
		{"author", &m.Author}, {"license", &m.License},
	} {
		raw := fields[f.name]
		if raw[0] != '"' || json.Unmarshal(raw, f.dst) != nil {
			return Manifest{}, &Error{Msg: "Invalid package.json: `" + f.name + "` must be a string."}
		}
	}

	badTags := &Error{Msg: "Invalid package.json: `tags` must be an array of strings."}
	var tags []json.RawMessage
	if raw := fields["tags"]; raw[0] != '[' || json.Unmarshal(raw, &tags) != nil {
		return Manifest{}, badTags
	}
	m.Tags = make([]string, len(tags))
	for i, raw := range tags {
		if raw[0] != '"' || json.Unmarshal(raw, &m.Tags[i]) != nil {
			return Manifest{}, badTags
		}
	}
	return m, nil
}

// manifestObject splits a JSON object into its raw values by key. Unlike
// json.Unmarshal it refuses a repeated known key: the client reads the
// first "title", encoding/json keeps the last, and the two must agree.
func manifestObject(data []byte) (map[string]json.RawMessage, error) {
	notObject := &Error{Msg: "package.json must contain a JSON object, like {\"title\": \"mypackage\", ...}."}
	invalid := &Error{Msg: "package.json is not valid JSON."}

	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid
	}
	if tok != json.Delim('{') {
		return nil, notObject
	}
	fields := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid
		}
		key, ok := tok.(string)
		if !ok {
			return nil, invalid
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalid
		}
		if _, dup := fields[key]; dup && slices.Contains(manifestFields, key) {
			return nil, &Error{Msg: "Invalid package.json: the field `" + key + "` appears more than once."}
		}
		fields[key] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, invalid
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Msg: "package.json must contain one JSON object and nothing after it."}
	}
	return fields, nil
}
