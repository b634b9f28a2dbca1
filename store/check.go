package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/nessemble/nessemble-registry/blobs"
)

// Problem is one thing Check found: damage, or a leftover.
type Problem = blobs.Problem

// Check verifies the data folder: the schema level, SQLite's own
// consistency check, every version's tarball present with the SHA-1 its
// row names, and no files beside them (leftovers, or files the registry
// never writes). With repair, those files are removed (they hold nothing
// a 201 promised).
func (db *DB) Check(ctx context.Context, repair bool) ([]Problem, error) {
	var probs []Problem
	have, want, err := db.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if have != want {
		probs = append(probs, Problem{Path: dbFile, What: fmt.Sprintf("schema version %d, this binary expects %d", have, want)})
	}
	var quick string
	if err := db.rd.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&quick); err != nil {
		return nil, err
	}
	if quick != "ok" {
		probs = append(probs, Problem{Path: dbFile, What: "SQLite quick_check: " + quick})
	}

	rows, err := db.rd.QueryContext(ctx, `SELECT p.title, v.version, v.shasum FROM versions v
		JOIN packages p ON p.id = v.package_id WHERE v.removed_at IS NULL ORDER BY p.title, v.id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var title, version, sum string
		if err := rows.Scan(&title, &version, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		where, what, err := db.blobs.Verify(ctx, sum)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if what != "" {
			probs = append(probs, Problem{Path: where, What: title + "@" + version + ": " + what})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	strays, err := db.sweep(ctx, func(Problem) bool { return repair })
	return append(probs, strays...), err
}

// RemoveLeftovers removes what killed publishes left behind (see
// Problem.Leftover) and returns it; serve calls it at start so that
// leftovers never pile up. Files the registry never writes are left
// for check to report.
func (db *DB) RemoveLeftovers(ctx context.Context) ([]Problem, error) {
	strays, err := db.sweep(ctx, func(p Problem) bool { return p.Leftover })
	var left []Problem
	for _, p := range strays {
		if p.Leftover {
			left = append(left, p)
		}
	}
	return left, err
}

// sweep lists what lies beside the stored tarballs (see blobs.Store.Sweep),
// and removes each one that remove says to. It runs under the write lock
// that Publish holds from writing its tarball to committing its row, in
// whichever process: so no publish is under way meanwhile, and every
// tarball of a committed row is known.
func (db *DB) sweep(ctx context.Context, remove func(Problem) bool) ([]Problem, error) {
	var probs []Problem
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		known, err := shasums(ctx, tx)
		if err != nil {
			return err
		}
		probs, err = db.blobs.Sweep(ctx, known, remove)
		return err
	})
	return probs, err
}

// shasums is the set of tarballs that committed versions name (a removed
// version has none: a file of one is what a crash left of its removal).
func shasums(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	known := make(map[string]bool)
	rows, err := tx.QueryContext(ctx, `SELECT shasum FROM versions WHERE removed_at IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, err
		}
		known[sum] = true
	}
	return known, rows.Err()
}
