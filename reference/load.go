package reference

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"unicode/utf8"
)

// Limits on a reference tree. They keep an import from exhausting memory
// and keep every answer of the server small.
const (
	MaxFileSize    = 64 << 10 // bytes of one term's text
	MaxTotalSize   = 8 << 20  // bytes of all texts together
	MaxFiles       = 5000     // terms in a tree
	MaxDepth       = 4        // path segments of a term, file name included
	MaxNameLength  = 64       // bytes of one folder or term name
	maxArchiveSize = 16 << 20 // bytes of an uncompressed tar stream
)

// FileError reports why a reference tree was refused, naming the file at
// fault when there is one. Its message never contains a '%', which the
// nessemble client would take for a printf directive.
type FileError struct {
	File   string // path inside the tree or archive; empty for the whole
	Reason string
}

func (e *FileError) Error() string {
	if e.File == "" {
		return "reference: " + e.Reason
	}
	return "reference: " + e.File + ": " + e.Reason
}

func refuse(file, reason string) error {
	return &FileError{File: printable(file), Reason: printable(reason)}
}

// printable makes s safe to show: '%' and non-printable characters become
// '?', and very long names are cut.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '%' || r == utf8.RuneError || r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// file is one candidate term, before validation.
type file struct {
	name string // slash-separated path in the tree, including ".txt"
	orig string // name to report: the path in the folder or archive
	data []byte
}

// Load reads a reference tree from fsys, whose root holds the category
// folders. Every NAME.txt file below a category becomes an entry with path
// "category/NAME". Hidden files and folders (starting with '.') and
// Markdown files (*.md) are skipped; any other file, a symbolic link, a
// name outside [A-Za-z0-9_.-], two siblings differing only by case, a term
// directly at the root, an empty or whitespace-only text, invalid UTF-8,
// control characters other than tab and newline, or a limit exceeded
// refuses the whole tree with a *FileError naming the file. Texts are
// normalized: a leading byte order mark is dropped, CRLF becomes LF and a
// final newline is added. Entries come back sorted by path.
func Load(fsys fs.FS) ([]Entry, error) {
	var files []file
	total := 0
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return refuse(name, "cannot read: "+err.Error())
		}
		if name == "." {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return refuse(name, "symbolic links are not allowed")
		case d.IsDir():
			if strings.Count(name, "/")+2 > MaxDepth {
				return refuse(name, fmt.Sprintf("folders nested deeper than %d levels", MaxDepth-1))
			}
			return nil
		case !d.Type().IsRegular():
			return refuse(name, "not a regular file")
		case skipped(d.Name()):
			return nil
		}
		if len(files) >= MaxFiles {
			return refuse(name, fmt.Sprintf("more than %d files in the tree", MaxFiles))
		}
		b, err := readFile(fsys, name)
		if err != nil {
			return err
		}
		if total += len(b); total > MaxTotalSize {
			return refuse(name, fmt.Sprintf("tree larger than %d bytes", MaxTotalSize))
		}
		files = append(files, file{name: name, orig: name, data: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return validate(files)
}

// readFile reads one regular file of fsys, refusing it once it passes
// MaxFileSize and checking again, on the open file, that it is regular.
func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, refuse(name, "cannot open: "+err.Error())
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, refuse(name, "not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, refuse(name, "cannot read: "+err.Error())
	}
	if len(b) > MaxFileSize {
		return nil, refuse(name, fmt.Sprintf("larger than %d bytes", MaxFileSize))
	}
	return b, nil
}

// skipped reports whether a file name is left out of a tree on purpose.
func skipped(base string) bool {
	return strings.HasPrefix(base, ".") || strings.HasSuffix(strings.ToLower(base), ".md")
}

// LoadDir reads a reference tree from the folder dir, like Load. The
// folder is opened as an os.Root, so nothing outside it can be reached,
// and symbolic links inside it are refused.
func LoadDir(dir string) ([]Entry, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, refuse(dir, "cannot open folder: "+err.Error())
	}
	defer root.Close()
	return Load(root.FS())
}

// LoadPath reads a reference tree from p, which is either a folder (see
// LoadDir) or a tar.gz archive of one (see LoadTarGz).
func LoadPath(p string) ([]Entry, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, refuse(p, "cannot open: "+err.Error())
	}
	if fi.IsDir() {
		return LoadDir(p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, refuse(p, "cannot open: "+err.Error())
	}
	defer f.Close()
	return LoadTarGz(f)
}

// errArchiveSize stops reading an archive that inflates past
// maxArchiveSize.
var errArchiveSize = errors.New("archive too large")

