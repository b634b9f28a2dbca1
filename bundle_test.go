//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bundleMembers lists a bundle's member names, and decodes its header.
func bundleMembers(t *testing.T, file string) (names []string, header map[string]any) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, header
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Name == "nessemble-bundle.json" {
			b, _ := io.ReadAll(tr)
			if err := json.Unmarshal(b, &header); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var nextSince = regexp.MustCompile(`next time: export --since (\d+)`)

// TestExportImport: export writes a bundle of every version and the
// reference; import into an empty folder gives the same answers, and
// the real client installs from it; importing it again changes nothing;
// an incremental bundle (--since) carries only what is new.
func TestExportImport(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	keys := []string{"joypad@1.0.0", "joypad@1.1.0", "sprites@0.1.0", "sound@2.0.0"}
	seedVersions(t, src, keys...)
	tree := writeTree(t, map[string]string{"lessons/SPRITES.txt": "Sprites live in OAM.\n"})
	if _, err := registryCmd(t, "", "import-reference", tree, "--data", src); err != nil {
		t.Fatal(err)
	}
	stick := t.TempDir()
	full := filepath.Join(stick, "class.bundle")
	out, _, err := runCmd(t, "", "export", full, "--data", src)
	if err != nil || !strings.Contains(out, "exported 4 versions (") || !strings.Contains(out, " and the reference to "+full) {
		t.Fatalf("export: %v\n%s", err, out)
	}
	m := nextSince.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("export names no serial:\n%s", out)
	}
	if entries, _ := os.ReadDir(stick); len(entries) != 1 {
		t.Errorf("the stick holds %v, want the bundle alone", entries)
	}
	names, hdr := bundleMembers(t, full)
	want := []string{"nessemble-bundle.json"}
	for _, k := range keys {
		title, version, _ := strings.Cut(k, "@")
		dir := "packages/" + title + "/" + version + "/"
		want = append(want, dir+"version.json", dir+title+"-"+version+".tar.gz")
	}
	want = append(want, "reference/lessons/SPRITES.txt")
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("members:\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if hdr["format"] != "nessemble-registry-bundle" || hdr["format_version"] != 1.0 || hdr["versions"] != 4.0 ||
		hdr["since"] != 0.0 || hdr["reference"] != true || hdr["serial"] != mustFloat(t, m[1]) {
		t.Errorf("header %v", hdr)
	}

	out, _, err = runCmd(t, "", "import", full, "--data", dst)
	if err != nil || !strings.Contains(out, ": 3 new packages, 4 new versions, 0 present") || !strings.Contains(out, "reference documentation replaced") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	a := startRegistry(t, src)
	b := startRegistry(t, dst, "--read-only")
	titles := []string{"joypad", "sound", "sprites"}
	sameAnswers(t, a.url(), b.url(), titles, "lessons", "lessons/SPRITES")
	for _, k := range keys {
		installMatches(t, b.client(), k)
	}

	// The same bundle again changes nothing.
	before := storedVersions(t, dst, titles)
	out, _, err = runCmd(t, "", "import", full, "--data", dst)
	if err != nil || !strings.Contains(out, ": 0 new packages, 0 new versions, 4 present") || strings.Contains(out, "reference documentation replaced") {
		t.Fatalf("import again: %v\n%s", err, out)
	}
	if after := storedVersions(t, dst, titles); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("the second import changed %v to %v", before, after)
	}

	// An incremental bundle.
	seedVersions(t, src, "joypad@1.2.0", "music@0.1.0")
	inc := filepath.Join(stick, "week2.bundle")
	out, _, err = runCmd(t, "", "export", inc, "--data", src, "--since", m[1])
	if err != nil || !strings.Contains(out, "exported 2 versions (") || strings.Contains(out, "reference") {
		t.Fatalf("export --since: %v\n%s", err, out)
	}
	if names, _ := bundleMembers(t, inc); len(names) != 5 {
		t.Errorf("incremental bundle holds %v", names)
	}
	out, _, err = runCmd(t, "", "import", inc, "--data", dst)
	if err != nil || !strings.Contains(out, ": 1 new packages, 2 new versions, 0 present") {
		t.Fatalf("import the incremental bundle: %v\n%s", err, out)
	}
	installMatches(t, b.client(), "joypad@1.2.0")
	installMatches(t, b.client(), "music@0.1.0")

	// A yank after the last bundle travels in the next one.
	m = nextSince.FindStringSubmatch(out2(t, "export", inc, "--data", src, "--since", m[1]))
	if _, err := registryCmd(t, "", "yank", "joypad", "1.2.0", "--data", src); err != nil {
		t.Fatal(err)
	}
	yanks := filepath.Join(stick, "week3.bundle")
	if out := out2(t, "export", yanks, "--data", src, "--since", m[1]); !strings.Contains(out, "exported 1 versions (") {
		t.Fatalf("export after a yank:\n%s", out)
	}
	if out := out2(t, "import", yanks, "--data", dst); !strings.Contains(out, ": 0 new packages, 0 new versions, 1 present") {
		t.Fatalf("import of the yank:\n%s", out)
	}
	// Both servers follow their folder's change log every 250 ms: wait
	// for each to serve the yank before comparing them.
	for _, srv := range []string{a.url(), b.url()} {
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			// 1.1.0 newest, and 1.2.0 listed: the import of 1.2.0 and its
			// yank are both seen (1.1.0 was the newest before either).
			// Documents are read from the database, the list from an index
			// that follows the log: wait for music in the list too.
			_, _, doc := getURL(t, srv+"/package/joypad", "")
			_, _, list := getURL(t, srv+"/?per_page=100", "")
			if bytes.Contains(doc, []byte(`"version":"1.1.0"`)) && bytes.Contains(doc, []byte(`"1.2.0":`)) &&
				bytes.Contains(list, []byte(`"title":"music"`)) {
				break
			}
			if time.Since(start) > 2*time.Second {
				t.Fatal("the yank is not served by " + srv)
			}
		}
	}
	sameAnswers(t, a.url(), b.url(), append(titles, "music"))

	// A removal after the last bundle travels in the next one, and the
	// imported registry answers 410 for that version too.
	m = nextSince.FindStringSubmatch(out2(t, "export", yanks, "--data", src, "--since", m[1]))
	if _, err := registryCmd(t, "", "remove", "sprites@0.1.0", "--reason", "Malware", "--data", src); err != nil {
		t.Fatal(err)
	}
	removals := filepath.Join(stick, "week4.bundle")
	if out := out2(t, "export", removals, "--data", src, "--since", m[1]); !strings.Contains(out, "exported 0 versions (") ||
		!strings.Contains(out, "the bundle carries 1 removals") {
		t.Fatalf("export after a removal:\n%s", out)
	}
	if out := out2(t, "import", removals, "--data", dst); !strings.Contains(out, "applied 1 yanks, unyanks and removals") {
		t.Fatalf("import of the removal:\n%s", out)
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		status, _, _ := getURL(t, b.url()+"/package/sprites/0.1.0/data", "")
		if status == 410 {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the removed version on the imported registry answers %d, not 410", status)
		}
	}
	if out := out2(t, "import", removals, "--data", dst); strings.Contains(out, "applied") {
		t.Errorf("importing the removal again changed something:\n%s", out)
	}
	if out, err := registryCmd(t, "", "check", "--data", dst); err != nil || out != "ok\n" {
		t.Errorf("check: %q %v", out, err)
	}
}

