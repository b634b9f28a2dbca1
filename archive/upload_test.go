package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nessemble/nessemble-registry/archive"
)

const (
	libAsm = "; a tiny library\nfoo:\n    lda #$01\n    rts\n"
	readme = "# mypkg\n\nA small test package. Ünïcödé is fine.\n"
)

// entry is one tar member to write; a zero Typeflag means a regular file.
type entry struct {
	name     string
	body     string
	typeflag byte
	linkname string
	size     int64 // if non-zero, overrides len(body) in the header
}

func file(name, body string) entry { return entry{name: name, body: body} }
func dir(name string) entry        { return entry{name: name, typeflag: tar.TypeDir} }

// pkgFiles returns the three package files under prefix ("" or "lib/").
func pkgFiles(prefix string) []entry {
	return []entry{
		file(prefix+"lib.asm", libAsm),
		file(prefix+"package.json", validJSON),
		file(prefix+"README.md", readme),
	}
}

type tarOpts struct {
	format  tar.Format
	noClose bool // leave out the end-of-archive blocks
	partial bool // stop after the last write, even inside a member
	trailer []byte
}

func makeTar(t testing.TB, o tarOpts, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: e.typeflag,
			Linkname: e.linkname,
			Mode:     0o644,
			Size:     int64(len(e.body)),
			Format:   o.format,
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if e.size != 0 {
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("WriteHeader(%q): %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("write %q: %v", e.name, err)
		}
	}
	switch {
	case o.partial:
	case o.noClose:
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
	default:
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return append(buf.Bytes(), o.trailer...)
}

// gz compresses data; a non-empty name goes into the gzip header.
func gz(t testing.TB, data []byte, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Name = name
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func validTarGz(t testing.TB) []byte {
	return gz(t, makeTar(t, tarOpts{}, append([]entry{dir("lib/")}, pkgFiles("lib/")...)...), "")
}

func TestReadUpload(t *testing.T) {
	long := strings.Repeat("very-long-folder-name-", 8) // 176 bytes, over the 100-byte ustar name field
	otherJSON := strings.Replace(validJSON, `"MIT"`, `"CC0-1.0"`, 1)
	big := strings.Repeat("x", 2<<20)

	tests := []struct {
		name   string
		upload func(t *testing.T) []byte
		want   string // substring of the *archive.Error message; "" means accepted
		tooBig bool
	}{
		// Accepted.
		{name: "files at the root, ustar, no gzip name", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{format: tar.FormatUSTAR}, pkgFiles("")...), "")
		}},
		{name: "one folder with directory entry, gzip name", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append([]entry{dir("lib/")}, pkgFiles("lib/")...)...), "lib.tar")
		}},
		{name: "one folder without directory entry", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, pkgFiles("mypkg/")...), "")
		}},
		{name: "dot slash prefixes as from tar -C dir .", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append([]entry{dir("./")}, pkgFiles("./")...)...), "")
		}},
		{name: "GNU format, long folder name", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{format: tar.FormatGNU}, append([]entry{dir(long + "/")}, pkgFiles(long+"/")...)...), "")
		}},
		{name: "PAX format, long non-ASCII folder name", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{format: tar.FormatPAX}, pkgFiles("paquet-é-"+long+"/")...), "")
		}},
		{name: "PAX global header as from git archive", upload: func(t *testing.T) []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header",
				PAXRecords: map[string]string{"comment": "0123456789abcdef"}}); err != nil {
				t.Fatal(err)
			}
			for _, e := range pkgFiles("lib/") {
				if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}); err != nil {
					t.Fatal(err)
				}
				io.WriteString(tw, e.body)
			}
			tw.Close()
			return gz(t, buf.Bytes(), "")
		}},
		{name: "extra files at the root, in the folder and in other folders", upload: func(t *testing.T) []byte {
			es := []entry{file("NOTES.txt", "notes"), dir("lib/"), file("lib/.DS_Store", "\x00\x01"),
				file("lib/lib.asm.bak", "old"), dir("other/"), file("other/package.json.txt", otherJSON)}
			return gz(t, makeTar(t, tarOpts{}, append(es, pkgFiles("lib/")...)...), "")
		}},
		{name: "members whose size is a multiple of 512", upload: func(t *testing.T) []byte {
			es := []entry{file("pad.bin", strings.Repeat("p", 1024)), file("lib.asm", strings.Repeat(";\n", 256))}
			return gz(t, makeTar(t, tarOpts{}, append(es, pkgFiles("")[1:]...)...), "")
		}},
		{name: "no end-of-archive marker", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{noClose: true}, pkgFiles("lib/")...), "")
		}},
		{name: "data after the end of the tar archive", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{trailer: []byte("trailing junk, ignored")}, pkgFiles("lib/")...), "")
		}},
		{name: "two concatenated gzip members", upload: func(t *testing.T) []byte {
			tb := makeTar(t, tarOpts{}, pkgFiles("")...)
			return append(gz(t, tb[:700], ""), gz(t, tb[700:], "")...)
		}},

		// Refused: the outer layers.
		{name: "empty upload", upload: func(t *testing.T) []byte { return nil }, want: "The upload is empty."},
		{name: "plain tar", upload: func(t *testing.T) []byte { return makeTar(t, tarOpts{}, pkgFiles("")...) },
			want: "The upload is not a gzip file"},
		{name: "one byte of gzip magic", upload: func(t *testing.T) []byte { return []byte{0x1f} },
			want: "The upload is not a gzip file"},
		{name: "gzip header only", upload: func(t *testing.T) []byte { return validTarGz(t)[:6] },
			want: "The upload is truncated"},
		{name: "truncated gzip", upload: func(t *testing.T) []byte {
			b := validTarGz(t)
			return b[:len(b)/2]
		}, want: "The upload is truncated"},
		{name: "truncated gzip trailer", upload: func(t *testing.T) []byte {
			b := validTarGz(t)
			return b[:len(b)-3]
		}, want: "The upload is truncated"},
		{name: "gzip checksum mismatch", upload: func(t *testing.T) []byte {
			b := validTarGz(t)
			b[len(b)-8] ^= 0xff // first byte of the CRC-32
			return b
		}, want: "the gzip checksum does not match"},
		{name: "corrupt deflate data", upload: func(t *testing.T) []byte {
			b := validTarGz(t)
			b[10] = 0xff // first block header: reserved block type 3
			return b
		}, want: "The upload is corrupt"},
		{name: "garbage after the gzip stream", upload: func(t *testing.T) []byte {
			return append(validTarGz(t), "garbage after gzip"...)
		}, want: "data after the end of the gzip stream"},
		{name: "gzip of something that is not tar", upload: func(t *testing.T) []byte {
			return gz(t, []byte(strings.Repeat("this is not a tar archive\n", 100)), "")
		}, want: "not a tar archive"},
		{name: "tar truncated inside a member", upload: func(t *testing.T) []byte {
			tb := makeTar(t, tarOpts{}, pkgFiles("")...)
			return gz(t, tb[:512+20], "")
		}, want: "tar archive in the upload is truncated"},
		{name: "corrupt header after the first member", upload: func(t *testing.T) []byte {
			tb := makeTar(t, tarOpts{}, pkgFiles("")...)
			tb[1024+148] ^= 0x01 // checksum field of the second header
			return gz(t, tb, "")
		}, want: "tar archive in the upload is corrupt"},
		{name: "empty tar", upload: func(t *testing.T) []byte { return gz(t, makeTar(t, tarOpts{}), "") },
			want: "The archive must contain lib.asm, package.json and README.md; missing: lib.asm, package.json, README.md."},

		// Refused: member names and types.
		{name: "absolute path in an ignored member", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), file("/etc/cron.d/x", "x"))...), "")
		}, want: "absolute path, `/etc/cron.d/x`"},
		{name: "dotdot in an ignored member", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles("lib/"), file("lib/../../x", "x"))...), "")
		}, want: "a path with '..', `lib/../../x`"},
		{name: "dotdot directory", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append([]entry{dir("../")}, pkgFiles("")...)...), "")
		}, want: "a path with '..'"},
		{name: "backslash in a name", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), file(`..\evil`, "x"))...), "")
		}, want: "backslash"},
		{name: "symlink", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), entry{name: "link", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"})...), "")
		}, want: "contains a link, `link`"},
		{name: "symlink as lib.asm", upload: func(t *testing.T) []byte {
			es := append(pkgFiles("")[1:], entry{name: "lib.asm", typeflag: tar.TypeSymlink, linkname: "/etc/passwd"})
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "contains a link, `lib.asm`"},
		{name: "hard link", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), entry{name: "copy.asm", typeflag: tar.TypeLink, linkname: "lib.asm"})...), "")
		}, want: "contains a link"},
		{name: "character device", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), entry{name: "tty", typeflag: tar.TypeChar})...), "")
		}, want: "device or named pipe, `tty`"},
		{name: "fifo", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), entry{name: "pipe", typeflag: tar.TypeFifo})...), "")
		}, want: "device or named pipe"},
		{name: "percent in a refused name is not echoed", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), entry{name: "%s%n", typeflag: tar.TypeSymlink, linkname: "x"})...), "")
		}, want: "contains a link, `?s?n`"},
		{name: "file nested two folders deep", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles("lib/"), file("lib/src/extra.asm", "x"))...), "")
		}, want: "`lib/src/extra.asm`, nested more than one folder deep"},
		{name: "directory nested two folders deep", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles("lib/"), dir("lib/src/"))...), "")
		}, want: "nested more than one folder deep"},
		{name: "package files in a subfolder", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, pkgFiles("a/b/")...), "")
		}, want: "nested more than one folder deep"},
		{name: "files spread across folders", upload: func(t *testing.T) []byte {
			es := pkgFiles("lib/")
			es[2].name = "docs/README.md"
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "must be in the same folder"},
		{name: "files split between root and folder", upload: func(t *testing.T) []byte {
			es := pkgFiles("lib/")
			es[0].name = "lib.asm"
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "must be in the same folder"},
		{name: "duplicate lib.asm", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), file("lib.asm", "; again\n"))...), "")
		}, want: "more than one lib.asm"},
		{name: "package.json in two folders", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles("a/"), file("b/package.json", validJSON))...), "")
		}, want: "more than one package.json"},
		{name: "missing README.md", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, pkgFiles("lib/")[:2]...), "")
		}, want: "The archive must contain lib.asm, package.json and README.md; missing: README.md."},
		{name: "readme in lower case", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[2].name = "readme.md"
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "missing: README.md."},

		// Refused: limits.
		{name: "too many members", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			for i := range 70 {
				es = append(es, file("f"+strings.Repeat("x", i), "x"))
			}
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "more than 64 files and folders", tooBig: true},
		{name: "ignored member over the size limit", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles(""), file("big.bin", big))...), "")
		}, want: "unpacks to more than 1 MiB", tooBig: true},
		{name: "lib.asm over the size limit", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{}, append(pkgFiles("")[1:], file("lib.asm", big))...), "")
		}, want: "unpacks to more than 1 MiB", tooBig: true},
		{name: "header claims a huge lib.asm", upload: func(t *testing.T) []byte {
			es := []entry{{name: "lib.asm", body: "x", size: 1 << 40}}
			return gz(t, makeTar(t, tarOpts{partial: true}, es...), "")
		}, want: "unpacks to more than 1 MiB", tooBig: true},
		{name: "padding after the archive over the limit", upload: func(t *testing.T) []byte {
			return gz(t, makeTar(t, tarOpts{trailer: make([]byte, 2<<20)}, pkgFiles("")...), "")
		}, want: "unpacks to more than 1 MiB", tooBig: true},

		// Refused: file contents.
		{name: "package.json over 16 KiB", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[1].body = validJSON[:len(validJSON)-1] + `, "pad": "` + strings.Repeat("p", 16<<10) + `"}`
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "package.json is larger than 16 KiB."},
		{name: "empty lib.asm", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[0].body = ""
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "lib.asm is empty."},
		{name: "NUL in lib.asm", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[0].body = "lda #0\x00\n"
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "lib.asm must be a text file"},
		{name: "README not UTF-8", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[2].body = "caf\xe9\n"
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "README.md must be UTF-8 text."},
		{name: "empty README", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[2].body = ""
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "README.md is empty."},
		{name: "package.json not JSON", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[1].body = "title = mypkg\n"
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "package.json is not valid JSON."},
		{name: "package.json missing fields", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[1].body = `{"title": "mypkg", "version": "1.0.0", "author": "alice", "license": "MIT"}`
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "Missing fields in package.json: `description`, `tags`."},
		{name: "package.json reserved title", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[1].body = strings.Replace(validJSON, `"mypkg"`, `"publish"`, 1)
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "The title `publish` is reserved"},
		{name: "package.json bad version", upload: func(t *testing.T) []byte {
			es := pkgFiles("")
			es[1].body = strings.Replace(validJSON, `"1.0.0"`, `"1.0"`, 1)
			return gz(t, makeTar(t, tarOpts{}, es...), "")
		}, want: "Invalid version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := archive.ReadUpload(bytes.NewReader(tt.upload(t)), archive.DefaultLimits)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ReadUpload() error = %v", err)
				}
				if !reflect.DeepEqual(up.Manifest, validManifest()) {
					t.Errorf("Manifest = %+v, want %+v", up.Manifest, validManifest())
				}
				if string(up.Readme) != readme || string(up.PackageJSON) != validJSON {
					t.Errorf("Readme = %q, PackageJSON = %q", up.Readme, up.PackageJSON)
				}
				if !strings.HasPrefix(string(up.LibAsm), ";") {
					t.Errorf("LibAsm = %q", up.LibAsm)
				}
				return
			}
			if up != nil {
				t.Errorf("ReadUpload() returned an upload with error %v", err)
			}
			checkUserError(t, err, tt.want)
			if got := errors.Is(err, archive.ErrTooBig); got != tt.tooBig {
				t.Errorf("errors.Is(err, ErrTooBig) = %v, want %v (err: %v)", got, tt.tooBig, err)
			}
		})
	}
}

