//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// The mirror tests run two real registries on 127.0.0.1 (the binary, as
// an operator would), an upstream and a mirror, and compare what they
// serve.

// seedVersions publishes title@version keys into a data folder as user
// teacher would, through the registry's rules.
func seedVersions(t *testing.T, data string, keys ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	core := registry.New(db, registry.Config{}, nil, nil)
	for _, k := range keys {
		title, version, _ := strings.Cut(k, "@")
		if _, err := core.Publish(ctx, registry.User{Username: "teacher"}, registry.Import,
			bytes.NewReader(packTgz(title, version, "teacher", libAsmFor(title, version)))); err != nil {
			t.Fatal(err)
		}
	}
}

// getURL GETs a URL and returns its status, one header and body.
func getURL(t *testing.T, u, header string) (int, string, []byte) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get(header), body
}

// ownersField is a package document's list of owners: on a mirror every
// mirrored package is owned by @mirror (no user is ever copied).
var ownersField = regexp.MustCompile(`"owners":\[[^\]]*\]`)

// sameAnswers compares what two registries serve for every package
// document (newest and each version), README and tarball (byte for byte,
// with X-Integrity), the list, a search and the reference; links differ
// only by the registry's address, and the owners of a mirrored package
// are @mirror. It returns how many versions it saw.
func sameAnswers(t *testing.T, upURL, mirrorURL string, titles []string, refPaths ...string) int {
	t.Helper()
	compare := func(path, header string) []byte {
		t.Helper()
		s1, h1, b1 := getURL(t, upURL+path, header)
		s2, h2, b2 := getURL(t, mirrorURL+path, header)
		b2 = bytes.ReplaceAll(b2, []byte(mirrorURL), []byte(upURL))
		if owners := ownersField.Find(b2); owners != nil {
			if string(owners) != `"owners":["@mirror"]` {
				t.Errorf("GET %s on the mirror: %s", path, owners)
			}
			b2 = ownersField.ReplaceAll(b2, ownersField.Find(b1))
		}
		if s1 != s2 || h1 != h2 || !bytes.Equal(b1, b2) {
			t.Errorf("GET %s differs:\nupstream %d %s: %.300s\nmirror   %d %s: %.300s", path, s1, h1, b1, s2, h2, b2)
		}
		if s1 != http.StatusOK {
			t.Errorf("GET %s: %d", path, s1)
		}
		return b1
	}
	versions := 0
	for _, title := range titles {
		var doc struct {
			Versions map[string]string `json:"versions"`
		}
		if err := json.Unmarshal(compare("/package/"+title, "Content-Type"), &doc); err != nil {
			t.Fatal(err)
		}
		for v := range doc.Versions {
			compare("/package/"+title+"/"+v, "Content-Type")
			compare("/package/"+title+"/"+v+"/README", "Content-Type")
			compare("/package/"+title+"/"+v+"/data", "X-Integrity")
			versions++
		}
		compare("/search/"+title, "Content-Type")
	}
	compare("/?per_page=100", "Content-Type")
	compare("/reference", "Content-Type")
	for _, p := range refPaths {
		compare("/reference/"+p, "Content-Type")
	}
	return versions
}

// dataRequests counts the requests for tarballs, and for anything else
// but the change feed, in a registry's access log, once the lines of the
// requests made so far are written (the log is written in batches every
// 200 ms).
func dataRequests(p *registryProc) (data, other int) {
	time.Sleep(400 * time.Millisecond)
	for _, e := range p.accessLog() {
		switch {
		case strings.HasSuffix(e.Path, "/data"):
			data++
		case e.Path != "/changes" && e.Path != "/status":
			other++
		}
	}
	return data, other
}

