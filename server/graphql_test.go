package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/server"
)

// gqlErr is one entry of a GraphQL response's errors.
type gqlErr struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// gqlOut is a decoded GraphQL response.
type gqlOut struct {
	resp
	hasData bool
	Data    map[string]any
	Errors  []gqlErr
}

// graphql POSTs a query the way GraphQL clients do and decodes the
// answer, which must be a 200 application/json GraphQL response.
func (e *env) graphql(query string, vars map[string]any) gqlOut {
	e.t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.graphqlDecode(e.do(http.MethodPost, "/graphql", map[string]string{"Content-Type": "application/json"}, string(body)))
}

func (e *env) graphqlDecode(r resp) gqlOut {
	e.t.Helper()
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("GraphQL answer: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil {
		e.t.Fatalf("GraphQL answer is not JSON: %v: %s", err, r.body)
	}
	out := gqlOut{resp: r}
	if raw, ok := top["data"]; ok {
		out.hasData = true
		if err := json.Unmarshal(raw, &out.Data); err != nil {
			e.t.Fatal(err)
		}
	}
	if raw, ok := top["errors"]; ok {
		if err := json.Unmarshal(raw, &out.Errors); err != nil {
			e.t.Fatal(err)
		}
	}
	return out
}

// ok fails the test if the response has errors.
func (g gqlOut) ok(t *testing.T) gqlOut {
	t.Helper()
	if len(g.Errors) > 0 || !g.hasData {
		t.Fatalf("unexpected errors: %s", g.body)
	}
	return g
}

// oneError asserts exactly one error whose message contains frag and, if
// status is not 0, whose extensions carry that status.
func (g gqlOut) oneError(t *testing.T, status int, frag string) gqlErr {
	t.Helper()
	if len(g.Errors) != 1 {
		t.Fatalf("want one error containing %q, got %s", frag, g.body)
	}
	err := g.Errors[0]
	if !strings.Contains(err.Message, frag) {
		t.Errorf("error %q, want it to contain %q", err.Message, frag)
	}
	if status != 0 && err.Extensions["status"] != float64(status) {
		t.Errorf("error extensions %v, want status %d", err.Extensions, status)
	}
	return err
}

func field(t *testing.T, m any, path ...string) any {
	t.Helper()
	for _, k := range path {
		obj, ok := m.(map[string]any)
		if !ok {
			t.Fatalf("%v is not an object (at %q)", m, k)
		}
		m = obj[k]
	}
	return m
}

const summaryFields = `title description tags url`
const paginationFields = `pagination { page perPage total prev next prevPage nextPage }`

// samePagination compares a GraphQL pagination block with REST's, and
// the page numbers with those in REST's links.
func samePagination(t *testing.T, g, rest map[string]any) {
	t.Helper()
	for gk, rk := range map[string]string{"page": "page", "perPage": "per_page", "total": "total", "prev": "prev", "next": "next"} {
		if !reflect.DeepEqual(g[gk], rest[rk]) {
			t.Errorf("pagination %s = %v, REST %s = %v", gk, g[gk], rk, rest[rk])
		}
	}
	for gk, rk := range map[string]string{"prevPage": "prev", "nextPage": "next"} {
		var want any
		if link, ok := rest[rk].(string); ok {
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.Atoi(u.Query().Get("page"))
			if err != nil {
				t.Fatalf("REST link %q has no page", link)
			}
			want = float64(n)
		}
		if g[gk] != want {
			t.Errorf("%s = %v, want %v (from REST %s %v)", gk, g[gk], want, rk, rest[rk])
		}
	}
}

