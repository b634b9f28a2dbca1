package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// browser is a headless Chromium driven through chromedp, with the
// folder where its screenshots go.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string
	shot int
}

// screenshotDir is where a browser test keeps its screenshots: the
// test's artifact folder (kept with go test -artifacts -outputdir DIR),
// or $NESSEMBLE_SCREENSHOTS when set.
func screenshotDir(t *testing.T) string {
	dir := t.ArtifactDir()
	if d := os.Getenv("NESSEMBLE_SCREENSHOTS"); d != "" {
		dir = filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("hide-scrollbars", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return &browser{t: t, ctx: bctx, dir: screenshotDir(t)}
}

// do runs actions, failing the test on an error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// width sets the viewport: phone or desktop.
func (b *browser) width(w int64) {
	b.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if w < 600 {
		opts = append(opts, chromedp.EmulateMobile)
	}
	b.do("viewport", chromedp.EmulateViewport(w, 900, opts...))
}

// dark turns the reader's dark colour preference on or off.
func (b *browser) dark(on bool) {
	b.t.Helper()
	value := "light"
	if on {
		value = "dark"
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}}}); err != nil {
		b.t.Fatal(err)
	}
}

// open loads a URL and returns the status of its answer.
func (b *browser) open(url string) int64 {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	return res.Status
}

// follow clicks the first link in scope whose text is text, as a person
// would, and waits for the page it leads to.
func (b *browser) follow(scope, text string) int64 {
	b.t.Helper()
	js := fmt.Sprintf(`[...document.querySelectorAll(%q)].filter(a => a.textContent.trim() === %q)`, scope+" a", text)
	if b.eval(`String(`+js+`.length)`) == "0" {
		b.t.Fatalf("no link %q in %s on %s", text, scope, b.eval("location.href"))
	}
	res, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.JSPath(js+`[0]`), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("follow %q: %v", text, err)
	}
	return res.Status
}

// view is what a person sees of a page, read in the browser.
type view struct {
	Title, H1, Main, Lang string
	Headings              []string // "h1 text", in document order
	HeadingsInOrder       bool     // no level skipped going down
	Overflow              bool     // wider than the window
	Unlabelled            int      // form fields without a label
	Scripts               int      // script elements
	EventAttrs            int      // on... attributes anywhere
	BadLinks              int      // javascript: or data: URLs
	Foreign               int      // iframe, object, embed, style, base, meta refresh, extra forms
	Styled                bool     // our stylesheet applied
	Canary                string   // typeof window.canary
	FooterLast            bool     // the page ends with our footer (and script)
	Copy                  string   // the copy button's state, if any
}

const viewJS = `(() => {
  const hs = [...document.querySelectorAll("h1,h2,h3,h4,h5,h6")];
  let inOrder = true, last = 0;
  for (const h of hs) { const n = +h.tagName[1]; if (last && n > last + 1) inOrder = false; last = n; }
  const fields = [...document.querySelectorAll("input,select,textarea")].filter(f => f.type !== "hidden" && f.type !== "checkbox");
  const unlabelled = fields.filter(f => !(f.labels && f.labels.length) && !f.getAttribute("aria-label")).length;
  let events = 0;
  for (const el of document.querySelectorAll("*")) for (const a of el.attributes) if (/^on/i.test(a.name)) events++;
  const bad = [...document.querySelectorAll("[href],[src],[action],[formaction],[xlink\\:href]")].filter(el =>
    ["href","src","action","formaction"].some(n => /^\s*(javascript|data|vbscript):/i.test(el.getAttribute(n) || ""))).length;
  const foreign = document.querySelectorAll("iframe,object,embed,style,base,meta[http-equiv],svg,math").length +
    Math.max(0, document.forms.length - 1);
  const kids = [...document.body.children].filter(e => e.tagName !== "SCRIPT");
  const copy = document.querySelector("button[data-copy]");
  return JSON.stringify({
    Title: document.title, Lang: document.documentElement.lang,
    H1: (document.querySelector("h1") || {}).textContent || "",
    Main: (document.querySelector("main") || {}).innerText || "",
    Headings: hs.map(h => h.tagName.toLowerCase() + " " + h.textContent.trim()),
    HeadingsInOrder: inOrder,
    Overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
    Unlabelled: unlabelled, Scripts: document.scripts.length, EventAttrs: events, BadLinks: bad, Foreign: foreign,
    Styled: getComputedStyle(document.body).fontFamily.includes("system-ui"),
    Canary: typeof window.canary,
    FooterLast: kids.length > 0 && kids[kids.length - 1].matches("footer.site") && document.querySelectorAll("footer").length === 1,
    Copy: copy ? (copy.hidden ? "hidden" : copy.textContent) : "",
  });
})()`

