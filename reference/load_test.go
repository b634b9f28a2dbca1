package reference_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/nessemble/nessemble-registry/reference"
)

// writeTree creates the files (path -> content) under a new temporary
// folder and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// wantRefused checks that err is a *FileError naming file, and that its
// message names the file and holds no '%'.
func wantRefused(t *testing.T, err error, file string) {
	t.Helper()
	var fe *reference.FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want a *FileError for %q", err, file)
	}
	if fe.File != file {
		t.Errorf("refused file %q (%v), want %q", fe.File, err, file)
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("message %q does not name %q", err, file)
	}
	if strings.Contains(err.Error(), "%") {
		t.Errorf("message %q contains a percent sign", err)
	}
}

func TestLoadDir(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"cpu/LDA.txt":            "load A\n",
		"cpu/flags/Carry.txt":    "\xef\xbb\xbfcarry\r\nflag",
		"cpu/README.md":          "notes for contributors",
		"cpu/.DS_Store":          "\x00\x01",
		".git/config":            "[core]",
		"video/PPUCTRL.txt":      "  bits  \n",
		"video/tiles/8x8.v1.txt": "tile",
	})
	got, err := reference.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []reference.Entry{
		{Path: "cpu/LDA", Text: "load A\n"},
		{Path: "cpu/flags/Carry", Text: "carry\nflag\n"},
		{Path: "video/PPUCTRL", Text: "  bits  \n"},
		{Path: "video/tiles/8x8.v1", Text: "tile\n"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadDir = %q\nwant %q", got, want)
	}
}

func TestLoadDirRefuses(t *testing.T) {
	big := strings.Repeat("a", reference.MaxFileSize+1)
	tests := []struct {
		name  string
		files map[string]string
		file  string // the file the error must name
	}{
		{"empty", map[string]string{"a/ok.txt": "x", "a/EMPTY.txt": ""}, "a/EMPTY.txt"},
		{"blank", map[string]string{"a/BLANK.txt": " \n\t\n"}, "a/BLANK.txt"},
		{"bad utf8", map[string]string{"a/BAD.txt": "caf\xe9\n"}, "a/BAD.txt"},
		{"nul", map[string]string{"a/NUL.txt": "a\x00b\n"}, "a/NUL.txt"},
		{"escape", map[string]string{"a/ESC.txt": "\x1b[2Jcleared\n"}, "a/ESC.txt"},
		{"oversize", map[string]string{"a/BIG.txt": big}, "a/BIG.txt"},
		{"space in name", map[string]string{"a/two words.txt": "x"}, "a/two words.txt"},
		{"percent in name", map[string]string{"a/100%.txt": "x"}, "a/100?.txt"},
		{"not txt", map[string]string{"a/logo.png": "png"}, "a/logo.png"},
		{"top-level term", map[string]string{"intro.txt": "hello"}, "intro.txt"},
		{"too deep", map[string]string{"a/b/c/d/e.txt": "x"}, "a/b/c/d"},
		{"case clash", map[string]string{"a/PPUCTRL.txt": "x", "a/ppuctrl.txt": "y"}, "a/ppuctrl.txt"},
		{"folder clash", map[string]string{"a/B/c.txt": "x", "a/b/d.txt": "y"}, "a/b/d.txt"},
		{"term and folder", map[string]string{"a/b.txt": "x", "a/b/c.txt": "y"}, "a/b.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reference.LoadDir(writeTree(t, tt.files))
			wantRefused(t, err, tt.file)
		})
	}
}

func TestLoadDirRefusesSymlinks(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.txt": "top secret\n", "cat/x.txt": "x"})
	for _, tt := range []struct{ name, link, target string }{
		{"file", "a/LINK.txt", filepath.Join(outside, "secret.txt")},
		{"relative file", "a/REL.txt", "../../" + filepath.Base(outside) + "/secret.txt"},
		{"folder", "evil", filepath.Join(outside, "cat")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"a/ok.txt": "ok"})
			if err := os.Symlink(tt.target, filepath.Join(dir, filepath.FromSlash(tt.link))); err != nil {
				t.Fatal(err)
			}
			_, err := reference.LoadDir(dir)
			wantRefused(t, err, tt.link)
		})
	}
}

func TestLoadRefusesEmptyTree(t *testing.T) {
	_, err := reference.LoadDir(writeTree(t, map[string]string{"a/README.md": "only notes"}))
	var fe *reference.FileError
	if !errors.As(err, &fe) || fe.File != "" {
		t.Fatalf("error = %v, want a *FileError about the whole tree", err)
	}
}

