package server

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

// graphqlSchema is the whole GraphQL API; its descriptions are the
// reference documentation (introspection and the query page show them).
// Every field answers what the REST endpoint named in its description
// answers, from the same store calls.
const graphqlSchema = `
schema {
	query: Query
}

"""
The registry's read API. Every root field costs 5 points and reading a
tarball (Package.resource) 20 more; one query may spend 100.
"""
type Query {
	"Always \"ok\" while the registry answers."
	status: String
	"Server details, as GET /status with Accept: application/json."
	server: ServerStatus!
	"""
	One page of packages, as GET /?page=&per_page=&sort_by=&order=.
	perPage is 1 to 100, sortBy title or description, order asc or desc.
	"""
	packages(page: Int = 1, perPage: Int = 10, sortBy: String = "title", order: String = "asc"): PackageList
	"""
	Packages whose title, description or tags contain term (any case), the
	exact title first, then by title; as GET /search/TERM?page=&per_page=.
	An empty term matches every package.
	"""
	search(term: String = "", page: Int = 1, perPage: Int = 10): SearchResult
	"""
	One version of a package, as GET /package/TITLE[/VERSION]: the newest
	not yanked when version is empty. Null, with an error, when there is no
	such package or version, or the operator removed it.
	"""
	package(title: String!, version: String = ""): Package
	"""
	Reference text, as GET /reference/TERM/...: no terms lists the
	categories, a category lists its terms, a term gives its text. Null,
	with an error, when there is no such entry.
	"""
	reference(terms: [String] = []): String
}

"What GET /status tells."
type ServerStatus {
	status: String!
	"The registry's version."
	version: String!
	packages: Int!
	users: Int!
	uptimeSeconds: Int!
}

"A page of the package list. The field package (singular) is the list."
type PackageList {
	package: [PackageSummary!]!
	pagination: Pagination!
}

"A page of search results."
type SearchResult {
	"The term searched for, spaces trimmed."
	term: String!
	results: [PackageSummary!]!
	pagination: Pagination!
}

"A package as lists show it: the fields of its newest version."
type PackageSummary {
	title: String!
	description: String!
	tags: [String!]!
	"The package's REST document."
	url: String!
}

"Where a page sits. prev and next are the REST URLs of the neighbouring pages, prevPage and nextPage their numbers; null on the first or last page."
type Pagination {
	page: Int!
	perPage: Int!
	"How many items there are on all pages."
	total: Int!
	prev: String
	next: String
	prevPage: Int
	nextPage: Int
}

"One version of a package."
type Package {
	title: String!
	description: String!
	"This version's number."
	version: String!
	"Whether an owner yanked this version: it is no longer the newest, but installs by its number."
	yanked: Boolean!
	"The accounts that may publish and yank the package, in the order they were added."
	owners: [String!]!
	"""
	Every version number of the package, highest (newest) first by semver,
	yanked ones included, removed ones left out.
	first: true keeps only the lowest (normally the first published),
	last: true only the highest; both keep those two.
	"""
	versions(first: Boolean, last: Boolean): [String!]!
	"Every version with its publication date, highest first."
	releases: [Release!]!
	author: String!
	license: String!
	tags: [String!]!
	"When this version was published: ISO 8601, UTC, milliseconds."
	date: String!
	"This version's README text."
	readme: String!
	"This version's tarball, base64 (standard alphabet, padded)."
	resource: String
	"Lowercase hex SHA-1 of the tarball."
	shasum: String!
	"Tarball size in bytes."
	size: Int!
	"This version's REST document."
	url: String!
	"Where REST serves the README text."
	readmeUrl: String!
	"Where REST serves the tarball."
	resourceUrl: String!
}

"A version number, when it was published (ISO 8601, UTC, milliseconds), and whether it is yanked."
type Release {
	version: String!
	date: String!
	yanked: Boolean!
}
`

// Limits that keep one query from exhausting the server. Depth 12 lets
// the standard introspection query of GraphQL tools through; our own
// types nest only three deep, and introspection is cheap and bounded by
// maxSelections. The cost budget is what stops a query from naming the
// same expensive field under many aliases: graphql-go has no complexity
// analysis, so resolvers charge a per-request budget as they run.
const (
	maxGraphQLBody    = 64 << 10
	maxQueryLength    = 8 << 10
	maxQueryDepth     = 12
	maxSelections     = 500
	maxGQLParallelism = 4 // concurrent resolvers per query; SQLite has 8 readers

	maxQueryCost  = 100
	costRootField = 5
	costTarball   = 20
)

