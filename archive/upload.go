package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Upload is a package tarball as a user published it, read and validated.
type Upload struct {
	Manifest    Manifest
	LibAsm      []byte
	Readme      []byte
	PackageJSON []byte // as uploaded
}

// Limits bound what ReadUpload unpacks. The compressed size is the HTTP
// server's business.
type Limits struct {
	// MaxUnpacked bounds the decompressed stream: tar headers, every
	// member's data (ignored ones too), padding and anything after the end
	// of the archive.
	MaxUnpacked int64
	// MaxMembers bounds the number of tar headers, directories included.
	MaxMembers int
}

// DefaultLimits are generous for a package: the tarball served to the
// client must stay under 64 KiB anyway.
var DefaultLimits = Limits{MaxUnpacked: 1 << 20, MaxMembers: 64}

// The three files a package consists of, as uploadFiles indexes them.
var uploadFileNames = [3]string{"lib.asm", "package.json", "README.md"}

// ReadUpload reads a gzip-compressed tarball as `nessemble publish` sends it,
// streaming, and returns its three files and validated manifest.
//
// It accepts gzip with or without a file name in its header, ustar, GNU and
// PAX tar, and lib.asm, package.json and README.md either at the top of the
// archive or together in one folder ("./" prefixes are fine). Other files
// and directory entries are ignored, but they count against lim, may sit at
// most one folder deep and must have safe names. It refuses, with an *Error:
// data that is not gzip, corrupt or truncated gzip (the checksum is always
// checked), gzip data that is not tar, absolute names, ".." or backslashes
// in names, links, devices and other special members, a required file that
// is missing, duplicated, or in a different folder from the others, a lib.asm
// that is empty or has NUL bytes, a README.md that is empty or not UTF-8
// text, and any package.json that ParseManifest or Validate refuses.
//
// Going over lim returns an *Error wrapping ErrTooBig, as soon as the limit
// is crossed, so a gzip bomb costs at most lim.MaxUnpacked bytes of
// decompression. Zero fields of lim take the value from DefaultLimits.
//
// A tar stream that ends cleanly between members without the end-of-archive
// blocks is accepted, since gzip's checksum and length already prove nothing
// was lost. Decompressed bytes after the end of the tar archive are read
// (to verify the checksum) and ignored; compressed bytes after the end of
// the gzip stream that are not another gzip member make the upload corrupt.
//
// Errors reading r itself are returned wrapped, not as *Error, so that the
// caller can tell them apart (for example *http.MaxBytesError).
func ReadUpload(r io.Reader, lim Limits) (*Upload, error) {
	if lim.MaxUnpacked <= 0 {
		lim.MaxUnpacked = DefaultLimits.MaxUnpacked
	}
	if lim.MaxMembers <= 0 {
		lim.MaxMembers = DefaultLimits.MaxMembers
	}
	src := &uploadSource{r: r}
	br := bufio.NewReader(src)
	magic, err := br.Peek(2)
	switch {
	case src.err != nil:
		return nil, fmt.Errorf("archive: reading upload: %w", src.err)
	case len(magic) == 0:
		return nil, &Error{Msg: "The upload is empty."}
	case err != nil || magic[0] != 0x1f || magic[1] != 0x8b:
		return nil, &Error{Msg: "The upload is not a gzip file: pack the package folder with tar -czf."}
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, uploadGzipError(src, err)
	}
	u := &uploadReader{
		src:     src,
		count:   &uploadCounter{r: zr, max: lim.MaxUnpacked},
		lim:     lim,
		content: lim.MaxUnpacked,
	}
	return u.read()
}

// uploadReader holds the state of one ReadUpload.
type uploadReader struct {
	src     *uploadSource
	count   *uploadCounter
	lim     Limits
	members int
	content int64 // budget left for the bytes of the three files
	files   [3]*uploadFile
}

type uploadFile struct {
	dir  string // "" for the top of the archive
	data []byte
}

