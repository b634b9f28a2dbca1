package archive_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/archive"
)

func validManifest() archive.Manifest {
	return archive.Manifest{
		Title:       "mypkg",
		Description: "A small test package",
		Version:     "1.0.0",
		Author:      "alice",
		License:     "MIT",
		Tags:        []string{"nes", "test"},
	}
}

// checkUserError fails unless err is an *archive.Error with a message
// containing want and no '%'.
func checkUserError(t *testing.T, err error, want string) {
	t.Helper()
	var ae *archive.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v (%T), want *archive.Error", err, err)
	}
	if !strings.Contains(ae.Msg, want) {
		t.Errorf("message = %q, want it to contain %q", ae.Msg, want)
	}
	if strings.Contains(ae.Msg, "%") {
		t.Errorf("message %q contains '%%'", ae.Msg)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *archive.Manifest)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(m *archive.Manifest) {}, ""},
		{"title with dots dashes underscores", func(m *archive.Manifest) { m.Title = "0lib.nes_sound-2" }, ""},
		{"title 64 chars", func(m *archive.Manifest) { m.Title = strings.Repeat("a", 64) }, ""},
		{"title 65 chars", func(m *archive.Manifest) { m.Title = strings.Repeat("a", 65) }, "Invalid title"},
		{"title empty", func(m *archive.Manifest) { m.Title = "" }, "Invalid title"},
		{"title uppercase", func(m *archive.Manifest) { m.Title = "MyPkg" }, "Invalid title"},
		{"title dot", func(m *archive.Manifest) { m.Title = "." }, "Invalid title"},
		{"title dotdot", func(m *archive.Manifest) { m.Title = ".." }, "Invalid title"},
		{"title leading dash", func(m *archive.Manifest) { m.Title = "-x" }, "Invalid title"},
		{"title slash", func(m *archive.Manifest) { m.Title = "a/b" }, "Invalid title"},
		{"title space", func(m *archive.Manifest) { m.Title = "a b" }, "Invalid title"},
		{"title percent", func(m *archive.Manifest) { m.Title = "a%s" }, "Invalid title"},
		{"title publish", func(m *archive.Manifest) { m.Title = "publish" }, "The title `publish` is reserved"},
		{"title nul", func(m *archive.Manifest) { m.Title = "nul" }, "`nul` is a device name"},
		{"title con", func(m *archive.Manifest) { m.Title = "con" }, "`con` is a device name"},
		{"title prn", func(m *archive.Manifest) { m.Title = "prn" }, "`prn` is a device name"},
		{"title aux dot", func(m *archive.Manifest) { m.Title = "aux." }, "`aux` is a device name"},
		{"title nul.asm", func(m *archive.Manifest) { m.Title = "nul.asm" }, "The title `nul.asm` cannot be a folder on Windows"},
		{"title con.x", func(m *archive.Manifest) { m.Title = "con.x" }, "`con` is a device name"},
		{"title con.tar.gz", func(m *archive.Manifest) { m.Title = "con.tar.gz" }, "`con` is a device name"},
		{"title com0", func(m *archive.Manifest) { m.Title = "com0" }, "`com0` is a device name"},
		{"title com1.lib", func(m *archive.Manifest) { m.Title = "com1.lib" }, "`com1` is a device name"},
		{"title com9", func(m *archive.Manifest) { m.Title = "com9" }, "`com9` is a device name"},
		{"title lpt0", func(m *archive.Manifest) { m.Title = "lpt0" }, "`lpt0` is a device name"},
		{"title lpt9.s", func(m *archive.Manifest) { m.Title = "lpt9.s" }, "`lpt9` is a device name"},
		{"title final dot", func(m *archive.Manifest) { m.Title = "foo." }, "Invalid title: it cannot end with a dot"},
		{"title final dots", func(m *archive.Manifest) { m.Title = "foo.." }, "Invalid title: it cannot end with a dot"},
		{"title console", func(m *archive.Manifest) { m.Title = "console" }, ""},
		{"title com10", func(m *archive.Manifest) { m.Title = "com10" }, ""},
		{"title lpt10.x", func(m *archive.Manifest) { m.Title = "lpt10.x" }, ""},
		{"title nul-lib", func(m *archive.Manifest) { m.Title = "nul-lib" }, ""},
		{"title nul_lib.asm", func(m *archive.Manifest) { m.Title = "nul_lib.asm" }, ""},
		{"title auxiliary", func(m *archive.Manifest) { m.Title = "auxiliary" }, ""},
		{"title a.b", func(m *archive.Manifest) { m.Title = "a.b" }, ""},
		{"title inner dots", func(m *archive.Manifest) { m.Title = "a..b" }, ""},
		{"title device after dot", func(m *archive.Manifest) { m.Title = "lib.con" }, ""},
		{"title client key", func(m *archive.Manifest) { m.Title = "resource" }, "is reserved"},
		{"description unicode", func(m *archive.Manifest) { m.Description = "Sons & lumières, «NES»" }, ""},
		{"description 200 runes", func(m *archive.Manifest) { m.Description = strings.Repeat("é", 200) }, ""},
		{"description 201 runes", func(m *archive.Manifest) { m.Description = strings.Repeat("é", 201) }, "at most 200 characters"},
		{"description empty", func(m *archive.Manifest) { m.Description = "" }, "Invalid description: it is empty"},
		{"description blank", func(m *archive.Manifest) { m.Description = "   " }, "Invalid description: it is empty"},
		{"description newline", func(m *archive.Manifest) { m.Description = "two\nlines" }, "one line of printable text"},
		{"description tab", func(m *archive.Manifest) { m.Description = "a\tb" }, "one line of printable text"},
		{"description NUL", func(m *archive.Manifest) { m.Description = "a\x00b" }, "one line of printable text"},
		{"description bidi override", func(m *archive.Manifest) { m.Description = "a\u202eb" }, "one line of printable text"},
		{"description invalid UTF-8", func(m *archive.Manifest) { m.Description = "a\xffb" }, "not valid UTF-8"},
		{"description percent", func(m *archive.Manifest) { m.Description = "100%s pure" }, "percent sign is not allowed"},
		{"description trailing space", func(m *archive.Manifest) { m.Description = "text " }, "remove the spaces"},
		{"description client key", func(m *archive.Manifest) { m.Description = "readme" }, "`readme` is reserved"},
		{"version prerelease build", func(m *archive.Manifest) { m.Version = "1.2.3-beta.1+build.5" }, ""},
		{"version empty", func(m *archive.Manifest) { m.Version = "" }, "Invalid version"},
		{"version two parts", func(m *archive.Manifest) { m.Version = "1.0" }, "Invalid version"},
		{"version v prefix", func(m *archive.Manifest) { m.Version = "v1.0.0" }, "Invalid version"},
		{"version leading zero", func(m *archive.Manifest) { m.Version = "01.0.0" }, "Invalid version"},
		{"author mixed case", func(m *archive.Manifest) { m.Author = "Alice_B.c-1" }, ""},
		{"author empty", func(m *archive.Manifest) { m.Author = "" }, "Invalid author"},
		{"author 33 chars", func(m *archive.Manifest) { m.Author = strings.Repeat("a", 33) }, "Invalid author"},
		{"author space", func(m *archive.Manifest) { m.Author = "al ice" }, "Invalid author"},
		{"author client key", func(m *archive.Manifest) { m.Author = "title" }, "`title` is reserved"},
		{"license expression", func(m *archive.Manifest) { m.License = "MIT OR Apache-2.0" }, ""},
		{"license empty", func(m *archive.Manifest) { m.License = "" }, "Invalid license"},
		{"license too long", func(m *archive.Manifest) { m.License = strings.Repeat("x", 65) }, "Invalid license: use at most 64"},
		{"license control", func(m *archive.Manifest) { m.License = "MIT\r" }, "Invalid license"},
		{"five tags", func(m *archive.Manifest) { m.Tags = []string{"a", "b", "c", "d", "e"} }, ""},
		{"tag with space", func(m *archive.Manifest) { m.Tags = []string{"sound engine"} }, ""},
		{"no tags", func(m *archive.Manifest) { m.Tags = nil }, "Invalid tags: list between 1 and 5"},
		{"six tags", func(m *archive.Manifest) { m.Tags = []string{"a", "b", "c", "d", "e", "f"} }, "Invalid tags"},
		{"empty tag", func(m *archive.Manifest) { m.Tags = []string{"a", ""} }, "Invalid tag: it is empty"},
		{"tag too long", func(m *archive.Manifest) { m.Tags = []string{strings.Repeat("t", 33)} }, "Invalid tag: use at most 32"},
		{"tag percent", func(m *archive.Manifest) { m.Tags = []string{"%n"} }, "percent sign"},
		{"tag newline", func(m *archive.Manifest) { m.Tags = []string{"a\nb"} }, "Invalid tag"},
		{"duplicate tag", func(m *archive.Manifest) { m.Tags = []string{"nes", "NES"} }, "`NES` is listed more than once"},
		{"tag client key", func(m *archive.Manifest) { m.Tags = []string{"description"} }, "`description` is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := validManifest()
			tt.change(&m)
			err := m.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			checkUserError(t, err, tt.want)
		})
	}
}

