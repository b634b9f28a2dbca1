package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/reference"
	"github.com/nessemble/nessemble-registry/registry"
)

// ReplaceReference swaps the whole reference for entries in one
// transaction: on any failure the old reference stays as it was.
func (db *DB) ReplaceReference(ctx context.Context, entries []reference.Entry) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM reference`); err != nil {
			return err
		}
		rows := make([][]any, len(entries))
		for i, e := range entries {
			rows[i] = []any{foldASCII(e.Path), e.Path, e.Text}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"reference"}, []string{"path_key", "path", "text"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		return logChange(ctx, tx, registry.Change{Kind: registry.ChangeReference, At: db.now()})
	})
	if err != nil {
		return err
	}
	_ = db.CatchUp(context.WithoutCancel(ctx))
	return nil
}

// Reference returns every reference entry, ordered by path as SQLite's
// NOCASE orders it.
func (db *DB) Reference(ctx context.Context) ([]reference.Entry, error) {
	rows, err := db.pool.Query(ctx, `SELECT path, text FROM reference ORDER BY path_key COLLATE "C"`)
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