func (u *uploadReader) read() (*Upload, error) {
	tr := tar.NewReader(u.count)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// ErrInsecurePath (GODEBUG tarinsecurepath=0) comes with a usable
		// header; our own name checks below decide.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return nil, u.fail(err)
		}
		u.members++
		if u.members > u.lim.MaxMembers {
			return nil, &Error{Msg: "The archive has more than " + strconv.Itoa(u.lim.MaxMembers) + " files and folders.", Err: ErrTooBig}
		}
		if err := u.member(tr, hdr); err != nil {
			return nil, err
		}
	}
	// Read to the end of the gzip stream, so that its checksum is verified.
	if _, err := io.Copy(io.Discard, u.count); err != nil {
		return nil, u.fail(err)
	}
	return u.finish()
}

// member handles one tar header.
func (u *uploadReader) member(tr *tar.Reader, hdr *tar.Header) error {
	// A PAX global header (git archive writes one) describes no file.
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	dir, base, err := uploadMemberPath(hdr.Name, hdr.Typeflag == tar.TypeDir)
	if err != nil {
		return err
	}
	name := "`" + uploadSanitize(hdr.Name) + "`"
	switch hdr.Typeflag {
	case tar.TypeDir:
		return nil
	case tar.TypeReg:
	case tar.TypeSymlink, tar.TypeLink:
		return &Error{Msg: "The archive contains a link, " + name + "; links are not allowed."}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return &Error{Msg: "The archive contains a device or named pipe, " + name + "; only regular files and folders are allowed."}
	default:
		return &Error{Msg: "The archive contains " + name + ", which is not a regular file or folder."}
	}

	i := -1
	for j, n := range uploadFileNames {
		if base == n {
			i = j
		}
	}
	if i < 0 {
		return nil // other files are skipped by tr.Next, still counted
	}
	if u.files[i] != nil {
		return &Error{Msg: "The archive contains more than one " + base + "."}
	}
	if base == "package.json" && hdr.Size > MaxManifestSize {
		return &Error{Msg: "package.json is larger than 16 KiB."}
	}
	// hdr.Size is the logical size, which for sparse files can exceed the
	// bytes the counter sees, hence a separate budget.
	if hdr.Size > u.content {
		return u.tooBig()
	}
	u.content -= hdr.Size
	data := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, data); err != nil {
		return u.fail(err)
	}
	u.files[i] = &uploadFile{dir: dir, data: data}
	return nil
}

// finish checks the three files once the whole archive has been read.
func (u *uploadReader) finish() (*Upload, error) {
	var missing []string
	for i, f := range u.files {
		if f == nil {
			missing = append(missing, uploadFileNames[i])
		}
	}
	if len(missing) > 0 {
		return nil, &Error{Msg: "The archive must contain lib.asm, package.json and README.md; missing: " + strings.Join(missing, ", ") + "."}
	}
	lib, pkg, readme := u.files[0], u.files[1], u.files[2]
	if lib.dir != pkg.dir || lib.dir != readme.dir {
		return nil, &Error{Msg: "lib.asm, package.json and README.md must be in the same folder: the top of the archive or one folder in it."}
	}
	switch {
	case len(lib.data) == 0:
		return nil, &Error{Msg: "lib.asm is empty."}
	case bytes.IndexByte(lib.data, 0) >= 0:
		return nil, &Error{Msg: "lib.asm must be a text file, but it contains NUL bytes."}
	case len(readme.data) == 0:
		return nil, &Error{Msg: "README.md is empty."}
	case !utf8.Valid(readme.data) || bytes.IndexByte(readme.data, 0) >= 0:
		return nil, &Error{Msg: "README.md must be UTF-8 text."}
	}
	m, err := ParseManifest(pkg.data)
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &Upload{Manifest: m, LibAsm: lib.data, Readme: readme.data, PackageJSON: pkg.data}, nil
}

