package server_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
)

// hostile are payloads a package's text might carry to run script or
// take over the page: each would set window.canary if it ran.
var hostile = []string{
	`<script>window.canary=1</script>`,
	`<img src=x onerror="window.canary=1">`,
	`"><svg onload=window.canary=1><script>window.canary=1</script></svg>`,
	`javascript:window.canary=1`,
	`<a href="javascript:window.canary=1">click me</a>`,
	`<a href="data:text/html,<script>parent.canary=1</script>">data link</a>`,
	`<style>body{display:none}</style>`,
	`</article></main></body><h1>forged heading</h1>`,
	`<div style="position:fixed;inset:0;background:red;z-index:9">cover</div>`,
	`<iframe srcdoc="<script>parent.canary=1</script>"></iframe>`,
	`<base href="http://evil.example/">`,
	`<meta http-equiv="refresh" content="0;url=javascript:window.canary=1">`,
	`' onmouseover='window.canary=1' x='`,
	`{{.}} ${window.canary=1} <!-- <textarea>`,
	strings.Repeat("W", 3000),
}

// hostileReadme holds the payloads as Markdown and raw HTML.
var hostileReadme = "# Evil\n\n" + strings.Join(hostile, "\n\n") + "\n\n" +
	"[md link](javascript:window.canary=1) [data](data:text/html;base64,PHNjcmlwdD4=) <javascript:window.canary=1>\n\n" +
	"![img](x \"onerror=window.canary=1\") ![svg](data:image/svg+xml,<svg onload=window.canary=1>)\n\n" +
	"| a | <b>unclosed |\n| --- | --- |\n| <div> | <table><tr><td>nested |\n\n" +
	"<details open><summary>s</summary><form action=\"https://evil.example\"><input name=password></form>\n\n" +
	"<math><mtext><table><mglyph><style><img src=x onerror=window.canary=1>\n\n" +
	"<noscript><p title=\"</noscript><img src=x onerror=window.canary=1>\">\n\n" +
	"<div><section><b><i>never closed " + strings.Repeat("verylongword", 300) + "\n"

// TestHostilePackagesInBrowser: packages whose every field holds the
// payloads, read on every page that shows them, in a real browser: no
// script of theirs runs (the canary stays unset), no event attribute,
// script URL or foreign element reaches the page, and the page keeps its
// structure: one h1, its own, the article inside main, the footer last,
// nothing wider than the window.
func TestHostilePackagesInBrowser(t *testing.T) {
	e := newEnvAt(t, "")
	author := `"><img src=x onerror=window.canary=1>`
	evilTitle := `<svg onload=window.canary=1>`
	publish := func(title, version string) {
		t.Helper()
		v := registry.Version{
			Title: title, Version: version, Description: strings.Join(hostile, " "), Author: author,
			License: hostile[0], Tags: hostile[:5], Readme: hostileReadme,
			Published: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC),
		}
		if _, err := e.db.Publish(context.Background(), author, v, []byte("tarball"),
			registry.PublishRule(author, registry.Import, title, version)); err != nil {
			t.Fatal(err)
		}
	}
	publish("evil", "1.0.0")
	publish("evil", "6.6.6")
	publish(evilTitle, "1.0.0")
	b := newBrowser(t)

	// structure checks what look does not: one h1 with the text wanted,
	// our script alone, the README inside its box.
	structure := func(name, h1 string, scripts int) {
		t.Helper()
		v := b.look(name)
		if got := b.eval(`String(document.querySelectorAll("h1").length)`); got != "1" || v.H1 != h1 {
			t.Errorf("%s: %s h1, reading %q; want one, %q", name, got, v.H1, h1)
		}
		if v.Scripts != scripts {
			t.Errorf("%s: %d scripts, want %d", name, v.Scripts, scripts)
		}
		if got := b.eval(`String([...document.querySelectorAll("main *")].filter(el => getComputedStyle(el).position === "fixed").length)`); got != "0" {
			t.Errorf("%s: %s elements fixed over the page", name, got)
		}
		if got := b.eval(`getComputedStyle(document.body).display + " " + getComputedStyle(document.querySelector("main")).display`); got != "block block" {
			t.Errorf("%s: body and main display %q", name, got)
		}
	}

	for _, w := range []int64{390, 1280} {
		b.width(w)
		b.open(e.ts.URL + "/")
		structure("hostile-list", "Packages", 0)
		if got := b.eval(`document.querySelector("ul.packages h3 a").textContent`); got != evilTitle {
			t.Errorf("the hostile title shows as %q, want its text", got)
		}

		b.open(e.ts.URL + "/search?q=" + url.QueryEscape("onerror"))
		structure("hostile-search", "Search: “onerror”", 0)
		b.open(e.ts.URL + "/search?q=" + url.QueryEscape(hostile[0]))
		structure("hostile-search-term", "Search: “"+hostile[0]+"”", 0)
		if got := b.eval(`document.getElementById("q").value`); got != hostile[0] {
			t.Errorf("search box holds %q", got)
		}

		b.open(e.ts.URL + "/package/evil")
		structure("hostile-package", "evil 6.6.6", 1)
		if got := b.eval(`String(document.querySelectorAll("main > article.package").length)`); got != "1" {
			t.Errorf("package page: %s articles in main", got)
		}
		if got := b.eval(`String(!!document.querySelector("article.package .details dl") && !!document.querySelector("article.package .readme"))`); got != "true" {
			t.Errorf("package page lost its details or README box")
		}
		// The README stays in its box, and its text is there as text.
		if got := b.eval(`(() => { const r = document.querySelector(".readme").getBoundingClientRect(),
			m = document.querySelector("main").getBoundingClientRect();
			return String(r.left >= m.left && r.right <= m.right) })()`); got != "true" {
			t.Errorf("the README box leaves main")
		}
		main := b.look("hostile-package-text").Main
		for _, want := range []string{"Author\n" + author, "License\n" + hostile[0], "forged heading", "verylongword", "click me"} {
			if !strings.Contains(main, want) {
				t.Errorf("package page lacks the text %q", want)
			}
		}
		if got := b.eval(`document.querySelector(".install code").textContent`); got != "nessemble install evil" {
			t.Errorf("install command %q", got)
		}
		// Hovering and clicking the README's links runs nothing either.
		b.eval(`[...document.querySelectorAll(".readme a, .readme img")].forEach(el => {
			el.dispatchEvent(new MouseEvent("mouseover", {bubbles: true})); }); ""`)
		b.follow(".versions", "1.0.0")
		structure("hostile-package-old", "evil 1.0.0", 1)

		b.follow(".details", author)
		structure("hostile-author", "Packages by "+author, 0)
		b.follow("ul.packages", evilTitle)
		structure("hostile-title", evilTitle+" 1.0.0", 1)

		b.open(e.ts.URL + "/package/" + url.PathEscape(`<script>window.canary=1</script>`))
		structure("hostile-404", "Not found", 0)
	}
}