// schema is parsed at start-up, so that a resolver that does not match it
// fails every test at once. Per-request state travels in the context (see
// gqlRequest), so one schema serves every Server.
var schema = graphql.MustParseSchema(graphqlSchema, &gqlQuery{},
	graphql.UseStringDescriptions(),
	graphql.UseFieldResolvers(),
	graphql.MaxQueryLength(maxQueryLength),
	graphql.MaxDepth(maxQueryDepth),
	graphql.MaxSelections(maxSelections),
	graphql.MaxParallelism(maxGQLParallelism),
	graphql.Logger(gqlPanics{}),
	graphql.PanicHandler(gqlPanics{}),
)

//go:embed graphql_page.html
var graphqlPageTemplate string

// graphqlPage is the query page with the schema filled in.
var graphqlPage = []byte(strings.Replace(graphqlPageTemplate, "{{SCHEMA}}",
	html.EscapeString(strings.TrimSpace(graphqlSchema)), 1))

// graphqlPageETag is hashed once: the page never changes.
// graphqlPageAnswer is the query page. Marked for shared caches: the same
// URL answers JSON to other Accept headers.
var graphqlPageAnswer = func() *cached {
	e := newAnswer("text/html", graphqlPage)
	e.vary = hdrVaryAccept
	return e
}()

// gqlParams is a GraphQL request, from a JSON body or the query string.
type gqlParams struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// handleGraphQL serves GET, HEAD and POST /graphql.
//
// Transport errors (wrong content type, oversized or malformed body, no
// query) get their HTTP status and a body that both REST and GraphQL
// clients can read: {"status":N,"error":"...","errors":[{"message":"..."}]}.
// A well-formed request is answered 200 with the GraphQL response, also
// when it holds errors (syntax, validation, limits or field errors), as
// GraphQL over HTTP asks for application/json responses. A browser that
// asks for text/html without a query gets the query page.
func (s *Server) handleGraphQL(c *call) error {
	var p gqlParams
	if c.r.Method == http.MethodPost {
		if status, msg := readGraphQLBody(c, &p); status != 0 {
			return c.graphqlFail(status, msg)
		}
	} else {
		q := c.r.URL.Query()
		p.Query, p.OperationName = q.Get("query"), q.Get("operationName")
		if p.Query == "" && accepts(c.r.Header.Get("Accept"), "text/html") {
			c.read(graphqlPageAnswer)
			return nil
		}
		if v := q.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &p.Variables); err != nil {
				return c.graphqlFail(http.StatusBadRequest, "Invalid variables: give a JSON object ("+jsonProblem(err)+")")
			}
		}
	}
	if strings.TrimSpace(p.Query) == "" {
		return c.graphqlFail(http.StatusBadRequest,
			"Missing query: POST JSON {\"query\": ...} or GET /graphql?query=...; open /graphql in a browser to try queries")
	}
	ctx := context.WithValue(c.r.Context(), gqlKey{}, &gqlRequest{c: c})
	res := schema.Exec(ctx, p.Query, p.OperationName, p.Variables)
	res.Data = unescapeHTML(res.Data)
	for _, e := range res.Errors {
		// Syntax errors quote the query: the client's printf rule holds
		// for GraphQL messages too.
		e.Message = safeMessage(e.Message)
	}
	body, err := marshal(res)
	if err != nil {
		return err
	}
	c.write(http.StatusOK, "application/json", body)
	return nil
}

// unescapeHTML undoes the \u0026, \u003c and \u003e that graphql-go
// writes for &, < and >, so that answers read like every other (see
// marshal). It steps over each escape as a pair, so an escaped backslash
// followed by the text "u003c" stays as it was.
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 == len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			if r, ok := htmlEscapes[string(b[i+2:i+6])]; ok {
				out = append(out, r)
				i += 5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}

var htmlEscapes = map[string]byte{"0026": '&', "003c": '<', "003e": '>'}

