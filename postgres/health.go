package postgres

import (
	"context"
	"fmt"
)

// Ping reports whether the database answers a query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.pool.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Ready reports whether the registry can serve and store: the database
// answers and the blob store is there (see blobs.Store.Ready). problem is
// a short reason fit for anyone to read; err has the details for the log.
func (db *DB) Ready(ctx context.Context) (problem string, err error) {
	if err := db.Ping(ctx); err != nil {
		return "the database does not answer", err
	}
	return db.blobs.Ready(ctx)
}

// Stats is what the registry holds, for monitoring.
type Stats struct {
	Packages, Versions, Users int64
	// DatabaseBytes is the size of the whole database (pg_database_size).
	DatabaseBytes int64
	// TarballBytes is the size of the tarballs the versions name.
	TarballBytes int64
}

// Stats counts what the registry holds.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM users),
		count(*), coalesce(sum(size), 0)::bigint, pg_database_size(current_database()) FROM versions`).
		Scan(&s.Packages, &s.Users, &s.Versions, &s.TarballBytes, &s.DatabaseBytes)
	if err != nil {
		return Stats{}, fmt.Errorf("count data: %w", err)
	}
	return s, nil
}
