package nesclient_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/nesclient"
)

// array returns a JSON array of n numbers: n+1 tokens.
func array(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]"
}

func TestTokenBudget(t *testing.T) {
	d, err := nesclient.ParseJSON([]byte(array(127)))
	if err != nil || d.Tokens() != 128 {
		t.Fatalf("128 tokens: %v, %v", d, err)
	}
	if _, err := nesclient.ParseJSON([]byte(array(128))); !errors.Is(err, nesclient.ErrJSON) {
		t.Fatalf("129 tokens: err = %v", err)
	}
	// Every object, array, key and value is one token.
	d, err = nesclient.ParseJSON([]byte(`{"a": [1, "x", {"b": null}], "c": true}`))
	if err != nil || d.Tokens() != 10 {
		t.Fatalf("tokens = %v, err = %v", d, err)
	}
}

func TestMalformed(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{a: 1}`, `"abc`, `"a\qb"`, `"\u12"`,
		"\"a\nb\"", `tru`, `01`, `1.`, `-`, `1e`, `{} {}`, `{"a":1}x`, `[1]]`, `nul`, `'a'`,
	} {
		if _, err := nesclient.ParseJSON([]byte(s)); !errors.Is(err, nesclient.ErrJSON) {
			t.Errorf("%q: err = %v", s, err)
		}
	}
	for _, s := range []string{`0`, `-1.5e+3`, `"\u00e9\"\\\/"`, ` {"a" : [ ] , "b":{}} `, "[true,false,null]\n"} {
		if _, err := nesclient.ParseJSON([]byte(s)); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestGetTakesFirstStringAnywhere(t *testing.T) {
	d, err := nesclient.ParseJSON([]byte(`{"tags": ["title", "oops"], "title": "real", "n": {"title": "inner"}, "ok": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := d.Get("title"); !ok || v != "oops" {
		t.Errorf("Get(title) = %q, %v; want the value after the tag", v, ok)
	}
	if got := d.All("title"); !reflect.DeepEqual(got, []string{"oops", "real", "inner"}) {
		t.Errorf("All(title) = %q", got)
	}
	if v, _ := d.Get("ok"); v != "false" {
		t.Errorf("Get(ok) = %q", v)
	}
	if v, _ := d.Get("n"); v != `{"title": "inner"}` {
		t.Errorf("Get(n) = %q", v)
	}
	if _, ok := d.Get("missing"); ok {
		t.Error("Get(missing) found")
	}
	// A matching string that is the last token has nothing after it.
	d, _ = nesclient.ParseJSON([]byte(`["x", "title"]`))
	if _, ok := d.Get("title"); ok {
		t.Error("Get found a value after the last token")
	}
}

func TestUnescapeOnlyNewlineAndTab(t *testing.T) {
	d, err := nesclient.ParseJSON([]byte(`{"d": "a\nb\tc\/d\u0026e\\f\"g"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "a\nb\tc\\/d\\u0026e\\\\f\\\"g"
	if v, _ := d.Get("d"); v != want {
		t.Errorf("got %q, want %q", v, want)
	}
	// Keys are compared before unescaping.
	d, _ = nesclient.ParseJSON([]byte(`{"ti\u0074le": "x"}`))
	if _, ok := d.Get("title"); ok {
		t.Error("escaped key matched")
	}
}