// look reads the page and saves a screenshot named name; every page must
// pass the checks a person relies on.
func (b *browser) look(name string) view {
	b.t.Helper()
	var v view
	if err := json.Unmarshal([]byte(b.eval(viewJS)), &v); err != nil {
		b.t.Fatal(err)
	}
	w := b.eval(`String(window.innerWidth)`)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	b.shot++
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s-%spx.png", b.shot, name, w))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	where := name + " at " + w + "px"
	switch {
	case v.Lang != "en":
		b.t.Errorf("%s: lang %q", where, v.Lang)
	case !v.HeadingsInOrder || len(v.Headings) == 0 || !strings.HasPrefix(v.Headings[0], "h1 "):
		b.t.Errorf("%s: headings out of order: %q", where, v.Headings)
	case v.Overflow:
		b.t.Errorf("%s: the page is wider than the window", where)
	case v.Unlabelled > 0:
		b.t.Errorf("%s: %d form fields without a label", where, v.Unlabelled)
	case !v.Styled:
		b.t.Errorf("%s: the stylesheet did not apply", where)
	case v.Canary != "undefined":
		b.t.Errorf("%s: a script of the package ran (canary is %s)", where, v.Canary)
	case v.EventAttrs > 0 || v.BadLinks > 0 || v.Foreign > 0:
		b.t.Errorf("%s: %d event attributes, %d script URLs, %d foreign elements", where, v.EventAttrs, v.BadLinks, v.Foreign)
	case !v.FooterLast:
		b.t.Errorf("%s: the page does not end with its footer", where)
	}
	return v
}