func TestGraphQLPackagesAgreeWithREST(t *testing.T) {
	e := newEnv(t, server.Config{})
	for i := 0; i < 25; i++ {
		e.seed(fmt.Sprintf("pkg%02d", i), "1.0.0", fmt.Sprintf("description %02d", 24-i), "tag", fmt.Sprint(i))
	}
	for _, tc := range []struct{ args, rest string }{
		{``, ``},
		{`page: 2, perPage: 10`, `page=2&per_page=10`},
		{`page: 3`, `page=3`},
		{`page: 9, perPage: 5`, `page=9&per_page=5`}, // past the end
		{`sortBy: "description", order: "desc", perPage: 3`, `sort_by=description&order=desc&per_page=3`},
		{`sortBy: "title", order: "desc", page: 2, perPage: 7`, `sort_by=title&order=desc&page=2&per_page=7`},
		{`perPage: 100`, `per_page=100`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			q := `{ packages`
			if tc.args != "" {
				q += `(` + tc.args + `)`
			}
			q += ` { package { ` + summaryFields + ` } ` + paginationFields + ` } }`
			g := e.graphql(q, nil).ok(t)
			rest := e.get("/?" + tc.rest).json(t)
			if got := field(t, g.Data, "packages", "package"); !reflect.DeepEqual(got, rest["packages"]) {
				t.Errorf("packages:\n graphql %v\n REST    %v", got, rest["packages"])
			}
			samePagination(t, field(t, g.Data, "packages", "pagination").(map[string]any), rest["pagination"].(map[string]any))
		})
	}

	// Variables, and an unset variable or explicit null taking the default.
	const q = `query($p: Int, $pp: Int, $s: String) { packages(page: $p, perPage: $pp, sortBy: $s) { package { title } pagination { page perPage } } }`
	g := e.graphql(q, map[string]any{"p": 2, "pp": 4}).ok(t)
	if got := field(t, g.Data, "packages", "package").([]any); len(got) != 4 || field(t, got[0], "title") != "pkg04" {
		t.Errorf("page 2 of 4: %v", got)
	}
	g = e.graphql(q, map[string]any{"s": nil}).ok(t)
	if p := field(t, g.Data, "packages", "pagination"); !reflect.DeepEqual(p, map[string]any{"page": 1.0, "perPage": 10.0}) {
		t.Errorf("defaults: %v", p)
	}
}

func TestGraphQLPackagesBadArguments(t *testing.T) {
	e := newEnv(t, server.Config{})
	// The messages are REST's, naming the GraphQL arguments.
	for _, tc := range []struct{ args, rest, restName, gqlName string }{
		{`page: 0`, `page=0`, "page", "page"},
		{`page: 1000001`, `page=1000001`, "page", "page"},
		{`perPage: 101`, `per_page=101`, "per_page", "perPage"},
		{`perPage: -1`, `per_page=-1`, "per_page", "perPage"},
		{`sortBy: "author"`, `sort_by=author`, "sort_by", "sortBy"},
		{`order: "up"`, `order=up`, "order", "order"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rest := e.get("/?" + tc.rest)
			wantError(t, rest, http.StatusBadRequest, tc.restName)
			want := strings.Replace(rest.json(t)["error"].(string), tc.restName, tc.gqlName, 1)
			g := e.graphql(`{ packages(`+tc.args+`) { package { title } } }`, nil)
			err := g.oneError(t, http.StatusBadRequest, want)
			if err.Message != want || !reflect.DeepEqual(err.Path, []any{"packages"}) {
				t.Errorf("error %q at %v, want %q at [packages]", err.Message, err.Path, want)
			}
			if !g.hasData || g.Data["packages"] != nil {
				t.Errorf("data = %v, want packages null", g.Data)
			}
		})
	}
}

