package store

import (
	"context"
	"database/sql"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

// ReplaceReference swaps the whole reference for entries in one
// transaction: on any failure the old reference stays as it was.
func (db *DB) ReplaceReference(ctx context.Context, entries []reference.Entry) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
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
		return logChange(ctx, tx, registry.Change{Kind: registry.ChangeReference, At: db.now()})
	})
	if err != nil {
		return err
	}
	_ = db.CatchUp(context.WithoutCancel(ctx)) // as after a publish
	return nil
}

// Reference returns every reference entry, ordered by path.
func (db *DB) Reference(ctx context.Context) ([]reference.Entry, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT path, text FROM reference ORDER BY path`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []reference.Entry
	for rows.Next() {
		var e reference.Entry
		if err := rows.Scan(&e.Path, &e.Text); err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	return es, rows.Err()
}
