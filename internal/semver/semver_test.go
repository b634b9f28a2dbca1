package semver_test

import (
	"sort"
	"testing"

	"github.com/nessemble/nessemble-registry/internal/semver"
)

func TestParse(t *testing.T) {
	for _, ok := range []string{"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
		"1.0.0-x.7.z.92", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85", "1.0.0-x-y-z.--"} {
		if !semver.Valid(ok) {
			t.Errorf("%q refused", ok)
		}
	}
	for _, bad := range []string{"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "v1.2.3", "1.2.3-", "1.2.3+",
		"1.2.3-01", "1.2.3-a..b", "1.2.3-a_b", "-1.2.3", "1.2.3 ", "99999999999999999999.0.0"} {
		if semver.Valid(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPrecedence checks the example ordering of SemVer 2.0.0, section 11.
func TestPrecedence(t *testing.T) {
	want := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0", "1.11.0", "2.0.0"}
	got := []string{"2.0.0", "1.0.0-beta.11", "1.10.0", "1.0.0", "1.0.0-alpha.beta", "1.0.0-rc.1", "1.9.0",
		"1.0.0-alpha", "1.11.0", "1.0.0-beta.2", "1.0.0-alpha.1", "1.0.0-beta"}
	sort.Slice(got, func(i, j int) bool { return semver.Compare(got[i], got[j]) < 0 })
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order = %v", got)
		}
	}
	if semver.Compare("1.0.0+a", "1.0.0+b") != 0 {
		t.Errorf("build metadata affected precedence")
	}
	if semver.Compare("junk", "0.0.1") >= 0 {
		t.Errorf("unparsable versions must sort first")
	}
}