func TestGraphQLSearchAgreesWithREST(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("sprite", "1.0.0", "Sprite helpers", "gfx")
	e.seed("spritemap", "1.0.0", "Maps of sprites", "gfx")
	e.seed("audio", "1.0.0", "Sound engine", "apu", "SPRITE-free")
	e.seed("controller", "1.0.0", "Read the pads", "input")
	for i := 0; i < 5; i++ {
		e.seed(fmt.Sprintf("gfx%d", i), "1.0.0", "More graphics", "gfx")
	}
	for _, tc := range []struct{ args, rest string }{
		{`term: "SPRITE"`, `/search/SPRITE`},
		{``, `/search`},
		{`term: ""`, `/search`},
		{`term: "  sprite "`, `/search/sprite`},
		{`term: "zzz"`, `/search/zzz`},
		{`term: "%"`, `/search/%25`},
		{`term: "gfx", page: 2, perPage: 2`, `/search/gfx?page=2&per_page=2`},
		{`term: "gfx", page: 4, perPage: 2`, `/search/gfx?page=4&per_page=2`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			q := `{ search`
			if tc.args != "" {
				q += `(` + tc.args + `)`
			}
			q += ` { term results { ` + summaryFields + ` } ` + paginationFields + ` } }`
			g := e.graphql(q, nil).ok(t)
			rest := e.get(tc.rest).json(t)
			s := field(t, g.Data, "search").(map[string]any)
			if s["term"] != rest["term"] {
				t.Errorf("term %q, REST %q", s["term"], rest["term"])
			}
			if !reflect.DeepEqual(s["results"], rest["results"]) {
				t.Errorf("results:\n graphql %v\n REST    %v", s["results"], rest["results"])
			}
			samePagination(t, s["pagination"].(map[string]any), rest["pagination"].(map[string]any))
		})
	}
	long := strings.Repeat("a", 101)
	rest := e.get("/search/" + long)
	wantError(t, rest, 400, "too long")
	g := e.graphql(`{ search(term: "`+long+`") { term } }`, nil)
	g.oneError(t, 400, rest.json(t)["error"].(string))
	e.graphql(`{ search(perPage: 101) { term } }`, nil).oneError(t, 400, "Invalid perPage")
}

// restVersions reads the versions object of a REST package document in
// its order: version and date pairs.
func restVersions(t *testing.T, body []byte) [][2]string {
	t.Helper()
	var doc struct{ Versions json.RawMessage }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc.Versions))
	var out [][2]string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		v, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{k.(string), v.(string)})
	}
	return out
}

const packageFields = `title description version versions releases { version date } author license tags date
	readme resource shasum size url readmeUrl resourceUrl
	newest: versions(last: true) oldest: versions(first: true) both: versions(first: true, last: true)
	neither: versions(first: false, last: false)`

func TestGraphQLPackageAgreesWithREST(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "old", "input")
	e.seed("ctl", "1.10.0", "newest & <best>", "input", "pad")
	e.seed("ctl", "1.2.0", "middle", "input")
	e.seed("solo", "0.1.0", "only one", "x")
	for _, tc := range []struct{ args, rest string }{
		{`title: "ctl"`, `/package/ctl`},
		{`title: "ctl", version: ""`, `/package/ctl`},
		{`title: "ctl", version: "1.2.0"`, `/package/ctl/1.2.0`},
		{`title: "ctl", version: "1.0.0"`, `/package/ctl/1.0.0`},
		{`title: "CTL"`, `/package/CTL`},
		{`title: "solo"`, `/package/solo`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			g := e.graphql(`{ package(`+tc.args+`) { `+packageFields+` } }`, nil).ok(t)
			p := field(t, g.Data, "package").(map[string]any)
			r := e.get(tc.rest)
			rest := r.json(t)
			for _, k := range []string{"title", "description", "version", "author", "license", "tags", "date", "shasum"} {
				if !reflect.DeepEqual(p[k], rest[k]) {
					t.Errorf("%s = %v, REST %v", k, p[k], rest[k])
				}
			}
			// REST's links name the package as stored and the version only when
			// the URL did; url is the document those links belong to.
			doc := strings.TrimSuffix(rest["resource"].(string), "/data")
			if p["url"] != doc || p["readmeUrl"] != rest["readme"] || p["resourceUrl"] != rest["resource"] {
				t.Errorf("links %v %v %v, REST %v %v", p["url"], p["readmeUrl"], p["resourceUrl"], rest["readme"], rest["resource"])
			}

			rels := restVersions(t, r.body)
			var versions, releases []any
			for _, rel := range rels {
				versions = append(versions, rel[0])
				releases = append(releases, map[string]any{"version": rel[0], "date": rel[1]})
			}
			if !reflect.DeepEqual(p["versions"], versions) || !reflect.DeepEqual(p["neither"], versions) {
				t.Errorf("versions %v / %v, REST %v", p["versions"], p["neither"], versions)
			}
			if !reflect.DeepEqual(p["releases"], releases) {
				t.Errorf("releases %v, REST %v", p["releases"], releases)
			}
			newest, oldest := versions[0], versions[len(versions)-1]
			both := []any{newest, oldest}
			if newest == oldest {
				both = both[:1]
			}
			if !reflect.DeepEqual(p["newest"], []any{newest}) || !reflect.DeepEqual(p["oldest"], []any{oldest}) ||
				!reflect.DeepEqual(p["both"], both) {
				t.Errorf("newest %v oldest %v both %v; REST versions %v", p["newest"], p["oldest"], p["both"], versions)
			}

			readme := e.get(strings.TrimPrefix(rest["readme"].(string), e.ts.URL))
			if readme.status != 200 || p["readme"] != string(readme.body) {
				t.Errorf("readme %q, REST %d %q", p["readme"], readme.status, readme.body)
			}
			data := e.get(strings.TrimPrefix(rest["resource"].(string), e.ts.URL))
			got, err := base64.StdEncoding.DecodeString(p["resource"].(string))
			if err != nil || data.status != 200 || !bytes.Equal(got, data.body) {
				t.Errorf("resource decodes to %q (%v), REST data %d %q", got, err, data.status, data.body)
			}
			if p["size"] != float64(len(data.body)) {
				t.Errorf("size %v, tarball has %d bytes", p["size"], len(data.body))
			}
		})
	}
}

