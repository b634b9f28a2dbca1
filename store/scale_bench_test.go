package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// The scale benchmarks read and publish against registries of 1,000,
// 10,000 and 100,000 generated packages (three versions each):
//
//	go test -run '^$' -bench Scale -benchtime 2000x ./store
//
// Seeding 100,000 packages takes a minute or two; each seeded folder is
// kept in the system temp folder and reused by later runs.
var scaleSizes = []int{1_000, 10_000, 100_000}

const versionsPerPackage = 3

// seeded returns a data folder holding n generated packages.
func seeded(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "nessemble-registry-bench-"+strconv.Itoa(n))
	done := filepath.Join(dir, "seeded")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.OpenWith(ctx, dir, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	for i := 0; i < n; i++ {
		for v := 0; v < versionsPerPackage; v++ {
			ver := registry.Version{
				Title:       fmt.Sprintf("pkg-%06d", i),
				Version:     fmt.Sprintf("1.%d.0", v),
				Description: fmt.Sprintf("Generated library %d for sprites and sound", i),
				Author:      "bench", License: "MIT",
				Tags:   []string{"generated", "tag" + strconv.Itoa(i%50)},
				Readme: "# generated\n",
			}
			if i == n/2 {
				ver.Description = "The only quokka in the registry"
			}
			if _, err := db.Publish(ctx, "bench", ver, []byte(ver.Title+" "+ver.Version), registry.PublishRule("bench", registry.Import, ver.Title, ver.Version)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("seeded %d packages in %v", n, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkScale reports each read's time per operation, and p99 in ms,
// at each size; reads should stay flat as the registry grows.
func BenchmarkScale(b *testing.B) {
	ctx := context.Background()
	for _, n := range scaleSizes {
		dir := seeded(b, n)
		db, err := store.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		// Load the in-memory list index before timing, as a running
		// server does on its first list or search.
		if _, _, err := db.ListPackages(ctx, registry.ListOptions{Limit: 1}); err != nil {
			b.Fatal(err)
		}
		middle := fmt.Sprintf("pkg-%06d", n/2)
		reads := []struct {
			name string
			op   func() error
		}{
			{"document", func() error {
				if _, err := db.Version(ctx, middle, ""); err != nil {
					return err
				}
				_, err := db.Releases(ctx, middle)
				return err
			}},
			{"search-common", func() error { _, _, err := db.Search(ctx, "sprites", 0, 10); return err }},
			{"search-rare", func() error { _, _, err := db.Search(ctx, "quokka", 0, 10); return err }},
			{"list-first-100", func() error {
				_, _, err := db.ListPackages(ctx, registry.ListOptions{Limit: 100})
				return err
			}},
			{"list-last-100", func() error {
				_, _, err := db.ListPackages(ctx, registry.ListOptions{Offset: n - 100, Limit: 100})
				return err
			}},
			{"list-by-description-last-100", func() error {
				_, _, err := db.ListPackages(ctx, registry.ListOptions{Offset: n - 100, Limit: 100, ByDescription: true})
				return err
			}},
		}
		for _, r := range reads {
			b.Run(fmt.Sprintf("n=%d/%s", n, r.name), func(b *testing.B) {
				var times []time.Duration
				for b.Loop() {
					t := time.Now()
					if err := r.op(); err != nil {
						b.Fatal(err)
					}
					times = append(times, time.Since(t))
				}
				slices.Sort(times)
				b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
		// Durable publishes: fsync of the tarball and a FULL-synchronous
		// commit, as the registry runs. They go to a copy of the seeded
		// database, so that the kept seed stays n packages.
		b.Run(fmt.Sprintf("n=%d/publish", n), func(b *testing.B) {
			pub := publishCopy(b, dir)
			i := 0
			for b.Loop() {
				v := registry.Version{Title: fmt.Sprintf("new-%d", i), Version: "1.0.0",
					Description: "fresh", Author: "bench", License: "MIT", Tags: []string{"new"}, Readme: "#\n"}
				if _, err := pub.Publish(ctx, "bench", v, []byte(v.Title), registry.PublishRule("bench", registry.Create, v.Title, v.Version)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		db.Close()
	}
}

// publishCopy opens a copy of the seeded folder's database (its tarballs
// are not needed to publish) in a temp folder of b's.
func publishCopy(b *testing.B, seed string) *store.DB {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(seed, "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "registry.db"), data, 0o600); err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}
