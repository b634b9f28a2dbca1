package markdown_test

import (
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/markdown"
)

// TestRender: CommonMark and GitHub's tables and task lists come out as
// HTML, headings two levels down (the page's h1 and h2 are above them);
// links carry rel="nofollow noopener".
func TestRender(t *testing.T) {
	got := string(markdown.Render("# Joypad\n\nReads **both** pads: [docs](https://example.org/d).\n\n" +
		"###### deep\n\n| key | bit |\n| --- | --- |\n| A | 7 |\n\n- [x] done\n- [ ] to do\n\n```\nLDA #$01\n```\n"))
	for _, want := range []string{
		"<h3>Joypad</h3>", "<h6>deep</h6>", "<strong>both</strong>",
		`<a href="https://example.org/d" rel="nofollow noopener">docs</a>`,
		"<table>", "<th>key</th>", "<td>7</td>",
		`<input checked="" disabled="" type="checkbox"/> done`, `<input disabled="" type="checkbox"/> to do`,
		"<pre><code>LDA #$01\n</code></pre>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rendered README lacks %q:\n%s", want, got)
		}
	}
}

// TestRenderHostile: nothing a README holds survives as script, event
// attribute, style, frame, form or dangerous URL.
func TestRenderHostile(t *testing.T) {
	for name, src := range map[string]string{
		"script":      "<script>window.canary=1</script>",
		"event":       `<img src="x.png" onerror="window.canary=1">`,
		"javascript":  "[click](javascript:window.canary=1)",
		"javascript2": `<a href="JaVaScRiPt:window.canary=1">x</a>`,
		"data link":   "[x](data:text/html;base64,PHNjcmlwdD4=)",
		"svg":         `<svg onload="window.canary=1"><script>window.canary=1</script></svg>`,
		"style":       "<style>body{display:none}</style><p style=\"position:fixed;inset:0\">x</p>",
		"iframe":      `<iframe src="https://example.org"></iframe>`,
		"form":        `<form action="https://example.org"><input name="password"></form>`,
		"broken":      "<div><p>unclosed <b>bold <a href='",
		"rel":         `<a href="https://example.org" rel="opener">x</a>`,
		"entity":      `<a href="&#106;avascript:window.canary=1">x</a>`,
	} {
		got := strings.ToLower(string(markdown.Render(src)))
		for _, bad := range []string{"<script", "onerror", "onload", "javascript:", "data:", "<style", "style=",
			"<iframe", "<form", "<svg", `rel="opener"`, "canary=1\""} {
			if strings.Contains(got, bad) {
				t.Errorf("%s: output holds %q: %s", name, bad, got)
			}
		}
		for _, tag := range []string{"div", "p", "b", "a"} {
			if strings.Count(got, "<"+tag+">")+strings.Count(got, "<"+tag+" ") != strings.Count(got, "</"+tag+">") {
				t.Errorf("%s: <%s> not closed: %s", name, tag, got)
			}
		}
	}
}
