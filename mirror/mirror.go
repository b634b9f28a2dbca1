// Package mirror copies the packages of another registry into this one:
// every version of every package, verified and stored byte for byte, and
// the reference documentation. It speaks only the registry API (the
// seed's, plus the change feed GET /changes when the upstream has it) and
// stores through the registry's rules (registry.AddMirrored); it also
// writes and reads bundles, the same data in one file for a machine with
// no network (bundle.go).
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nessemble/nessemble-registry/archive"
	"github.com/nessemble/nessemble-registry/internal/semver"
	"github.com/nessemble/nessemble-registry/registry"
)

// Config says what to mirror and how politely. Zero values take the
// defaults.
type Config struct {
	// Upstream is the registry's URL, path prefix included.
	Upstream string
	// Jobs bounds the requests in flight at once.
	Jobs int
	// Timeout bounds one request, its whole body included.
	Timeout time.Duration
	// Attempts is how many times a request that failed on the network or
	// with 5xx or 429 is made in all.
	Attempts int
	// Backoff is the first wait before a retry; it doubles each time.
	Backoff time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a longer one
	// fails the request.
	MaxRetryAfter time.Duration
	// MaxBytes bounds the tarball bytes one run downloads.
	MaxBytes int64
	// OtherHosts allows redirects to other hosts than the upstream's.
	OtherHosts bool
	// UserAgent of the requests.
	UserAgent string
	// Log gets a line per version stored or skipped, and for anything
	// unusual.
	Log *slog.Logger
	// Progress, when set, is told how far the run is.
	Progress Progress
}

// Defaults.
const (
	DefaultJobs          = 4
	DefaultTimeout       = 30 * time.Second
	DefaultAttempts      = 5
	DefaultBackoff       = 500 * time.Millisecond
	DefaultMaxRetryAfter = 5 * time.Minute
	DefaultMaxBytes      = 4 << 30
)

// Size limits on what is read from an upstream.
const (
	maxTarball  = archive.ClientLimit // what the nessemble client can install
	maxDocument = 4 << 20             // a package document: the version list grows with versions
	maxPage     = 4 << 20             // a page of / or of the change feed
	perPage     = 100                 // packages asked for per page of /
	maxPages    = 1_000_000 / perPage // the registry's own limit on page numbers
)

