package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/registry"
)

// resetRetention is how long a dead reset is kept after it expires, so
// that a late attempt learns why it failed.
const resetRetention = 24 * time.Hour

// CreateReset starts a password reset for the user that lives for ttl,
// replacing any earlier reset of the user.
func (db *DB) CreateReset(ctx context.Context, userID int64, token, qrID string, ttl time.Duration) (registry.Reset, error) {
	now := db.now().UTC().Truncate(time.Millisecond)
	r := registry.Reset{UserID: userID, Token: token, QR: qrID != "", QRID: qrID, Created: now, Expires: now.Add(ttl)}
	var qrCol *string // NULL: the column is unique, and "" would collide
	if qrID != "" {
		qrCol = &qrID
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The user's row, locked, orders two resets of one user.
		if err := tx.QueryRow(ctx, `SELECT username, email FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&r.Username, &r.Email); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM resets WHERE user_id = $1 OR expires_at <= $2`,
			userID, millis(now.Add(-resetRetention))); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO resets (user_id, token, qr, qr_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, userID, token, r.QR, qrCol, millis(r.Created), millis(r.Expires)).Scan(&r.ID)
	})
	return r, err
}

const resetColumns = `SELECT r.id, r.user_id, u.username, u.email, r.token, r.qr, COALESCE(r.qr_id, ''),
	r.created_at, r.expires_at, r.used_at IS NOT NULL, r.failures
	FROM resets r JOIN users u ON u.id = r.user_id `

func scanReset(row pgx.Row) (registry.Reset, error) {
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

// ResetOf returns the user's reset, live or dead.
func (db *DB) ResetOf(ctx context.Context, userID int64) (registry.Reset, error) {
	return scanReset(db.pool.QueryRow(ctx, resetColumns+`WHERE r.user_id = $1`, userID))
}

// ResetByLogin returns the reset of the user a login names, in one query
// that does the same work whether or not there is one: as in UserTokens,
// an unknown name's id is 0, looked up as a real one.
func (db *DB) ResetByLogin(ctx context.Context, login string) (registry.Reset, error) {
	r, err := scanReset(db.pool.QueryRow(ctx, `WITH k AS (SELECT COALESCE((`+userIDByLogin+`), 0) AS id)
		SELECT COALESCE(r.id, 0), COALESCE(r.user_id, 0), COALESCE(u.username, ''), COALESCE(u.email, ''),
			COALESCE(r.token, ''), COALESCE(r.qr, false), COALESCE(r.qr_id, ''), COALESCE(r.created_at, 0),
			COALESCE(r.expires_at, 0), r.used_at IS NOT NULL, COALESCE(r.failures, 0)
		FROM k LEFT JOIN users u ON u.id = k.id LEFT JOIN resets r ON r.user_id = k.id`, foldASCII(login)))
	if err == nil && r.ID == 0 {
		return registry.Reset{}, registry.ErrNotFound
	}
	return r, err
}

// FailReset counts a wrong code against the reset and returns how many
// there have been.
func (db *DB) FailReset(ctx context.Context, resetID int64) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `UPDATE resets SET failures = failures + 1 WHERE id = $1 RETURNING failures`, resetID).Scan(&n)
	return n, translate(err)
}

// ResetPassword uses the reset: it checks that the reset is still live,
// marks it used, sets the password and revokes the user's tokens, in one
// transaction. Of two concurrent calls for one reset, on any replicas,
// the row lock of the UPDATE lets one through; the other finds it used
// and gets registry.ErrResetDead.
func (db *DB) ResetPassword(ctx context.Context, resetID int64, hash string) error {
	now := millis(db.now())
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var userID int64
		err := tx.QueryRow(ctx, `UPDATE resets SET used_at = $1, qr_id = NULL
			WHERE id = $2 AND used_at IS NULL AND expires_at > $1 AND failures < $3 RETURNING user_id`,
			now, resetID, registry.MaxResetFailures).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return registry.ErrResetDead
		}
		if err != nil {
			return err
		}
		return setPasswordTx(ctx, tx, userID, hash)
	})
}

const liveQR = `WHERE r.qr_id = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND r.failures < $3`

// QRReset returns the live reset whose QR image has the id qrID, without
// using up the image.
func (db *DB) QRReset(ctx context.Context, qrID string) (registry.Reset, error) {
	return scanReset(db.pool.QueryRow(ctx, resetColumns+liveQR, qrID, millis(db.now()), registry.MaxResetFailures))
}

// TakeQR returns the live reset whose QR image has the id qrID and
// forgets the id, so that the image is served once, by one replica.
func (db *DB) TakeQR(ctx context.Context, qrID string) (registry.Reset, error) {
	var r registry.Reset
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = scanReset(tx.QueryRow(ctx, resetColumns+liveQR+` FOR UPDATE OF r`, qrID, millis(db.now()), registry.MaxResetFailures))
		if err != nil {
			return err
		}
		// Taken meanwhile by another: the row lock waited for its commit,
		// and the row read is the one it left.
		tag, err := tx.Exec(ctx, `UPDATE resets SET qr_id = NULL WHERE id = $1 AND qr_id = $2`, r.ID, qrID)
		if err == nil && tag.RowsAffected() == 0 {
			err = registry.ErrNotFound
		}
		return err
	})
	r.QRID = ""
	return r, err
}
