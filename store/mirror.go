package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
)

// mirrorKey is the meta key under which the serial a mirror of upstream
// reached is kept.
func mirrorKey(upstream string) string { return "mirror_serial " + upstream }

// MirrorSerial is how far a mirror of upstream got in upstream's change
// log; 0 when it never ran.
func (db *DB) MirrorSerial(ctx context.Context, upstream string) (int64, error) {
	var v string
	err := db.rd.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, mirrorKey(upstream)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// SetMirrorSerial records how far a mirror of upstream got.
func (db *DB) SetMirrorSerial(ctx context.Context, upstream string, serial int64) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, mirrorKey(upstream), strconv.FormatInt(serial, 10))
		return err
	})
}