func (c *Config) setDefaults() {
	if c.Jobs <= 0 {
		c.Jobs = DefaultJobs
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.UserAgent == "" {
		c.UserAgent = "nessemble-registry-mirror"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = noProgress{}
	}
}

// Progress hears how far a run is: Add when more are known to look at
// (versions, or with the feed, changes: an estimate that may fall short
// of what is done), Done when one was looked at (bytes downloaded for it,
// 0 when it was present already or skipped).
type Progress interface {
	Add(versions int)
	Done(bytes int64)
}

type noProgress struct{}

func (noProgress) Add(int)    {}
func (noProgress) Done(int64) {}

// Skip is a version (or the reference) that a run did not store, and why.
type Skip struct {
	What, Why string
}

// Summary is what a run did.
type Summary struct {
	Upstream     string
	Feed         bool  // the upstream's change feed was used
	Serial       int64 // where in the upstream's change log the mirror now stands (feed only)
	NewPackages  int
	NewVersions  int
	Present      int // versions looked at and found stored already
	Bytes        int64
	Reference    bool // the reference was replaced
	Skipped      []Skip
	Took         time.Duration
	UnknownKinds int // feed entries of kinds this binary does not know, passed over
	Moderated    int // yanks, unyanks and removals applied
}

// run is one mirror run.
type run struct {
	cfg   Config
	core  *registry.Service
	f     *fetcher
	key   string // the upstream as its serial is recorded
	bytes atomic.Int64

	mu  sync.Mutex
	sum Summary
}

// Run mirrors cfg.Upstream into core: the change feed since the last run
// when the upstream has one, else a walk of every page of / and every
// package document. A version that fails a check is skipped and listed
// in the summary; err is for a run that could not go on (the upstream
// unreachable, the context ended, the byte budget spent).
func Run(ctx context.Context, core *registry.Service, cfg Config) (Summary, error) {
	cfg.setDefaults()
	start := time.Now()
	f, err := newFetcher(&cfg)
	if err != nil {
		return Summary{}, err
	}
	r := &run{cfg: cfg, core: core, f: f, key: f.base.String()}
	r.sum.Upstream = r.key
	defer func() { core.RecordMirrored(ctx, registry.AuditMirror, r.key, r.sum.NewVersions, r.sum.Moderated) }()
	err = r.viaFeed(ctx)
	if errors.Is(err, errNoFeed) {
		cfg.Log.Info("the upstream has no change feed; walking its package list", "upstream", r.key)
		err = r.walk(ctx)
	}
	r.sum.Bytes = r.bytes.Load()
	r.sum.Took = time.Since(start)
	sort.Slice(r.sum.Skipped, func(i, j int) bool { return r.sum.Skipped[i].What < r.sum.Skipped[j].What })
	return r.sum, err
}

var errNoFeed = errors.New("no change feed")

// feedPage is a page of GET /changes.
type feedPage struct {
	Changes *[]struct {
		Serial  int64  `json:"serial"`
		Kind    string `json:"kind"`
		Title   string `json:"title"`
		Version string `json:"version"`
		Shasum  string `json:"shasum"`
		Date    string `json:"date"`
	} `json:"changes"`
	Last int64 `json:"last"`
}

// viaFeed follows the change feed from the serial of the last run.
// Everything up to the first change that failed counts as done: the next
// run asks again from there, and finds what this one stored present.
func (r *run) viaFeed(ctx context.Context) error {
	start, err := r.core.MirrorSerial(ctx, r.key)
	if err != nil {
		return err
	}
	since := start
	var (
		failed    bool  // a change failed: the serial stays before it
		done      int64 // the serial everything up to which is stored
		refSerial int64 // the first reference change seen; 0: none
		restarted bool
	)
	done = since
	for pages := 0; ; pages++ {
		var p feedPage
		found, err := r.f.getJSON(ctx, "/changes?since="+strconv.FormatInt(since, 10), maxPage, &p)
		if err != nil {
			if pages == 0 && isNotFeed(err) {
				return errNoFeed
			}
			return err
		}
		if !found || p.Changes == nil {
			if pages == 0 {
				return errNoFeed
			}
			return fmt.Errorf("%s: the change feed stopped answering", r.key)
		}
		r.sum.Feed = true
		cs := *p.Changes
		if pages == 0 && p.Last < since && !restarted {
			// The upstream's log is behind what we saw of it: a new
			// registry at the same URL. Start over; what we have is found
			// present.
			r.cfg.Log.Warn("the upstream's change log restarted; reading it from the start", "upstream", r.key, "had", since, "last", p.Last)
			since, done, restarted, pages = 0, 0, true, -1
			continue
		}
		if len(cs) == 0 {
			break
		}
		if pages == 0 {
			r.cfg.Progress.Add(int(min(p.Last-since, int64(len(cs))*maxPages)))
		}
		var (
			tasks []task
			later []registry.Change
		)
		for _, c := range cs {
			if c.Serial <= since {
				return fmt.Errorf("%s: the change feed went backwards (serial %d after %d)", r.key, c.Serial, since)
			}
			since = c.Serial
			switch c.Kind {
			case registry.ChangePublish:
				at, err := time.Parse(time.RFC3339, c.Date)
				if err != nil {
					at = time.Time{} // VerifyIncoming refuses it
				}
				tasks = append(tasks, task{serial: c.Serial, title: c.Title, version: c.Version, shasum: c.Shasum, date: at})
			case registry.ChangeReference:
				r.cfg.Progress.Done(0)
				if refSerial == 0 {
					refSerial = c.Serial
				}
			case registry.ChangeYank, registry.ChangeUnyank, registry.ChangeRemove:
				// After the page's versions are stored, in their order.
				later = append(later, registry.Change{Serial: c.Serial, Kind: c.Kind, Title: c.Title, Version: c.Version})
			case registry.ChangeOwners:
				r.cfg.Progress.Done(0) // owners are accounts: never copied
			default:
				r.cfg.Progress.Done(0)
				r.mu.Lock()
				r.sum.UnknownKinds++
				r.mu.Unlock()
				r.cfg.Log.Info("skipping a change of a kind this version does not know", "serial", c.Serial, "kind", printable(c.Kind, 32),
					"title", printable(c.Title, 64), "version", printable(c.Version, 64))
			}
		}
		firstFail, err := r.runTasks(ctx, tasks)
		if err != nil {
			return err
		}
		for _, c := range later {
			r.cfg.Progress.Done(0)
			if !validTitle(c.Title) || c.Version != "" && !semver.Valid(c.Version) {
				continue // nothing of ours can have that name
			}
			changed, err := r.core.MirrorChange(ctx, c)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.skip(c.Kind+" of "+printable(c.Title, 64)+" "+printable(c.Version, 64), err)
				if firstFail == 0 || c.Serial < firstFail {
					firstFail = c.Serial
				}
				continue
			}
			if changed {
				r.mu.Lock()
				r.sum.Moderated++
				r.mu.Unlock()
				r.cfg.Log.Info("applied", "change", c.Kind, "package", c.Title, "version", c.Version)
			}
		}
		if !failed {
			if firstFail > 0 {
				failed, done = true, firstFail-1
			} else {
				done = since
			}
		}
		if since >= p.Last || pages >= maxPages {
			break
		}
	}
	if !failed {
		done = since
	}
	if refSerial > 0 {
		if err := r.reference(ctx); err != nil {
			r.skip("reference", err)
			done = min(done, refSerial-1) // not done: asked for again
		}
	}
	r.sum.Serial = done
	if done == start {
		return nil // nothing new: no write
	}
	return r.core.SetMirrorSerial(ctx, r.key, done)
}

