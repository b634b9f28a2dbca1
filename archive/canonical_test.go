package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/archive"
)

var canonPublished = time.Date(2024, 3, 5, 12, 30, 45, 0, time.UTC)

func canonManifest() archive.Manifest {
	return archive.Manifest{
		Title:       "nes-sprites",
		Description: "Sprites & <tiles> for \"NES\" games",
		Version:     "1.2.3",
		Author:      "alice",
		License:     "MIT",
		Tags:        []string{"nes", "a&b"},
	}
}

// canonBuild calls Canonical and fails the test on error.
func canonBuild(t testing.TB, m archive.Manifest, lib, readme []byte, published time.Time) []byte {
	t.Helper()
	gz, err := archive.Canonical(m, lib, readme, published)
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	return gz
}

// canonGunzip reads gz with compress/gzip, which also checks CRC and size.
func canonGunzip(t testing.TB, gz []byte) (*gzip.Header, []byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("gzip header: %v", err)
	}
	zr.Multistream(false)
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return &zr.Header, data
}

// canonGoTar reads tarball with archive/tar and returns its files, which
// must all be plain files with the canonical metadata; the filler headers
// after block-sized members must be invisible.
func canonGoTar(t testing.TB, tarball []byte, mtime time.Time) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("archive/tar: %v", err)
		}
		if !hdr.ModTime.Equal(mtime) || hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want %v 0 0", hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid, mtime)
		}
		if hdr.Typeflag != tar.TypeReg || len(hdr.PAXRecords) != 0 {
			t.Fatalf("%s: type %q, pax records %v; want a plain file", hdr.Name, hdr.Typeflag, hdr.PAXRecords)
		}
		if hdr.Mode != 0o644 {
			t.Errorf("%s: mode %o, want 644", hdr.Name, hdr.Mode)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("archive/tar: read %s: %v", hdr.Name, err)
		}
		if _, dup := files[hdr.Name]; dup {
			t.Errorf("duplicate member %s", hdr.Name)
		}
		files[hdr.Name] = data
	}
	return files
}

// canonClientWalk walks tarball the way the nessemble client does: it
// reads the 100-byte name and the octal size at offset 124, takes members
// whose names end with one of the three wanted names (first match wins),
// and skips ((size/512)+1)*512 bytes after each header. It returns the
// names of all headers it saw and the files it took.
func canonClientWalk(t testing.TB, tarball []byte) (seen []string, files map[string][]byte) {
	t.Helper()
	files = map[string][]byte{}
	for pos := 0; pos+512 <= len(tarball); {
		hdr := tarball[pos : pos+512]
		name, _, _ := bytes.Cut(hdr[:100], []byte{0})
		if len(name) == 0 {
			break // end-of-archive block
		}
		seen = append(seen, string(name))
		sizeText := strings.Trim(string(hdr[124:136]), " \x00")
		size, err := strconv.ParseInt(sizeText, 8, 64)
		if err != nil {
			t.Fatalf("header at %d: size %q: %v", pos, sizeText, err)
		}
		for _, want := range []string{"lib.asm", "package.json", "README.md"} {
			if !strings.HasSuffix(string(name), want) {
				continue
			}
			if _, ok := files[want]; !ok {
				end := pos + 512 + int(size)
				if end > len(tarball) {
					t.Fatalf("%s at %d: size %d runs past the end", name, pos, size)
				}
				files[want] = tarball[pos+512 : end]
			}
			break
		}
		pos += 512 + int((size/512)+1)*512
	}
	return seen, files
}