const validJSON = `{"title": "mypkg", "description": "A small test package", "version": "1.0.0",
 "author": "alice", "license": "MIT", "tags": ["nes", "test"]}`

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // substring of the error; "" means success with validManifest
	}{
		{"valid", validJSON, ""},
		{"byte order mark", "\ufeff" + validJSON, ""},
		{"unknown fields ignored", `{"main": "lib.asm", "title": "mypkg", "description": "A small test package", "version": "1.0.0",
			"author": "alice", "license": "MIT", "tags": ["nes", "test"], "deps": {"x": [1, null]}, "main": 3}`, ""},
		{"surrounding whitespace", "\n  " + validJSON + "\n\n", ""},
		{"empty", ``, "not valid JSON"},
		{"array", `[1, 2]`, "must contain a JSON object"},
		{"string", `"title"`, "must contain a JSON object"},
		{"null", `null`, "must contain a JSON object"},
		{"truncated", validJSON[:40], "not valid JSON"},
		{"trailing comma", `{"title": "x",}`, "not valid JSON"},
		{"two objects", validJSON + "{}", "nothing after it"},
		{"trailing garbage", validJSON + "x", "nothing after it"},
		{"invalid UTF-8", `{"title": "a` + "\xff" + `"}`, "not valid UTF-8"},
		{"empty object", `{}`, "Missing fields in package.json: `title`, `description`, `version`, `author`, `license`, `tags`."},
		{"missing title and tags", `{"description": "d", "version": "1.0.0", "author": "a", "license": "MIT"}`,
			"Missing fields in package.json: `title`, `tags`."},
		{"missing one", `{"title": "t", "description": "d", "version": "1.0.0", "author": "a", "tags": []}`,
			"Missing field in package.json: `license`."},
		{"key case matters", strings.Replace(validJSON, `"title"`, `"Title"`, 1), "Missing field in package.json: `title`."},
		{"title number", strings.Replace(validJSON, `"mypkg"`, `42`, 1), "`title` must be a string"},
		{"title null", strings.Replace(validJSON, `"mypkg"`, `null`, 1), "`title` must be a string"},
		{"version number", strings.Replace(validJSON, `"1.0.0"`, `1.0`, 1), "`version` must be a string"},
		{"author object", strings.Replace(validJSON, `"alice"`, `{"name": "alice"}`, 1), "`author` must be a string"},
		{"tags string", strings.Replace(validJSON, `["nes", "test"]`, `"nes,test"`, 1), "`tags` must be an array of strings"},
		{"tags null", strings.Replace(validJSON, `["nes", "test"]`, `null`, 1), "`tags` must be an array of strings"},
		{"tags with number", strings.Replace(validJSON, `["nes", "test"]`, `["nes", 1]`, 1), "`tags` must be an array of strings"},
		{"tags with null", strings.Replace(validJSON, `["nes", "test"]`, `["nes", null]`, 1), "`tags` must be an array of strings"},
		{"duplicate title", `{"title": "a", ` + validJSON[1:], "the field `title` appears more than once"},
		{"too large", `{"x": "` + strings.Repeat("a", archive.MaxManifestSize) + `"}`, "larger than 16 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := archive.ParseManifest([]byte(tt.input))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ParseManifest() error = %v", err)
				}
				if !reflect.DeepEqual(m, validManifest()) {
					t.Errorf("ParseManifest() = %+v, want %+v", m, validManifest())
				}
				return
			}
			checkUserError(t, err, tt.want)
		})
	}
}

