package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// MirrorSerial is how far a mirror of upstream got in upstream's change
// log; 0 when it never ran.
func (db *DB) MirrorSerial(ctx context.Context, upstream string) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT serial FROM mirror_serials WHERE upstream = $1`, upstream).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// SetMirrorSerial records how far a mirror of upstream got.
func (db *DB) SetMirrorSerial(ctx context.Context, upstream string, serial int64) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO mirror_serials (upstream, serial) VALUES ($1, $2)
		ON CONFLICT (upstream) DO UPDATE SET serial = excluded.serial`, upstream, serial)
	return translate(err)
}
