package blobs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/registry"
)

// backend is a blob store under test and a way to write behind its back.
type backend struct {
	store blobs.Store
	// overwrite puts raw bytes under the name of sum, as damage would.
	overwrite func(t *testing.T, sum string, data []byte)
	// stray puts a file or object the registry never writes.
	stray func(t *testing.T)
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"dir": func(t *testing.T) backend {
			dir := t.TempDir()
			s, err := blobs.Open(context.Background(), "", dir, blobs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return backend{store: s,
				overwrite: func(t *testing.T, sum string, data []byte) {
					p := filepath.Join(dir, "tarballs", sum[:2], sum+".tar.gz")
					os.MkdirAll(filepath.Dir(p), 0o750)
					if err := os.WriteFile(p, data, 0o640); err != nil {
						t.Fatal(err)
					}
				},
				stray: func(t *testing.T) {
					os.WriteFile(filepath.Join(dir, "tarballs", "notes.txt"), []byte("x"), 0o640)
				},
			}
		},
		"s3": func(t *testing.T) backend {
			u := backendtest.S3(t)
			s, err := blobs.Open(context.Background(), u, t.TempDir(), blobs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c, bucket := backendtest.Client(t, u)
			put := func(t *testing.T, key string, data []byte) {
				_, err := c.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
			return backend{store: s,
				overwrite: func(t *testing.T, sum string, data []byte) { put(t, "tarballs/"+sum+".tar.gz", data) },
				stray:     func(t *testing.T) { put(t, "tarballs/notes.txt", []byte("x")) },
			}
		},
	}
}

func TestBlobStores(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := open(t)
			data := []byte("a tarball")
			sum := blobs.SHA1(data)

			if _, err := b.store.Get(ctx, sum); !errors.Is(err, registry.ErrDamaged) {
				t.Fatalf("Get of a missing blob: %v, want ErrDamaged", err)
			}
			if _, what, err := b.store.Verify(ctx, sum); err != nil || what == "" {
				t.Fatalf("Verify of a missing blob: %q %v", what, err)
			}
			created, err := b.store.Put(ctx, sum, data)
			if err != nil || !created {
				t.Fatalf("first Put: created %v, %v", created, err)
			}
			if created, err := b.store.Put(ctx, sum, data); err != nil || created {
				t.Fatalf("second Put: created %v, %v; want kept", created, err)
			}
			got, err := b.store.Get(ctx, sum)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get: %q %v", got, err)
			}
			if where, what, err := b.store.Verify(ctx, sum); err != nil || what != "" || where == "" {
				t.Fatalf("Verify of a good blob: %q %q %v", where, what, err)
			}
			if _, err := b.store.Put(ctx, "../../etc/passwd", data); err == nil {
				t.Fatal("Put took a name that is no SHA-1")
			}

			// Damage: the wrong bytes under the name.
			b.overwrite(t, sum, []byte("a tarbalL"))
			if _, err := b.store.Get(ctx, sum); !errors.Is(err, registry.ErrDamaged) {
				t.Fatalf("Get of a damaged blob: %v, want ErrDamaged", err)
			}
			if _, what, err := b.store.Verify(ctx, sum); err != nil || !strings.Contains(what, "SHA-1") {
				t.Fatalf("Verify of a damaged blob: %q %v", what, err)
			}

			// Sweep: a blob no version names is a leftover; anything else
			// is not the registry's; remove takes what it is told.
			other := []byte("left by a killed publish")
			if _, err := b.store.Put(ctx, blobs.SHA1(other), other); err != nil {
				t.Fatal(err)
			}
			b.stray(t)
			known := map[string]bool{sum: true}
			probs, err := b.store.Sweep(ctx, known, func(blobs.Problem) bool { return false })
			if err != nil {
				t.Fatal(err)
			}
			var leftovers, strays int
			for _, p := range probs {
				if p.Repair {
					t.Errorf("removed without being asked: %+v", p)
				}
				if p.Leftover {
					leftovers++
					if !strings.Contains(p.Path, blobs.SHA1(other)) {
						t.Errorf("leftover %+v is not the unnamed blob", p)
					}
				} else {
					strays++
				}
			}
			if leftovers != 1 || strays != 1 {
				t.Fatalf("Sweep found %d leftovers and %d strays, want 1 and 1: %+v", leftovers, strays, probs)
			}
			probs, err = b.store.Sweep(ctx, known, func(p blobs.Problem) bool { return p.Leftover })
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probs {
				if p.Leftover != p.Repair {
					t.Errorf("%+v: removed %v", p, p.Repair)
				}
			}
			if _, err := b.store.Get(ctx, blobs.SHA1(other)); !errors.Is(err, registry.ErrDamaged) {
				t.Fatalf("the removed leftover is still there: %v", err)
			}
			// Removing a publish's own blob.
			if err := b.store.Remove(ctx, sum); err != nil {
				t.Fatal(err)
			}
			if _, err := b.store.Get(ctx, sum); !errors.Is(err, registry.ErrDamaged) {
				t.Fatalf("Get after Remove: %v", err)
			}
		})
	}
}

// TestS3PutRepairsDamage: a damaged object under a tarball's name is
// replaced by the right bytes, a good one never rewritten.
func TestS3PutRepairsDamage(t *testing.T) {
	b := backends(t)["s3"](t)
	ctx := context.Background()
	data := []byte("the right bytes")
	sum := blobs.SHA1(data)
	b.overwrite(t, sum, []byte("the wrong bytes"))
	created, err := b.store.Put(ctx, sum, data)
	if err != nil || created {
		t.Fatalf("Put over damage: created %v %v; want not created (a version may name it)", created, err)
	}
	if got, err := b.store.Get(ctx, sum); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after Put: %q %v", got, err)
	}
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for _, u := range []string{
		"s3://",
		"s3://bucket/path?endpoint=http://127.0.0.1:1",
		"s3://key:secret@bucket?endpoint=http://127.0.0.1:1",
		"s3://bucket?endpoint=ftp://127.0.0.1:1",
		"gs://bucket",
	} {
		_, err := blobs.Open(context.Background(), u, t.TempDir(), blobs.Options{})
		if err == nil {
			t.Errorf("Open(%q) worked", u)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) shows the secret: %v", u, err)
		}
	}
}

func TestS3OpenRefusesMissingBucket(t *testing.T) {
	u := backendtest.S3(t)
	missing := strings.Replace(u, "s3://", "s3://no-such-", 1)
	if _, err := blobs.Open(context.Background(), missing, t.TempDir(), blobs.Options{}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Open of a missing bucket: %v", err)
	}
}
