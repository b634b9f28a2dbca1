package postgres

import (
	"context"
	"fmt"

	"github.com/nessemble/nessemble-registry/registry"
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

// Stats counts what the registry holds; DatabaseBytes is the whole
// database (pg_database_size).
func (db *DB) Stats(ctx context.Context) (registry.Stats, error) {
	var s registry.Stats
	err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM users),
		count(*), coalesce(sum(size), 0)::bigint, pg_database_size(current_database()) FROM versions`).
		Scan(&s.Packages, &s.Users, &s.Versions, &s.TarballBytes, &s.DatabaseBytes)
	if err != nil {
		return registry.Stats{}, fmt.Errorf("count data: %w", err)
	}
	return s, nil
}