func TestGraphQLPackageErrors(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "a")
	for _, tc := range []struct{ args, rest string }{
		{`title: "nope"`, `/package/nope`},
		{`title: "nope", version: "1.0.0"`, `/package/nope/1.0.0`},
		{`title: "ctl", version: "9.9.9"`, `/package/ctl/9.9.9`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rest := e.get(tc.rest)
			wantError(t, rest, 404, "")
			msg := rest.json(t)["error"].(string)
			g := e.graphql(`{ a: status package(`+tc.args+`) { title } }`, nil)
			if err := g.oneError(t, 404, msg); err.Message != msg || !reflect.DeepEqual(err.Path, []any{"package"}) {
				t.Errorf("error %q at %v, want REST's %q at [package]", err.Message, err.Path, msg)
			}
			if v, ok := g.Data["package"]; !ok || v != nil || g.Data["a"] != "ok" {
				t.Errorf("data = %v, want package null beside the other fields", g.Data)
			}
		})
	}
}

func TestGraphQLStatusAgreesWithREST(t *testing.T) {
	e := newEnv(t, server.Config{Version: "1.2.3"})
	e.seed("alpha", "1.0.0", "a")
	e.seed("beta", "1.0.0", "b")
	g := e.graphql(`{ status server { status version packages users uptimeSeconds } }`, nil).ok(t)
	rest := e.do("GET", "/status", map[string]string{"Accept": "application/json"}, "").json(t)
	if g.Data["status"] != "ok" || g.Data["status"] != rest["status"] {
		t.Errorf("status %v, REST %v", g.Data["status"], rest["status"])
	}
	s := field(t, g.Data, "server").(map[string]any)
	for gk, rk := range map[string]string{"status": "status", "version": "version", "packages": "packages", "users": "users"} {
		if s[gk] != rest[rk] {
			t.Errorf("server.%s = %v, REST %s = %v", gk, s[gk], rk, rest[rk])
		}
	}
	if up, ok := s["uptimeSeconds"].(float64); !ok || up < 0 || up > rest["uptime_seconds"].(float64)+1 {
		t.Errorf("uptimeSeconds %v, REST %v", s["uptimeSeconds"], rest["uptime_seconds"])
	}
}

