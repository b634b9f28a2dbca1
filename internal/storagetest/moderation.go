package storagetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
)

// capture is a rule that lets every write through and keeps what it was
// shown of the stored package.
func capture(into *registry.Stored) func(registry.Stored) error {
	return func(s registry.Stored) error { *into = s; return nil }
}

func releases(t *testing.T, st Storage, title string) []string {
	t.Helper()
	rs, err := st.Releases(ctx, title)
	must(t, err)
	var out []string
	for _, r := range rs {
		v := r.Version
		if r.Yanked {
			v += " yanked"
		}
		out = append(out, v)
	}
	return out
}

func kinds(t *testing.T, st Storage, after int64) []string {
	t.Helper()
	cs, err := st.ChangesSince(ctx, after, 100)
	must(t, err)
	var out []string
	for _, c := range cs {
		out = append(out, c.Kind+" "+c.Title+"@"+c.Version)
	}
	return out
}

// testOwners: the creator is the first owner; owners are added and
// removed by name in any case, in the order added; the rule is shown them.
func testOwners(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	_, err := publish(st, "alice", registry.Create, version("pad", "1.0.0"))
	must(t, err)
	if o, err := st.Owners(ctx, "PAD"); err != nil || !slices.Equal(o, []string{"alice"}) {
		t.Fatalf("Owners after the first publish = %v %v", o, err)
	}
	if _, err := st.Owners(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Owners of no package: %v", err)
	}
	var seen registry.Stored
	must(t, st.SetOwner(ctx, "Pad", "bob", true, capture(&seen)))
	if !seen.Exists || seen.Owner != "alice" || !slices.Equal(seen.Owners, []string{"alice"}) || seen.Latest != "1.0.0" || seen.Served != "1.0.0" {
		t.Errorf("the owner rule saw %+v", seen)
	}
	must(t, st.SetOwner(ctx, "pad", "carol", true, capture(&seen)))
	if o, _ := st.Owners(ctx, "pad"); !slices.Equal(o, []string{"alice", "bob", "carol"}) {
		t.Errorf("Owners = %v", o)
	}
	if err := st.SetOwner(ctx, "pad", "BOB", true, capture(&seen)); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("adding an owner twice (other case): %v", err)
	}
	must(t, st.SetOwner(ctx, "pad", "Bob", false, capture(&seen)))
	if o, _ := st.Owners(ctx, "pad"); !slices.Equal(o, []string{"alice", "carol"}) {
		t.Errorf("Owners after removing bob = %v", o)
	}
	if err := st.SetOwner(ctx, "pad", "dave", false, capture(&seen)); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("removing one who is no owner: %v", err)
	}
	if err := st.SetOwner(ctx, "nope", "bob", true, capture(&seen)); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("owner of no package: %v", err)
	}
	refuse := errors.New("refused")
	if err := st.SetOwner(ctx, "pad", "erin", true, func(registry.Stored) error { return refuse }); !errors.Is(err, refuse) {
		t.Errorf("a refusing rule: %v", err)
	}
	// A co-owner may publish (the publish rule is shown the owners).
	if _, err := publish(st, "carol", registry.Update, version("pad", "1.1.0")); err != nil {
		t.Errorf("a co-owner's publish: %v", err)
	}
	if _, err := publish(st, "bob", registry.Update, version("pad", "1.2.0")); err == nil {
		t.Error("a removed owner published")
	}
	if o, _ := st.Owners(ctx, "pad"); !slices.Equal(o, []string{"alice", "carol"}) {
		t.Errorf("Owners after publishes = %v", o)
	}
}

