package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nessemble/nessemble-registry/markdown"
	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

// Web pages: a request that prefers text/html (representation) gets a
// page at the URL the API answers, rendered here from html/template and
// the files in web/, all embedded: no CDN, nothing loaded from elsewhere.
// Pages of package data are cached reads like the JSON (read.go); the
// reference, /status and error pages are rendered per request.

//go:embed web/*.html web/style.css web/copy.js
var webFiles embed.FS

// pages holds each page's template, parsed with the layout on first use:
// a registry no browser visits never spends the memory.
var pages = sync.OnceValue(func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"list", "search", "package", "author", "reference", "status", "error"} {
		m[name] = template.Must(template.ParseFS(webFiles, "web/layout.html", "web/"+name+".html"))
	}
	return m
})

var (
	styleSheet, _ = webFiles.ReadFile("web/style.css")
	styleAnswer   = newAnswer("text/css", styleSheet)
	// styleVersion goes in the stylesheet's URL, so that a page never
	// shows with a stylesheet a browser kept from another build.
	styleVersion = strings.Trim(styleAnswer.etag[0], `"`)[:8]

	copyScript, _ = webFiles.ReadFile("web/copy.js")
	// hdrCSP lets a page load nothing but its own stylesheet and the one
	// script of the copy button, and images (a README's); even markup
	// that got past the sanitiser could run no script and post no form
	// elsewhere.
	hdrCSP = []string{"default-src 'none'; style-src 'self'; img-src 'self' http: https:; script-src 'sha256-" +
		base64.StdEncoding.EncodeToString(sha256Of(copyScript)) +
		"'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}
)

func sha256Of(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// styleMaxAge is how long browsers keep the stylesheet: its URL changes
// with it (styleVersion).
const styleMaxAge = 7 * 24 * time.Hour

func (s *Server) handleStyle(c *call) error {
	c.readFor(styleAnswer, styleMaxAge)
	return nil
}

// pageData is what the layout shows around every page.
type pageData struct {
	Title        string // before " · nessemble registry"
	Section      string // the site navigation's current entry
	Root         string // path prefix of every link: the base URL's path
	Origin       string // the registry's URL, as `nessemble registry` takes it
	Query        string // what the search box holds
	Version      string
	StyleVersion string
	Script       template.JS // the copy button's, or empty
	Main         any         // the page's own data
}

// rootOf is the path of a base URL ("http://host/registry" gives
// "/registry"): pages link by path, so that they work under whatever
// name the browser reached the registry by.
func rootOf(base string) string {
	if i := strings.Index(base, "://"); i >= 0 {
		base = base[i+3:]
		if j := strings.IndexByte(base, '/'); j >= 0 {
			return base[j:]
		}
		return ""
	}
	return base
}

// renderHTML executes a page's template.
func (s *Server) renderHTML(name, base string, d pageData) ([]byte, error) {
	d.Root, d.Origin, d.Version, d.StyleVersion = rootOf(base), base, s.cfg.Version, styleVersion
	var buf bytes.Buffer
	if err := pages()[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// pageAnswer renders a page as a read answer.
func (s *Server) pageAnswer(name, base string, d pageData) (*cached, error) {
	b, err := s.renderHTML(name, base, d)
	if err != nil {
		return nil, err
	}
	return htmlOf(b), nil
}

// tagLink is a tag and the search for it.
type tagLink struct{ Name, URL string }

func tagLinks(root string, tags []string) []tagLink {
	out := make([]tagLink, len(tags))
	for i, t := range tags {
		out[i] = tagLink{t, root + "/search?q=" + url.QueryEscape(t)}
	}
	return out
}

// pkgRow is one package in a list of them.
type pkgRow struct {
	Title, Description any // string, or template.HTML with the search term marked
	URL, Latest        string
	Updated            string
	UpdatedISO         string
	Tags               []tagLink
}

func pkgRows(root string, ps []registry.Package, term string) []pkgRow {
	out := make([]pkgRow, len(ps))
	for i, p := range ps {
		out[i] = pkgRow{Title: p.Title, Description: p.Description, URL: root + "/package/" + p.Title,
			Latest: p.Latest, Tags: tagLinks(root, p.Tags)}
		if term != "" {
			out[i].Title, out[i].Description = highlight(p.Title, term), highlight(p.Description, term)
		}
		if !p.Updated.IsZero() {
			out[i].Updated, out[i].UpdatedISO = humanDate(p.Updated), p.Updated.UTC().Format(time.RFC3339)
		}
	}
	return out
}

// highlight escapes text and marks each place term occurs in it, in any
// case, as the search matched it.
func highlight(text, term string) template.HTML {
	lower, needle := strings.ToLower(text), strings.ToLower(term)
	if needle == "" || len(lower) != len(text) {
		// Lower-casing changed the length: no safe way back to text's bytes.
		return template.HTML(template.HTMLEscapeString(text))
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, needle)
		end := i + len(needle)
		if i < 0 || !utf8.RuneStart(text[i]) || end < len(text) && !utf8.RuneStart(text[end]) {
			break
		}
		b.WriteString(template.HTMLEscapeString(text[:i]))
		b.WriteString("<mark>")
		b.WriteString(template.HTMLEscapeString(text[i:end]))
		b.WriteString("</mark>")
		text, lower = text[end:], lower[end:]
	}
	b.WriteString(template.HTMLEscapeString(text))
	return template.HTML(b.String())
}

func humanDate(t time.Time) string { return t.UTC().Format("2 Jan 2006") }

// pager is the page links of a list.
type pager struct {
	Page, Pages int
	Prev, Next  string
}

func pagerOf(p pagination) pager {
	pg := pager{Page: p.Page, Pages: max(1, (p.Total+p.PerPage-1)/p.PerPage)}
	if p.Prev != nil {
		pg.Prev = *p.Prev
	}
	if p.Next != nil {
		pg.Next = *p.Next
	}
	return pg
}

// sortLink is one way of ordering the package list.
type sortLink struct {
	Label, URL string
	Current    bool
}

func (s *Server) htmlList(k readKey, page, perPage int, sortBy, order string, pkgs []registry.Package, total int) (*cached, error) {
	root := rootOf(k.base)
	var sorts []sortLink
	for _, o := range []struct{ label, by, order string }{
		{"Title A–Z", "title", "asc"}, {"Title Z–A", "title", "desc"},
		{"Description A–Z", "description", "asc"}, {"Description Z–A", "description", "desc"},
	} {
		sorts = append(sorts, sortLink{o.label, listLink(root, perPage, o.by, o.order)(1), sortBy == o.by && order == o.order})
	}
	title := ""
	if page > 1 {
		title = "Packages, page " + strconv.Itoa(page)
	}
	return s.pageAnswer("list", k.base, pageData{Title: title, Section: "packages", Main: struct {
		Packages []pkgRow
		Total    int
		Sorts    []sortLink
		Pager    pager
	}{pkgRows(root, pkgs, ""), total, sorts, pagerOf(pageLinks(page, perPage, total, listLink(root, perPage, sortBy, order)))}})
}

func (s *Server) htmlSearch(k readKey, term string, page, perPage int, pkgs []registry.Package, total int) (*cached, error) {
	root := rootOf(k.base)
	title := "Search"
	if term != "" {
		title = "Search: " + term
	} else {
		pkgs, total = nil, 0
	}
	return s.pageAnswer("search", k.base, pageData{Title: title, Section: "packages", Query: term, Main: struct {
		Term    string
		Results []pkgRow
		Total   int
		Pager   pager
	}{term, pkgRows(root, pkgs, term), total, pagerOf(pageLinks(page, perPage, total, searchLink(root, term, perPage)))}})
}

func (s *Server) htmlAuthor(k readKey, name string, page, perPage int, pkgs []registry.Package, total int) (*cached, error) {
	root := rootOf(k.base)
	return s.pageAnswer("author", k.base, pageData{Title: "Packages by " + name, Section: "packages", Main: struct {
		Name     string
		Packages []pkgRow
		Total    int
		Pager    pager
	}{name, pkgRows(root, pkgs, ""), total, pagerOf(pageLinks(page, perPage, total, authorLink(root, name, perPage)))}})
}

// versionRow is one version in a package page's list.
type versionRow struct {
	Version, URL, Date, DateISO string
	Current, Yanked             bool
}

func (s *Server) htmlPackage(k readKey, v registry.Version, rels []registry.Release, owners []string) (*cached, error) {
	root := rootOf(k.base)
	pkg := root + "/package/" + v.Title
	latest := "" // what /package/NAME shows and install takes: the newest not yanked
	for _, r := range rels {
		if !r.Yanked {
			latest = r.Version
			break
		}
	}
	newest := v.Version == latest
	install := "nessemble install " + v.Title
	if !newest {
		install += "@" + v.Version
	}
	versions := make([]versionRow, len(rels))
	for i, r := range rels {
		versions[i] = versionRow{r.Version, pkg + "/" + r.Version, humanDate(r.Published),
			r.Published.UTC().Format(time.RFC3339), r.Version == v.Version, r.Yanked}
	}
	d := struct {
		Title, Version, Description, Author, AuthorURL, License, Shasum string
		Date, DateISO, DataURL, Size, Install                           string
		Tags                                                            []tagLink
		Owners                                                          []string
		Readme                                                          template.HTML
		Versions                                                        []versionRow
		Newest, Yanked                                                  bool
		NewestVersion, NewestURL                                        string
	}{
		Title: v.Title, Version: v.Version, Description: v.Description, Author: v.Author,
		AuthorURL: root + "/author/" + url.PathEscape(v.Author), License: v.License, Shasum: v.Shasum,
		Date: humanDate(v.Published), DateISO: v.Published.UTC().Format(time.RFC3339),
		DataURL: pkg + "/" + v.Version + "/data", Size: humanSize(v.Size), Install: install,
		Tags: tagLinks(root, v.Tags), Owners: owners, Versions: versions, Newest: newest, Yanked: v.Yanked,
		NewestVersion: latest, NewestURL: pkg,
	}
	if strings.TrimSpace(v.Readme) != "" {
		d.Readme = markdown.Render(v.Readme)
	}
	title := v.Title
	if !newest {
		title += " " + v.Version
	}
	return s.pageAnswer("package", k.base, pageData{Title: title, Section: "packages", Script: template.JS(copyScript), Main: d})
}

func humanSize(n int64) string {
	switch {
	case n <= 0:
		return "size unknown"
	case n < 1024:
		return strconv.FormatInt(n, 10) + " bytes"
	default:
		return strconv.FormatFloat(float64(n)/1024, 'f', 1, 64) + " KiB"
	}
}

// crumb is a link in the reference's breadcrumb or listings.
type crumb struct{ Name, URL string }

func (s *Server) htmlReference(c *call, p reference.Page) error {
	root := rootOf(c.base) + "/reference"
	d := struct {
		Crumbs   []crumb
		Name     string
		Heading  string
		IsTerm   bool
		Text     string
		Command  string
		Children []crumb
	}{Name: "Reference", Heading: "Reference", IsTerm: p.Children == nil, Text: p.Text,
		Command: strings.Join(append([]string{"nessemble reference"}, p.Path...), " ")}
	at := root
	if len(p.Path) > 0 {
		d.Crumbs = append(d.Crumbs, crumb{"Reference", root})
		for _, name := range p.Path[:len(p.Path)-1] {
			at += "/" + url.PathEscape(name)
			d.Crumbs = append(d.Crumbs, crumb{name, at})
		}
		d.Name = p.Path[len(p.Path)-1]
		d.Heading = d.Name
		at += "/" + url.PathEscape(d.Name)
		if d.IsTerm {
			// A term's text starts with its title line ("ADC - Add with
			// Carry"): that is the better heading.
			if first, rest, _ := strings.Cut(p.Text, "\n"); strings.TrimSpace(first) != "" {
				d.Heading, d.Text = strings.TrimSpace(first), strings.TrimLeft(rest, "\n")
			}
		}
	}
	for _, name := range p.Children {
		d.Children = append(d.Children, crumb{name, at + "/" + url.PathEscape(name)})
	}
	title := "Reference"
	if len(p.Path) > 0 {
		title = strings.Join(p.Path, " / ") + " · Reference"
	}
	b, err := s.renderHTML("reference", c.base, pageData{Title: title, Section: "reference", Main: d})
	if err != nil {
		return err
	}
	c.read(htmlOf(b))
	return nil
}

// htmlOf makes a rendered page an answer.
func htmlOf(b []byte) *cached {
	e := newAnswer("text/html", b)
	e.vary = hdrVaryUAAccept
	e.csp = hdrCSP
	return e
}

func (s *Server) htmlStatus(ctx context.Context, c *call) (*cached, error) {
	pkgs, users, err := s.core.Counts(ctx)
	if err != nil {
		return nil, err
	}
	versions, err := s.core.CountVersions(ctx)
	if err != nil {
		return nil, err
	}
	b, err := s.renderHTML("status", c.base, pageData{Title: "Status", Section: "status", Main: struct {
		Status, Version, Uptime   string
		Packages, Versions, Users int
	}{"ok", s.cfg.Version, humanDuration(time.Since(s.started)), pkgs, versions, users}})
	if err != nil {
		return nil, err
	}
	e := htmlOf(b)
	e.vary = hdrVaryAccept // as /status always said
	return e, nil
}

// humanDuration writes d as a person reads it: "3 days 4 h", "5 min".
func humanDuration(d time.Duration) string {
	d = d.Truncate(time.Second)
	days, h, m := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	switch {
	case days > 0:
		return strconv.Itoa(days) + plural(days, " day", " days") + " " + strconv.Itoa(h) + " h"
	case h > 0:
		return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
	case m > 0:
		return strconv.Itoa(m) + " min"
	}
	return strconv.Itoa(int(d/time.Second)) + " s"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// wantsPage reports whether an error should be a page: a browser
// reading (GET or HEAD) rather than a program.
func (c *call) wantsPage() bool {
	return c.html && (c.r.Method == http.MethodGet || c.r.Method == http.MethodHead)
}

// errorPage is the body of an error answer for a browser; nil if the page
// cannot be rendered (then the JSON error goes out).
func (c *call) errorPage(status int, msg string) []byte {
	heading := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		heading = "Not found"
	case statusClientClosed:
		heading = "Request cancelled"
	}
	if heading == "" {
		heading = "Error " + strconv.Itoa(status)
	}
	b, err := c.s.renderHTML("error", c.base, pageData{Title: heading, Main: struct{ Heading, Message string }{heading, msg}})
	if err != nil {
		c.s.log.Error("error page", "err", err)
		return nil
	}
	return b
}
