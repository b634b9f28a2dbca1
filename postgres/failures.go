package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/registry"
)

var _ registry.SharedFailures = (*DB)(nil)

// AccountFailures returns the account's failed logins, on every replica,
// since its counter last started; 0 when the last was before since.
func (db *DB) AccountFailures(ctx context.Context, account string, since time.Time) (int, time.Time, error) {
	var n int
	var last int64
	err := db.pool.QueryRow(ctx, `SELECT count, last_at FROM login_failures WHERE account = $1 AND last_at >= $2`,
		account, millis(since)).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, fromMillis(last), nil
}

// AddAccountFailure counts one failed login in one statement, so that
// replicas counting at once lose none; a counter quiet since before since
// starts again, and such rows of other accounts are pruned.
func (db *DB) AddAccountFailure(ctx context.Context, account string, at, since time.Time) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO login_failures AS f (account, count, last_at) VALUES ($1, 1, $2)
			ON CONFLICT (account) DO UPDATE SET
				count = CASE WHEN f.last_at < $3 THEN 1 ELSE f.count + 1 END,
				last_at = greatest(f.last_at, $2)`, account, millis(at), millis(since)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE last_at < $1`, millis(since))
		return err
	})
}