// canonCheck asserts everything a reader of gz must see: the gzip wrapper,
// the same three files through archive/tar and through the client's walk,
// and a deflate stream the client can inflate.
func canonCheck(t testing.TB, gz []byte, m archive.Manifest, lib, readme, pkg []byte, mtime time.Time) {
	t.Helper()
	if len(gz) >= archive.ClientLimit {
		t.Errorf("gzip file is %d bytes, want under %d", len(gz), archive.ClientLimit)
	}
	hdr, tarball := canonGunzip(t, gz)
	if len(tarball) >= archive.ClientLimit {
		t.Errorf("tar is %d bytes, want under %d", len(tarball), archive.ClientLimit)
	}
	if want := m.Title + "-" + m.Version + ".tar"; hdr.Name != want {
		t.Errorf("gzip name %q, want %q", hdr.Name, want)
	}
	if len(tarball)%512 != 0 {
		t.Errorf("tar length %d is not a multiple of 512", len(tarball))
	}
	if !bytes.Equal(tarball[len(tarball)-1024:], make([]byte, 1024)) {
		t.Error("tar does not end with two zero blocks")
	}

	want := map[string][]byte{"lib.asm": lib, "package.json": pkg, "README.md": readme}
	goFiles := canonGoTar(t, tarball, mtime)
	seen, clientFiles := canonClientWalk(t, tarball)
	if got := strings.Join(seen, ","); got != "lib.asm,package.json,README.md" {
		t.Errorf("client saw headers %s, want lib.asm,package.json,README.md", got)
	}
	for _, files := range []map[string][]byte{goFiles, clientFiles} {
		if len(files) != len(want) {
			t.Errorf("got %d files, want %d", len(files), len(want))
		}
		for name, data := range want {
			if got, ok := files[name]; !ok || !bytes.Equal(got, data) {
				t.Errorf("%s: got %d bytes (present %v), want %d", name, len(got), ok, len(data))
			}
		}
	}

	// The client inflates from the byte after the first zero in the file.
	first := bytes.IndexByte(gz, 0)
	stream := gz[first+1 : len(gz)-8]
	inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(gz[first+1:])))
	if err != nil || !bytes.Equal(inflated, tarball) {
		t.Errorf("inflating after the first zero byte: %d bytes, err %v", len(inflated), err)
	}
	if _, err := archive.DeflateBlockTypes(stream); err != nil {
		t.Errorf("deflate stream: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	m := canonManifest()
	lib := []byte("; sprite routines\nload_sprites:\n\tLDX #$00\n\tRTS\n")
	readme := []byte("# nes-sprites\n\nSprites & tiles.\n")
	gz := canonBuild(t, m, lib, readme, canonPublished)

	// Keys in Manifest order, two-space indent, no HTML escaping.
	pkg := []byte(`{
  "title": "nes-sprites",
  "description": "Sprites & <tiles> for \"NES\" games",
  "version": "1.2.3",
  "author": "alice",
  "license": "MIT",
  "tags": [
    "nes",
    "a&b"
  ]
}
`)
	canonCheck(t, gz, m, lib, readme, pkg, canonPublished)

	hdr, _ := canonGunzip(t, gz)
	if !hdr.ModTime.Equal(canonPublished) {
		t.Errorf("gzip mtime %v, want %v", hdr.ModTime, canonPublished)
	}
}

func TestCanonicalNilTags(t *testing.T) {
	m := canonManifest()
	m.Tags = nil
	_, tarball := canonGunzip(t, canonBuild(t, m, []byte("x"), []byte("y"), canonPublished))
	pkg := canonGoTar(t, tarball, canonPublished)["package.json"]
	if !bytes.Contains(pkg, []byte(`"tags": []`)) {
		t.Errorf("package.json without tags:\n%s", pkg)
	}
}

// canonPackageJSON is the package.json expected for m: the literal in
// TestCanonical shows the format this produces.
func canonPackageJSON(t testing.TB, m archive.Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// canonDescriptionFor returns a description that makes package.json of m
// exactly size bytes long.
func canonDescriptionFor(t *testing.T, m archive.Manifest, size int) string {
	t.Helper()
	m.Description = ""
	n := size - len(canonPackageJSON(t, m))
	if n < 0 {
		t.Fatalf("package.json cannot be as small as %d bytes", size)
	}
	return strings.Repeat("d", n)
}

// TestCanonicalBlockSizes covers members whose sizes are multiples of 512
// (including 0) in every position, which the client's off-by-one skip
// would otherwise misread.
func TestCanonicalBlockSizes(t *testing.T) {
	sizes := []int{0, 1, 511, 512, 513, 1024, 1536}
	pkgSizes := []int{511, 512, 513, 1024}
	for _, libSize := range sizes {
		for _, readmeSize := range sizes {
			for _, pkgSize := range pkgSizes {
				m := canonManifest()
				m.Description = canonDescriptionFor(t, m, pkgSize)
				lib := bytes.Repeat([]byte{'L'}, libSize)
				readme := bytes.Repeat([]byte{'R'}, readmeSize)
				gz := canonBuild(t, m, lib, readme, canonPublished)
				_, tarball := canonGunzip(t, gz)
				pkg := canonGoTar(t, tarball, canonPublished)["package.json"]
				if len(pkg) != pkgSize {
					t.Fatalf("package.json is %d bytes, want %d", len(pkg), pkgSize)
				}
				canonCheck(t, gz, m, lib, readme, pkg, canonPublished)
				if t.Failed() {
					t.Fatalf("sizes lib %d, package.json %d, README %d", libSize, pkgSize, readmeSize)
				}
			}
		}
	}
}

func TestCanonicalGzipHeader(t *testing.T) {
	tests := []struct {
		published time.Time
		mtime     [4]byte
	}{
		{time.Unix(0x5e0a0b0c, 0), [4]byte{0x0c, 0x0b, 0x0a, 0x5e}},
		{time.Unix(0x01000000, 0), [4]byte{1, 1, 1, 1}},
		{time.Unix(256, 0), [4]byte{1, 1, 1, 1}},
		{time.Unix(0x60000000, 0), [4]byte{1, 1, 1, 0x60}},
		{time.Unix(0x65ff0010, 0), [4]byte{0x10, 1, 0xff, 0x65}},
		{time.Unix(0, 0), [4]byte{1, 1, 1, 1}},
		{time.Time{}, [4]byte{1, 1, 1, 1}}, // before 1970: counts as 1970
	}
	m := canonManifest()
	name := "nes-sprites-1.2.3.tar"
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.published.Unix()), func(t *testing.T) {
			gz := canonBuild(t, m, []byte("lib"), []byte("readme"), tt.published)
			want := append([]byte{0x1f, 0x8b, 8, 0x08}, tt.mtime[:]...)
			want = append(want, 2, 0xff)
			want = append(want, name...)
			want = append(want, 0)
			if !bytes.HasPrefix(gz, want) {
				t.Fatalf("header % x, want % x", gz[:len(want)], want)
			}
			// The first zero byte is the name's terminator.
			if first := bytes.IndexByte(gz, 0); first != len(want)-1 {
				t.Errorf("first zero byte at %d, want %d", first, len(want)-1)
			}
			tarMtime := tt.published
			if tarMtime.Unix() < 0 {
				tarMtime = time.Unix(0, 0)
			}
			canonCheck(t, gz, m, []byte("lib"), []byte("readme"), canonPackageJSON(t, m), tarMtime)
		})
	}
}