// testYank: a yanked version is no longer the newest, stays readable by
// number, is marked in Releases, and a restore undoes it; each is logged.
func testYank(t *testing.T, open func(t *testing.T) Storage) {
	st, other := open(t), open(t)
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		_, err := publish(st, "alice", registry.Import, version("pad", v, "tag-"+v))
		must(t, err)
	}
	// A version is published unyanked, whatever the struct says.
	odd := version("odd", "1.0.0")
	odd.Yanked, odd.Removed = true, true
	if v, err := publish(st, "alice", registry.Create, odd); err != nil || v.Yanked || v.Removed {
		t.Errorf("Publish of a Yanked struct = %+v %v", v, err)
	} else if v, err := st.Version(ctx, "odd", ""); err != nil || v.Yanked || v.Removed {
		t.Errorf("the version stored: %+v %v", v, err)
	}
	start := st.Changes()
	var seen registry.Stored
	p, err := st.SetYanked(ctx, "PAD", "2.0.0", true, capture(&seen))
	must(t, err)
	if p.Title != "pad" || p.Latest != "1.1.0" || !slices.Equal(p.Tags, []string{"tag-1.1.0"}) {
		t.Errorf("SetYanked returned %+v", p)
	}
	if !seen.HasVersion || seen.Yanked || seen.Latest != "2.0.0" || seen.Served != "2.0.0" {
		t.Errorf("the yank rule saw %+v", seen)
	}
	v, err := st.Version(ctx, "pad", "2.0.0")
	if err != nil || !v.Yanked || v.Removed {
		t.Errorf("Version of the yanked 2.0.0: %+v %v", v, err)
	}
	if v, err := st.Version(ctx, "pad", ""); err != nil || v.Version != "1.1.0" || v.Yanked {
		t.Errorf("the newest after a yank: %+v %v", v, err)
	}
	if got := releases(t, st, "pad"); !slices.Equal(got, []string{"2.0.0 yanked", "1.1.0", "1.0.0"}) {
		t.Errorf("Releases = %v", got)
	}
	// The next write is shown the yank.
	_, err = st.SetYanked(ctx, "pad", "2.0.0", true, capture(&seen))
	must(t, err)
	if !seen.Yanked || seen.Latest != "2.0.0" || seen.Served != "1.1.0" {
		t.Errorf("a second yank's rule saw %+v", seen)
	}
	// Another handle (process, replica) sees it once caught up, in its
	// lists and searches too.
	must(t, other.CatchUp(ctx))
	if p, err := other.Package(ctx, "pad"); err != nil || p.Latest != "1.1.0" {
		t.Errorf("other handle: %+v %v", p, err)
	}
	if page, _, err := other.Search(ctx, "tag-1.1.0", 0, 10); err != nil || len(page) != 1 || page[0].Latest != "1.1.0" {
		t.Errorf("other handle's search after the yank: %+v %v", page, err)
	}
	// Publishing goes on from the highest version of any state.
	if _, err := publish(st, "alice", registry.Update, version("pad", "1.5.0")); err == nil {
		t.Error("published 1.5.0 below the yanked 2.0.0")
	}
	// Every version yanked: no newest, but the package is still there.
	for _, v := range []string{"1.0.0", "1.1.0"} {
		_, err := st.SetYanked(ctx, "pad", v, true, capture(&seen))
		must(t, err)
	}
	if p, err := st.Package(ctx, "pad"); err != nil || p.Latest != "" || p.Removed {
		t.Errorf("every version yanked: %+v %v", p, err)
	}
	if _, err := st.Version(ctx, "pad", ""); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the newest with every version yanked: %v", err)
	}
	if _, n, _ := st.ListPackages(ctx, registry.ListOptions{Limit: 10}); n != 2 {
		t.Errorf("a yanked package is still listed: %d", n)
	}
	p, err = st.SetYanked(ctx, "pad", "2.0.0", false, capture(&seen))
	if err != nil || p.Latest != "2.0.0" || !slices.Equal(p.Tags, []string{"tag-2.0.0"}) {
		t.Errorf("unyank: %+v %v", p, err)
	}
	if _, err := st.SetYanked(ctx, "pad", "9.9.9", true, capture(&seen)); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("yank of no such version: %v", err)
	}
	if _, err := st.SetYanked(ctx, "nope", "1.0.0", true, capture(&seen)); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("yank of no such package: %v", err)
	}
	want := []string{"yank pad@2.0.0", "yank pad@2.0.0", "yank pad@1.0.0", "yank pad@1.1.0", "unyank pad@2.0.0"}
	if got := kinds(t, st, start); !slices.Equal(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

// testRemove: a removed version keeps its row (never published again) but
// not its tarball; a removed package leaves lists, searches and counts.
func testRemove(t *testing.T, open func(t *testing.T) Storage) {
	st, other := open(t), open(t)
	var sums []string
	for _, v := range []string{"1.0.0", "1.1.0", "2.0.0"} {
		pv, err := publish(st, "alice", registry.Import, version("pad", v))
		must(t, err)
		sums = append(sums, pv.Shasum)
	}
	_, err := publish(st, "alice", registry.Create, version("joy", "1.0.0"))
	must(t, err)
	start := st.Changes()
	var seen registry.Stored
	must(t, st.Remove(ctx, "Pad", "2.0.0", "malware", capture(&seen)))
	if !seen.HasVersion || seen.VersionRemoved || seen.Removed {
		t.Errorf("the removal's rule saw %+v", seen)
	}
	v, err := st.Version(ctx, "pad", "2.0.0")
	if err != nil || !v.Removed || v.RemovedReason != "malware" {
		t.Errorf("Version of the removed 2.0.0: %+v %v", v, err)
	}
	if p, err := st.Package(ctx, "pad"); err != nil || p.Latest != "1.1.0" || p.Removed {
		t.Errorf("Package after a version's removal: %+v %v", p, err)
	}
	if got := releases(t, st, "pad"); !slices.Equal(got, []string{"1.1.0", "1.0.0"}) {
		t.Errorf("Releases after a removal = %v", got)
	}
	if _, err := st.Tarball(sums[2]); !errors.Is(err, registry.ErrDamaged) {
		t.Errorf("the removed version's tarball: %v", err)
	}
	if probs, err := st.Check(ctx, false); err != nil || len(probs) != 0 {
		t.Errorf("Check after a removal: %+v %v", probs, err)
	}
	// Its number is never given out again; the rule is shown why.
	if _, err := publish(st, "alice", registry.Update, version("pad", "2.0.0")); err == nil {
		t.Error("published the removed 2.0.0 again")
	}
	must(t, st.Remove(ctx, "pad", "2.0.0", "again", capture(&seen)))
	if !seen.VersionRemoved || seen.Latest != "2.0.0" || seen.Served != "1.1.0" {
		t.Errorf("a second removal's rule saw %+v", seen)
	}
	if v, _ := st.Version(ctx, "pad", "2.0.0"); v.RemovedReason != "malware" {
		t.Errorf("removing twice changed the reason: %q", v.RemovedReason)
	}
	if err := st.Remove(ctx, "pad", "9.9.9", "x", capture(&seen)); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("removal of no such version: %v", err)
	}

	// The whole package.
	must(t, st.Remove(ctx, "pad", "", "abandoned", capture(&seen)))
	p, err := st.Package(ctx, "PAD")
	if err != nil || !p.Removed || p.RemovedReason != "abandoned" || p.Latest != "" {
		t.Errorf("Package after its removal: %+v %v", p, err)
	}
	if _, err := st.Version(ctx, "pad", ""); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the newest of a removed package: %v", err)
	}
	if v, err := st.Version(ctx, "pad", "1.0.0"); err != nil || !v.Removed || v.RemovedReason != "abandoned" {
		t.Errorf("a version of a removed package: %+v %v", v, err)
	}
	for _, sum := range sums[:2] {
		if _, err := st.Tarball(sum); !errors.Is(err, registry.ErrDamaged) {
			t.Errorf("a tarball of a removed package: %v", err)
		}
	}
	if _, err := publish(st, "alice", registry.Create, version("pad", "3.0.0")); err == nil {
		t.Error("published a removed package again")
	}
	if probs, err := st.Check(ctx, false); err != nil || len(probs) != 0 {
		t.Errorf("Check after removing a package: %+v %v", probs, err)
	}
	for name, h := range map[string]Storage{"writer": st, "other handle": other} {
		must(t, h.CatchUp(ctx))
		if page, n, err := h.ListPackages(ctx, registry.ListOptions{Limit: 10}); err != nil || n != 1 || len(page) != 1 || page[0].Title != "joy" {
			t.Errorf("%s: list after the removal: %+v %d %v", name, page, n, err)
		}
		if page, n, err := h.Search(ctx, "pad", 0, 10); err != nil || n != 0 || len(page) != 0 {
			t.Errorf("%s: search after the removal: %+v %d %v", name, page, n, err)
		}
		if n, _, err := h.Counts(ctx); err != nil || n != 1 {
			t.Errorf("%s: Counts after the removal: %d %v", name, n, err)
		}
	}
	want := []string{"remove pad@2.0.0", "remove pad@2.0.0", "remove pad@"}
	if got := kinds(t, st, start); !slices.Equal(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
}