// readGraphQLBody decodes a POST body into p; a non-zero status is a
// transport error.
func readGraphQLBody(c *call, p *gqlParams) (status int, msg string) {
	mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return http.StatusUnsupportedMediaType, "Unsupported Content-Type: POST the request as application/json"
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxGraphQLBody))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return c.classify(err)
	}
	if err != nil {
		return http.StatusBadRequest, "Could not read the request body"
	}
	if err := json.Unmarshal(b, p); err != nil {
		return http.StatusBadRequest, "Invalid JSON body: send {\"query\": ..., \"variables\": {...}, \"operationName\": ...} (" + jsonProblem(err) + ")"
	}
	return 0, ""
}

// jsonProblem says what is wrong with a JSON input without Go's type names.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "found " + te.Value + " where an object belongs"
		}
		return te.Field + " has the wrong type (" + te.Value + ")"
	}
	return "not valid JSON"
}

// graphqlFail writes a transport error readable as REST and as GraphQL.
func (c *call) graphqlFail(status int, msg string) error {
	msg = safeMessage(msg)
	type gqlMsg struct {
		Message string `json:"message"`
	}
	body, err := marshal(struct {
		Status int      `json:"status"`
		Error  string   `json:"error"`
		Errors []gqlMsg `json:"errors"`
	}{status, msg, []gqlMsg{{msg}}})
	if err != nil {
		return err
	}
	c.write(status, "application/json", body)
	return nil
}

// gqlKey is the context key of the request's *gqlRequest.
type gqlKey struct{}

// gqlRequest is one GraphQL request's state, reached by resolvers
// through their context.
type gqlRequest struct {
	c     *call
	spent atomic.Int64 // cost points; resolvers may run concurrently
}

func requestOf(ctx context.Context) *gqlRequest {
	r, _ := ctx.Value(gqlKey{}).(*gqlRequest)
	return r
}

// charge spends points of the query's budget, failing once it is gone.
func (r *gqlRequest) charge(points int64) error {
	if r.spent.Add(points) > maxQueryCost {
		return userError(http.StatusBadRequest, "Query too complex: it costs more than "+strconv.Itoa(maxQueryCost)+
			" points (5 a root field, 20 more a resource); split it into several queries")
	}
	return nil
}

// gqlError is a field error; its status says what REST would have
// answered, in the error's extensions.
type gqlError struct {
	status int
	msg    string
}

func (e *gqlError) Error() string { return e.msg }

// Extensions puts the status in the GraphQL error's "extensions".
func (e *gqlError) Extensions() map[string]any { return map[string]any{"status": e.status} }

// fieldError maps an error as the REST error sink does: user errors keep
// their text, a missing row is 404, anything else is logged and hidden.
func (r *gqlRequest) fieldError(err error) error {
	if err == nil {
		return nil
	}
	status, msg := r.c.classify(err)
	return &gqlError{status, safeMessage(msg)}
}

// gqlPanics logs a resolver's panic and shows the client only that
// something went wrong.
type gqlPanics struct{}

func (gqlPanics) LogPanic(ctx context.Context, value any) {
	if r := requestOf(ctx); r != nil {
		r.c.s.log.Error("graphql resolver panic", "panic", value)
	}
}

func (gqlPanics) MakePanicError(ctx context.Context, value any) *gqlerrors.QueryError {
	return &gqlerrors.QueryError{Message: internalMessage, Extensions: map[string]any{"status": http.StatusInternalServerError}}
}

// gqlQuery resolves the root fields. Each charges the budget, then does
// what the matching REST handler does.
type gqlQuery struct{}

func (gqlQuery) Status(ctx context.Context) (*string, error) {
	r := requestOf(ctx)
	if err := r.charge(costRootField); err != nil {
		return nil, r.fieldError(err)
	}
	ok := "ok"
	return &ok, nil
}

type gqlServerStatus struct {
	Status        string
	Version       string
	Packages      int32
	Users         int32
	UptimeSeconds int32
}

func (gqlQuery) Server(ctx context.Context) (*gqlServerStatus, error) {
	r := requestOf(ctx)
	st, err := r.server(ctx)
	return st, r.fieldError(err)
}

