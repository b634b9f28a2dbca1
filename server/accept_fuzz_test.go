package server

import (
	"strings"
	"testing"
)

// FuzzAccept feeds arbitrary Accept headers to the two parsers every
// request goes through. Besides never panicking, what they return must
// come from the header: a version only from a "version" parameter, free
// of the separators that end one, and a media type only when the header
// names it.
func FuzzAccept(f *testing.F) {
	for _, s := range []string{
		"",
		"application/json",
		"application/json;version=1",
		"application/json; version=\"2\", text/plain;q=0.5",
		"text/plain, */*",
		"*/*;q=0.1",
		";version=",
		"VERSION=1",
		"a/b;c;Version = 3 ;d",
		"a/b;version=1,version=2",
		strings.Repeat("a/b;q=1,", 200) + "x/y;version=9",
		"text/plain;version=\"",
		"\x00;\xff=\xfe,;=",
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"text/html;q=NaN, application/json;q=0.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		seen := accept
		if len(seen) > maxAcceptLen {
			seen = seen[:maxAcceptLen]
		}
		v, ok := acceptVersion(accept)
		switch {
		case !ok && v != "":
			t.Errorf("acceptVersion(%q) = %q without ok", accept, v)
		case ok && !strings.Contains(strings.ToLower(seen), "version"):
			t.Errorf("acceptVersion(%q) found version %q in a header without one", accept, v)
		case ok && strings.ContainsAny(v, ",;"):
			t.Errorf("acceptVersion(%q) = %q, which spans a separator", accept, v)
		case ok && !strings.Contains(seen, v):
			t.Errorf("acceptVersion(%q) = %q, which is not in the header", accept, v)
		}
		if v2, ok2 := acceptVersion(seen); v2 != v || ok2 != ok {
			t.Errorf("acceptVersion looks past %d bytes: %q gives %q %v, its prefix %q %v", maxAcceptLen, accept, v, ok, v2, ok2)
		}

		// Any value without separators comes back from a header built
		// around it, trimmed of spaces and quotes.
		if !strings.ContainsAny(accept, ",;") && len(accept) < maxAcceptLen/2 {
			want := strings.Trim(strings.TrimSpace(accept), `"`)
			if got, ok := acceptVersion("application/json;version=" + accept); !ok || got != want {
				t.Errorf("acceptVersion(application/json;version=%s) = %q %v, want %q", accept, got, ok, want)
			}
		}

		for _, mt := range []string{"application/json", "text/plain"} {
			if accepts(accept, mt) && !strings.Contains(strings.ToLower(seen), mt) {
				t.Errorf("accepts(%q, %q) without the header naming it", accept, mt)
			}
			if len(accept) < maxAcceptLen/2 && !accepts(accept+", "+mt+";q=0.9", mt) {
				t.Errorf("accepts(%q, %q) misses it when appended", accept+", "+mt+";q=0.9", mt)
			}
		}

		// A page only for a header that names one, and never once JSON
		// is preferred before it.
		low := strings.ToLower(seen)
		if prefersHTML(accept) && !strings.Contains(low, "text/html") && !strings.Contains(low, "application/xhtml+xml") {
			t.Errorf("prefersHTML(%q) without the header naming a page type", accept)
		}
		if prefersHTML("application/json, " + accept) {
			t.Errorf("prefersHTML(application/json, %q): JSON first at full quality still gets a page", accept)
		}
	})
}
