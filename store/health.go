package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nessemble/nessemble-registry/registry"
)

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.rd.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Ready reports whether the registry can serve and store: the database
// answers and the tarball store takes a new blob (see blobs.Store.Ready:
// a full disk or a read-only mount fails here before a publish does).
// problem is a short reason fit for anyone to read; err
// has the details for the log.
func (db *DB) Ready(ctx context.Context) (problem string, err error) {
	if err := db.Ping(ctx); err != nil {
		return "the database does not answer", err
	}
	return db.blobs.Ready(ctx)
}

// Stats counts what the data folder holds; DatabaseBytes is the SQLite
// file and its write-ahead log.
func (db *DB) Stats(ctx context.Context) (registry.Stats, error) {
	var s registry.Stats
	err := db.rd.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM users),
		count(*), coalesce(sum(size), 0) FROM versions`).Scan(&s.Packages, &s.Users, &s.Versions, &s.TarballBytes)
	if err != nil {
		return registry.Stats{}, fmt.Errorf("count data: %w", err)
	}
	for _, name := range []string{dbFile, dbFile + "-wal"} {
		st, err := os.Stat(filepath.Join(db.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return registry.Stats{}, err
		}
		s.DatabaseBytes += st.Size()
	}
	return s, nil
}