func (u *uploadReader) tooBig() error {
	return &Error{Msg: "The archive unpacks to more than " + uploadSize(u.lim.MaxUnpacked) + ".", Err: ErrTooBig}
}

// fail turns an error from the gzip or tar layer into the error to return,
// working out from the readers' state which layer failed.
func (u *uploadReader) fail(err error) error {
	switch {
	case u.src.err != nil || u.count.err != nil:
		return uploadGzipError(u.src, u.count.err)
	case u.count.exceeded:
		return u.tooBig()
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Msg: "The tar archive in the upload is truncated."}
	case u.members == 0:
		return &Error{Msg: "The upload is a gzip file but not a tar archive: pack the package folder with tar -czf."}
	}
	return &Error{Msg: "The tar archive in the upload is corrupt."}
}

// uploadGzipError describes an error from the gzip reader.
func uploadGzipError(src *uploadSource, err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case src.err != nil:
		return fmt.Errorf("archive: reading upload: %w", src.err)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return &Error{Msg: "The upload is truncated: the gzip data ends early."}
	case errors.Is(err, gzip.ErrChecksum):
		return &Error{Msg: "The upload is corrupt: the gzip checksum does not match."}
	case errors.Is(err, gzip.ErrHeader):
		return &Error{Msg: "The upload is corrupt: invalid gzip header, or data after the end of the gzip stream."}
	case errors.As(err, &corrupt):
		return &Error{Msg: "The upload is corrupt: invalid compressed data."}
	}
	return &Error{Msg: "The upload is corrupt: it cannot be decompressed."}
}

// uploadMemberPath checks a member name and splits it into its folder (""
// at the top) and base name. Directories may be one level deep, files two.
func uploadMemberPath(name string, isDir bool) (dir, base string, err error) {
	shown := "`" + uploadSanitize(name) + "`"
	switch {
	case strings.HasPrefix(name, "/"):
		return "", "", &Error{Msg: "The archive contains an absolute path, " + shown + "; use names relative to the archive."}
	case strings.ContainsAny(name, "\\\x00"):
		return "", "", &Error{Msg: "The archive contains a name with a backslash or NUL byte, " + shown + "."}
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", "", &Error{Msg: "The archive contains a path with '..', " + shown + "; it must not point outside the archive."}
		}
		parts = append(parts, p)
	}
	maxDepth := 2
	if isDir {
		maxDepth = 1
	}
	switch {
	case len(parts) > maxDepth:
		return "", "", &Error{Msg: "The archive contains " + shown + ", nested more than one folder deep; put lib.asm, package.json and README.md at the top of the archive or in one folder."}
	case len(parts) == 0 && !isDir:
		return "", "", &Error{Msg: "The archive contains a file without a name."}
	case len(parts) == 2:
		return parts[0], parts[1], nil
	case len(parts) == 1 && !isDir:
		return "", parts[0], nil
	}
	return "", "", nil // a directory
}

// uploadSize formats a byte count for messages.
func uploadSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// uploadSource remembers the first error of the underlying reader other
// than io.EOF, which gzip and tar would otherwise pass on unmarked.
type uploadSource struct {
	r   io.Reader
	err error
}

func (s *uploadSource) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// uploadCounter reads the decompressed stream and fails once it yields
// more than max bytes. It remembers the gzip reader's errors other than
// io.EOF.
type uploadCounter struct {
	r        io.Reader
	max, n   int64
	exceeded bool
	err      error
}

var errUploadLimit = errors.New("archive: unpacked size limit reached")

func (c *uploadCounter) Read(p []byte) (int, error) {
	if c.exceeded {
		return 0, errUploadLimit
	}
	// Ask for at most one byte past the limit: enough to notice crossing it.
	if left := c.max - c.n + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	if c.n > c.max {
		c.exceeded = true
		return n, errUploadLimit
	}
	return n, err
}