type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errArchiveSize
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// LoadTarGz reads a reference tree from a gzip-compressed tar archive with
// the same rules as Load. The archive may hold the tree at its root or
// wrapped in one top folder (as made by "tar -czf ref.tar.gz reference"):
// when every file sits at least two folders deep below the same top
// folder, that folder is dropped. Absolute names, ".." segments, links and
// any member that is neither a regular file nor a folder are refused.
func LoadTarGz(r io.Reader) ([]Entry, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, refuse("", "not a gzip archive: "+err.Error())
	}
	defer zr.Close()
	tr := tar.NewReader(&limitedReader{r: zr, n: maxArchiveSize})
	var files []file
	total := 0
	hasRoot := false // the archive has a "./" member
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, errArchiveSize) {
				return nil, refuse("", fmt.Sprintf("archive larger than %d bytes uncompressed", maxArchiveSize))
			}
			return nil, refuse("", "bad tar archive: "+err.Error())
		}
		name, err := memberName(hdr.Name)
		if err != nil {
			return nil, err
		}
		if name == "" {
			hasRoot = hasRoot || hdr.Typeflag == tar.TypeDir
			continue
		}
		if hidden(name) {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, refuse(hdr.Name, "links are not allowed")
		default:
			return nil, refuse(hdr.Name, "not a regular file")
		}
		if skipped(path.Base(name)) {
			continue
		}
		if hdr.Size > MaxFileSize {
			return nil, refuse(hdr.Name, fmt.Sprintf("larger than %d bytes", MaxFileSize))
		}
		if len(files) >= MaxFiles {
			return nil, refuse(hdr.Name, fmt.Sprintf("more than %d files in the tree", MaxFiles))
		}
		b, err := io.ReadAll(io.LimitReader(tr, MaxFileSize+1))
		if err != nil {
			if errors.Is(err, errArchiveSize) {
				return nil, refuse("", fmt.Sprintf("archive larger than %d bytes uncompressed", maxArchiveSize))
			}
			return nil, refuse(hdr.Name, "cannot read: "+err.Error())
		}
		if len(b) > MaxFileSize {
			return nil, refuse(hdr.Name, fmt.Sprintf("larger than %d bytes", MaxFileSize))
		}
		if total += len(b); total > MaxTotalSize {
			return nil, refuse(hdr.Name, fmt.Sprintf("tree larger than %d bytes", MaxTotalSize))
		}
		files = append(files, file{name: name, orig: hdr.Name, data: b})
	}
	return validate(unwrap(files, hasRoot))
}

// memberName checks an archive member's name and returns it without a
// leading "./" and trailing "/".
func memberName(name string) (string, error) {
	if strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || (len(name) > 1 && name[1] == ':') {
		return "", refuse(name, "absolute names and backslashes are not allowed")
	}
	var segs []string
	for _, s := range strings.Split(name, "/") {
		switch s {
		case "..":
			return "", refuse(name, "names with .. are not allowed")
		case "", ".":
			continue
		}
		segs = append(segs, s)
	}
	return strings.Join(segs, "/"), nil
}

func hidden(name string) bool {
	for _, s := range strings.Split(name, "/") {
		if strings.HasPrefix(s, ".") {
			return true
		}
	}
	return false
}

// unwrap drops a single top folder that wraps the whole tree, unless the
// archive names its own root ("./", as tar -C folder . writes): then it is
// an archive of the tree's inside, which has no wrapper even when it holds
// one category with subfolders.
func unwrap(files []file, hasRoot bool) []file {
	if len(files) == 0 || hasRoot {
		return files
	}
	top, _, _ := strings.Cut(files[0].name, "/")
	for _, f := range files {
		segs := strings.Split(f.name, "/")
		if len(segs) < 3 || segs[0] != top {
			return files
		}
	}
	out := make([]file, len(files))
	for i, f := range files {
		out[i] = file{name: f.name[len(top)+1:], orig: f.orig, data: f.data}
	}
	return out
}

// validate checks names and texts of a whole tree and turns it into
// sorted entries.
func validate(files []file) ([]Entry, error) {
	if len(files) == 0 {
		return nil, refuse("", "no .txt files found")
	}
	type seen struct {
		path string
		term bool
	}
	byLower := map[string]seen{}
	entries := make([]Entry, 0, len(files))
	for _, f := range files {
		segs := strings.Split(f.name, "/")
		base := segs[len(segs)-1]
		if !strings.HasSuffix(base, ".txt") {
			return nil, refuse(f.orig, "not a .txt file (only NAME.txt terms, *.md notes and hidden files are allowed)")
		}
		segs[len(segs)-1] = strings.TrimSuffix(base, ".txt")
		if len(segs) < 2 {
			return nil, refuse(f.orig, "terms must be inside a category folder")
		}
		if len(segs) > MaxDepth {
			return nil, refuse(f.orig, fmt.Sprintf("folders nested deeper than %d levels", MaxDepth-1))
		}
		for _, s := range segs {
			if !validName(s) {
				return nil, refuse(f.orig, fmt.Sprintf("names must be 1 to %d characters from A-Z a-z 0-9 _ . - and not start with a dot", MaxNameLength))
			}
		}
		for i := 1; i <= len(segs); i++ {
			p := strings.Join(segs[:i], "/")
			term := i == len(segs)
			prev, ok := byLower[strings.ToLower(p)]
			if ok && (term || prev.term || prev.path != p) {
				return nil, refuse(f.orig, "clashes with "+prev.path+" (names are matched without regard to case)")
			}
			byLower[strings.ToLower(p)] = seen{path: p, term: term}
		}
		text, reason := normalize(f.data)
		if reason != "" {
			return nil, refuse(f.orig, reason)
		}
		entries = append(entries, Entry{Path: strings.Join(segs, "/"), Text: text})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	return entries, nil
}

func validName(s string) bool {
	if s == "" || len(s) > MaxNameLength || s[0] == '.' {
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

// normalize checks a term's raw bytes and returns its text, or the reason
// it is refused.
func normalize(b []byte) (string, string) {
	if !utf8.Valid(b) {
		return "", "not valid UTF-8 text"
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	for _, r := range s {
		if r == 0 {
			return "", "contains a NUL byte"
		}
		if (r < ' ' && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", "contains a control character"
		}
	}
	if strings.TrimSpace(s) == "" {
		return "", "empty text"
	}
	return withNewline(s), ""
}
