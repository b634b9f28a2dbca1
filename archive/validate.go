package archive

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/internal/semver"
)

// Error is a problem with what the user uploaded: a client error whose Msg
// is a complete sentence meant to be shown to the user as is. Msg never
// contains '%' (the nessemble client prints error messages with printf).
// Errors of any other type from this package are internal.
type Error struct {
	Msg string
	// Err is an optional sentinel, such as ErrTooBig, for errors.Is.
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the sentinel, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrTooBig marks an *Error for an upload that unpacks to more bytes or
// more archive members than the Limits allow (HTTP 413).
var ErrTooBig = errors.New("archive: upload too big")

// uploadSanitize makes s safe to show in an Error message: at most 80
// characters, with '%' and anything unprintable replaced by '?'.
func uploadSanitize(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 80 {
			b.WriteString("...")
			break
		}
		if r == '%' || r == utf8.RuneError || !unicode.IsGraphic(r) {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// Limits of the package.json fields. Five tags keep a package document
// (about 23 tokens + 2 per version + 1 per tag) well inside the nessemble
// client's 128-token JSON budget.
const (
	maxTitleLen       = 64
	maxDescriptionLen = 200
	maxLicenseLen     = 64
	maxTags           = 5
	maxTagLen         = 32
)

// manifestFields lists the package.json keys in the order errors name them.
var manifestFields = []string{"title", "description", "version", "author", "license", "tags"}

var manifestTitleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// manifestReservedTitles are titles that cannot name a package: `publish`
// is the route /package/publish.
var manifestReservedTitles = map[string]bool{"publish": true}

// windowsDevices are the names Windows keeps for devices, whatever the
// extension: the client installs into packages/TITLE/, and on Windows a
// folder named `nul.asm` or `con.tar.gz` is the device, not a folder.
var windowsDevices = map[string]bool{
	"con": true, "prn": true, "aux": true, "nul": true,
	"com0": true, "com1": true, "com2": true, "com3": true, "com4": true,
	"com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt0": true, "lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true,
	"lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true,
}

// manifestClientKeys are the JSON keys the nessemble client looks up by
// taking the first string token equal to the key anywhere in a document. A
// field value equal to one of them would be taken for the key and break
// install, info or search, so no field may be exactly one of these.
var manifestClientKeys = map[string]bool{
	"title": true, "description": true, "resource": true, "readme": true,
}

// Validate checks every field and returns an *Error whose message tells the
// user what to fix, or nil. The rules:
//
//   - title: 1-64 characters a-z, 0-9, '.', '_' and '-', starting with a
//     letter or digit (so never "." or ".."). It becomes a URL segment and a
//     folder name on the user's disk, hence lowercase only, and nothing
//     Windows cannot make a folder of: a device name (con, nul, com1, ...)
//     with or without an extension, or a name ending in a dot. "publish"
//     (a route) is reserved.
//   - description: one line of 1-200 printable characters.
//   - version: Semantic Versioning 2.0.0.
//   - author: a username, 1-32 characters A-Z, a-z, 0-9, '.', '_' and '-',
//     starting with a letter or digit. Whether it is the publishing user is
//     for the caller to check.
//   - license: 1-64 printable characters, like an SPDX identifier.
//   - tags: 1-5 tags of 1-32 printable characters each, no two equal
//     ignoring case.
//
// Printable text here is valid UTF-8 of letters, marks, digits,
// punctuation, symbols and spaces, without leading or trailing spaces.
// No field may contain '%': the nessemble client passes text it prints
// to printf, where '%' crashes it. No field may be exactly "title",
// "description", "resource" or "readme" (see manifestClientKeys). Messages
// never echo the user's input unless it passed the character checks.
func (m Manifest) Validate() error {
	if err := validateTitle(m.Title); err != nil {
		return err
	}
	if err := validateManifestText("description", m.Description, maxDescriptionLen); err != nil {
		return err
	}
	if _, err := semver.Parse(m.Version); err != nil {
		return &Error{Msg: "Invalid version: use Semantic Versioning, like 1.0.0 or 2.1.0-beta.1 (" +
			uploadSanitize(err.Error()) + ")."}
	}
	// The author must be the publisher's username, so it follows the
	// username rule.
	if auth.ValidateUsername(m.Author) != nil {
		return &Error{Msg: "Invalid author: use your registry username (1-32 characters A-Z, a-z, 0-9, '-', '_' and '.', starting with a letter or digit)."}
	}
	if manifestClientKeys[m.Author] {
		return reservedValueError("author", m.Author)
	}
	if err := validateManifestText("license", m.License, maxLicenseLen); err != nil {
		return err
	}
	return validateTags(m.Tags)
}

func validateTitle(title string) error {
	if !manifestTitleRE.MatchString(title) {
		return &Error{Msg: "Invalid title: use 1-64 characters a-z, 0-9, '-', '_' and '.', starting with a letter or digit."}
	}
	if manifestReservedTitles[title] || manifestClientKeys[title] {
		return &Error{Msg: "The title `" + title + "` is reserved; choose another one."}
	}
	// Windows ignores everything from the first dot on when it looks for
	// a device name.
	if base, _, _ := strings.Cut(title, "."); windowsDevices[base] {
		return &Error{Msg: "The title `" + title + "` cannot be a folder on Windows (`" + base + "` is a device name there, whatever follows it); choose another one."}
	}
	// Windows drops a folder name's final dots, so `foo.` would install
	// into `foo`.
	if strings.HasSuffix(title, ".") {
		return &Error{Msg: "Invalid title: it cannot end with a dot (Windows drops final dots from folder names); choose another one."}
	}
	return nil
}

func validateTags(tags []string) error {
	if len(tags) == 0 || len(tags) > maxTags {
		return &Error{Msg: "Invalid tags: list between 1 and " + strconv.Itoa(maxTags) + " tags."}
	}
	seen := make(map[string]bool, len(tags))
	for _, tag := range tags {
		if err := validateManifestText("tag", tag, maxTagLen); err != nil {
			return err
		}
		key := strings.ToLower(tag)
		if seen[key] {
			return &Error{Msg: "Invalid tags: `" + tag + "` is listed more than once."}
		}
		seen[key] = true
	}
	return nil
}

// validateManifestText applies the printable-text rules of Validate to one
// field value; name is the field as users know it.
func validateManifestText(name, s string, maxLen int) error {
	prefix := "Invalid " + name + ": "
	switch {
	case strings.TrimSpace(s) == "":
		return &Error{Msg: prefix + "it is empty."}
	case !utf8.ValidString(s):
		return &Error{Msg: prefix + "it is not valid UTF-8 text."}
	case utf8.RuneCountInString(s) > maxLen:
		return &Error{Msg: prefix + "use at most " + strconv.Itoa(maxLen) + " characters."}
	case strings.ContainsRune(s, '%'):
		return &Error{Msg: prefix + "the percent sign is not allowed (the nessemble client cannot print it)."}
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return &Error{Msg: prefix + "use one line of printable text, without tabs, line breaks or control characters."}
		}
	}
	if strings.TrimSpace(s) != s {
		return &Error{Msg: prefix + "remove the spaces at the start or end."}
	}
	if manifestClientKeys[s] {
		return reservedValueError(name, s)
	}
	return nil
}

// reservedValueError reports a value from manifestClientKeys, which is safe
// to echo.
func reservedValueError(name, value string) error {
	return &Error{Msg: "Invalid " + name + ": `" + value + "` is reserved (the nessemble client would misread it); choose another one."}
}