// testAccountModeration: batches of accounts, disabled accounts.
func testAccountModeration(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	us, err := st.CreateUsers(ctx, []registry.User{
		{Username: "xena", Email: "x@example.org", Name: "X", PasswordHash: "hx"},
		{Username: "yann", Email: "y@example.org", Name: "Y", PasswordHash: "hy"},
	})
	if err != nil || len(us) != 2 || us[0].ID == 0 || us[1].ID == 0 || us[0].ID == us[1].ID || us[0].Created.IsZero() {
		t.Fatalf("CreateUsers = %+v %v", us, err)
	}
	// One taken name (another case) and none of the batch is created.
	_, err = st.CreateUsers(ctx, []registry.User{
		{Username: "zoe", Email: "z@example.org", Name: "Z", PasswordHash: "hz"},
		{Username: "XENA", Email: "x2@example.org", Name: "X", PasswordHash: "hx"},
	})
	if !errors.Is(err, registry.ErrConflict) {
		t.Errorf("a batch with a taken name: %v", err)
	}
	if _, err := st.UserByLogin(ctx, "zoe"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a refused batch left zoe: %v", err)
	}
	// An account starts enabled, whatever the caller's struct says.
	if u, err := st.CreateUser(ctx, registry.User{Username: "walt", Email: "w@example.org", Name: "W", PasswordHash: "hw", Disabled: true}); err != nil || u.Disabled {
		t.Errorf("CreateUser of a Disabled struct = %+v %v", u, err)
	} else if u, err := st.UserByLogin(ctx, "walt"); err != nil || u.Disabled {
		t.Errorf("the account stored: %+v %v", u, err)
	}
	x := us[0]
	must(t, st.AddToken(ctx, x.ID, "tok-x", time.Hour))
	_, err = st.CreateReset(ctx, x.ID, "reset-key", "", time.Hour)
	must(t, err)
	must(t, st.SetDisabled(ctx, x.ID, true))
	if u, err := st.UserByLogin(ctx, "XENA"); err != nil || !u.Disabled {
		t.Errorf("UserByLogin of a disabled account: %+v %v", u, err)
	}
	if u, toks, err := st.UserTokens(ctx, "x@example.org"); err != nil || !u.Disabled || len(toks) != 0 {
		t.Errorf("UserTokens of a disabled account: %+v %v %v", u, toks, err)
	}
	if _, err := st.ResetOf(ctx, x.ID); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a disabled account's reset: %v", err)
	}
	all, err := st.ListUsers(ctx)
	must(t, err)
	var got []string
	for _, u := range all {
		s := u.Username
		if u.Disabled {
			s += " disabled"
		}
		got = append(got, s)
	}
	if !slices.Equal(got, []string{"walt", "xena disabled", "yann"}) {
		t.Errorf("ListUsers = %v", got)
	}
	must(t, st.SetDisabled(ctx, x.ID, false))
	if u, err := st.UserByLogin(ctx, "xena"); err != nil || u.Disabled {
		t.Errorf("an enabled account: %+v %v", u, err)
	}
	if err := st.SetDisabled(ctx, 999999, true); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("disabling no account: %v", err)
	}
}

