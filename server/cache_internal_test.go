package server

import (
	"fmt"
	"strings"
	"testing"
)

// TestCacheFloodKeepsHotEntries: a flood of distinct reads, each read
// once, never takes the cache past its bounds, and does not push out the
// entries that are read again and again.
func TestCacheFloodKeepsHotEntries(t *testing.T) {
	serial := int64(1)
	rc := newRespCache(func() int64 { return serial })
	entry := func(size int) *cached { return &cached{body: make([]byte, size)} }
	hot := []string{"hot-doc", "hot-tarball", "hot-search"}
	for _, k := range hot {
		rc.put(k, entry(30<<10), serial)
	}
	for i := range 100_000 {
		if i%50 == 0 {
			for _, k := range hot {
				if rc.get([]byte(k)) == nil {
					t.Fatalf("after %d flood entries, %s was evicted", i, k)
				}
			}
		}
		key := fmt.Sprintf("flood-%06d-%s", i, strings.Repeat("k", i%300))
		rc.put(key, entry(i%8000), serial)
		if n, b := rc.stats(); n > maxCacheEntries || b > maxCacheBytes {
			t.Fatalf("after %d flood entries: %d entries, %d bytes, over the bounds %d and %d",
				i, n, b, maxCacheEntries, maxCacheBytes)
		}
	}
	n, b := rc.stats()
	t.Logf("after the flood: %d entries, %d bytes", n, b)
	// A change of package data empties it.
	serial++
	if rc.get([]byte("hot-doc")) != nil {
		t.Error("an entry outlived a change of package data")
	}
}