// TestMirror mirrors a real registry into an empty folder, serves the
// copy read-only, and compares every answer; publishes more upstream and
// mirrors again, fetching only the new versions; a run with nothing new
// fetches nothing but the feed. The real client's install works on the
// mirror, and its publish and login are refused there.
func TestMirror(t *testing.T) {
	t.Parallel()
	upData, local := t.TempDir(), t.TempDir()
	addUser(t, upData, "teacher")
	first := []string{"joypad@1.0.0", "joypad@1.1.0", "sprites@0.1.0", "sprites@0.2.0", "sprites@1.0.0-rc.1", "sound@2.0.0"}
	seedVersions(t, upData, first...)
	tree := writeTree(t, map[string]string{"lessons/SPRITES.txt": "Sprites live in OAM.\n", "registers/PPUCTRL.txt": "$2000\n"})
	if _, err := registryCmd(t, "", "import-reference", tree, "--data", upData); err != nil {
		t.Fatal(err)
	}
	up := startRegistry(t, upData)

	out, _, err := runCmd(t, "", "mirror", up.url(), "--data", local)
	if err != nil {
		t.Fatalf("mirror: %v\n%s", err, out)
	}
	if !strings.Contains(out, "(change feed, now at serial ") || !strings.Contains(out, ": 3 new packages, 6 new versions, 0 present") ||
		!strings.Contains(out, "reference documentation replaced") {
		t.Errorf("mirror printed:\n%s", out)
	}
	if data, _ := dataRequests(up); data != len(first) {
		t.Errorf("first run fetched %d tarballs, want %d", data, len(first))
	}

	mir := startRegistry(t, local, "--read-only")
	titles := []string{"joypad", "sound", "sprites"}
	if n := sameAnswers(t, up.url(), mir.url(), titles, "lessons", "lessons/SPRITES", "registers/PPUCTRL"); n != len(first) {
		t.Errorf("compared %d versions, want %d", n, len(first))
	}
	for _, k := range first {
		installMatches(t, mir.client(), k)
	}
	if text, status, err := mir.client().Reference("lessons", "SPRITES"); err != nil || status != 200 || text != "Sprites live in OAM.\n" {
		t.Errorf("reference on the mirror: %q %d %v", text, status, err)
	}
	token, err := up.client().Login("teacher", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, try := range []func() error{
		func() error { _, err := mir.client().Login("teacher", faultPassword); return err },
		func() error {
			_, err := mir.client().Publish("teacher", token, packTgz("joypad", "9.0.0", "teacher", libAsmFor("joypad", "9.0.0")))
			return err
		},
	} {
		if err := try(); err == nil || !strings.Contains(err.Error(), "status 403: This registry is a read-only mirror; publish to its upstream") {
			t.Errorf("write on the mirror: %v", err)
		}
	}

	// More upstream: only the new versions are fetched, and the running
	// mirror serves them at once.
	for _, k := range []string{"joypad@1.2.0", "music@0.1.0"} {
		title, version, _ := strings.Cut(k, "@")
		if _, err := up.client().Publish("teacher", token, packTgz(title, version, "teacher", libAsmFor(title, version))); err != nil {
			t.Fatal(err)
		}
	}
	data0, other0 := dataRequests(up)
	out, _, err = runCmd(t, "", "mirror", up.url(), "--data", local)
	if err != nil || !strings.Contains(out, ": 1 new packages, 2 new versions, 0 present") {
		t.Fatalf("second mirror: %v\n%s", err, out)
	}
	data1, other1 := dataRequests(up)
	if data1-data0 != 2 || other1 != other0 {
		t.Errorf("second run fetched %d tarballs and %d other answers, want 2 and 0", data1-data0, other1-other0)
	}
	// The running mirror follows its data folder's change log every 250 ms.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		// Documents are read from the database, the list from an index
		// that follows the log: wait for both.
		_, _, doc := getURL(t, mir.url()+"/package/joypad", "")
		if _, _, list := getURL(t, mir.url()+"/?per_page=100", ""); bytes.Contains(doc, []byte(`"version":"1.2.0"`)) &&
			bytes.Contains(list, []byte(`"title":"music"`)) {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the mirror does not serve what the second run stored")
		}
	}
	installMatches(t, mir.client(), "joypad@1.2.0")
	installMatches(t, mir.client(), "music@0.1.0")
	sameAnswers(t, up.url(), mir.url(), append(titles, "music"))

	data1, other1 = dataRequests(up)
	out, _, err = runCmd(t, "", "mirror", up.url(), "--data", local)
	if err != nil || !strings.Contains(out, ": 0 new packages, 0 new versions, 0 present, 0 bytes downloaded") {
		t.Fatalf("mirror with nothing new: %v\n%s", err, out)
	}
	if data2, other2 := dataRequests(up); data2 != data1 || other2 != other1 {
		t.Errorf("a run with nothing new fetched %d tarballs and %d other answers", data2-data1, other2-other1)
	}

	// A yank and a removal upstream reach the mirror too.
	for _, args := range [][]string{{"yank", "joypad", "1.2.0"}, {"remove", "sprites@0.1.0", "--reason", "Broken"}} {
		if _, err := registryCmd(t, "", append(args, "--data", upData)...); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the upstream follows its log every 250 ms
	out, _, err = runCmd(t, "", "mirror", up.url(), "--data", local)
	if err != nil || !strings.Contains(out, "applied 2 yanks, unyanks and removals of the upstream") {
		t.Fatalf("mirror after a yank and a removal: %v\n%s", err, out)
	}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if _, _, doc := getURL(t, mir.url()+"/package/joypad", ""); bytes.Contains(doc, []byte(`"version":"1.1.0"`)) {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("the mirror does not serve the yank")
		}
	}
	sameAnswers(t, up.url(), mir.url(), append(titles, "music"))
	if status, _, body := getURL(t, mir.url()+"/package/sprites/0.1.0/data", ""); status != http.StatusGone {
		t.Errorf("removed version on the mirror: %d %s", status, body)
	}
	if out, err := registryCmd(t, "", "check", "--data", local); err != nil || out != "ok\n" {
		t.Errorf("check: %q %v", out, err)
	}
	// One audit event for each run that changed something, none for the
	// run with nothing new.
	var runs []string
	for _, line := range strings.Split(strings.TrimSpace(mustRun(t, "", "audit", "--json", "--data", local)), "\n") {
		var e map[string]string
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit --json line %q: %v", line, err)
		}
		if e["action"] == "mirror" && strings.HasPrefix(e["actor"], "operator") {
			runs = append(runs, e["detail"])
		}
	}
	want := []string{"6 new versions and 0", "2 new versions and 0", "0 new versions and 2"}
	if len(runs) != len(want) {
		t.Fatalf("audit trail of the mirror runs: %q", runs)
	}
	for i, w := range want {
		if !strings.HasPrefix(runs[i], w) || !strings.HasSuffix(runs[i], "from "+up.url()) {
			t.Errorf("audit event of run %d: %q, want %q... from %s", i+1, runs[i], w, up.url())
		}
	}
}