func TestReadUploadLibAsmContent(t *testing.T) {
	up, err := archive.ReadUpload(bytes.NewReader(validTarGz(t)), archive.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if string(up.LibAsm) != libAsm {
		t.Errorf("LibAsm = %q, want %q", up.LibAsm, libAsm)
	}
}

func TestReadUploadCustomLimits(t *testing.T) {
	data := validTarGz(t) // 4 members, about 4 KiB unpacked
	if _, err := archive.ReadUpload(bytes.NewReader(data), archive.Limits{MaxMembers: 3}); !errors.Is(err, archive.ErrTooBig) {
		t.Errorf("MaxMembers 3: error = %v, want ErrTooBig", err)
	}
	_, err := archive.ReadUpload(bytes.NewReader(data), archive.Limits{MaxUnpacked: 2048})
	if !errors.Is(err, archive.ErrTooBig) {
		t.Errorf("MaxUnpacked 2048: error = %v, want ErrTooBig", err)
	}
	checkUserError(t, err, "unpacks to more than 2 KiB")
	if _, err := archive.ReadUpload(bytes.NewReader(data), archive.Limits{MaxUnpacked: 64 << 10, MaxMembers: 4}); err != nil {
		t.Errorf("within limits: %v", err)
	}
}

// countingReader counts the compressed bytes ReadUpload consumes.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// zeroBomb returns a single gzip stream of n zero bytes (n-1 a multiple of
// 258), written by hand because compressing 50 MiB with compress/gzip is
// slow under the race detector: one fixed-Huffman block holding a literal
// zero and then matches of length 258 at distance 1.
func zeroBomb(n int) []byte {
	var out []byte
	var acc uint64
	var nbits uint
	put := func(v uint64, n uint) { // n bits of v, least significant first
		acc |= v << nbits
		for nbits += n; nbits >= 8; nbits -= 8 {
			out = append(out, byte(acc))
			acc >>= 8
		}
	}
	putCode := func(code uint64, n uint) { // Huffman codes go most significant bit first
		var r uint64
		for i := uint(0); i < n; i++ {
			r = r<<1 | code>>i&1
		}
		put(r, n)
	}
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)
	put(1, 1)        // BFINAL
	put(1, 2)        // BTYPE fixed Huffman
	putCode(0x30, 8) // literal 0
	for range (n - 1) / 258 {
		putCode(0xc5, 8) // length code 285: 258 bytes
		putCode(0, 5)    // distance code 0: distance 1
	}
	putCode(0, 7) // end of block
	if nbits > 0 {
		out = append(out, byte(acc))
	}
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(make([]byte, n)))
	return binary.LittleEndian.AppendUint32(out, uint32(n))
}

