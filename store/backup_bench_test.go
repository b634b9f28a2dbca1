package store_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
	"github.com/nessemble/nessemble-registry/store"
)

// BenchmarkBackup times a whole backup (snapshot, then every tarball
// read, checked and written to a file) of a registry of 10,000 packages
// of three versions, each with a 1.5 KiB tarball of random bytes, about
// the size of a small library's canonical tarball:
//
//	go test -run '^$' -bench Backup -benchtime 3x ./store
//
// The seeded folder is kept in the system temp folder for later runs.
func BenchmarkBackup(b *testing.B) {
	const n = 10_000
	dir := filepath.Join(os.TempDir(), "nessemble-registry-bench-backup-"+strconv.Itoa(n))
	if _, err := os.Stat(filepath.Join(dir, "seeded")); err != nil {
		seedBackup(b, dir, n)
	}
	out := filepath.Join(b.TempDir(), "backup.tar")
	b.ResetTimer()
	var size int64
	for i := 0; i < b.N; i++ {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Backup(context.Background(), dir, f); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		size, _ = f.Seek(0, io.SeekCurrent)
		f.Close()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}

// BenchmarkBackupWhilePublishing is BenchmarkBackup on a copy of the
// same folder while a publisher stores versions as fast as it can
// (durably, as the server does), and reports how many it stored during
// the backup and the slowest of them: what a backup holds up.
func BenchmarkBackupWhilePublishing(b *testing.B) {
	const n = 10_000
	seed := filepath.Join(os.TempDir(), "nessemble-registry-bench-backup-"+strconv.Itoa(n))
	if _, err := os.Stat(filepath.Join(seed, "seeded")); err != nil {
		seedBackup(b, seed, n)
	}
	dir := filepath.Join(b.TempDir(), "data")
	if err := os.CopyFS(dir, os.DirFS(seed)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	out := filepath.Join(b.TempDir(), "backup.tar")
	var published int
	var slowest time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for v := 0; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				ver := registry.Version{Title: fmt.Sprintf("live-%d", i), Version: fmt.Sprintf("1.%d.0", v),
					Description: "Published during a backup", Author: "bench", License: "MIT",
					Tags: []string{"live"}, Readme: "# live\n"}
				start := time.Now()
				if _, err := db.Publish(ctx, "bench", ver, []byte(ver.Title+" "+ver.Version), registry.PublishRule("bench", registry.Import, ver.Title, ver.Version)); err != nil {
					b.Error(err)
					return
				}
				slowest = max(slowest, time.Since(start))
				published++
			}
		}()
		time.Sleep(50 * time.Millisecond) // the publisher is under way
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := store.Backup(ctx, dir, f); err != nil {
			b.Fatal(err)
		}
		f.Sync()
		f.Close()
		close(stop)
		<-done
	}
	b.ReportMetric(float64(published)/float64(b.N), "publishes/backup")
	b.ReportMetric(float64(slowest)/1e6, "slowest-publish-ms")
}

func seedBackup(b *testing.B, dir string, n int) {
	b.Helper()
	os.RemoveAll(dir)
	ctx := context.Background()
	db, err := store.OpenWith(ctx, dir, store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	tarball := make([]byte, 1536)
	for i := 0; i < n; i++ {
		for v := 0; v < 3; v++ {
			ver := registry.Version{
				Title: fmt.Sprintf("pkg-%06d", i), Version: fmt.Sprintf("1.%d.0", v),
				Description: "Generated library", Author: "bench", License: "MIT",
				Tags: []string{"generated"}, Readme: "# generated\n",
			}
			rand.Read(tarball)
			if _, err := db.Publish(ctx, "bench", ver, tarball, registry.PublishRule("bench", registry.Import, ver.Title, ver.Version)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Logf("seeded %d packages in %v", n, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(filepath.Join(dir, "seeded"), nil, 0o600); err != nil {
		b.Fatal(err)
	}
}
