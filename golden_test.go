package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update rewrites the golden files under testdata/ with what the tests
// get: go test -run NAME -update . (then review the diff before committing).
var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the output the tests get")

// testdata is the absolute path of the fixtures, taken before any test
// changes the working folder (t.Chdir).
var testdata = func() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}()

// golden compares got with the golden file testdata/name. vars are pairs
// of a text that varies from run to run (a temporary folder) and the
// placeholder the golden file has in its place, such as "$DATA"; they are
// replaced in got in the order given, so list longer texts first when one
// contains another. With -update the file is written instead.
func golden(t *testing.T, name, got string, vars ...string) {
	t.Helper()
	if len(vars)%2 != 0 {
		t.Fatalf("golden %s: odd number of vars", name)
	}
	for i := 0; i < len(vars); i += 2 {
		got = strings.ReplaceAll(got, vars[i], vars[i+1])
	}
	got = filepath.ToSlash(got) // golden files spell paths with '/'
	path := filepath.Join(testdata, filepath.FromSlash(name))
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update if the change is intended):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