func TestGraphQLReferenceAgreesWithREST(t *testing.T) {
	e := newEnv(t, server.Config{})
	err := e.db.ReplaceReference(context.Background(), []reference.Entry{
		{Path: "registers/PPUCTRL", Text: "PPU control register at $2000.\n"},
		{Path: "registers/PPUMASK", Text: "PPU mask register at $2001.\n"},
		{Path: "instructions/LDA", Text: "Load the accumulator.\n"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ args, rest string }{
		{`reference`, `/reference`},
		{`reference(terms: [])`, `/reference`},
		{`reference(terms: ["registers"])`, `/reference/registers`},
		{`reference(terms: ["registers", "ppuctrl"])`, `/reference/registers/ppuctrl`},
		{`reference(terms: ["INSTRUCTIONS", "LDA"])`, `/reference/INSTRUCTIONS/LDA`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			rest := e.do("GET", tc.rest, map[string]string{"Accept": "text/plain"}, "")
			if rest.status != 200 || len(rest.body) == 0 {
				t.Fatalf("REST %s: %d %q", tc.rest, rest.status, rest.body)
			}
			g := e.graphql(`{ `+tc.args+` }`, nil).ok(t)
			if g.Data["reference"] != string(rest.body) {
				t.Errorf("reference %q, REST %q", g.Data["reference"], rest.body)
			}
		})
	}
	wantError(t, e.get("/reference/registers/nope"), 404, "Not Found")
	g := e.graphql(`{ reference(terms: ["registers", "nope"]) }`, nil)
	g.oneError(t, 404, "Not Found")
	if v, ok := g.Data["reference"]; !ok || v != nil {
		t.Errorf("data = %v", g.Data)
	}
	e.graphql(`{ reference(terms: ["registers", null]) }`, nil).oneError(t, 400, "null")
}

func TestGraphQLGetAndOperationName(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "a")
	const doc = `query A { status } query B($t: String!) { package(title: $t) { title } }`

	get := func(q url.Values) gqlOut {
		return e.graphqlDecode(e.get("/graphql?" + q.Encode()))
	}
	g := get(url.Values{"query": {`{ status }`}}).ok(t)
	if !reflect.DeepEqual(g.Data, map[string]any{"status": "ok"}) {
		t.Errorf("GET data %v", g.Data)
	}
	g = get(url.Values{"query": {doc}, "operationName": {"B"}, "variables": {`{"t": "ctl"}`}}).ok(t)
	if !reflect.DeepEqual(g.Data, map[string]any{"package": map[string]any{"title": "ctl"}}) {
		t.Errorf("GET operation B: %v", g.Data)
	}

	post := func(body string) gqlOut {
		return e.graphqlDecode(e.do("POST", "/graphql", map[string]string{"Content-Type": "application/json; charset=utf-8"}, body))
	}
	// graphql-go checks the variables of every operation in the document,
	// not only of the one named: B's $t must be given to run A.
	g = post(`{"query": "` + doc + `", "operationName": "A", "variables": {"t": "ctl"}}`).ok(t)
	if !reflect.DeepEqual(g.Data, map[string]any{"status": "ok"}) {
		t.Errorf("POST operation A: %v", g.Data)
	}
	g = post(`{"query": "` + doc + `", "operationName": "B", "variables": {"t": "ctl"}}`).ok(t)
	if !reflect.DeepEqual(g.Data, map[string]any{"package": map[string]any{"title": "ctl"}}) {
		t.Errorf("POST operation B: %v", g.Data)
	}
	post(`{"query": "`+doc+`", "variables": {"t": "ctl"}}`).oneError(t, 0, "operation")
	post(`{"query": "`+doc+`", "operationName": "C", "variables": {"t": "ctl"}}`).oneError(t, 0, `"C"`)
	// A required variable left out.
	post(`{"query": "`+doc+`", "operationName": "B"}`).oneError(t, 0, "t")
}