func TestZeroBomb(t *testing.T) {
	n := 1 + 258*1000
	zr, err := gzip.NewReader(bytes.NewReader(zeroBomb(n)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n || bytes.Count(got, []byte{0}) != n {
		t.Fatalf("zeroBomb(%d) inflates to %d bytes, not all zero", n, len(got))
	}
}

func TestReadUploadGzipBomb(t *testing.T) {
	const size = 1 + 258*203200 // about 50 MiB
	single := zeroBomb(size)
	// A tar member that claims and holds 50 MiB, as 50 gzip members of
	// 1 MiB of zeros after one holding the headers.
	header := makeTar(t, tarOpts{partial: true}, append(pkgFiles(""), entry{name: "zeros.bin", size: 50 << 20})...)
	multi := gz(t, header, "")
	mib := gz(t, make([]byte, 1<<20), "")
	for range 50 {
		multi = append(multi, mib...)
	}
	bombs := map[string][]byte{
		// Zeros read as a tar end-of-archive, then the rest is drained.
		"raw zeros":   single,
		"huge member": multi,
	}
	for name, bomb := range bombs {
		t.Run(name, func(t *testing.T) {
			src := &countingReader{r: bytes.NewReader(bomb)}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := archive.ReadUpload(src, archive.DefaultLimits)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, archive.ErrTooBig) {
				t.Fatalf("error = %v, want ErrTooBig", err)
			}
			if src.n > len(bomb)/4 {
				t.Errorf("read %d of %d compressed bytes; want an early stop", src.n, len(bomb))
			}
			t.Logf("read %d compressed bytes, allocated %d", src.n, after.TotalAlloc-before.TotalAlloc)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("allocated %d bytes reading a bomb, want under 4 MiB", alloc)
			}
		})
	}
}

