package server

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
)

// Paging limits for / and /search.
const (
	defaultPerPage = 10
	maxPerPage     = 100
	maxPage        = 1_000_000
)

// summary is one package in a list or search answer.
type summary struct {
	Title       string   `json:"title"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	URL         string   `json:"url"`
}

// legacySummary is what the nessemble client reads of a search result:
// with tags, ten results overflow its 128-token JSON budget.
type legacySummary struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

type pagination struct {
	Page    int     `json:"page"`
	PerPage int     `json:"per_page"`
	Total   int     `json:"total"`
	Prev    *string `json:"prev"`
	Next    *string `json:"next"`
}

// paging reads page and per_page from the query string.
func paging(q url.Values) (page, perPage int, err error) {
	page, err = intParam(q, "page", 1, 1, maxPage)
	if err != nil {
		return 0, 0, err
	}
	perPage, err = intParam(q, "per_page", defaultPerPage, 1, maxPerPage)
	return page, perPage, err
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, rangeError(name, lo, hi)
	}
	return n, nil
}

// rangeError refuses a number parameter outside lo..hi (GraphQL shares it).
func rangeError(name string, lo, hi int) error {
	return userError(http.StatusBadRequest,
		"Invalid "+name+": use a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
}

// listOrder checks a list's sort key and order ("" means the default) and
// returns them spelled out with the store options. sortName and orderName
// name the parameters in messages: REST and GraphQL spell them apart.
func listOrder(sortBy, order, sortName, orderName string) (string, string, registry.ListOptions, error) {
	var opts registry.ListOptions
	switch sortBy {
	case "", "title":
		sortBy = "title"
	case "description":
		opts.ByDescription = true
	default:
		return "", "", opts, userError(http.StatusBadRequest, "Invalid "+sortName+": use title or description")
	}
	switch order {
	case "", "asc":
		order = "asc"
	case "desc":
		opts.Desc = true
	default:
		return "", "", opts, userError(http.StatusBadRequest, "Invalid "+orderName+": use asc or desc")
	}
	return sortBy, order, opts, nil
}

// listLink makes the URL of a page of the package list.
func listLink(base string, perPage int, sortBy, order string) func(page int) string {
	return func(p int) string {
		return base + "/?page=" + strconv.Itoa(p) + "&per_page=" + strconv.Itoa(perPage) +
			"&sort_by=" + sortBy + "&order=" + order
	}
}

// authorLink makes the URL of a page of an author's packages.
func authorLink(base, name string, perPage int) func(page int) string {
	return func(p int) string {
		return base + "/author/" + url.PathEscape(name) + "?page=" + strconv.Itoa(p) + "&per_page=" + strconv.Itoa(perPage)
	}
}

// searchLink makes the URL of a page of search results.
func searchLink(base, term string, perPage int) func(page int) string {
	return func(p int) string {
		return base + "/search/" + url.PathEscape(term) + "?page=" + strconv.Itoa(p) + "&per_page=" + strconv.Itoa(perPage)
	}
}

// pageLinks builds the pagination block; link makes the URL of a page.
func pageLinks(page, perPage, total int, link func(page int) string) pagination {
	p := pagination{Page: page, PerPage: perPage, Total: total}
	if page > 1 {
		prev := link(min(page-1, (total+perPage-1)/perPage))
		if total == 0 {
			prev = link(1)
		}
		p.Prev = &prev
	}
	if page*perPage < total {
		next := link(page + 1)
		p.Next = &next
	}
	return p
}

// summaries are packages as lists and searches show them: to the
// nessemble 1.x client only what it reads.
func summaries(k readKey, ps []registry.Package) any {
	if k.legacy {
		out := make([]legacySummary, len(ps))
		for i, p := range ps {
			out[i] = legacySummary{p.Title, p.Description}
		}
		return out
	}
	return fullSummaries(k.base, ps)
}

func fullSummaries(base string, ps []registry.Package) []summary {
	out := make([]summary, len(ps))
	for i, p := range ps {
		out[i] = summary{p.Title, p.Description, p.Tags, base + "/package/" + p.Title}
	}
	return out
}

func (s *Server) renderList(ctx context.Context, k readKey) (*cached, error) {
	page, perPage, err := paging(k.query)
	if err != nil {
		return nil, err
	}
	sortBy, order, opts, err := listOrder(k.query.Get("sort_by"), k.query.Get("order"), "sort_by", "order")
	if err != nil {
		return nil, err
	}
	opts.Offset, opts.Limit = (page-1)*perPage, perPage
	pkgs, total, err := s.core.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if k.html {
		return s.htmlList(k, page, perPage, sortBy, order, pkgs, total)
	}
	link := listLink(k.base, perPage, sortBy, order)
	return jsonAnswer(k, struct {
		Packages   any        `json:"packages"`
		Pagination pagination `json:"pagination"`
	}{summaries(k, pkgs), pageLinks(page, perPage, total, link)})
}

func (s *Server) renderSearch(ctx context.Context, k readKey) (*cached, error) {
	term := strings.TrimSpace(k.ps.ByName("term"))
	if term == "" {
		term = strings.TrimSpace(k.query.Get("q"))
	}
	page, perPage, err := paging(k.query)
	if err != nil {
		return nil, err
	}
	pkgs, total, err := s.core.Search(ctx, term, (page-1)*perPage, perPage)
	if err != nil {
		return nil, err
	}
	if k.html {
		return s.htmlSearch(k, term, page, perPage, pkgs, total)
	}
	link := searchLink(k.base, term, perPage)
	if k.legacy {
		// No "term": a term equal to "title" would be taken for a key.
		return jsonAnswer(k, struct {
			Results    any        `json:"results"`
			Pagination pagination `json:"pagination"`
		}{summaries(k, pkgs), pageLinks(page, perPage, total, link)})
	}
	return jsonAnswer(k, struct {
		Term       string     `json:"term"`
		Results    any        `json:"results"`
		Pagination pagination `json:"pagination"`
	}{term, summaries(k, pkgs), pageLinks(page, perPage, total, link)})
}

// renderAuthor renders /author/NAME: the packages whose newest version
// has NAME as its author (package.json), the name a package page shows.
func (s *Server) renderAuthor(ctx context.Context, k readKey) (*cached, error) {
	name := k.ps.ByName("name")
	page, perPage, err := paging(k.query)
	if err != nil {
		return nil, err
	}
	pkgs, total, err := s.core.ByAuthor(ctx, name, (page-1)*perPage, perPage)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, userError(http.StatusNotFound, "Not Found: no package here has that author")
	}
	if k.html {
		return s.htmlAuthor(k, name, page, perPage, pkgs, total)
	}
	return jsonAnswer(k, struct {
		Author     string     `json:"author"`
		Packages   any        `json:"packages"`
		Pagination pagination `json:"pagination"`
	}{name, summaries(k, pkgs), pageLinks(page, perPage, total, authorLink(k.base, name, perPage))})
}

// statusMaxAge is how long clients may cache /status: a read, as the API
// documentation has it, but one whose counts and uptime move.
const statusMaxAge = 5 * time.Second

func (s *Server) handleStatus(c *call) error {
	if !accepts(c.r.Header.Get("Accept"), "application/json") {
		// A page unless JSON is asked for, as /status always answered.
		e, err := s.htmlStatus(c.r.Context(), c)
		if err != nil {
			return err
		}
		c.readFor(e, statusMaxAge)
		return nil
	}
	pkgs, users, err := s.core.Counts(c.r.Context())
	if err != nil {
		return err
	}
	type cacheStats struct {
		Entries int `json:"entries"`
		Bytes   int `json:"bytes"`
	}
	var cs cacheStats
	cs.Entries, cs.Bytes = s.cache.stats()
	b, err := marshal(struct {
		Status   string     `json:"status"`
		Version  string     `json:"version"`
		Packages int        `json:"packages"`
		Users    int        `json:"users"`
		Uptime   int64      `json:"uptime_seconds"`
		Cache    cacheStats `json:"cache"`
	}{"ok", s.cfg.Version, pkgs, users, int64(time.Since(s.started) / time.Second), cs})
	if err != nil {
		return err
	}
	e := newAnswer("application/json", b)
	e.vary = hdrVaryAccept
	c.readFor(e, statusMaxAge)
	return nil
}