func TestGraphQLQueryErrors(t *testing.T) {
	e := newEnv(t, server.Config{})
	// Errors in the query itself: 200, errors, no data (graphql-go finds a
	// wrongly typed variable only when running, and answers data {}).
	// A field error that names user input: no "%" either.
	e.seed("ctl", "1.0.0", "Reads both joypads", "input")
	if g := e.graphql(`{ package(title: "ctl", version: "1%n") { title } }`, nil); len(g.Errors) != 1 ||
		g.Errors[0].Message != "Package ctl has no version 1％n" {
		t.Errorf("field error: %s", g.body)
	}
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		frag        string
		executed    bool // found while running: data is {}
	}{
		{"syntax", `{ status `, nil, "syntax error", false},
		{"unknown field", `{ nope }`, nil, `"nope"`, false},
		{"unknown subfield", `{ packages { nope } }`, nil, `"nope"`, false},
		{"missing required argument", `{ package { title } }`, nil, `"title"`, false},
		{"wrong argument type", `{ packages(page: "two") { package { title } } }`, nil, "Int", false},
		{"wrong variable type", `query($p: Int) { packages(page: $p) { package { title } } }`, map[string]any{"p": "two"}, "Int", true},
		{"scalar with selection", `{ status { x } }`, nil, "status", false},
		{"object without selection", `{ packages }`, nil, "packages", false},
		{"mutation", `mutation { status }`, nil, "mutation", false},
		// The client prints error messages with printf: no "%" in them,
		// even where the query is quoted.
		{"percent in a name", `{ pack%ages }`, nil, "syntax error", false},
		{"percent in an unknown field", `{ package(title: "x") { %s } }`, nil, "syntax error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := e.graphql(tc.query, tc.vars)
			if len(g.Errors) == 0 || g.hasData && (!tc.executed || len(g.Data) > 0) {
				t.Fatalf("want errors and no data: %s", g.body)
			}
			if !strings.Contains(g.Errors[0].Message, tc.frag) {
				t.Errorf("error %q, want it to contain %q", g.Errors[0].Message, tc.frag)
			}
			for _, e := range g.Errors {
				if strings.Contains(e.Message, "%") {
					t.Errorf("error %q has a %%", e.Message)
				}
			}
		})
	}
}