// out2 runs a command that must succeed and returns what it printed.
func out2(t *testing.T, args ...string) string {
	t.Helper()
	out, _, err := runCmd(t, "", args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

func mustFloat(t *testing.T, s string) float64 {
	var f float64
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestImportRefusesTamperedBundles: a tarball changed on the stick is
// skipped with the reason and a non-zero exit, the rest is imported; a
// file that is not a bundle is refused and nothing is stored.
func TestImportRefusesTamperedBundles(t *testing.T) {
	t.Parallel()
	src, dst := t.TempDir(), t.TempDir()
	seedVersions(t, src, "joypad@1.0.0", "sound@2.0.0")
	full := filepath.Join(t.TempDir(), "class.bundle")
	if _, _, err := runCmd(t, "", "export", full, "--data", src); err != nil {
		t.Fatal(err)
	}
	// Flip a byte inside joypad's tarball, as a failing stick would.
	raw, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	var tampered bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(raw)), tar.NewWriter(&tampered)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if strings.HasPrefix(h.Name, "packages/joypad/") && strings.HasSuffix(h.Name, ".tar.gz") {
			body[len(body)/2] ^= 0xff
		}
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	bad := filepath.Join(t.TempDir(), "bad.bundle")
	if err := os.WriteFile(bad, tampered.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, "", "import", bad, "--data", dst)
	if err == nil || err.Error() != "1 skipped" || !strings.Contains(out, "skipped: joypad 1.0.0: tarball SHA-1 ") ||
		!strings.Contains(out, ": 1 new packages, 1 new versions, 0 present") {
		t.Errorf("import of a tampered bundle: %v\n%s", err, out)
	}
	if got := storedVersions(t, dst, []string{"joypad", "sound"}); strings.Join(got, " ") != "sound@2.0.0" {
		t.Errorf("stored %v", got)
	}

	notBundle := filepath.Join(t.TempDir(), "notes.tar")
	var nb bytes.Buffer
	w := tar.NewWriter(&nb)
	w.WriteHeader(&tar.Header{Name: "notes.txt", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	w.Write([]byte("hi"))
	w.Close()
	os.WriteFile(notBundle, nb.Bytes(), 0o644)
	empty := t.TempDir()
	for _, f := range []string{notBundle, full + ".missing"} {
		if _, _, err := runCmd(t, "", "import", f, "--data", empty); err == nil {
			t.Errorf("import %s: no error", f)
		}
	}
	if _, _, err := runCmd(t, "", "import", notBundle, "--data", empty); err == nil || !strings.Contains(err.Error(), `not a bundle: its first member is "notes.txt"`) {
		t.Errorf("import of a tar that is no bundle: %v", err)
	}
	if got := storedVersions(t, empty, []string{"joypad", "sound"}); len(got) != 0 {
		t.Errorf("stored %v", got)
	}
	if out, err := registryCmd(t, "", "check", "--data", dst); err != nil || out != "ok\n" {
		t.Errorf("check: %q %v", out, err)
	}
}