// TestParseManifestKeepsValues checks that values are decoded, not
// validated: escapes are undone and Validate gets to judge.
func TestParseManifestKeepsValues(t *testing.T) {
	m, err := archive.ParseManifest([]byte(`{"title": "Bad Title", "description": "line\nbreak \u00e9",
		"version": "x", "author": "", "license": "\u0025", "tags": []}`))
	if err != nil {
		t.Fatal(err)
	}
	want := archive.Manifest{Title: "Bad Title", Description: "line\nbreak é", Version: "x", License: "%", Tags: []string{}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v, want %+v", m, want)
	}
	checkUserError(t, m.Validate(), "Invalid title")
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(validJSON))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"title": 1, "tags": [1]}`))
	f.Add([]byte(`{"title": "a%s", "description": "\u0000", "version": "1.0.0-rc.1+b", "author": "x", "license": "%", "tags": ["a", "A"]}`))
	f.Add([]byte("\ufeff[" + validJSON + "]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := archive.ParseManifest(data)
		if err != nil {
			checkUserError(t, err, "")
			return
		}
		if m.Tags == nil {
			t.Fatal("tags is nil after a successful parse")
		}
		if err := m.Validate(); err != nil {
			checkUserError(t, err, "")
		}
		// What parsed must survive a round trip through the registry's JSON
		// (escaping can make it longer than the size limit).
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > archive.MaxManifestSize {
			return
		}
		again, err := archive.ParseManifest(out)
		if err != nil {
			t.Fatalf("reparse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip changed %+v into %+v", m, again)
		}
	})
}
