package server

import (
	"sync"

	"github.com/nessemble/nessemble-registry/store"
)

// Rendered read answers are kept in memory until package data changes: a
// package document, search page or tarball then costs one map lookup
// instead of queries, JSON encoding and a file read. Publishing is the only
// way package data changes; the store counts publishes, and the cache
// empties itself when the count moves.
const (
	maxCacheEntries = 4096
	maxCacheBytes   = 16 << 20
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
}

type respCache struct {
	db      *store.DB
	mu      sync.RWMutex
	gen     int64 // db.Changes() the entries were rendered at
	entries map[string]*cached
	bytes   int
}

func newRespCache(db *store.DB) *respCache {
	return &respCache{db: db, entries: make(map[string]*cached)}
}

func (rc *respCache) get(key string) *cached {
	rc.mu.RLock()
	e := rc.entries[key]
	fresh := rc.gen == rc.db.Changes()
	rc.mu.RUnlock()
	if !fresh {
		return nil
	}
	return e
}

// put keeps e unless package data changed since gen, the store's change
// count read before e was rendered.
func (rc *respCache) put(key string, e *cached, gen int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if gen != rc.gen {
		if gen != rc.db.Changes() {
			return // rendered from data that is already stale
		}
		rc.entries, rc.bytes, rc.gen = make(map[string]*cached), 0, gen
	}
	// Keys include query strings anyone can vary; when full, start over
	// rather than track recency: the hot entries come back at once.
	if len(rc.entries) >= maxCacheEntries || rc.bytes+len(e.body) > maxCacheBytes {
		rc.entries = make(map[string]*cached)
		rc.bytes = 0
	}
	if old := rc.entries[key]; old != nil {
		rc.bytes -= len(old.body)
	}
	rc.entries[key] = e
	rc.bytes += len(e.body)
}

// cacheKey names a read answer: what the client is (the nessemble client
// gets trimmed JSON), the link base, the route and the query.
func cacheKey(legacy bool, base, path, rawQuery string) string {
	k := "f"
	if legacy {
		k = "l"
	}
	return k + base + "\x00" + path + "?" + rawQuery
}