func TestGraphQLTransportErrors(t *testing.T) {
	e := newEnv(t, server.Config{})
	jsonCT := map[string]string{"Content-Type": "application/json"}
	huge := `{"query": "{ status }", "pad": "` + strings.Repeat("x", 64<<10) + `"}`
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		frag               string
	}{
		{"text/plain body", "POST", "/graphql", map[string]string{"Content-Type": "text/plain"}, `{"query": "{ status }"}`, 415, "application/json"},
		{"no content type", "POST", "/graphql", nil, `{"query": "{ status }"}`, 415, "Content-Type"},
		{"application/graphql", "POST", "/graphql", map[string]string{"Content-Type": "application/graphql"}, `{ status }`, 415, "application/json"},
		{"bad JSON", "POST", "/graphql", jsonCT, `{"query": `, 400, "Invalid JSON body"},
		{"variables not an object", "POST", "/graphql", jsonCT, `{"query": "{ status }", "variables": "x"}`, 400, "Invalid JSON body"},
		{"query not a string", "POST", "/graphql", jsonCT, `{"query": 1}`, 400, "Invalid JSON body"},
		{"no query", "POST", "/graphql", jsonCT, `{}`, 400, "Missing query"},
		{"blank query", "POST", "/graphql", jsonCT, `{"query": "  "}`, 400, "Missing query"},
		{"oversize body", "POST", "/graphql", jsonCT, huge, 413, "too large"},
		{"GET bad variables", "GET", "/graphql?query=%7Bstatus%7D&variables=%7Bbad", nil, "", 400, "Invalid variables"},
		{"GET variables not an object", "GET", "/graphql?query=%7Bstatus%7D&variables=%5B1%5D", nil, "", 400, "Invalid variables"},
		{"GET no query", "GET", "/graphql", map[string]string{"Accept": "application/json"}, "", 400, "Missing query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.hdr, tc.body)
			wantError(t, r, tc.status, tc.frag)
			var g struct {
				Error  string
				Errors []gqlErr
			}
			if err := json.Unmarshal(r.body, &g); err != nil || len(g.Errors) != 1 || g.Errors[0].Message != g.Error {
				t.Errorf("errors array %+v does not repeat error %q (%v)", g.Errors, g.Error, err)
			}
			if r.header.Get("Cache-Control") == "" || !strings.HasPrefix(r.header.Get("Cache-Control"), "no-store") {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
		})
	}
	// Other methods are the router's: 405 with Allow.
	r := e.do("PUT", "/graphql", jsonCT, `{"query": "{ status }"}`)
	wantError(t, r, 405, "not allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestGraphQLLimits(t *testing.T) {
	e := newEnv(t, server.Config{})
	e.seed("ctl", "1.0.0", "a")

	t.Run("query length", func(t *testing.T) {
		q := "{ status }\n# " + strings.Repeat("x", 8<<10)
		g := e.graphql(q, nil)
		g.oneError(t, 0, "exceeds the maximum allowed query length")
		if g.hasData {
			t.Errorf("data with a refused query: %s", g.body)
		}
		e.graphql("{ status }\n# "+strings.Repeat("x", 8<<10-20), nil).ok(t)
	})

	t.Run("depth", func(t *testing.T) {
		// Depth 12 is what GraphQL tools' introspection query needs.
		nest := func(ofTypes int) string {
			return `{ __schema { types { fields { type { ` + strings.Repeat("ofType { ", ofTypes) + `name` +
				strings.Repeat(" }", ofTypes) + ` } } } } }`
		}
		e.graphql(nest(7), nil).ok(t) // name at depth 12
		g := e.graphql(nest(8), nil)
		if len(g.Errors) == 0 || !strings.Contains(g.Errors[0].Message, "exceeds max depth 12") || g.hasData {
			t.Errorf("depth 13: %s", g.body)
		}
	})

	t.Run("selections", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 501; i++ {
			fmt.Fprintf(&b, "t%d:__typename ", i)
		}
		b.WriteString(" }")
		g := e.graphql(b.String(), nil)
		g.oneError(t, 0, "too many selections")
	})

	t.Run("aliases", func(t *testing.T) {
		// Every root field costs 5 of the 100 points: 20 fit, not 21.
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 21; i++ {
			fmt.Fprintf(&b, " s%d: status", i)
		}
		b.WriteString(" }")
		g := e.graphql(b.String(), nil)
		g.oneError(t, 400, "Query too complex")
		oks := 0
		for _, v := range g.Data {
			if v == "ok" {
				oks++
			}
		}
		if len(g.Data) != 21 || oks != 20 {
			t.Errorf("%d fields, %d answered; want 21 and 20", len(g.Data), oks)
		}
		b.Reset()
		b.WriteString("{")
		for i := 0; i < 20; i++ {
			fmt.Fprintf(&b, " s%d: status", i)
		}
		b.WriteString(" }")
		e.graphql(b.String(), nil).ok(t)
	})

	t.Run("tarballs", func(t *testing.T) {
		// A package costs 5 and its resource 20 more: 4 fit in 100, 5 do not.
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(&b, " p%d: package(title: \"ctl\") { resource }", i)
		}
		b.WriteString(" }")
		g := e.graphql(b.String(), nil)
		if len(g.Errors) == 0 || !strings.Contains(g.Errors[0].Message, "Query too complex") {
			t.Fatalf("5 tarballs: %s", g.body)
		}
		packages, resources := 0, 0
		for _, v := range g.Data {
			if p, ok := v.(map[string]any); ok {
				packages++
				if p["resource"] != nil {
					resources++
				}
			}
		}
		if spent := 5*packages + 20*resources; spent > 100 || resources > 4 || resources < 3 {
			t.Errorf("%d packages, %d resources answered (%d points)", packages, resources, spent)
		}
		e.graphql(strings.Replace(b.String(), ` p4: package(title: "ctl") { resource }`, "", 1), nil).ok(t)
	})

	t.Run("budget is per request", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			e.graphql(`{ a: package(title: "ctl") { resource } b: package(title: "ctl") { resource } }`, nil).ok(t)
		}
	})
}

