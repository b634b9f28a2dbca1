package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/blobs"
)

// Check verifies the schema level, that every version's tarball is in
// the blob store with the SHA-1 its row names, and that nothing else is
// there (see blobs.Store.Sweep); with repair, what is there besides is
// removed.
func (db *DB) Check(ctx context.Context, repair bool) ([]blobs.Problem, error) {
	var probs []blobs.Problem
	have, want, err := db.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if have != want {
		probs = append(probs, blobs.Problem{Path: "schema_version", What: fmt.Sprintf("schema version %d, this binary expects %d", have, want)})
	}
	rows, err := db.pool.Query(ctx, `SELECT p.title, v.version, v.shasum FROM versions v
		JOIN packages p ON p.id = v.package_id WHERE v.removed_at IS NULL ORDER BY p.title_key, v.id`)
	if err != nil {
		return nil, err
	}
	type ver struct{ title, version, sum string }
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ver, error) {
		var v ver
		return v, r.Scan(&v.title, &v.version, &v.sum)
	})
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		where, what, err := db.blobs.Verify(ctx, v.sum)
		if err != nil {
			return nil, err
		}
		if what != "" {
			probs = append(probs, blobs.Problem{Path: where, What: v.title + "@" + v.version + ": " + what})
		}
	}
	strays, err := db.sweep(ctx, func(blobs.Problem) bool { return repair })
	return append(probs, strays...), err
}

// RemoveLeftovers removes what killed publishes left behind and returns
// it; serve calls it at start.
func (db *DB) RemoveLeftovers(ctx context.Context) ([]blobs.Problem, error) {
	strays, err := db.sweep(ctx, func(p blobs.Problem) bool { return p.Leftover })
	var left []blobs.Problem
	for _, p := range strays {
		if p.Leftover {
			left = append(left, p)
		}
	}
	return left, err
}

// sweep runs blobs.Store.Sweep under the sweep lock, exclusive: every
// publish on every replica holds it shared from before its tarball is
// written to its commit, so none is under way, and every tarball of a
// committed row is known.
func (db *DB) sweep(ctx context.Context, remove func(blobs.Problem) bool) ([]blobs.Problem, error) {
	var probs []blobs.Problem
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockSweep); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT shasum FROM versions WHERE removed_at IS NULL`)
		if err != nil {
			return err
		}
		sums, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		known := make(map[string]bool, len(sums))
		for _, s := range sums {
			known[s] = true
		}
		probs, err = db.blobs.Sweep(ctx, known, remove)
		return err
	})
	return probs, err
}
