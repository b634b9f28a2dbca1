package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/store"
)

// writeTree creates files (path -> text) under a new temp folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, text := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func storedReference(t *testing.T, data string) map[string]string {
	t.Helper()
	db, err := store.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, err := db.Reference(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string)
	for _, e := range es {
		m[e.Path] = e.Text
	}
	return m
}

func importRef(t *testing.T, data string, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCmd(t, "", append([]string{"import-reference", "--data", data}, args...)...)
	return out, err
}

// The reference trees of these tests are in testdata/reference/, and
// what import-reference prints is compared with golden files in
// testdata/import-reference/.

func TestImportReference(t *testing.T) {
	data := t.TempDir()
	out, err := importRef(t, data, filepath.Join("testdata", "reference", "first"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "import-reference/first.golden", out)
	want := map[string]string{"songs/ode": "Ode to joy\n", "songs/anthem": "An anthem\n", "tools/famitone": "A sound engine\n"}
	if got := storedReference(t, data); !equalMaps(got, want) {
		t.Fatalf("stored %v", got)
	}

	second := filepath.Join("testdata", "reference", "second")
	out, err = importRef(t, data, "--dry-run", second)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "import-reference/second-dry-run.golden", out)
	if got := storedReference(t, data); !equalMaps(got, want) {
		t.Fatalf("dry run changed the reference: %v", got)
	}

	// The same tree as a tar.gz of one folder replaces the reference whole.
	if _, err := importRef(t, data, tarGzOf(t, second, "ref")); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"songs/ode": "Ode to joy, corrected\n", "songs/march": "A march\n"}
	if got := storedReference(t, data); !equalMaps(got, want) {
		t.Errorf("after tar.gz import: %v", got)
	}
}

func TestImportReferenceRefusesHostileTrees(t *testing.T) {
	data := t.TempDir()
	if _, err := importRef(t, data, filepath.Join("testdata", "reference", "first")); err != nil {
		t.Fatal(err)
	}
	before := storedReference(t, data)

	link := writeTree(t, map[string]string{"songs/ode.txt": "x\n"})
	if err := os.Symlink("/etc/passwd", filepath.Join(link, "songs", "passwd.txt")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		path, file string
	}{
		"empty file": {filepath.Join("testdata", "reference", "empty-file"), "empty.txt"},
		"not UTF-8":  {filepath.Join("testdata", "reference", "not-utf8"), "bad.txt"},
		"too large":  {writeTree(t, map[string]string{"songs/big.txt": strings.Repeat("a", 65<<10)}), "big.txt"},
		"symlink":    {link, "passwd.txt"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := importRef(t, data, tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.file) {
				t.Errorf("import of %s: %v (want an error naming %s)", name, err, tc.file)
			}
			if got := storedReference(t, data); !equalMaps(got, before) {
				t.Errorf("refused import changed the reference: %v", got)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// tarGzOf packs the folder dir as top/... into a .tar.gz file.
func tarGzOf(t *testing.T, dir, top string) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: top + "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	gz.Close()
	out := filepath.Join(t.TempDir(), "ref.tar.gz")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