func TestGraphQLConventions(t *testing.T) {
	e := newEnv(t, server.Config{RateLimit: 100})
	e.seed("ctl", "1.0.0", `a & b <c> \u003c`, "t")
	answers := map[string]resp{
		"POST":            e.do("POST", "/graphql", map[string]string{"Content-Type": "application/json"}, `{"query": "{ package(title: \"ctl\") { description } }"}`),
		"GET":             e.get("/graphql?query=" + url.QueryEscape(`{ package(title: "ctl") { description } }`)),
		"query error":     e.do("POST", "/graphql", map[string]string{"Content-Type": "application/json"}, `{"query": "{ nope }"}`),
		"transport error": e.do("POST", "/graphql", nil, ``),
		"page":            e.do("GET", "/graphql", map[string]string{"Accept": "text/html"}, ""),
	}
	for name, r := range answers {
		h := r.header
		for _, k := range []string{"Content-Type", "Content-Length", "Access-Control-Allow-Origin", "Server",
			"X-Response-Time", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "Retry-After",
			"Date", "Cache-Control", "Expires"} {
			if h.Get(k) == "" {
				t.Errorf("%s: no %s header", name, k)
			}
		}
		if h.Get("Content-Length") != strconv.Itoa(len(r.body)) || strings.Contains(h.Get("Content-Type"), ";") {
			t.Errorf("%s: Content-Length %q for %d bytes, Content-Type %q", name, h.Get("Content-Length"), len(r.body), h.Get("Content-Type"))
		}
		if name == "page" {
			if !strings.HasPrefix(h.Get("Cache-Control"), "max-age=") || h.Get("ETag") == "" {
				t.Errorf("page: Cache-Control %q ETag %q", h.Get("Cache-Control"), h.Get("ETag"))
			}
		} else if !strings.HasPrefix(h.Get("Cache-Control"), "no-store") || h.Get("Expires") != "-1" {
			t.Errorf("%s: Cache-Control %q Expires %q", name, h.Get("Cache-Control"), h.Get("Expires"))
		}
	}
	// No HTML escaping, and an escaped backslash before "u003c" left alone.
	for _, name := range []string{"POST", "GET"} {
		body := string(answers[name].body)
		if !strings.Contains(body, `"a & b <c> \\u003c"`) {
			t.Errorf("%s: %s", name, body)
		}
		if d := field(t, e.graphqlDecode(answers[name]).Data, "package", "description"); d != `a & b <c> \u003c` {
			t.Errorf("%s: description %q", name, d)
		}
	}
}

func TestGraphQLPage(t *testing.T) {
	e := newEnv(t, server.Config{BaseURL: "http://registry.example/registry"})
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
	for _, path := range []string{"/graphql", "/registry/graphql", "/graphql?autorun=1"} {
		r := e.do("GET", path, browser, "")
		if r.status != 200 || r.header.Get("Content-Type") != "text/html" {
			t.Fatalf("%s: %d %q", path, r.status, r.header.Get("Content-Type"))
		}
		page := string(r.body)
		for _, want := range []string{`<textarea id="query"`, `<pre id="result"`, `id="run"`, "type Query {",
			"packages(page: Int = 1, perPage: Int = 10, sortBy: String = &#34;title&#34;, order: String = &#34;asc&#34;): PackageList"} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: page lacks %q", path, want)
			}
		}
		// Offline: nothing is loaded from elsewhere.
		for _, bad := range []string{"http://", "https://", "src=", "<link", "@import"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s: page refers to %q", path, bad)
			}
		}
		if h := e.do("HEAD", path, browser, ""); h.status != 200 || len(h.body) != 0 || h.header.Get("Content-Length") != strconv.Itoa(len(r.body)) {
			t.Errorf("HEAD %s: %d %q %d bytes", path, h.status, h.header.Get("Content-Length"), len(h.body))
		}
	}
	// A query in the URL is run even for a browser.
	r := e.do("GET", "/graphql?query="+url.QueryEscape("{ status }"), browser, "")
	if r.header.Get("Content-Type") != "application/json" || !strings.Contains(string(r.body), `"status":"ok"`) {
		t.Errorf("browser GET with query: %q %s", r.header.Get("Content-Type"), r.body)
	}
}
