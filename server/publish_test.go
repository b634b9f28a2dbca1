package server_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/auth"
	"github.com/nessemble/nessemble-registry/internal/nesclient"
	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/server"
	"github.com/nessemble/nessemble-registry/store"
)

// --- building uploads, the way users pack them ---------------------------

// member is one tar member of an upload built by a test.
type member struct {
	name string
	body string
	typ  byte // tar.TypeReg when zero
	link string
}

// tgzOptions shape the tar and gzip layers of an upload.
type tgzOptions struct {
	format tar.Format // FormatUnknown lets archive/tar choose
	gzName string     // file name in the gzip header; "" for none
}

// buildTgz packs members into a gzip-compressed tarball.
func buildTgz(t testing.TB, o tgzOptions, members ...member) []byte {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	mtime := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, m := range members {
		h := &tar.Header{Name: m.name, Typeflag: m.typ, Linkname: m.link, Mode: 0o644,
			ModTime: mtime, Format: o.format}
		switch m.typ {
		case 0:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(m.body))
		case tar.TypeDir:
			h.Mode = 0o755
		case tar.TypeChar, tar.TypeBlock:
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", m.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, m.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gzipBytes(t, tarBuf.Bytes(), o.gzName)
}

func gzipBytes(t testing.TB, data []byte, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = name
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func manifestJSON(title, version, author string) string {
	return `{"title": "` + title + `", "description": "The ` + title + ` package", "version": "` + version +
		`", "author": "` + author + `", "license": "MIT", "tags": ["nes", "test"]}`
}

func libAsmOf(title, version string) string {
	return "; " + title + " " + version + "\n" + strings.ReplaceAll(title, "-", "_") + "_init:\n    lda #$00\n    rts\n"
}

func readmeOf(title, version string) string {
	return "# " + title + "\n\nVersion " + version + " & more.\n"
}

// pkgFiles are the three files of a package under dir ("" or "name/").
func pkgFiles(dir, title, version, author string) []member {
	return []member{
		{name: dir + "lib.asm", body: libAsmOf(title, version)},
		{name: dir + "package.json", body: manifestJSON(title, version, author)},
		{name: dir + "README.md", body: readmeOf(title, version)},
	}
}

// pkgTgz is a package in a folder lib/, gzip without a file name: an
// upload the nessemble client itself can read the title from before
// sending it. It has no directory entry: the client skips
// ((size/512)+1)*512 bytes after every member, so after a size-0 entry it
// would miss the next header (TestPublishLayouts covers such uploads).
func pkgTgz(t testing.TB, title, version, author string) []byte {
	t.Helper()
	return buildTgz(t, tgzOptions{}, pkgFiles("lib/", title, version, author)...)
}

// --- accounts and requests ---------------------------------------------

const testPassword = "correct horse battery"

// testHash is one argon2id hash of testPassword shared by the accounts
// tests create directly: hashing is slow, above all under -race.
var testHash = sync.OnceValues(func() (string, error) { return auth.HashPassword(testPassword) })

// newAccount stores a user (password testPassword) and a live login token
// for it, without going through the slow password checks of /user/login.
func (e *env) newAccount(username string) (token string) {
	e.t.Helper()
	hash, err := testHash()
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	u, err := e.db.CreateUser(ctx, registry.User{Username: username, Email: username + "@example.com",
		Name: "User " + username, PasswordHash: hash})
	if err != nil {
		e.t.Fatal(err)
	}
	if token, err = auth.NewToken(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.AddToken(ctx, u.ID, token, time.Hour); err != nil {
		e.t.Fatal(err)
	}
	return token
}

// sendPackage publishes tarball with method, signed as the client signs.
func (e *env) sendPackage(method, user, token string, tarball []byte) resp {
	e.t.Helper()
	return e.send(method, "/package/publish", map[string]string{
		"Content-Type":  "application/tar+gzip",
		"Authorization": auth.HMACHeader(user, token, method, "/package/publish"),
	}, tarball, false)
}

// mustPublish publishes and requires 201.
func (e *env) mustPublish(method, user, token string, tarball []byte) resp {
	e.t.Helper()
	r := e.sendPackage(method, user, token, tarball)
	if r.status != http.StatusCreated {
		e.t.Fatalf("%s publish: %d %s", method, r.status, r.body)
	}
	return r
}

// --- stored state ------------------------------------------------------

// snapshot describes everything a refused request must leave as it was:
// counts, the package list, every version's document and tarball hash, and
// the files under the data folder's tarballs/ and tmp/.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	pkgs, users, err := e.db.Counts(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&b, "packages=%d users=%d\nlist=%s\n", pkgs, users, e.get("/?per_page=100").body)
	list, _, err := e.db.ListPackages(ctx, registry.ListOptions{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range list {
		fmt.Fprintf(&b, "owner %s=%s\n", p.Title, p.Owner)
		rels, err := e.db.Releases(ctx, p.Title)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, rel := range rels {
			fmt.Fprintf(&b, "%s@%s %s\n", p.Title, rel.Version, e.get("/package/"+p.Title+"/"+rel.Version).body)
		}
	}
	if _, ok := e.db.(*store.DB); !ok {
		// No folder to list: what check finds (a blob no version names,
		// one missing) stands for it.
		probs, err := e.db.Check(ctx, false)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, p := range probs {
			fmt.Fprintf(&b, "problem %s: %s\n", p.Path, p.What)
		}
		return b.String()
	}
	for _, f := range e.dataFiles("tarballs", "tmp") {
		b.WriteString(f + "\n")
	}
	return b.String()
}

// dataFiles lists the regular files under the named folders of the data
// folder, with their sizes, sorted.
func (e *env) dataFiles(dirs ...string) []string {
	e.t.Helper()
	var out []string
	for _, d := range dirs {
		root := filepath.Join(e.dataDir(), d)
		err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			info, err := de.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(e.dataDir(), path)
			out = append(out, fmt.Sprintf("%s %d", filepath.ToSlash(rel), info.Size()))
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

// checkFilesMatchVersions requires that tmp/ is empty and that the files
// under tarballs/ are exactly the tarballs of the stored versions; on
// another backend, that check finds no blob missing, damaged or named by
// no version.
func (e *env) checkFilesMatchVersions() {
	e.t.Helper()
	ctx := context.Background()
	if _, ok := e.db.(*store.DB); !ok {
		if probs, err := e.db.Check(ctx, false); err != nil || len(probs) > 0 {
			e.t.Errorf("check: %+v %v", probs, err)
		}
		return
	}
	if tmp := e.dataFiles("tmp"); len(tmp) > 0 {
		e.t.Errorf("stray files in tmp/: %v", tmp)
	}
	want := map[string]bool{}
	list, _, err := e.db.ListPackages(ctx, registry.ListOptions{Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range list {
		rels, err := e.db.Releases(ctx, p.Title)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, rel := range rels {
			v, err := e.db.Version(ctx, p.Title, rel.Version)
			if err != nil {
				e.t.Fatal(err)
			}
			want[v.Shasum] = true
		}
	}
	got := map[string]bool{}
	for _, f := range e.dataFiles("tarballs") {
		name, _, _ := strings.Cut(f, " ")
		sum := strings.TrimSuffix(filepath.Base(name), ".tar.gz")
		got[sum] = true
		if !want[sum] {
			e.t.Errorf("tarball file %s belongs to no version", name)
		}
	}
	for sum := range want {
		if !got[sum] {
			e.t.Errorf("version tarball %s is missing from the data folder", sum)
		}
	}
}

// --- tests -------------------------------------------------------------

// TestPublishLayouts publishes the tarballs users really make and installs
// each through the client's reading rules.
func TestPublishLayouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	token := e.newAccount("alice")
	client := &nesclient.Client{Registry: e.ts.URL}
	longDir := strings.Repeat("long-folder-name-", 6) + "/" // over tar's 100-byte name field

	for _, tc := range []struct {
		title   string
		opts    tgzOptions
		members func(title string) []member
	}{
		{"root", tgzOptions{}, func(title string) []member { return pkgFiles("", title, "1.0.0", "alice") }},
		{"folder-no-dir-entry", tgzOptions{}, func(title string) []member { return pkgFiles("lib/", title, "1.0.0", "alice") }},
		{"folder-with-dir-entry", tgzOptions{}, func(title string) []member {
			return append([]member{{name: "lib/", typ: tar.TypeDir}}, pkgFiles("lib/", title, "1.0.0", "alice")...)
		}},
		{"dot-slash", tgzOptions{}, func(title string) []member {
			return append([]member{{name: "./", typ: tar.TypeDir}, {name: "./lib/", typ: tar.TypeDir}},
				pkgFiles("./lib/", title, "1.0.0", "alice")...)
		}},
		{"gnu", tgzOptions{format: tar.FormatGNU}, func(title string) []member {
			return append([]member{{name: "pkg/", typ: tar.TypeDir}}, pkgFiles("pkg/", title, "1.0.0", "alice")...)
		}},
		{"gnu-long-names", tgzOptions{format: tar.FormatGNU}, func(title string) []member {
			return append([]member{{name: longDir, typ: tar.TypeDir}}, pkgFiles(longDir, title, "1.0.0", "alice")...)
		}},
		{"pax", tgzOptions{format: tar.FormatPAX}, func(title string) []member {
			return append([]member{{name: "pkg/", typ: tar.TypeDir}}, pkgFiles("pkg/", title, "1.0.0", "alice")...)
		}},
		{"pax-long-names", tgzOptions{format: tar.FormatPAX}, func(title string) []member {
			return pkgFiles(longDir, title, "1.0.0", "alice")
		}},
		{"ustar", tgzOptions{format: tar.FormatUSTAR}, func(title string) []member { return pkgFiles("", title, "1.0.0", "alice") }},
		{"gzip-file-name", tgzOptions{gzName: "lib.tar"}, func(title string) []member { return pkgFiles("lib/", title, "1.0.0", "alice") }},
		{"other-files-and-order", tgzOptions{}, func(title string) []member {
			f := pkgFiles("src/", title, "1.0.0", "alice")
			return []member{{name: "src/", typ: tar.TypeDir}, {name: "src/LICENSE", body: "MIT\n"}, f[2],
				{name: "src/.gitignore", body: "*.nes\n"}, f[1], {name: "NOTES.txt", body: "top-level extra\n"}, f[0]}
		}},
	} {
		t.Run(tc.title, func(t *testing.T) {
			title := "layout-" + tc.title
			r := e.mustPublish(http.MethodPost, "alice", token, buildTgz(t, tc.opts, tc.members(title)...))
			if got := r.json(t)["title"]; got != title {
				t.Errorf("answer title = %v", got)
			}
			files, err := client.Install(title, "")
			if err != nil {
				t.Fatalf("install: %v", err)
			}
			if string(files["lib.asm"]) != libAsmOf(title, "1.0.0") || string(files["README.md"]) != readmeOf(title, "1.0.0") {
				t.Errorf("installed lib.asm %q, README.md %q", files["lib.asm"], files["README.md"])
			}
			var m archive.Manifest
			if err := json.Unmarshal(files["package.json"], &m); err != nil || m.Title != title || m.Author != "alice" {
				t.Errorf("installed package.json %s (%v)", files["package.json"], err)
			}
		})
	}
	e.checkFilesMatchVersions()
}

// TestPublishAnswerAndCanonicalTarball checks the 201 body and that what
// is served is the canonical tarball built at publish time, not the
// uploaded bytes.
func TestPublishAnswerAndCanonicalTarball(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	clock := newFakeClock(time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC))
	e.core.SetClock(clock.Now)
	e.db.SetClock(clock.Now)
	token := e.newAccount("alice")

	// The author may differ in case from the username; it is stored as the
	// username.
	upload := buildTgz(t, tgzOptions{}, append(pkgFiles("lib/", "ctl", "1.0.0", "ALICE"),
		member{name: "lib/extra.bin", body: "ignored"})...)
	r := e.mustPublish(http.MethodPost, "alice", token, upload)
	const want = `{"title":"ctl","description":"The ctl package","version":"1.0.0","author":"alice","license":"MIT","tags":["nes","test"]}`
	if string(r.body) != want || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("answer %q (%s), want %s", r.body, r.header.Get("Content-Type"), want)
	}
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "no-store") {
		t.Errorf("publish answer Cache-Control %q", cc)
	}

	m := archive.Manifest{Title: "ctl", Description: "The ctl package", Version: "1.0.0", Author: "alice",
		License: "MIT", Tags: []string{"nes", "test"}}
	canonical, err := archive.Canonical(m, []byte(libAsmOf("ctl", "1.0.0")), []byte(readmeOf("ctl", "1.0.0")), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	data := e.get("/package/ctl/1.0.0/data")
	sum := sha1.Sum(data.body)
	if !bytes.Equal(data.body, canonical) || bytes.Equal(data.body, upload) {
		t.Errorf("served tarball (%d bytes) is not the canonical one (%d bytes)", len(data.body), len(canonical))
	}
	if data.header.Get("X-Integrity") != hex.EncodeToString(sum[:]) {
		t.Errorf("X-Integrity %q", data.header.Get("X-Integrity"))
	}
	doc := e.get("/package/ctl").json(t)
	if doc["shasum"] != hex.EncodeToString(sum[:]) || doc["author"] != "alice" ||
		doc["date"] != "2026-05-04T03:02:01.000Z" || doc["readme"] != e.ts.URL+"/package/ctl/README" {
		t.Errorf("document %v", doc)
	}
	if rd := e.get("/package/ctl/README"); string(rd.body) != readmeOf("ctl", "1.0.0") {
		t.Errorf("README %q", rd.body)
	}
}

// TestPublishVersionPrecedence checks that PUT needs a version above the
// newest by semver precedence, not by string order.
func TestPublishVersionPrecedence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	token := e.newAccount("alice")
	e.mustPublish(http.MethodPost, "alice", token, pkgTgz(t, "ctl", "1.0.0-rc.1", "alice"))
	for _, step := range []struct {
		version string
		status  int
		current string
	}{
		{"1.0.0-beta", 422, "1.0.0-rc.1"},
		{"1.0.0-rc.1", 422, "1.0.0-rc.1"},
		{"1.0.0", 201, ""},
		{"1.0.0-rc.2", 422, "1.0.0"},
		{"1.9.0", 201, ""},
		{"1.10.0", 201, ""},
		{"1.9.5", 422, "1.10.0"},
		{"1.10.0", 422, "1.10.0"},
		{"1.10.0+build.7", 422, "1.10.0"}, // build metadata does not count
		{"2.0.0-alpha", 201, ""},
	} {
		r := e.sendPackage(http.MethodPut, "alice", token, pkgTgz(t, "ctl", step.version, "alice"))
		if step.status == 201 {
			if r.status != 201 {
				t.Errorf("PUT %s: %d %s", step.version, r.status, r.body)
			}
			continue
		}
		wantError(t, r, step.status, "Cannot upgrade to version "+step.version+" (currently at "+step.current+")")
	}
	doc := e.get("/package/ctl").json(t)
	if doc["version"] != "2.0.0-alpha" {
		t.Errorf("newest = %v", doc["version"])
	}
	if n := len(doc["versions"].(map[string]any)); n != 5 {
		t.Errorf("%d versions: %v", n, doc["versions"])
	}
	e.checkFilesMatchVersions()
}

// TestPublishTooLargeForClient refuses a package whose canonical tarball
// the client's 64 KiB buffers could not hold, saying so.
func TestPublishTooLargeForClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	token := e.newAccount("alice")
	before := e.snapshot()
	f := pkgFiles("", "big", "1.0.0", "alice")
	f[0].body = strings.Repeat("    nop\n", 70000/8) // compresses well: small upload, big tar
	up := buildTgz(t, tgzOptions{}, f...)
	if len(up) > 16<<10 {
		t.Fatalf("test upload is %d bytes; it should be small", len(up))
	}
	wantError(t, e.sendPackage(http.MethodPost, "alice", token, up), 422, "64 KiB")
	if after := e.snapshot(); after != before {
		t.Errorf("state changed:\n%s\n---\n%s", before, after)
	}
	// Just under the limit is fine: 40 KiB of text that compresses well.
	f[0].body = strings.Repeat("    nop\n", 40<<10/8)
	e.mustPublish(http.MethodPost, "alice", token, buildTgz(t, tgzOptions{}, f...))
	files, err := (&nesclient.Client{Registry: e.ts.URL}).Install("big", "")
	if err != nil || len(files["lib.asm"]) != 40<<10 {
		t.Errorf("install of a 40 KiB lib.asm: %d bytes, %v", len(files["lib.asm"]), err)
	}
}

// TestPublishFailureLeavesNothing makes storing the tarball fail and
// checks that neither a row nor a file is left behind, and that the
// internal error is not shown.
func TestPublishFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	e.core.SetClock(clock.Now)
	token := e.newAccount("alice")

	// Work out where the canonical tarball will go and put a folder in its
	// way, so that the final rename fails after the temp file is written.
	m := archive.Manifest{Title: "ctl", Description: "The ctl package", Version: "1.0.0", Author: "alice",
		License: "MIT", Tags: []string{"nes", "test"}}
	canonical, err := archive.Canonical(m, []byte(libAsmOf("ctl", "1.0.0")), []byte(readmeOf("ctl", "1.0.0")), clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(canonical)
	hexSum := hex.EncodeToString(sum[:])
	blocker := filepath.Join(e.dataDir(), "tarballs", hexSum[:2], hexSum+".tar.gz")
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	upload := pkgTgz(t, "ctl", "1.0.0", "alice")
	r := e.sendPackage(http.MethodPost, "alice", token, upload)
	wantError(t, r, 500, "Internal server error")
	if strings.Contains(string(r.body), e.dataDir()) {
		t.Errorf("500 answer leaks the data folder: %s", r.body)
	}
	wantError(t, e.get("/package/ctl"), 404, "does not exist")
	if tmp := e.dataFiles("tmp"); len(tmp) > 0 {
		t.Errorf("stray temp files: %v", tmp)
	}
	if p, _, _ := e.db.Counts(context.Background()); p != 0 {
		t.Errorf("%d packages after a failed publish", p)
	}

	// Once the obstacle is gone the same upload goes through.
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	e.mustPublish(http.MethodPost, "alice", token, upload)
	e.checkFilesMatchVersions()
}

// TestPublishBadInputs is the table of refused publishes: archives,
// package.json variants, Authorization headers and request bodies. Each
// must get its status and message and leave the stored state as it was.
func TestPublishBadInputs(t *testing.T) {
	t.Parallel()
	const maxUpload = 16 << 10
	e := newEnv(t, server.Config{MaxUpload: maxUpload})
	alice := e.newAccount("alice")
	bob := e.newAccount("bob")
	e.mustPublish(http.MethodPost, "alice", alice, pkgTgz(t, "ctl", "1.0.0", "alice"))
	e.mustPublish(http.MethodPost, "bob", bob, pkgTgz(t, "bobs", "1.0.0", "bob"))
	before := e.snapshot()

	// Helpers for the cases below.
	ok := func(dir string) []member { return pkgFiles(dir, "fresh", "1.0.0", "alice") }
	tgz := func(ms ...member) []byte { return buildTgz(t, tgzOptions{}, ms...) }
	withManifest := func(pj string) []byte {
		f := ok("")
		f[1].body = pj
		return tgz(f...)
	}
	good := tgz(ok("")...)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	mac := auth.Sign(alice, http.MethodPost, "/package/publish")
	random := make([]byte, 20<<10)
	rand.Read(random)
	bigUpload := tgz(append(ok(""), member{name: "blob.bin", body: string(random)})...)
	var manyMembers []member
	for i := 0; i < 70; i++ {
		manyMembers = append(manyMembers, member{name: fmt.Sprintf("extra%02d.txt", i), body: "x"})
	}
	truncated := good[:len(good)/2]
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-6] ^= 0xff // inside the CRC-32 trailer

	const noAuth = "-"
	for _, tc := range []struct {
		name    string
		method  string // POST when empty
		path    string // /package/publish when empty
		authz   string // "" signs as alice; noAuth sends none
		body    []byte
		chunked bool
		status  int
		msg     string
	}{
		// Archives.
		{name: "empty body", body: nil, status: 422, msg: "The upload is empty"},
		{name: "not gzip", body: []byte("just some text, not an archive"), status: 422, msg: "not a gzip file"},
		{name: "JSON instead of a tarball", body: []byte(`{"title": "fresh"}`), status: 422, msg: "not a gzip file"},
		{name: "plain tar without gzip", body: func() []byte {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "lib.asm", Size: 1, Mode: 0o644})
			tw.Write([]byte("x"))
			tw.Close()
			return b.Bytes()
		}(), status: 422, msg: "not a gzip file"},
		{name: "truncated gzip", body: truncated, status: 422, msg: "truncated"},
		{name: "gzip checksum mismatch", body: badCRC, status: 422, msg: "checksum does not match"},
		{name: "gzip of text, not tar", body: gzipBytes(t, bytes.Repeat([]byte("hello world\n"), 100), ""), status: 422, msg: "not a tar archive"},
		{name: "gzip bomb", body: tgz(append(ok(""), member{name: "bomb.txt", body: strings.Repeat("a", 2<<20)})...), status: 413, msg: "unpacks to more than 1 MiB"},
		{name: "too many members", body: tgz(append(ok(""), manyMembers...)...), status: 413, msg: "more than 64 files and folders"},
		{name: "dot-dot path", body: tgz(append(ok(""), member{name: "../evil.asm", body: "x"})...), status: 422, msg: "'..'"},
		{name: "dot-dot inside folder", body: tgz(ok("lib/../../")...), status: 422, msg: "'..'"},
		{name: "absolute path", body: tgz(append(ok(""), member{name: "/etc/evil", body: "x"})...), status: 422, msg: "absolute path"},
		{name: "backslash name", body: tgz(append(ok(""), member{name: `lib\evil`, body: "x"})...), status: 422, msg: "backslash"},
		{name: "symlink", body: tgz(append(ok(""), member{name: "link", typ: tar.TypeSymlink, link: "/etc/passwd"})...), status: 422, msg: "link"},
		{name: "hard link", body: tgz(append(ok(""), member{name: "hard", typ: tar.TypeLink, link: "lib.asm"})...), status: 422, msg: "link"},
		{name: "character device", body: tgz(append(ok(""), member{name: "null", typ: tar.TypeChar})...), status: 422, msg: "device"},
		{name: "named pipe", body: tgz(append(ok(""), member{name: "fifo", typ: tar.TypeFifo})...), status: 422, msg: "named pipe"},
		{name: "duplicate package.json", body: tgz(append(ok(""), member{name: "./package.json", body: manifestJSON("other", "1.0.0", "alice")})...), status: 422, msg: "more than one package.json"},
		{name: "missing README.md", body: tgz(ok("")[:2]...), status: 422, msg: "missing: README.md"},
		{name: "files in two folders", body: func() []byte {
			f := ok("a/")
			f[2].name = "b/README.md"
			return tgz(f...)
		}(), status: 422, msg: "same folder"},
		{name: "nested two folders deep", body: tgz(ok("a/b/")...), status: 422, msg: "nested more than one folder deep"},
		{name: "empty lib.asm", body: func() []byte {
			f := ok("")
			f[0].body = ""
			return tgz(f...)
		}(), status: 422, msg: "lib.asm is empty"},
		{name: "README not UTF-8", body: func() []byte {
			f := ok("")
			f[2].body = "\xff\xfe bad"
			return tgz(f...)
		}(), status: 422, msg: "README.md must be UTF-8"},

		// package.json variants.
		{name: "package.json not JSON", body: withManifest(`title: fresh`), status: 422, msg: "not valid JSON"},
		{name: "package.json an array", body: withManifest(`["fresh"]`), status: 422, msg: "must contain a JSON object"},
		{name: "package.json missing fields", body: withManifest(`{"title": "fresh", "description": "d", "author": "alice", "tags": ["a"]}`),
			status: 422, msg: "Missing fields in package.json: `version`, `license`."},
		{name: "tags not an array", body: withManifest(`{"title": "fresh", "description": "d", "version": "1.0.0", "author": "alice", "license": "MIT", "tags": "a"}`),
			status: 422, msg: "`tags` must be an array of strings"},
		{name: "title twice", body: withManifest(`{"title": "fresh", "title": "ctl", "description": "d", "version": "1.0.0", "author": "alice", "license": "MIT", "tags": ["a"]}`),
			status: 422, msg: "appears more than once"},
		{name: "version not semver", body: withManifest(manifestJSON("fresh", "1.0", "alice")), status: 422, msg: "Invalid version"},
		{name: "title with capitals", body: withManifest(manifestJSON("Fresh", "1.0.0", "alice")), status: 422, msg: "Invalid title"},
		{name: "title with a slash", body: withManifest(manifestJSON("a/b", "1.0.0", "alice")), status: 422, msg: "Invalid title"},
		{name: "reserved title publish", body: withManifest(manifestJSON("publish", "1.0.0", "alice")), status: 422, msg: "The title `publish` is reserved"},
		{name: "percent in description", body: withManifest(strings.Replace(manifestJSON("fresh", "1.0.0", "alice"), "The fresh", "100% fresh", 1)),
			status: 422, msg: "percent sign is not allowed"},
		{name: "too many tags", body: withManifest(strings.Replace(manifestJSON("fresh", "1.0.0", "alice"), `["nes", "test"]`, `["a","b","c","d","e","f"]`, 1)),
			status: 422, msg: "between 1 and 5 tags"},
		{name: "author is someone else", body: withManifest(manifestJSON("fresh", "1.0.0", "bob")), status: 422, msg: "Author username mismatch"},
		{name: "another user's title", body: pkgTgz(t, "bobs", "2.0.0", "alice"), status: 422, msg: "Package `bobs` already exists"},
		{name: "PUT to another user's title", method: http.MethodPut, body: pkgTgz(t, "bobs", "2.0.0", "alice"), status: 422, msg: "Package `bobs` already exists"},
		{name: "POST of own existing title", body: pkgTgz(t, "ctl", "2.0.0", "alice"), status: 405, msg: "publish a new version with PUT"},
		{name: "PUT of the same version", method: http.MethodPut, body: pkgTgz(t, "ctl", "1.0.0", "alice"), status: 422, msg: "Cannot upgrade to version 1.0.0 (currently at 1.0.0)"},
		{name: "PUT of a lower version", method: http.MethodPut, body: pkgTgz(t, "ctl", "0.9.0", "alice"), status: 422, msg: "Cannot upgrade to version 0.9.0 (currently at 1.0.0)"},
		{name: "PUT of a pre-release", method: http.MethodPut, body: pkgTgz(t, "ctl", "1.0.0-rc.1", "alice"), status: 422, msg: "Cannot upgrade to version 1.0.0-rc.1 (currently at 1.0.0)"},
		{name: "PUT of a new title", method: http.MethodPut, body: good, status: 404, msg: "publish it with POST first"},
		{name: "too large for the client", body: func() []byte {
			f := ok("")
			f[2].body = strings.Repeat("Lorem ipsum dolor sit amet.\n", 2600)
			return tgz(f...)
		}(), status: 422, msg: "64 KiB"},

		// Authorization headers.
		{name: "no Authorization", authz: noAuth, body: good, status: 401, msg: "Not logged in"},
		{name: "wrong scheme", authz: "Bearer " + alice, body: good, status: 401, msg: "Unsupported authorization scheme"},
		{name: "Basic credentials", authz: auth.BasicHeader("alice", testPassword), body: good, status: 401, msg: "Unsupported authorization scheme"},
		{name: "scheme only", authz: "HMAC-SHA1", body: good, status: 401, msg: "Malformed"},
		{name: "bad base64", authz: "HMAC-SHA1 !!!not-base64!!!", body: good, status: 401, msg: "Malformed"},
		{name: "unpadded base64", authz: "HMAC-SHA1 " + strings.TrimRight(b64("alice:"+mac+"x"), "="), body: good, status: 401, msg: "Malformed"},
		{name: "no colon", authz: "HMAC-SHA1 " + b64("alice"+mac), body: good, status: 401, msg: "Malformed"},
		{name: "empty user", authz: "HMAC-SHA1 " + b64(":"+mac), body: good, status: 401, msg: "Malformed"},
		{name: "empty digest", authz: "HMAC-SHA1 " + b64("alice:"), body: good, status: 401, msg: "Malformed"},
		{name: "digest not hex", authz: "HMAC-SHA1 " + b64("alice:"+strings.Repeat("z", 40)), body: good, status: 401, msg: "Malformed"},
		{name: "digest too short", authz: "HMAC-SHA1 " + b64("alice:"+mac[:38]), body: good, status: 401, msg: "Malformed"},
		{name: "huge header", authz: "HMAC-SHA1 " + b64(strings.Repeat("a", 8000)+":"+mac), body: good, status: 401, msg: "Malformed"},
		{name: "control character in user", authz: "HMAC-SHA1 " + b64("ali\x01ce:"+mac), body: good, status: 401, msg: "Malformed"},
		{name: "unknown user", authz: "HMAC-SHA1 " + b64("mallory:"+mac), body: good, status: 401, msg: "unknown user, or a token that expired"},
		{name: "wrong token", authz: auth.HMACHeader("alice", bob, http.MethodPost, "/package/publish"), body: good, status: 401, msg: "unknown user, or a token that expired"},
		{name: "other user's name with own token", authz: auth.HMACHeader("bob", alice, http.MethodPost, "/package/publish"), body: good, status: 401, msg: "token that expired"},
		{name: "signed for another route", authz: auth.HMACHeader("alice", alice, http.MethodPost, "/user/logout"), body: good, status: 401, msg: "token that expired"},
		{name: "signed for another method", authz: auth.HMACHeader("alice", alice, http.MethodPut, "/package/publish"), body: good, status: 401, msg: "token that expired"},
		{name: "signed with a version prefix", authz: auth.HMACHeader("alice", alice, http.MethodPost, "/v1/package/publish"), body: good, status: 401, msg: "token that expired"},

		// Request bodies and routes.
		{name: "body over --max-upload", body: bigUpload, status: 413, msg: "limit is 16384 bytes"},
		{name: "chunked body over --max-upload", body: bigUpload, chunked: true, status: 413, msg: "limit is 16384 bytes"},
		{name: "publish to a package URL", path: "/package/ctl", body: good, status: 405, msg: "package URLs are read-only"},
		{name: "publish with DELETE", method: http.MethodDelete, body: good, status: 405, msg: "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method, path := tc.method, tc.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/package/publish"
			}
			hdr := map[string]string{"Content-Type": "application/tar+gzip"}
			switch tc.authz {
			case "":
				hdr["Authorization"] = auth.HMACHeader("alice", alice, method, "/package/publish")
			case noAuth:
			default:
				hdr["Authorization"] = tc.authz
			}
			wantError(t, e.send(method, path, hdr, tc.body, tc.chunked), tc.status, tc.msg)
			if after := e.snapshot(); after != before {
				t.Errorf("stored state changed:\n%s\n--- after ---\n%s", before, after)
			}
		})
	}
	e.checkFilesMatchVersions()
}

// TestPublishErrorsAreClientSafe checks that a message echoing user input
// can never carry a '%' to the client's printf.
func TestPublishErrorsAreClientSafe(t *testing.T) {
	t.Parallel()
	e := newEnv(t, server.Config{})
	token := e.newAccount("alice")
	up := buildTgz(t, tgzOptions{}, append(pkgFiles("", "x", "1.0.0", "alice"), member{name: "../100%evil", body: "x"})...)
	wantError(t, e.sendPackage(http.MethodPost, "alice", token, up), 422, "'..'")
	var se *nesclient.StatusError
	_, err := (&nesclient.Client{Registry: e.ts.URL}).Publish("alice", token, up)
	if !errors.As(err, &se) || se.Status != 422 || strings.Contains(se.Message, "%") {
		t.Errorf("client sees %v", err)
	}
}