// isNotFeed says whether a first feed request failed the way a registry
// without the feed answers: a status it gives unknown routes, or a body
// that is not the feed.
func isNotFeed(err error) bool {
	var es *errStatus
	if errors.As(err, &es) {
		return es.status == http.StatusBadRequest || es.status == http.StatusMethodNotAllowed ||
			es.status == http.StatusNotAcceptable || es.status == http.StatusForbidden
	}
	var em *errMalformed
	return errors.As(err, &em)
}

// task is one version to look at.
type task struct {
	serial         int64 // of its feed entry; 0 in a walk
	title, version string
	shasum         string    // "" in a walk: from the document
	date           time.Time // from the feed
}

// what names the version in reports; the names come from the upstream.
func (t task) what() string { return printable(t.title, 64) + " " + printable(t.version, 64) }

// runTasks looks at tasks with cfg.Jobs at once and returns the lowest
// serial among those that failed (0: none did).
func (r *run) runTasks(ctx context.Context, tasks []task) (firstFail int64, err error) {
	if len(tasks) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan task)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail int64
	)
	for range min(r.cfg.Jobs, len(tasks)) {
		wg.Go(func() {
			for t := range ch {
				n, err := r.version(ctx, t)
				r.cfg.Progress.Done(n)
				if err == nil {
					continue
				}
				var stop *errStop
				if errors.As(err, &stop) || ctx.Err() != nil {
					cancel(err)
					continue
				}
				r.skip(t.what(), err)
				mu.Lock()
				if fail == 0 || t.serial < fail {
					fail = t.serial
				}
				if t.serial == 0 {
					fail = -1 // a walk has no serial
				}
				mu.Unlock()
			}
		})
	}
	for _, t := range tasks {
		select {
		case ch <- t:
			continue
		case <-ctx.Done():
		}
		break
	}
	close(ch)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, err
	}
	return fail, nil
}

// errStop ends a run: the byte budget is spent.
type errStop struct{ msg string }

func (e *errStop) Error() string { return e.msg }

func (r *run) skip(what string, err error) {
	why := err.Error()
	var ue *registry.Error
	if errors.As(err, &ue) {
		why = ue.Msg
	}
	r.cfg.Log.Warn("skipped", "what", what, "why", why)
	r.mu.Lock()
	r.sum.Skipped = append(r.sum.Skipped, Skip{What: what, Why: why})
	r.mu.Unlock()
}

// version stores one version unless it is present, and returns the bytes
// downloaded for it.
func (r *run) version(ctx context.Context, t task) (int64, error) {
	if !validTitle(t.title) {
		return 0, fmt.Errorf("not a valid package title")
	}
	if !semver.Valid(t.version) {
		return 0, fmt.Errorf("not a valid version")
	}
	route := "/package/" + url.PathEscape(t.title) + "/" + url.PathEscape(t.version)
	if t.shasum == "" {
		// A walk: the version's document gives its shasum and date.
		var doc struct {
			Title, Version, Shasum, Date string
		}
		found, err := r.f.getJSON(ctx, route, maxDocument, &doc)
		if err != nil {
			return 0, err
		}
		if !found {
			return 0, fmt.Errorf("its document answers 404 or 410")
		}
		if !strings.EqualFold(doc.Title, t.title) || doc.Version != t.version {
			return 0, fmt.Errorf("its document is of %s %s", printable(doc.Title, 64), printable(doc.Version, 64))
		}
		t.shasum = doc.Shasum
		t.date, err = time.Parse(time.RFC3339, doc.Date)
		if err != nil {
			return 0, fmt.Errorf("its document's date %q is not ISO 8601", printable(doc.Date, 40))
		}
	}
	if !validShasum(t.shasum) {
		return 0, fmt.Errorf("its shasum %q is not a SHA-1 in hex", printable(t.shasum, 64))
	}
	have, err := r.core.HaveVersion(ctx, t.title, t.version, t.shasum)
	if err != nil {
		return 0, err
	}
	if have {
		r.mu.Lock()
		r.sum.Present++
		r.mu.Unlock()
		return 0, nil
	}
	a, err := r.f.get(ctx, route+"/data", maxTarball)
	if err != nil {
		return 0, err
	}
	n := int64(len(a.body))
	if total := r.bytes.Add(n); total > r.cfg.MaxBytes {
		return n, &errStop{fmt.Sprintf("stopped: this run downloaded more than its budget of %d bytes", r.cfg.MaxBytes)}
	}
	if missing(a.status) {
		// Gone upstream since the feed named it (a later change removed
		// it), or a broken upstream: only the first is no failure.
		var doc struct{}
		if found, err := r.f.getJSON(ctx, route, maxDocument, &doc); err == nil && !found {
			r.cfg.Log.Info("no longer upstream; passed over", "package", t.title, "version", t.version)
			return n, nil
		}
		return n, fmt.Errorf("its tarball answers %d", a.status)
	}
	if got := a.header.Get("X-Integrity"); !strings.EqualFold(got, t.shasum) {
		return n, fmt.Errorf("X-Integrity %q is not the shasum %s", printable(got, 64), t.shasum)
	}
	added, err := r.core.AddMirrored(ctx, registry.Incoming{
		Title: t.title, Version: t.version, Shasum: t.shasum, Published: t.date, Tarball: a.body,
	})
	if err != nil {
		return n, err
	}
	r.mu.Lock()
	switch {
	case added.Package:
		r.sum.NewPackages++
		fallthrough
	case added.Version:
		r.sum.NewVersions++
	default:
		r.sum.Present++
	}
	r.mu.Unlock()
	if added.Version {
		r.cfg.Log.Info("stored", "package", t.title, "version", t.version, "bytes", n)
	}
	return n, nil
}

