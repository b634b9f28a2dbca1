// Package markdown turns a package's README, untrusted text, into HTML
// that is safe to put in a page: CommonMark with GitHub's tables, task
// lists, strikethrough and bare links (goldmark), then sanitised
// (bluemonday), so that whatever the README holds, no script runs and
// nothing leaves the README's box.
package markdown

import (
	"bytes"
	"html/template"
	"regexp"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// md renders raw HTML in READMEs as written (GitHub shows <details>,
// <kbd> and the like): the sanitiser, not the renderer, decides what of
// it stays.
// Both are made on first use: a registry that renders no README never
// spends their memory.
var md = sync.OnceValue(func() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
	)
})

// headingShift is how many levels a README's headings go down: the page
// shows it under its own h1 and an h2 "README", so its "# Title" becomes
// an h3, and the page keeps one h1 and its headings in order.
const headingShift = 2

// policy is bluemonday's policy for user content (no script, style,
// event attributes, forms or frames; links only to http, https, mailto
// and relative URLs) plus the disabled checkboxes of task lists. Every
// link gets rel="nofollow": a README must not lend the registry's
// standing to what it links.
var policy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AllowElements("input")
	p.AllowAttrs("type").Matching(regexp.MustCompile(`^checkbox$`)).OnElements("input")
	p.AllowAttrs("checked", "disabled").Matching(regexp.MustCompile(`^$`)).OnElements("input")
	return p
})

// Render returns the README src as safe HTML.
func Render(src string) template.HTML {
	var buf bytes.Buffer
	if err := md().Convert([]byte(src), &buf); err != nil {
		// goldmark fails only when its writer does, and a buffer does
		// not: show the text rather than nothing.
		return template.HTML("<pre>" + template.HTMLEscapeString(src) + "</pre>")
	}
	out := policy().SanitizeBytes(buf.Bytes())
	// bluemonday writes rel="nofollow" itself; "noopener" keeps a page a
	// link opens from reaching back into ours. Text cannot hold this
	// string: the sanitiser writes its quotes as &#34;.
	out = bytes.ReplaceAll(out, []byte(` rel="nofollow"`), []byte(` rel="nofollow noopener"`))
	return template.HTML(balance(out))
}

// balance parses h as the content of a <div> and writes it out again, so
// that every element it opens is closed inside it: an unclosed <b> or
// <div> in a README would otherwise run on into the page after it. On the
// way, headings (Markdown's and raw HTML's alike) go down headingShift
// levels.
func balance(h []byte) []byte {
	box := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(bytes.NewReader(h), box)
	if err != nil {
		return []byte(template.HTMLEscapeString(string(h)))
	}
	var buf bytes.Buffer
	for _, n := range nodes {
		demote(n)
		if err := html.Render(&buf, n); err != nil {
			return []byte(template.HTMLEscapeString(string(h)))
		}
	}
	return buf.Bytes()
}

var headings = []atom.Atom{atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6}

// demote moves the headings in n down by headingShift, to h6 at most.
func demote(n *html.Node) {
	if n.Type == html.ElementNode {
		for i, a := range headings {
			if n.DataAtom == a {
				n.DataAtom = headings[min(i+headingShift, len(headings)-1)]
				n.Data = n.DataAtom.String()
				break
			}
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		demote(c)
	}
}
