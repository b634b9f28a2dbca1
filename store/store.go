// Package store keeps the registry's data: a SQLite database of users,
// packages, versions and reference documentation, and the version tarballs
// as files beside it. It knows nothing of HTTP.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/migrations"
	"github.com/nessemble/nessemble-registry/registry"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// dbFile is the database's name inside the data folder.
const dbFile = "registry.db"

// DB is what the registry's rules keep their data in.
var _ registry.Storage = (*DB)(nil)

// DB is an open registry data folder.
type DB struct {
	dir string
	// Writers share one connection whose transactions start IMMEDIATE, so
	// concurrent writers queue on busy_timeout instead of failing with
	// "database is locked" on a lock upgrade.
	wr *sql.DB
	rd *sql.DB

	blobs blobs.Store
	index index
	now   func() time.Time
	// serial and refSerial are where this DB stands in the change log
	// (see Changes and CatchUp); followMu lets one CatchUp run at a time.
	serial    atomic.Int64
	refSerial atomic.Int64
	followMu  sync.Mutex
}

// Options tune OpenWith. The zero value is what the registry runs with.
type Options struct {
	// NoSync skips fsync and SQLite's synchronous writes, trading
	// durability for speed: for generating benchmark data only.
	NoSync bool
	// Blobs keeps the tarballs; nil means the data folder's tarballs/.
	Blobs blobs.Store
}

// Open opens (creating if needed) the data folder dir, applies pending
// migrations and refuses a database newer than this binary.
func Open(ctx context.Context, dir string) (*DB, error) {
	return OpenWith(ctx, dir, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dir string, opt Options) (*DB, error) {
	bs := opt.Blobs
	if bs == nil {
		d, err := blobs.OpenDir(dir, opt.NoSync)
		if err != nil {
			return nil, err
		}
		bs = d
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	path := filepath.Join(dir, dbFile)
	wr, err := openPool(path, "immediate", 1, opt.NoSync)
	if err != nil {
		return nil, err
	}
	rd, err := openPool(path, "deferred", 8, opt.NoSync)
	if err != nil {
		wr.Close()
		return nil, err
	}
	db := &DB{dir: dir, wr: wr, rd: rd, blobs: bs, now: time.Now}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.openSerials(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openPool opens a pool whose every connection gets the same pragmas:
// they are in the DSN, not run once on whichever connection comes first.
func openPool(path, txlock string, conns int, noSync bool) (*sql.DB, error) {
	sync := "synchronous(FULL)" // a 201 means the publish survives a power cut
	if noSync {
		sync = "synchronous(OFF)"
	}
	q := url.Values{}
	for _, p := range []string{"foreign_keys(1)", "busy_timeout(10000)", "journal_mode(WAL)", sync} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", txlock)
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.rd.Close(), db.wr.Close())
}

// Dir is the data folder.
func (db *DB) Dir() string { return db.dir }

// Blobs is where the tarballs are.
func (db *DB) Blobs() blobs.Store { return db.blobs }

// SetClock replaces the clock used for timestamps and expiry (tests).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// schema is the migrations this binary embeds.
func schema() ([]migrations.Migration, error) { return migrations.Read(migrationFS, "migrations") }

// SchemaVersion is the database's migration level and the binary's.
func (db *DB) SchemaVersion(ctx context.Context) (have, want int, err error) {
	ms, err := schema()
	if err != nil {
		return 0, 0, err
	}
	err = db.rd.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have)
	return have, len(ms), err
}

// migrate applies each pending migration in its own transaction, which
// also records the new level in user_version.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := schema()
	if err != nil {
		return err
	}
	var have int
	// The first query opens the writer's first connection, which turns a
	// new file to WAL. Another process opening the folder at that moment
	// can find the switch half done, and SQLite then answers SQLITE_BUSY
	// at once rather than after busy_timeout: try again for a while.
	err = db.wr.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have)
	for wait := 5 * time.Millisecond; isBusy(err) && wait < 2*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		err = db.wr.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have)
	}
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("%w (database at %d, binary knows %d): upgrade nessemble-registry", registry.ErrTooNew, have, len(ms))
	}
	for _, m := range ms[have:] {
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			// Read again under the write lock: another process opening
			// the same folder may have applied it meanwhile.
			var now int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&now); err != nil {
				return err
			}
			if now >= m.Version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.Version))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", m.Version, err)
		}
	}
	return nil
}

// inTx runs fn in a write transaction, committing if it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.wr.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return translate(err)
	}
	return translate(tx.Commit())
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// translate turns driver errors callers care about into our sentinels.
func translate(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", registry.ErrConflict, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w: %v", registry.ErrNoSpace, err)
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return registry.ErrNotFound
	}
	return err
}

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