// testAudit: events come back oldest first, selected by time, user (actor
// or subject, any case) and package (any case), the newest when limited.
func testAudit(t *testing.T, open func(t *testing.T) Storage) {
	st, other := open(t), open(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	events := []registry.AuditEvent{
		{At: t0, Actor: "alice", Addr: "127.0.0.1", Action: registry.AuditPublish, Package: "Pad", Version: "1.0.0"},
		{At: t0.Add(time.Minute), Actor: "Alice", Addr: "127.0.0.1", Action: "owner-add", Package: "pad", Subject: "bob"},
		{At: t0.Add(2 * time.Minute), Actor: "operator:root", Addr: "command line", Action: "remove", Package: "joy", Version: "2.0.0", Detail: "malware"},
		{At: t0.Add(3 * time.Minute), Actor: "", Addr: "10.0.0.7", Action: registry.AuditLoginLockout, Subject: "BOB", Detail: "account locked for 1m0s"},
	}
	for _, e := range events {
		must(t, st.AppendAudit(ctx, e))
	}
	desc := func(es []registry.AuditEvent) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Action+" "+e.Actor+" "+e.Package+" "+e.Subject)
		}
		return out
	}
	all, err := other.Audit(ctx, registry.AuditQuery{})
	must(t, err)
	if len(all) != 4 {
		t.Fatalf("Audit = %+v", all)
	}
	for i, e := range all {
		w := events[i]
		if e.ID == 0 || (i > 0 && e.ID <= all[i-1].ID) || !e.At.Equal(w.At) || e.Actor != w.Actor || e.Addr != w.Addr ||
			e.Action != w.Action || e.Package != w.Package || e.Version != w.Version || e.Subject != w.Subject || e.Detail != w.Detail {
			t.Errorf("event %d = %+v, want %+v", i, e, w)
		}
	}
	cases := []struct {
		q    registry.AuditQuery
		want []string
	}{
		{registry.AuditQuery{User: "ALICE"}, []string{"publish alice Pad ", "owner-add Alice pad bob"}},
		{registry.AuditQuery{User: "bob"}, []string{"owner-add Alice pad bob", "login-lockout   BOB"}},
		{registry.AuditQuery{Package: "PAD"}, []string{"publish alice Pad ", "owner-add Alice pad bob"}},
		{registry.AuditQuery{Since: t0.Add(90 * time.Second)}, []string{"remove operator:root joy ", "login-lockout   BOB"}},
		{registry.AuditQuery{Limit: 1}, []string{"login-lockout   BOB"}},
		{registry.AuditQuery{User: "alice", Limit: 1}, []string{"owner-add Alice pad bob"}},
		{registry.AuditQuery{User: "nobody"}, nil},
	}
	for _, c := range cases {
		got, err := st.Audit(ctx, c.q)
		must(t, err)
		if !slices.Equal(desc(got), c.want) {
			t.Errorf("Audit(%+v) = %q, want %q", c.q, desc(got), c.want)
		}
	}
	// Without a time, now.
	clk := &clock{now: t0.Add(time.Hour)}
	st.SetClock(clk.Now)
	must(t, st.AppendAudit(ctx, registry.AuditEvent{Actor: "carol", Addr: "x", Action: "user-disable"}))
	if got, _ := st.Audit(ctx, registry.AuditQuery{User: "carol"}); len(got) != 1 || !got[0].At.Equal(clk.Now()) {
		t.Errorf("an event without a time: %+v", got)
	}
}