func TestCanonicalNUL(t *testing.T) {
	for _, m := range []archive.Manifest{
		{Title: "a\x00b", Version: "1.0.0"},
		{Title: "ab", Version: "1.0.0\x00"},
	} {
		_, err := archive.Canonical(m, []byte("x"), []byte("y"), canonPublished)
		if err == nil || errors.Is(err, archive.ErrTooLarge) {
			t.Errorf("title %q version %q: err %v, want a NUL error", m.Title, m.Version, err)
		}
	}
}

func TestCanonicalTooLarge(t *testing.T) {
	m := canonManifest()
	tests := []struct {
		name        string
		lib, readme []byte
	}{
		{"random lib.asm 70KiB", randomBytes(70*1024, 8), []byte("r")},
		{"readme 64KiB", []byte("l"), bytes.Repeat([]byte("a"), 64*1024)},
		// Small enough for the early check, but the tar grows past the limit.
		{"tar just over", sampleText(64000), []byte("readme")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gz, err := archive.Canonical(m, tt.lib, tt.readme, canonPublished)
			if !errors.Is(err, archive.ErrTooLarge) {
				t.Fatalf("err = %v (%d bytes), want ErrTooLarge", err, len(gz))
			}
		})
	}
}

// TestCanonicalIncompressible checks that data close to the limit that does
// not compress still fits and still uses Huffman blocks only.
func TestCanonicalIncompressible(t *testing.T) {
	m := canonManifest()
	lib := randomBytes(59*1024+100, 9)
	readme := randomBytes(700, 10)
	gz := canonBuild(t, m, lib, readme, canonPublished)
	canonCheck(t, gz, m, lib, readme, canonPackageJSON(t, m), canonPublished)
}

func TestCanonicalDeterministic(t *testing.T) {
	m := canonManifest()
	lib, readme := sampleText(5000), []byte("# readme\n")
	a := canonBuild(t, m, lib, readme, canonPublished)
	b := canonBuild(t, canonManifest(), bytes.Clone(lib), bytes.Clone(readme), canonPublished.In(time.FixedZone("X", 3600)))
	if !bytes.Equal(a, b) {
		t.Error("same inputs gave different tarballs")
	}
	if c := canonBuild(t, m, lib, readme, canonPublished.Add(time.Second)); bytes.Equal(a, c) {
		t.Error("a different publish time gave the same tarball")
	}
}