func TestReadUploadSourceError(t *testing.T) {
	boom := errors.New("connection reset")
	data := validTarGz(t)
	for _, cut := range []int{0, 1, 30, len(data) - 1} {
		r := io.MultiReader(bytes.NewReader(data[:cut]), iotest.ErrReader(boom))
		_, err := archive.ReadUpload(r, archive.DefaultLimits)
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: error = %v, want it to wrap the read error", cut, err)
		}
		var ae *archive.Error
		if errors.As(err, &ae) {
			t.Errorf("cut at %d: read error reported as a user error %q", cut, ae.Msg)
		}
	}
}

func TestReadUploadOneByteReads(t *testing.T) {
	up, err := archive.ReadUpload(iotest.OneByteReader(bytes.NewReader(validTarGz(t))), archive.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if up.Manifest.Title != "mypkg" {
		t.Errorf("title = %q", up.Manifest.Title)
	}
}

func FuzzReadUpload(f *testing.F) {
	f.Add(validTarGz(f))
	f.Add(makeTar(f, tarOpts{format: tar.FormatUSTAR}, pkgFiles("lib/")...))
	f.Add(gz(f, makeTar(f, tarOpts{format: tar.FormatGNU}, pkgFiles("")...), "x.tar"))
	f.Add(gz(f, makeTar(f, tarOpts{format: tar.FormatPAX}, append(pkgFiles("p/"), entry{name: "l", typeflag: tar.TypeSymlink, linkname: "x"})...), ""))
	f.Add(gz(f, makeTar(f, tarOpts{}, pkgFiles("a/")[:2]...), ""))
	f.Add(makeTar(f, tarOpts{}, pkgFiles("")...))
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	lim := archive.Limits{MaxUnpacked: 64 << 10, MaxMembers: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		// As sent, and gzipped so that the fuzzer reaches the tar layer too.
		checkFuzzUpload(t, data, lim)
		checkFuzzUpload(t, gz(t, data, ""), lim)
	})
}

func checkFuzzUpload(t *testing.T, data []byte, lim archive.Limits) {
	t.Helper()
	up, err := archive.ReadUpload(bytes.NewReader(data), lim)
	if err != nil {
		// Reading from memory cannot fail, so every error is the user's.
		checkUserError(t, err, "")
		return
	}
	if err := up.Manifest.Validate(); err != nil {
		t.Fatalf("accepted upload does not validate: %v", err)
	}
	if len(up.LibAsm) == 0 || len(up.Readme) == 0 || len(up.PackageJSON) == 0 {
		t.Fatalf("accepted upload with an empty file: %+v", up)
	}
	if n := len(up.LibAsm) + len(up.Readme) + len(up.PackageJSON); int64(n) > lim.MaxUnpacked {
		t.Fatalf("accepted %d bytes of files over the limit", n)
	}
}