// walk mirrors an upstream without a change feed: every page of /, every
// package document, every version's document. Present versions cost no
// download, but each run reads every document.
func (r *run) walk(ctx context.Context) error {
	seen := map[string]bool{}
	for page := 1; page <= maxPages; page++ {
		var p struct {
			Packages []struct {
				Title string `json:"title"`
			} `json:"packages"`
			Pagination struct {
				Next *string `json:"next"`
			} `json:"pagination"`
		}
		found, err := r.f.getJSON(ctx, "/?page="+strconv.Itoa(page)+"&per_page="+strconv.Itoa(perPage), maxPage, &p)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s: the package list answers 404", r.key)
		}
		fresh := 0
		var titles []string
		for _, pk := range p.Packages {
			k := strings.ToLower(pk.Title)
			if !seen[k] {
				seen[k] = true
				fresh++
				titles = append(titles, pk.Title)
			}
		}
		if err := r.walkPackages(ctx, titles); err != nil {
			return err
		}
		// A page with nothing new ends the walk, whatever next says: an
		// upstream cannot keep a mirror paging for ever.
		if fresh == 0 || p.Pagination.Next == nil {
			break
		}
	}
	if err := r.reference(ctx); err != nil {
		r.skip("reference", err)
	}
	return nil
}

// walkPackages reads the documents of a page's packages, cfg.Jobs at
// once, and looks at each of their versions.
func (r *run) walkPackages(ctx context.Context, titles []string) error {
	var (
		mu    sync.Mutex
		tasks []task
		wg    sync.WaitGroup
		ch    = make(chan string)
	)
	for range min(r.cfg.Jobs, len(titles)) {
		wg.Go(func() {
			for title := range ch {
				vs, err := r.packageVersions(ctx, title)
				if err != nil {
					if ctx.Err() == nil {
						r.skip(printable(title, 64), err)
					}
					continue
				}
				mu.Lock()
				for _, v := range vs {
					tasks = append(tasks, task{title: title, version: v})
				}
				mu.Unlock()
			}
		})
	}
	for _, title := range titles {
		ch <- title
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].title != tasks[j].title {
			return tasks[i].title < tasks[j].title
		}
		return semver.Compare(tasks[i].version, tasks[j].version) < 0
	})
	r.cfg.Progress.Add(len(tasks))
	_, err := r.runTasks(ctx, tasks)
	return err
}

// packageVersions reads the versions a package document lists.
func (r *run) packageVersions(ctx context.Context, title string) ([]string, error) {
	if !validTitle(title) {
		return nil, fmt.Errorf("not a valid package title")
	}
	var doc struct {
		Versions map[string]string `json:"versions"`
	}
	found, err := r.f.getJSON(ctx, "/package/"+url.PathEscape(title), maxDocument, &doc)
	if err == nil && !found {
		err = fmt.Errorf("its document answers 404")
	}
	if err != nil {
		return nil, err
	}
	vs := make([]string, 0, len(doc.Versions))
	for v := range doc.Versions {
		vs = append(vs, v)
	}
	return vs, nil
}

// validTitle is the form of a title that may go into a URL and be looked
// up; the publish rules check the rest on the tarball's package.json.
func validTitle(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func validShasum(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
