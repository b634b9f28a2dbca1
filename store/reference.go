package store

import (
	"context"
	"database/sql"
	"strconv"
)

// RefEntry is one reference term: a slash-separated path and its text.
type RefEntry struct {
	Path string
	Text string
}

// ReplaceReference swaps the whole reference for entries in one
// transaction: on any failure the old reference stays as it was.
func (db *DB) ReplaceReference(ctx context.Context, entries []RefEntry) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM reference`); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO reference (path, text) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, e := range entries {
			if _, err := stmt.ExecContext(ctx, e.Path, e.Text); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('reference_generation', '1')
			ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1`)
		return err
	})
}

// Reference returns every reference entry, ordered by path.
func (db *DB) Reference(ctx context.Context) ([]RefEntry, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT path, text FROM reference ORDER BY path`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []RefEntry
	for rows.Next() {
		var e RefEntry
		if err := rows.Scan(&e.Path, &e.Text); err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, rows.Err()
}

// ReferenceGeneration changes whenever the reference is replaced; 0 means
// no reference was ever imported.
func (db *DB) ReferenceGeneration(ctx context.Context) (int64, error) {
	var v string
	err := db.rd.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'reference_generation'`).Scan(&v)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
