package server_test

import (
	"context"
	"html"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/server"
)

// chromium finds the headless browser; the page test cannot be left out
// quietly, so a missing browser fails it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("chromium not found: install the Debian package chromium (apt-get install chromium) to run the GraphQL page test")
	return ""
}

// TestGraphQLPageInBrowser loads the query page in headless Chromium under
// a mount prefix, lets it run its example query, and reads the result the
// page shows.
func TestGraphQLPageInBrowser(t *testing.T) {
	bin := chromium(t)
	e := newEnv(t, server.Config{BaseURL: "http://registry.example/registry"})
	e.seed("sprite", "1.0.0", "Sprite helpers", "gfx")
	e.seed("audio", "1.0.0", "Sound & music", "apu")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=10000", "--dump-dom",
		e.ts.URL+"/registry/graphql?autorun=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	m := regexp.MustCompile(`(?s)<pre id="result"([^>]*)>(.*?)</pre>`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no result in the page:\n%s", out)
	}
	if !strings.Contains(string(m[1]), `data-state="done"`) {
		t.Fatalf("query did not finish (%s): %s", m[1], m[2])
	}
	result := html.UnescapeString(string(m[2]))
	for _, want := range []string{`"status": "ok"`, `"title": "sprite"`, `"description": "Sound & music"`,
		`"url": "http://registry.example/registry/package/audio"`, `"total": 2`} {
		if !strings.Contains(result, want) {
			t.Errorf("result lacks %s:\n%s", want, result)
		}
	}
}