// TestPagesInBrowser walks the site as a person would, at phone and
// desktop width: the list, the search box, a package and its README, an
// older version, the author, a tag, the reference, the status and a
// missing page; it reads what each shows and keeps a screenshot of each.
func TestPagesInBrowser(t *testing.T) {
	e := newEnvAt(t, "")
	withReference(t, e)
	readme := []byte("# controller\n\nReads **both** joypads in one call, " +
		"[see the wiki](https://www.nesdev.org/wiki/Standard_controller).\n\n" +
		"## Usage\n\n```\n  jsr read_pads\n  lda pad1\n  and #BUTTON_A\n```\n\n" +
		"| Button | Bit |\n| --- | --- |\n| A | 7 |\n| B | 6 |\n| Select | 5 |\n| Start | 4 |\n\n" +
		"- [x] NES controllers\n- [ ] Famicom microphone\n\n> Call it once per frame, in NMI.\n")
	e.seedCanonical("controller", "1.0.0", "Read the joypads", []byte("rts\n"), readme, "input", "joypad")
	e.seedCanonical("controller", "1.1.0", "Read both joypads in one call", []byte("rts\n"), readme, "input", "joypad", "nes")
	e.seedCanonical("sprites", "0.3.0", "Sprite helpers: OAM buffer, metasprites and DMA", []byte("rts\n"), []byte("# sprites\n"), "gfx")
	e.seedCanonical("famitone", "2.0.0", "Music and sound effects driver", []byte("rts\n"), []byte("# famitone\n"), "audio", "apu")
	b := newBrowser(t)

	for _, w := range []int64{390, 1280} {
		b.width(w)
		if st := b.open(e.ts.URL + "/"); st != 200 {
			t.Fatalf("/: %d", st)
		}
		v := b.look("list")
		if v.H1 != "Packages" || !strings.Contains(v.Main, "3 packages") || !strings.Contains(v.Main, "Sprite helpers") {
			t.Errorf("list page reads %q / %q", v.H1, v.Main)
		}
		// The keyboard: the first Tab shows the skip link, with a visible focus ring.
		b.do("tab", chromedp.KeyEvent("\t"))
		if got := b.eval(`(() => { const a = document.activeElement, s = getComputedStyle(a);
			return a.textContent + "|" + s.outlineStyle + "|" + (a.getBoundingClientRect().left >= 0) })()`); got != "Skip to content|solid|true" {
			t.Errorf("first Tab: %q, want the skip link, visible, with an outline", got)
		}
		b.follow("nav.sort", "Description Z–A")
		v = b.look("list-sorted")
		if i, j := strings.Index(v.Main, "Sprite helpers"), strings.Index(v.Main, "Music and sound"); i < 0 || j < i {
			t.Errorf("sorted by description Z-A: %q", v.Main)
		}

		// The search box.
		b.do("search", chromedp.SendKeys(chromedp.ID("q"), "JOYPADS"), chromedp.WaitVisible(chromedp.ID("q")))
		if _, err := chromedp.RunResponse(b.ctx, chromedp.Submit(chromedp.ID("q"))); err != nil {
			t.Fatalf("submit search: %v", err)
		}
		v = b.look("search")
		if v.H1 != "Search: “JOYPADS”" || !strings.Contains(v.Main, "1 package matches") ||
			b.eval(`document.querySelector("mark").textContent`) != "joypads" {
			t.Errorf("search page reads %q / %q", v.H1, v.Main)
		}

		// A package page: its README, install command and details.
		b.follow("ul.packages", "controller")
		v = b.look("package")
		if v.H1 != "controller 1.1.0" || v.Title != "controller · nessemble registry" {
			t.Errorf("package page: %q, title %q", v.H1, v.Title)
		}
		if got := b.eval(`document.querySelector(".install code").textContent`); got != "nessemble install controller" {
			t.Errorf("install command %q", got)
		}
		if v.Copy != "Copy" {
			t.Errorf("copy button: %q, want it shown by its script", v.Copy)
		}
		for _, want := range []string{"Read both joypads in one call", "README", "Reads both joypads in one call, see the wiki",
			"jsr read_pads", "Select\t5", "NES controllers", "Call it once per frame", "Author\nalice", "License\nMIT",
			"1.1.0\n1 Nov 2026", "1.0.0\n1 Nov 2026", "controller-1.1.0.tar.gz"} {
			if !strings.Contains(v.Main, want) {
				t.Errorf("package page lacks %q:\n%s", want, v.Main)
			}
		}
		if got := b.eval(`document.querySelector(".readme a").rel`); got != "nofollow noopener" {
			t.Errorf("README link rel %q", got)
		}
		if got := b.eval(`[...document.querySelectorAll(".readme h3, .readme h4")].map(h => h.tagName + " " + h.textContent).join("|")`); got != "H3 controller|H4 Usage" {
			t.Errorf("README headings %q, want them below the page's h2", got)
		}
		if w == 1280 {
			b.dark(true)
			b.look("package-dark")
			if bg := b.eval(`getComputedStyle(document.body).backgroundColor`); bg != "rgb(21, 23, 27)" {
				t.Errorf("dark background %s", bg)
			}
			b.dark(false)
		}
		b.do("copy", chromedp.Click(chromedp.CSS("button[data-copy]"), chromedp.NodeVisible))
		copied := ""
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if copied = b.eval(`document.querySelector("button[data-copy]").textContent`); copied != "Copy" {
				break
			}
		}
		if copied != "Copied" && copied != "Press Ctrl+C" {
			t.Errorf("the copy button says %q after a click", copied)
		}

		// An older version says so and installs with @VERSION.
		b.follow(".versions", "1.0.0")
		v = b.look("package-old")
		if !strings.Contains(v.Main, "This is an older version. The newest is 1.1.0.") ||
			b.eval(`document.querySelector(".install code").textContent`) != "nessemble install controller@1.0.0" {
			t.Errorf("older version page: %q", v.Main)
		}
		b.follow(".note", "1.1.0")
		if v := b.look("package-back"); v.H1 != "controller 1.1.0" {
			t.Errorf("back to the newest: %q", v.H1)
		}

		b.follow(".details", "alice")
		v = b.look("author")
		if v.H1 != "Packages by alice" || !strings.Contains(v.Main, "3 packages") {
			t.Errorf("author page: %q / %q", v.H1, v.Main)
		}
		b.follow("ul.packages", "audio")
		v = b.look("tag")
		if v.H1 != "Search: “audio”" || !strings.Contains(v.Main, "famitone") {
			t.Errorf("tag search: %q / %q", v.H1, v.Main)
		}

		// The reference, down and back up.
		b.follow("nav", "Reference")
		v = b.look("reference")
		if v.H1 != "Reference" || !strings.Contains(v.Main, "instructions") {
			t.Errorf("reference: %q / %q", v.H1, v.Main)
		}
		b.follow("main", "instructions")
		if v := b.look("reference-category"); v.H1 != "instructions" || !strings.Contains(v.Main, "LDA") {
			t.Errorf("category: %q", v.H1)
		}
		b.follow("main", "LDA")
		v = b.look("reference-term")
		if !strings.HasPrefix(v.H1, "LDA - ") || !strings.Contains(v.Main, "Flags:") || !strings.Contains(v.Main, "nessemble reference instructions LDA") {
			t.Errorf("term: %q / %q", v.H1, v.Main)
		}
		b.follow("nav.crumbs", "instructions")
		if v := b.look("reference-up"); v.H1 != "instructions" {
			t.Errorf("up from a term: %q", v.H1)
		}

		b.follow("nav", "Status")
		v = b.look("status")
		for _, want := range []string{"Status: ok", "Server version\ndev", "Packages\n3", "Versions\n4", "Users\n0", "Up for"} {
			if !strings.Contains(v.Main, want) {
				t.Errorf("status page lacks %q: %q", want, v.Main)
			}
		}

		if st := b.open(e.ts.URL + "/package/no-such-thing"); st != 404 {
			t.Errorf("missing package: %d", st)
		}
		v = b.look("not-found")
		if v.H1 != "Not found" || !strings.Contains(v.Main, "Package does not exist") {
			t.Errorf("404 page: %q / %q", v.H1, v.Main)
		}
		// Its search box works too.
		b.do("search from 404", chromedp.SendKeys(chromedp.ID("q"), "sprite"))
		if _, err := chromedp.RunResponse(b.ctx, chromedp.Submit(chromedp.ID("q"))); err != nil {
			t.Fatal(err)
		}
		if v := b.look("search-from-404"); !strings.Contains(v.Main, "Sprite helpers") {
			t.Errorf("search from the 404 page: %q", v.Main)
		}
		b.open(e.ts.URL + "/search?q=zzzz")
		if v := b.look("search-empty"); !strings.Contains(v.Main, "No packages match “zzzz”") {
			t.Errorf("empty search: %q", v.Main)
		}
	}
}
