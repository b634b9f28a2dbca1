package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/backendtest"
	"github.com/nessemble/nessemble-registry/internal/storagetest"
	"github.com/nessemble/nessemble-registry/postgres"
	"github.com/nessemble/nessemble-registry/registry"
)

var ctx = context.Background()

func open(t *testing.T, dbURL, s3URL string) *postgres.DB {
	t.Helper()
	bs, err := blobs.Open(ctx, s3URL, t.TempDir(), blobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, dbURL, bs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestCompliance runs the storage suite on PostgreSQL and S3; every
// handle of one test is another connection pool on the same database and
// bucket, as another replica would be.
func TestCompliance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) func(t *testing.T) storagetest.Storage {
		dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
		return func(t *testing.T) storagetest.Storage { return open(t, dbURL, s3URL) }
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	db := open(t, dbURL, s3URL)
	have, want, err := db.SchemaVersion(ctx)
	if err != nil || have != want || want < 1 {
		t.Fatalf("schema %d/%d %v", have, want, err)
	}
	db.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO schema_version VALUES (999)`); err != nil {
		t.Fatal(err)
	}
	bs, _ := blobs.Open(ctx, s3URL, t.TempDir(), blobs.Options{})
	if _, err := postgres.Open(ctx, dbURL, bs); !errors.Is(err, registry.ErrTooNew) {
		t.Fatalf("Open of a newer database: %v", err)
	}
}

// TestConcurrentOpen: replicas starting at once on a new database apply
// each migration once.
func TestConcurrentOpen(t *testing.T) {
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	bs, err := blobs.Open(ctx, s3URL, t.TempDir(), blobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(ctx, dbURL, bs)
			if err != nil {
				t.Errorf("open: %v", err)
				return
			}
			db.Close()
		}()
	}
	wg.Wait()
}

// TestNotifyWakesFollowers: a publish on one replica wakes the others at
// once, through LISTEN/NOTIFY.
func TestNotifyWakesFollowers(t *testing.T) {
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	writer, follower := open(t, dbURL, s3URL), open(t, dbURL, s3URL)
	// The follower's listener connects in the background; publish until
	// a wake-up arrives.
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		v := registry.Version{Title: "pad", Version: fmt.Sprintf("1.0.%d", i), Description: "d", Author: "alice", License: "MIT", Readme: "r"}
		if _, err := writer.Publish(ctx, "alice", v, []byte("t"+v.Version), registry.PublishRule("alice", registry.Import, "pad", v.Version)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-follower.Wake():
			if err := follower.CatchUp(ctx); err != nil {
				t.Fatal(err)
			}
			if follower.Changes() != writer.Changes() {
				t.Fatalf("woken follower at %d, writer at %d", follower.Changes(), writer.Changes())
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no NOTIFY reached the follower in 10 s")
		}
	}
}

func TestOpenHidesPassword(t *testing.T) {
	_, err := postgres.Open(ctx, "postgres://u:s3cret@127.0.0.1:1/db?sslmode=bogus", nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a bad URL: %v", err)
	}
}

// TestAuditAppendOnly: the database itself refuses to change or drop an
// event of the audit trail once written, whoever connects.
func TestAuditAppendOnly(t *testing.T) {
	dbURL, s3URL := backendtest.Postgres(t), backendtest.S3(t)
	db := open(t, dbURL, s3URL)
	if err := db.AppendAudit(ctx, registry.AuditEvent{Actor: "alice", Addr: "127.0.0.1", Action: registry.AuditPublish, Package: "pad"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`UPDATE audit SET actor = 'mallory'`, `DELETE FROM audit`, `TRUNCATE audit`} {
		if _, err := conn.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", q, err)
		}
	}
	if es, err := db.Audit(ctx, registry.AuditQuery{}); err != nil || len(es) != 1 || es[0].Actor != "alice" {
		t.Errorf("the trail after the attempts: %+v %v", es, err)
	}
}

// TestStats counts what the metrics show.
func TestStats(t *testing.T) {
	db := open(t, backendtest.Postgres(t), backendtest.S3(t))
	if _, err := db.CreateUser(ctx, registry.User{Username: "alice", Email: "a@example.org", Name: "A", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	tgz := []byte("tarball of pad 1.0.0")
	v := registry.Version{Title: "pad", Version: "1.0.0", Tags: []string{}}
	if _, err := db.Publish(ctx, "alice", v, tgz, registry.PublishRule("alice", registry.Create, "pad", "1.0.0")); err != nil {
		t.Fatal(err)
	}
	st, err := db.Stats(ctx)
	if err != nil || st.Packages != 1 || st.Versions != 1 || st.Users != 1 || st.TarballBytes != int64(len(tgz)) || st.DatabaseBytes <= 0 {
		t.Errorf("Stats = %+v %v", st, err)
	}
	if problem, err := db.Ready(ctx); problem != "" || err != nil {
		t.Errorf("Ready = %q %v", problem, err)
	}
}