func (r *gqlRequest) server(ctx context.Context) (*gqlServerStatus, error) {
	if err := r.charge(costRootField); err != nil {
		return nil, err
	}
	s := r.c.s
	pkgs, users, err := s.core.Counts(ctx)
	if err != nil {
		return nil, err
	}
	return &gqlServerStatus{"ok", s.cfg.Version, int32(pkgs), int32(users), int32(time.Since(s.started) / time.Second)}, nil
}

type gqlPackageList struct {
	Package    []summary
	Pagination gqlPagination
}

type gqlPagination struct {
	Page, PerPage, Total int32
	Prev, Next           *string
	PrevPage, NextPage   *int32
}

// pagingArgs checks page and perPage as REST checks page and per_page;
// nil takes the default.
func pagingArgs(page, perPage graphql.NullInt) (int, int, error) {
	p, pp := 1, defaultPerPage
	if page.Value != nil {
		p = int(*page.Value)
	}
	if perPage.Value != nil {
		pp = int(*perPage.Value)
	}
	if p < 1 || p > maxPage {
		return 0, 0, rangeError("page", 1, maxPage)
	}
	if pp < 1 || pp > maxPerPage {
		return 0, 0, rangeError("perPage", 1, maxPerPage)
	}
	return p, pp, nil
}

// gqlPaging builds the pagination block with REST's links, and the page
// numbers behind them.
func gqlPaging(page, perPage, total int, link func(int) string) gqlPagination {
	p := pageLinks(page, perPage, total, link)
	n := pageLinks(page, perPage, total, strconv.Itoa)
	return gqlPagination{int32(page), int32(perPage), int32(total), p.Prev, p.Next, pageNumber(n.Prev), pageNumber(n.Next)}
}

func pageNumber(s *string) *int32 {
	if s == nil {
		return nil
	}
	n, _ := strconv.Atoi(*s)
	v := int32(n)
	return &v
}

// orDefault is s, or "" (the default) when s is null.
func orDefault(s graphql.NullString) string {
	if s.Value == nil {
		return ""
	}
	return *s.Value
}

// Arguments with defaults are Null* types: graphql-go fills in the
// default when one is left out, and an explicit null (or an unset
// variable) arrives as a nil Value, which takes the default too.
type listArgs struct {
	Page, PerPage graphql.NullInt
	SortBy, Order graphql.NullString
}

func (gqlQuery) Packages(ctx context.Context, args listArgs) (*gqlPackageList, error) {
	r := requestOf(ctx)
	l, err := r.packages(ctx, args)
	return l, r.fieldError(err)
}

func (r *gqlRequest) packages(ctx context.Context, args listArgs) (*gqlPackageList, error) {
	if err := r.charge(costRootField); err != nil {
		return nil, err
	}
	page, perPage, err := pagingArgs(args.Page, args.PerPage)
	if err != nil {
		return nil, err
	}
	sortBy, order, opts, err := listOrder(orDefault(args.SortBy), orDefault(args.Order), "sortBy", "order")
	if err != nil {
		return nil, err
	}
	opts.Offset, opts.Limit = (page-1)*perPage, perPage
	pkgs, total, err := r.c.s.core.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &gqlPackageList{fullSummaries(r.c.base, pkgs),
		gqlPaging(page, perPage, total, listLink(r.c.base, perPage, sortBy, order))}, nil
}

type gqlSearchResult struct {
	Term       string
	Results    []summary
	Pagination gqlPagination
}

type searchArgs struct {
	Term          graphql.NullString
	Page, PerPage graphql.NullInt
}

func (gqlQuery) Search(ctx context.Context, args searchArgs) (*gqlSearchResult, error) {
	r := requestOf(ctx)
	res, err := r.search(ctx, args)
	return res, r.fieldError(err)
}

func (r *gqlRequest) search(ctx context.Context, args searchArgs) (*gqlSearchResult, error) {
	if err := r.charge(costRootField); err != nil {
		return nil, err
	}
	term := strings.TrimSpace(orDefault(args.Term))
	page, perPage, err := pagingArgs(args.Page, args.PerPage)
	if err != nil {
		return nil, err
	}
	pkgs, total, err := r.c.s.core.Search(ctx, term, (page-1)*perPage, perPage)
	if err != nil {
		return nil, err
	}
	return &gqlSearchResult{term, fullSummaries(r.c.base, pkgs),
		gqlPaging(page, perPage, total, searchLink(r.c.base, term, perPage))}, nil
}

