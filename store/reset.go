package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
)

// resetRetention is how long a dead reset is kept after it expires, so
// that a late attempt learns why it failed.
const resetRetention = 24 * time.Hour

// CreateReset starts a password reset for the user that lives for ttl,
// replacing any earlier reset of the user. qrID is the id of the QR image
// for a QR-delivered reset, "" for one delivered by email.
func (db *DB) CreateReset(ctx context.Context, userID int64, token, qrID string, ttl time.Duration) (registry.Reset, error) {
	now := db.now().UTC().Truncate(time.Millisecond)
	r := registry.Reset{UserID: userID, Token: token, QR: qrID != "", QRID: qrID, Created: now, Expires: now.Add(ttl)}
	var qrCol any // NULL: the column is unique, and "" would collide
	if qrID != "" {
		qrCol = qrID
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM resets WHERE user_id = ? OR expires_at <= ?`,
			userID, millis(now.Add(-resetRetention))); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT username, email FROM users WHERE id = ?`, userID).Scan(&r.Username, &r.Email); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO resets (user_id, token, qr, qr_id, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, userID, token, r.QR, qrCol, millis(r.Created), millis(r.Expires))
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	return r, err
}

const resetColumns = `SELECT r.id, r.user_id, u.username, u.email, r.token, r.qr, COALESCE(r.qr_id, ''),
	r.created_at, r.expires_at, r.used_at IS NOT NULL, r.failures
	FROM resets r JOIN users u ON u.id = r.user_id `

func scanReset(row *sql.Row) (registry.Reset, error) {
	var (
		r                registry.Reset
		created, expires int64
	)
	err := row.Scan(&r.ID, &r.UserID, &r.Username, &r.Email, &r.Token, &r.QR, &r.QRID, &created, &expires, &r.Used, &r.Failures)
	if err != nil {
		return registry.Reset{}, translate(err)
	}
	r.Created, r.Expires = fromMillis(created), fromMillis(expires)
	return r, nil
}

// ResetOf returns the user's reset, live or dead; registry.ErrNotFound when the
// user has none.
func (db *DB) ResetOf(ctx context.Context, userID int64) (registry.Reset, error) {
	return scanReset(db.rd.QueryRowContext(ctx, resetColumns+`WHERE r.user_id = ?`, userID))
}

// ResetByLogin returns the reset of the user a login names, as
// UserByLogin finds them; registry.ErrNotFound when there is no such user or the
// user has no reset. It is one query either way, so that its time does
// not tell which.
func (db *DB) ResetByLogin(ctx context.Context, login string) (registry.Reset, error) {
	return scanReset(db.rd.QueryRowContext(ctx, resetColumns+`WHERE r.user_id = (`+userIDByLogin+`)`, login))
}

// FailReset counts a wrong code against the reset and returns how many
// there have been.
func (db *DB) FailReset(ctx context.Context, resetID int64) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `UPDATE resets SET failures = failures + 1 WHERE id = ? RETURNING failures`,
			resetID).Scan(&n)
	})
	return n, err
}

// ResetPassword uses the reset: in one transaction it checks that the
// reset is still live, marks it used, sets the user's password hash and
// revokes every login token of the user. Of two concurrent calls for one
// reset, only one succeeds; the other gets registry.ErrResetDead.
func (db *DB) ResetPassword(ctx context.Context, resetID int64, hash string) error {
	now := millis(db.now())
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var userID int64
		err := tx.QueryRowContext(ctx, `UPDATE resets SET used_at = ?1, qr_id = NULL
			WHERE id = ?2 AND used_at IS NULL AND expires_at > ?1 AND failures < ?3 RETURNING user_id`,
			now, resetID, registry.MaxResetFailures).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return registry.ErrResetDead
		}
		if err != nil {
			return err
		}
		return setPasswordTx(ctx, tx, userID, hash)
	})
}

// liveQR selects a live reset by the id of its QR image.
const liveQR = `WHERE r.qr_id = ?1 AND r.used_at IS NULL AND r.expires_at > ?2 AND r.failures < ?3`

// QRReset returns the live reset whose QR image has the id qrID, without
// using up the image; registry.ErrNotFound if there is none.
func (db *DB) QRReset(ctx context.Context, qrID string) (registry.Reset, error) {
	return scanReset(db.rd.QueryRowContext(ctx, resetColumns+liveQR, qrID, millis(db.now()), registry.MaxResetFailures))
}

// TakeQR returns the live reset whose QR image has the id qrID and
// forgets the id, so that the image is served once; registry.ErrNotFound if there
// is no such reset.
func (db *DB) TakeQR(ctx context.Context, qrID string) (registry.Reset, error) {
	var r registry.Reset
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanReset(tx.QueryRowContext(ctx, resetColumns+liveQR, qrID, millis(db.now()), registry.MaxResetFailures))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE resets SET qr_id = NULL WHERE id = ?`, r.ID)
		return err
	})
	r.QRID = ""
	return r, err
}