func TestLoadLimits(t *testing.T) {
	t.Run("total size", func(t *testing.T) {
		fsys := fstest.MapFS{}
		chunk := []byte(strings.Repeat("x", reference.MaxFileSize))
		n := reference.MaxTotalSize/reference.MaxFileSize + 1
		for i := range n {
			fsys[filepathName(i)] = &fstest.MapFile{Data: chunk}
		}
		_, err := reference.Load(fsys)
		wantRefused(t, err, filepathName(n-1))
	})
	t.Run("file count", func(t *testing.T) {
		fsys := fstest.MapFS{}
		for i := range reference.MaxFiles + 1 {
			fsys[filepathName(i)] = &fstest.MapFile{Data: []byte("x")}
		}
		_, err := reference.Load(fsys)
		wantRefused(t, err, filepathName(reference.MaxFiles))
	})
}

// filepathName returns distinct term file names that sort in creation
// order.
func filepathName(i int) string {
	return fmt.Sprintf("c/%05d.txt", i)
}

// member is one entry of a test archive.
type member struct {
	name     string
	typeflag byte
	body     string
	link     string
}

func tarGz(t testing.TB, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, m := range members {
		hdr := &tar.Header{Name: m.name, Typeflag: m.typeflag, Mode: 0o644, Size: int64(len(m.body)), Linkname: m.link}
		if m.typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if m.typeflag == tar.TypeXGlobalHeader {
			// As written by git archive.
			hdr = &tar.Header{Typeflag: m.typeflag, Name: m.name, PAXRecords: map[string]string{"comment": "0123abcd"}}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tarOfFS archives every file of fsys under prefix.
func tarOfFS(t testing.TB, fsys fs.FS, prefix string) []byte {
	t.Helper()
	var members []member
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if d.IsDir() {
			members = append(members, member{name: prefix + p + "/", typeflag: tar.TypeDir})
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		members = append(members, member{name: prefix + p, typeflag: tar.TypeReg, body: string(b)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tarGz(t, members)
}

// TestLoadTarGzRoundTrip writes the shipped dataset to a folder, archives
// the folder in the usual ways and checks that every form loads to the
// same entries.
func TestLoadTarGzRoundTrip(t *testing.T) {
	want, err := reference.Load(reference.Default())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range want {
		files[e.Path+".txt"] = e.Text
	}
	dir := writeTree(t, files)
	fromDir, err := reference.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromDir, want) {
		t.Fatal("LoadDir of the written dataset differs from Load(Default())")
	}
	for _, prefix := range []string{"", "./", "reference/", "./reference/"} {
		t.Run("prefix "+prefix, func(t *testing.T) {
			got, err := reference.LoadTarGz(bytes.NewReader(tarOfFS(t, os.DirFS(dir), prefix)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, fromDir) {
				t.Errorf("LoadTarGz differs from LoadDir: %d vs %d entries", len(got), len(fromDir))
			}
		})
	}

	// LoadPath picks the right loader for a folder and an archive.
	archive := filepath.Join(t.TempDir(), "ref.tar.gz")
	if err := os.WriteFile(archive, tarOfFS(t, os.DirFS(dir), "reference/"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, archive} {
		got, err := reference.LoadPath(p)
		if err != nil {
			t.Fatalf("LoadPath(%s): %v", p, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LoadPath(%s) differs from Load(Default())", p)
		}
	}
}

func TestLoadTarGzKeepsSingleCategory(t *testing.T) {
	// A tree with one category at the root is not mistaken for a wrapper.
	got, err := reference.LoadTarGz(bytes.NewReader(tarGz(t, []member{
		{name: "lesson/ONE.txt", typeflag: tar.TypeReg, body: "one"},
		{name: "lesson/TWO.txt", typeflag: tar.TypeReg, body: "two"},
		{name: "pax_global_header", typeflag: tar.TypeXGlobalHeader},
	})))
	if err != nil {
		t.Fatal(err)
	}
	want := []reference.Entry{{Path: "lesson/ONE", Text: "one\n"}, {Path: "lesson/TWO", Text: "two\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Nor is one category with subfolders, archived from inside the tree
	// (tar -C tree .), which LoadDir reads as mappers/...
	got, err = reference.LoadTarGz(bytes.NewReader(tarGz(t, []member{
		{name: "./", typeflag: tar.TypeDir},
		{name: "./mappers/nrom/ONE.txt", typeflag: tar.TypeReg, body: "one"},
		{name: "./mappers/mmc1/TWO.txt", typeflag: tar.TypeReg, body: "two"},
	})))
	if err != nil {
		t.Fatal(err)
	}
	want = []reference.Entry{{Path: "mappers/mmc1/TWO", Text: "two\n"}, {Path: "mappers/nrom/ONE", Text: "one\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nested single category: got %q, want %q", got, want)
	}
}

func TestLoadTarGzRefuses(t *testing.T) {
	ok := member{name: "ref/a/OK.txt", typeflag: tar.TypeReg, body: "fine"}
	tests := []struct {
		name    string
		members []member
		file    string
	}{
		{"dot dot", []member{ok, {name: "ref/../../etc/x.txt", typeflag: tar.TypeReg, body: "x"}}, "ref/../../etc/x.txt"},
		{"dot dot at end", []member{{name: "a/..", typeflag: tar.TypeDir}}, "a/.."},
		{"absolute", []member{{name: "/etc/a/x.txt", typeflag: tar.TypeReg, body: "x"}}, "/etc/a/x.txt"},
		{"backslash", []member{{name: `a\..\x.txt`, typeflag: tar.TypeReg, body: "x"}}, `a\..\x.txt`},
		{"symlink", []member{ok, {name: "ref/a/LINK.txt", typeflag: tar.TypeSymlink, link: "/etc/passwd"}}, "ref/a/LINK.txt"},
		{"hard link", []member{ok, {name: "ref/a/HARD.txt", typeflag: tar.TypeLink, link: "ref/a/OK.txt"}}, "ref/a/HARD.txt"},
		{"device", []member{{name: "a/dev.txt", typeflag: tar.TypeChar}}, "a/dev.txt"},
		{"fifo", []member{{name: "a/pipe.txt", typeflag: tar.TypeFifo}}, "a/pipe.txt"},
		{"empty", []member{ok, {name: "ref/a/EMPTY.txt", typeflag: tar.TypeReg}}, "ref/a/EMPTY.txt"},
		{"bad utf8", []member{{name: "a/BAD.txt", typeflag: tar.TypeReg, body: "\xff\xfe"}}, "a/BAD.txt"},
		{"oversize", []member{{name: "a/BIG.txt", typeflag: tar.TypeReg, body: strings.Repeat("a", reference.MaxFileSize+1)}}, "a/BIG.txt"},
		{"not txt", []member{{name: "a/run.sh", typeflag: tar.TypeReg, body: "#!/bin/sh"}}, "a/run.sh"},
		{"duplicate", []member{ok, {name: "./ref/a/ok.txt", typeflag: tar.TypeReg, body: "again"}}, "./ref/a/ok.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := reference.LoadTarGz(bytes.NewReader(tarGz(t, tt.members)))
			wantRefused(t, err, tt.file)
		})
	}
}

func TestLoadTarGzBadArchives(t *testing.T) {
	good := tarGz(t, []member{{name: "a/OK.txt", typeflag: tar.TypeReg, body: strings.Repeat("text ", 400)}})
	// bomb.tar.gz (17 KiB) holds a hidden member of 17 MiB of zeros, then
	// a valid term. The hidden member is skipped, but its bytes still count
	// against the size limit, so an archive cannot inflate without bound.
	bomb, err := os.ReadFile("testdata/bomb.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"not gzip":  []byte("PK\x03\x04 this is a zip"),
		"truncated": good[:len(good)/2],
		"bomb":      bomb,
		"empty":     tarGz(t, nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := reference.LoadTarGz(bytes.NewReader(b))
			var fe *reference.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want a *FileError", err)
			}
			if strings.Contains(err.Error(), "%") {
				t.Errorf("message %q contains a percent sign", err)
			}
		})
	}
}

func FuzzLoadTarGz(f *testing.F) {
	f.Add(tarGz(f, []member{
		{name: "ref/", typeflag: tar.TypeDir},
		{name: "ref/cpu/LDA.txt", typeflag: tar.TypeReg, body: "load A\n"},
		{name: "ref/cpu/sub/STA.txt", typeflag: tar.TypeReg, body: "store A\n"},
	}))
	f.Add(tarGz(f, []member{
		{name: "a/OK.txt", typeflag: tar.TypeReg, body: "ok"},
		{name: "a/LINK.txt", typeflag: tar.TypeSymlink, link: "../x"},
		{name: "../b.txt", typeflag: tar.TypeReg, body: "x"},
	}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := reference.LoadTarGz(bytes.NewReader(b))
		if err != nil {
			var fe *reference.FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FileError", err)
			}
			if strings.Contains(err.Error(), "%") {
				t.Fatalf("message %q contains a percent sign", err)
			}
			return
		}
		if len(entries) == 0 {
			t.Fatal("no error and no entries")
		}
		for _, e := range entries {
			if strings.Count(e.Path, "/") < 1 || strings.Contains(e.Path, "..") || strings.HasPrefix(e.Path, "/") {
				t.Fatalf("unsafe path %q", e.Path)
			}
			if strings.TrimSpace(e.Text) == "" || !strings.HasSuffix(e.Text, "\n") {
				t.Fatalf("bad text for %q", e.Path)
			}
		}
		// Whatever loads must render.
		tree := reference.NewTree(entries)
		if _, ok := tree.Lookup(strings.Split(entries[0].Path, "/")); !ok {
			t.Fatalf("Lookup(%q) failed", entries[0].Path)
		}
	})
}
