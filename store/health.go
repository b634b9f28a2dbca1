package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.rd.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Ready reports whether the data folder can serve and store: the
// database answers and the folder takes a new file (written, synced and
// removed: a full disk or a read-only mount fails here before a
// publish does). problem is a short reason fit for anyone to read; err
// has the details for the log.
func (db *DB) Ready(ctx context.Context) (problem string, err error) {
	if err := db.Ping(ctx); err != nil {
		return "the database does not answer", err
	}
	// Named and locked like a publish's temporary file, so that a sweep
	// by check or by another server leaves it alone.
	f, err := os.CreateTemp(filepath.Join(db.dir, tmpDir), uploadPrefix+"ready-*")
	if err != nil {
		return "the data folder is not writable", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := lockFile(f); err != nil {
		return "the data folder is not writable", err
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return "the data folder is not writable", err
	}
	if err := f.Sync(); err != nil {
		return "the data folder is not writable", err
	}
	return "", nil
}

// Stats is what a data folder holds, for monitoring.
type Stats struct {
	Packages, Versions, Users int64
	// DatabaseBytes is the size of the SQLite file and its write-ahead log.
	DatabaseBytes int64
	// TarballBytes is the size of the tarballs the versions name.
	TarballBytes int64
}

// Stats counts what the data folder holds.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.rd.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM users),
		count(*), coalesce(sum(size), 0) FROM versions`).Scan(&s.Packages, &s.Users, &s.Versions, &s.TarballBytes)
	if err != nil {
		return Stats{}, fmt.Errorf("count data: %w", err)
	}
	for _, name := range []string{dbFile, dbFile + "-wal"} {
		st, err := os.Stat(filepath.Join(db.dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Stats{}, err
		}
		s.DatabaseBytes += st.Size()
	}
	return s, nil
}