// gqlPackage is one version of a package. Plain fields resolve as they
// are; the methods below compute the rest.
type gqlPackage struct {
	Title       string
	Description string
	Version     string
	Yanked      bool
	Owners      []string
	Releases    []gqlRelease
	Author      string
	License     string
	Tags        []string
	Date        string
	Readme      string
	Shasum      string
	Size        int32
	URL         string
	ReadmeURL   string
	ResourceURL string
}

type gqlRelease struct {
	Version string
	Date    string
	Yanked  bool
}

type packageArgs struct {
	Title   string
	Version graphql.NullString
}

func (gqlQuery) Package(ctx context.Context, args packageArgs) (*gqlPackage, error) {
	r := requestOf(ctx)
	p, err := r.pkg(ctx, args.Title, orDefault(args.Version))
	return p, r.fieldError(err)
}

func (r *gqlRequest) pkg(ctx context.Context, title, version string) (*gqlPackage, error) {
	if err := r.charge(costRootField); err != nil {
		return nil, err
	}
	v, err := r.c.s.core.Version(ctx, title, version)
	if err != nil {
		return nil, err
	}
	rels, err := r.c.s.core.Releases(ctx, v.Title)
	if err != nil {
		return nil, err
	}
	_, owners, err := r.c.s.core.Owners(ctx, v.Title)
	if err != nil {
		return nil, err
	}
	link := docLink(r.c.base, v, version != "")
	p := &gqlPackage{
		Title: v.Title, Description: v.Description, Version: v.Version, Yanked: v.Yanked, Owners: owners,
		Author: v.Author, License: v.License, Tags: v.Tags,
		Date: v.Published.UTC().Format(isoMillis), Readme: v.Readme,
		Shasum: v.Shasum, Size: int32(v.Size),
		URL: link, ReadmeURL: link + "/README", ResourceURL: link + "/data",
	}
	for _, rel := range rels {
		p.Releases = append(p.Releases, gqlRelease{rel.Version, rel.Published.UTC().Format(isoMillis), rel.Yanked})
	}
	return p, nil
}

type versionsArgs struct {
	First, Last *bool
}

// Versions lists version numbers, highest first; see the schema.
func (p *gqlPackage) Versions(args versionsArgs) []string {
	first, last := args.First != nil && *args.First, args.Last != nil && *args.Last
	out := make([]string, 0, len(p.Releases))
	for i, rel := range p.Releases {
		isLast, isFirst := i == 0, i == len(p.Releases)-1
		if !first && !last || last && isLast || first && isFirst {
			out = append(out, rel.Version)
		}
	}
	return out
}

// Resource reads the tarball, the one expensive field.
func (p *gqlPackage) Resource(ctx context.Context) (*string, error) {
	r := requestOf(ctx)
	if err := r.charge(costTarball); err != nil {
		return nil, r.fieldError(err)
	}
	data, err := r.c.s.core.Tarball(p.Shasum)
	if err != nil {
		return nil, r.fieldError(err)
	}
	s := base64.StdEncoding.EncodeToString(data)
	return &s, nil
}

type referenceArgs struct {
	Terms []*string // nil when null
}

func (gqlQuery) Reference(ctx context.Context, args referenceArgs) (*string, error) {
	r := requestOf(ctx)
	text, err := r.reference(ctx, args)
	return text, r.fieldError(err)
}

func (r *gqlRequest) reference(ctx context.Context, args referenceArgs) (*string, error) {
	if err := r.charge(costRootField); err != nil {
		return nil, err
	}
	var terms []string
	for _, t := range args.Terms {
		if t == nil {
			return nil, userError(http.StatusBadRequest, "Invalid terms: a term cannot be null")
		}
		terms = append(terms, *t)
	}
	text, ok, err := r.c.s.core.ReferenceText(ctx, terms)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, userError(http.StatusNotFound, "Not Found: no such reference entry; reference with no terms lists the categories")
	}
	return &text, nil
}