// seedOnly is an upstream that speaks only the seed's API: a proxy to a
// real registry that answers the change feed, our extension, with 404.
func seedOnly(t testing.TB, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = log.New(io.Discard, "", 0) // clients that go away (a killed mirror)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/changes" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"status": 404, "error": "Not Found"}`)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestMirrorWithoutFeed mirrors an upstream that has no change feed, by
// its package list and documents, and again after a publish there.
func TestMirrorWithoutFeed(t *testing.T) {
	t.Parallel()
	upData, local := t.TempDir(), t.TempDir()
	seedVersions(t, upData, "joypad@1.0.0", "joypad@1.1.0", "sound@2.0.0")
	up := startRegistry(t, upData)
	plain := seedOnly(t, up.url())

	out, _, err := runCmd(t, "", "mirror", plain, "--data", local)
	if err != nil || !strings.Contains(out, "(package list): 2 new packages, 3 new versions, 0 present") {
		t.Fatalf("mirror: %v\n%s", err, out)
	}
	mir := startRegistry(t, local, "--read-only")
	sameAnswers(t, up.url(), mir.url(), []string{"joypad", "sound"}, "registers", "registers/PPUCTRL")
	installMatches(t, mir.client(), "joypad@1.1.0")

	seedVersions(t, upData, "joypad@1.2.0")
	time.Sleep(300 * time.Millisecond) // the upstream follows its log every 250 ms
	out, _, err = runCmd(t, "", "mirror", plain, "--data", local)
	if err != nil || !strings.Contains(out, "(package list): 0 new packages, 1 new versions, 3 present") {
		t.Fatalf("second mirror: %v\n%s", err, out)
	}
	installMatches(t, mir.client(), "joypad@1.2.0")
}

// slowProxy forwards to target, holding each tarball back a moment, and
// counts the tarballs it served.
type slowProxy struct {
	mu   sync.Mutex
	data int
	url  string
}

func newSlowProxy(t *testing.T, target string, delay time.Duration) *slowProxy {
	u, _ := url.Parse(target)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = log.New(io.Discard, "", 0) // clients that go away (a killed mirror)
	sp := &slowProxy{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/data") {
			sp.mu.Lock()
			sp.data++
			sp.mu.Unlock()
			time.Sleep(delay)
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	sp.url = ts.URL
	return sp
}

func (sp *slowProxy) served() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.data
}

// TestMirrorKilled kills the mirror with SIGKILL in the middle of a run:
// the data folder checks clean, and the next run completes it without
// fetching again what was stored.
func TestMirrorKilled(t *testing.T) {
	t.Parallel()
	upData, local := t.TempDir(), t.TempDir()
	var keys, titles []string
	for i := range 20 {
		title := "pkg" + string(rune('a'+i))
		titles = append(titles, title)
		keys = append(keys, title+"@1.0.0", title+"@1.1.0")
	}
	seedVersions(t, upData, keys...)
	up := startRegistry(t, upData)
	proxy := newSlowProxy(t, up.url(), 20*time.Millisecond)

	logPath := filepath.Join(t.TempDir(), "mirror.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(registryBinary(t), "mirror", proxy.url, "--data", local, "--jobs", "2")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if bytes.Count(b, []byte("msg=stored")) >= 8 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the mirror did not get going:\n%s", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	stored := len(storedVersions(t, local, titles))
	if stored == 0 || stored >= len(keys) {
		t.Fatalf("killed with %d of %d versions stored: not in the middle", stored, len(keys))
	}
	t.Logf("killed after %d of %d versions", stored, len(keys))
	if out, err := registryCmd(t, "", "check", "--data", local); err != nil {
		t.Errorf("check after the kill: %v\n%s", err, out)
	}

	// Requests the killed run sent may reach the proxy a little later.
	time.Sleep(200 * time.Millisecond)
	before := proxy.served()
	out, _, err := runCmd(t, "", "mirror", proxy.url, "--data", local)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if fetched := proxy.served() - before; fetched != len(keys)-stored {
		t.Errorf("second run fetched %d tarballs, want %d (%d were stored)", fetched, len(keys)-stored, stored)
	}
	got := storedVersions(t, local, titles)
	want := storedVersions(t, upData, titles)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stored %v, want %v", got, want)
	}
	if out, err := registryCmd(t, "", "check", "--data", local); err != nil || out != "ok\n" {
		t.Errorf("check after the second run: %q %v", out, err)
	}
	mir := startRegistry(t, local, "--read-only")
	sameAnswers(t, up.url(), mir.url(), titles)
}

// TestServeMirror: serve --mirror keeps a read-only mirror current by
// itself; what is published upstream is served by the mirror after the
// next tick.
func TestServeMirror(t *testing.T) {
	t.Parallel()
	upData, local := t.TempDir(), t.TempDir()
	addUser(t, upData, "teacher")
	seedVersions(t, upData, "joypad@1.0.0")
	up := startRegistry(t, upData)
	mir := startRegistry(t, local, "--read-only", "--mirror", up.url(), "--mirror-every", "200ms")
	within := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		for start := time.Now(); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Since(start) > d {
				t.Fatalf("%s: not within %v\n%s", what, d, mir.logTail(2000))
			}
		}
	}
	within("first run", 5*time.Second, func() bool { s, _, _ := getURL(t, mir.url()+"/package/joypad", ""); return s == 200 })
	installMatches(t, mir.client(), "joypad@1.0.0")

	token, err := up.client().Login("teacher", faultPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.client().Publish("teacher", token, packTgz("joypad", "1.1.0", "teacher", libAsmFor("joypad", "1.1.0"))); err != nil {
		t.Fatal(err)
	}
	within("new version", 3*time.Second, func() bool { s, _, _ := getURL(t, mir.url()+"/package/joypad/1.1.0", ""); return s == 200 })
	installMatches(t, mir.client(), "joypad@1.1.0")
	if n := mir.logged("mirror run done"); n < 2 {
		t.Errorf("%d mirror runs logged", n)
	}
	// Stopping the server stops the mirror too, cleanly.
	if err := mir.terminate(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestMirrorArguments: bad arguments are refused with a message naming
// them, before anything is opened or asked.
func TestMirrorArguments(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"mirror", "ftp://example.org", "--data", data}, "give the registry's URL, http:// or https://"},
		{[]string{"mirror", "http://user:pw@example.org", "--data", data}, "without user, query or fragment"},
		{[]string{"mirror", "http://127.0.0.1:1", "--data", data, "--jobs", "0"}, "--jobs 0: must be 1 or more"},
		{[]string{"mirror", "http://127.0.0.1:1", "--data", data, "--timeout", "0s"}, "--timeout 0s: must be longer than zero"},
		{[]string{"mirror", "--data", data}, "accepts 1 arg(s), received 0"},
		{[]string{"serve", "--data", data, "--mirror", "http://127.0.0.1:1", "--mirror-every", "0s"}, "--mirror-every 0s: must be longer than zero"},
		{[]string{"serve", "--data", data, "--mirror", "http://127.0.0.1:1", "--jobs", "-1"}, "--jobs -1: must be 1 or more"},
		{[]string{"export", filepath.Join(t.TempDir(), "b"), "--data", data, "--since", "-1"}, "--since -1: give a serial of 0 or more"},
	} {
		_, _, err := runCmd(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused command created the data folder: %v", err)
	}
}
