package server

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Rendered read answers are kept in memory until package data changes (or
// the bounds below push them out): a package document, search page or
// tarball then costs one map lookup instead of queries, JSON encoding and
// a file read. Every change to
// package data moves the change log's serial, and the cache empties itself
// when it moves.
const (
	maxCacheEntries = 4096
	// maxCacheBytes bounds everything the entries hold: keys, bodies and
	// header values (entryOverhead stands for the latter and the map).
	maxCacheBytes = 16 << 20
	entryOverhead = 256
	// maxCacheKey leaves out of the cache reads with longer keys: a
	// Host, path and query of that length are nobody's ordinary read.
	maxCacheKey = 1024
	// evictionSample is how many entries put looks at to choose the one to
	// evict: the one read least since it was kept. A flood of reads that
	// are never repeated then evicts its own kind, not the entries many
	// clients read.
	evictionSample = 8
)

// cached is one rendered answer with its header values ready to share.
type cached struct {
	body        []byte
	ctype       []string
	length      []string
	etag        []string
	disposition []string // tarballs only
	integrity   []string // tarballs only
	vary        []string // answers that differ by request header
	csp         []string // web pages only
	hits        atomic.Int32
}

// newAnswer makes a read answer of body.
func newAnswer(ctype string, body []byte) *cached {
	return &cached{body: body, ctype: []string{ctype}, length: []string{strconv.Itoa(len(body))}, etag: []string{etagOf(body)}}
}

// jsonAnswer makes a read answer of package JSON for the client of k. The
// JSON is trimmed for the nessemble 1.x client, and a browser gets a web
// page instead (representation): a shared cache must keep them apart. The
// nessemble client's answer depends on its User-Agent alone, whatever it
// accepts, and says just that, as it always has.
func jsonAnswer(k readKey, v any) (*cached, error) {
	b, err := marshal(v)
	if err != nil {
		return nil, err
	}
	e := newAnswer("application/json", b)
	e.vary = hdrVaryUA
	if !k.legacy {
		e.vary = hdrVaryUAAccept
	}
	return e, nil
}

type respCache struct {
	serial  func() int64 // where the change log stands
	mu      sync.RWMutex
	gen     int64 // serial() the entries were rendered at
	entries map[string]*cached
	bytes   int
	evicted int // since the hit counts were last halved
}

func newRespCache(serial func() int64) *respCache {
	return &respCache{serial: serial, entries: make(map[string]*cached)}
}

// get returns the answer kept under key, or nil. (A []byte key: the map
// lookup converts it without a copy.)
func (rc *respCache) get(key []byte) *cached {
	rc.mu.RLock()
	e := rc.entries[string(key)]
	fresh := rc.gen == rc.serial()
	if e != nil && fresh {
		e.hits.Add(1)
	}
	rc.mu.RUnlock()
	if !fresh {
		return nil
	}
	return e
}

// put keeps e unless package data changed since gen, the serial read
// before e was rendered.
func (rc *respCache) put(key string, e *cached, gen int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if gen != rc.gen {
		if gen != rc.serial() {
			return // rendered from data that is already stale
		}
		rc.entries, rc.bytes, rc.gen = make(map[string]*cached), 0, gen
	}
	if old := rc.entries[key]; old != nil {
		rc.bytes -= entrySize(key, old)
		delete(rc.entries, key)
	}
	// Keys hold paths and queries anyone can vary: past the bounds, the
	// least read entries go.
	for len(rc.entries) > 0 && (len(rc.entries) >= maxCacheEntries || rc.bytes+entrySize(key, e) > maxCacheBytes) {
		rc.evictLocked()
	}
	rc.entries[key] = e
	rc.bytes += entrySize(key, e)
}

// evictLocked removes the least read of a few entries. Go starts every
// map iteration at a random place, so the first few are a sample. Hit
// counts are halved now and then, so that an entry read much long ago
// does not stay forever.
func (rc *respCache) evictLocked() {
	var victim string
	least := int32(math.MaxInt32)
	n := 0
	for k, e := range rc.entries {
		if h := e.hits.Load(); h < least {
			victim, least = k, h
		}
		if n++; n == evictionSample {
			break
		}
	}
	rc.bytes -= entrySize(victim, rc.entries[victim])
	delete(rc.entries, victim)
	if rc.evicted++; rc.evicted == maxCacheEntries {
		rc.evicted = 0
		for _, e := range rc.entries {
			e.hits.Store(e.hits.Load() / 2)
		}
	}
}

// stats reports how many answers the cache holds and the bytes it counts
// for them.
func (rc *respCache) stats() (entries, bytes int) {
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	if rc.gen != rc.serial() {
		return 0, 0 // stale: the next put starts afresh
	}
	return len(rc.entries), rc.bytes
}

func entrySize(key string, e *cached) int { return len(key) + len(e.body) + entryOverhead }

// normalQuery keeps of a query string the first non-empty value of each
// of params: as values, and encoded canonically, in their order, for the
// cache key. Render functions see only these values, so their answer
// depends on nothing the key leaves out.
func normalQuery(raw string, params []string) (url.Values, string) {
	if raw == "" || len(params) == 0 {
		return nil, "" // nil reads as empty, with no map made for most reads
	}
	q, _ := url.ParseQuery(raw) // what a handler would see of a bad one
	kept := make(url.Values, len(params))
	var b strings.Builder
	for _, p := range params {
		if v := q.Get(p); v != "" {
			kept[p] = []string{v}
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(p)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return kept, b.String()
}

// appendKey appends the name of a read answer to b: the representation
// (the nessemble client gets trimmed JSON, a browser a web page), the link base, the route and
// the normalised query. The lengths of base and path go before them, so
// that no two requests share a key (a path may hold "?" and NUL once
// decoded). ok is false for a read the cache leaves out, over maxCacheKey.
func appendKey(b []byte, legacy, html bool, base, path, query string) (key []byte, ok bool) {
	switch {
	case legacy:
		b = append(b, 'l')
	case html:
		b = append(b, 'h')
	default:
		b = append(b, 'f')
	}
	b = strconv.AppendInt(b, int64(len(base)), 10)
	b = append(b, ':')
	b = append(b, base...)
	b = strconv.AppendInt(b, int64(len(path)), 10)
	b = append(b, ':')
	b = append(b, path...)
	b = append(b, query...)
	return b, len(b) <= maxCacheKey
}
