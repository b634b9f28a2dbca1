// Package postgres keeps the registry's data in PostgreSQL, for a
// registry of several replicas: the second implementation of
// registry.Storage, beside store's SQLite, with the same rules enforced by
// the database and tarballs in a blobs.Store (an S3 bucket, for
// replicas). It knows nothing of HTTP.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/migrations"
	"github.com/nessemble/nessemble-registry/registry"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var _ registry.Storage = (*DB)(nil)

// Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)).
const (
	lockMigrate = 0x4e455301 // one process migrates at a time
	lockPublish = 0x4e455302 // with hashtext(title_key): one publish of a title at a time
	lockSweep   = 0x4e455303 // publishes take it shared, a sweep exclusive
)

// notifyChannel is where every change is announced (see Follow).
const notifyChannel = "nessemble_changes"

// DB is an open registry database.
type DB struct {
	pool  *pgxpool.Pool
	url   string
	blobs blobs.Store
	now   func() time.Time

	serial    atomic.Int64
	refSerial atomic.Int64
	followMu  sync.Mutex

	wake     chan struct{}
	stop     chan struct{}
	listened sync.WaitGroup
}

// Open connects to the database at url (postgres://...), applies pending
// migrations, refuses a schema newer than this binary, and keeps the
// tarballs in bs.
func Open(ctx context.Context, url string, bs blobs.Store) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("--database: not a PostgreSQL URL (postgres://USER@HOST:PORT/DB?sslmode=...)")
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := &DB{pool: pool, url: url, blobs: bs, now: time.Now, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.openSerials(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	db.listened.Add(1)
	go db.listen()
	return db, nil
}

// Close stops listening and closes the pool.
func (db *DB) Close() error {
	select {
	case <-db.stop:
	default:
		close(db.stop)
	}
	db.listened.Wait()
	db.pool.Close()
	return nil
}

// SetClock replaces the clock used for timestamps and expiry (tests).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// Blobs is where the tarballs are.
func (db *DB) Blobs() blobs.Store { return db.blobs }

// schema is the migrations this binary embeds.
func schema() ([]migrations.Migration, error) { return migrations.Read(migrationFS, "migrations") }

// SchemaVersion is the database's migration level and the binary's.
func (db *DB) SchemaVersion(ctx context.Context) (have, want int, err error) {
	ms, err := schema()
	if err != nil {
		return 0, 0, err
	}
	err = db.pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_version`).Scan(&have)
	return have, len(ms), err
}

// migrate applies each pending migration in its own transaction, which
// records the new level in schema_version; replicas starting together
// queue on an advisory lock, and each migration is applied once.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := schema()
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_version`).Scan(&have); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > len(ms) {
			return fmt.Errorf("%w (database at %d, binary knows %d): upgrade nessemble-registry", registry.ErrTooNew, have, len(ms))
		}
		for _, m := range ms[have:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %d: %w", m.Version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
				return fmt.Errorf("migration %d: %w", m.Version, err)
			}
		}
		return nil
	})
}

// inTx runs fn in a transaction, committing if it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return translate(err)
	}
	return translate(tx.Commit(ctx))
}

// translate turns driver errors callers care about into our sentinels.
func translate(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %v", registry.ErrConflict, err)
		case "53100": // disk_full
			return fmt.Errorf("%w: %v", registry.ErrNoSpace, err)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return registry.ErrNotFound
	}
	return err
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// foldASCII folds ASCII letters only, as SQLite's NOCASE does: usernames,
// emails and reference paths are unique by it on both backends.
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