// testMirrorSerial: how far a mirror of each upstream got, seen by every
// handle.
func testMirrorSerial(t *testing.T, open func(t *testing.T) Storage) {
	st, other := open(t), open(t)
	const up = "https://registry.example.org/"
	if n, err := st.MirrorSerial(ctx, up); err != nil || n != 0 {
		t.Errorf("MirrorSerial never set = %d %v", n, err)
	}
	must(t, st.SetMirrorSerial(ctx, up, 5))
	must(t, st.SetMirrorSerial(ctx, up, 7))
	must(t, st.SetMirrorSerial(ctx, "http://other.example/", 2))
	if n, err := other.MirrorSerial(ctx, up); err != nil || n != 7 {
		t.Errorf("MirrorSerial = %d %v, want 7", n, err)
	}
	if n, _ := other.MirrorSerial(ctx, "http://other.example/"); n != 2 {
		t.Errorf("the other upstream's serial = %d", n)
	}
}

// testByAuthor: the packages whose newest version (neither yanked nor
// removed) names an author, any case, by title; and the versions counted.
func testByAuthor(t *testing.T, open func(t *testing.T) Storage) {
	st := open(t)
	pub := func(title, ver, author string) {
		t.Helper()
		v := version(title, ver)
		v.Author = author
		_, err := publish(st, "alice", registry.Import, v)
		must(t, err)
	}
	pub("zed", "1.0.0", "Ada")
	pub("pad", "1.0.0", "ada")
	pub("pad", "2.0.0", "bob") // the newest names bob
	pub("joy", "1.0.0", "bob")
	pub("joy", "2.0.0", "ADA")
	pub("gone", "1.0.0", "ada")
	must(t, st.Remove(ctx, "gone", "", "x", capture(new(registry.Stored))))
	titles := func(ps []registry.Package) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Title)
		}
		return out
	}
	if page, n, err := st.ByAuthor(ctx, "aDa", 0, 10); err != nil || n != 2 || !slices.Equal(titles(page), []string{"joy", "zed"}) {
		t.Errorf("ByAuthor(aDa) = %v %d %v", titles(page), n, err)
	}
	if page, n, err := st.ByAuthor(ctx, "ada", 1, 1); err != nil || n != 2 || !slices.Equal(titles(page), []string{"zed"}) {
		t.Errorf("ByAuthor's second page = %v %d %v", titles(page), n, err)
	}
	// A yank moves the newest, and so the author.
	_, err := st.SetYanked(ctx, "pad", "2.0.0", true, capture(new(registry.Stored)))
	must(t, err)
	if page, n, err := st.ByAuthor(ctx, "ADA", 0, 10); err != nil || n != 3 || !slices.Equal(titles(page), []string{"joy", "pad", "zed"}) {
		t.Errorf("ByAuthor after a yank = %v %d %v", titles(page), n, err)
	}
	if page, n, err := st.ByAuthor(ctx, "nobody", 0, 10); err != nil || n != 0 || len(page) != 0 {
		t.Errorf("ByAuthor(nobody) = %v %d %v", page, n, err)
	}
	// Versions counted, the removed one left out.
	if n, err := st.CountVersions(ctx); err != nil || n != 5 {
		t.Errorf("CountVersions = %d %v", n, err)
	}
}
