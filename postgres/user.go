package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/registry"
)

// CreateUser adds u. A username or email already taken (in any case) is
// registry.ErrConflict, by the unique keys.
func (db *DB) CreateUser(ctx context.Context, u registry.User) (registry.User, error) {
	if u.Created.IsZero() { // set when a migration copies a user
		u.Created = db.now()
	}
	u.Created = u.Created.UTC().Truncate(time.Millisecond)
	err := db.pool.QueryRow(ctx, `INSERT INTO users (username, username_key, email, email_key, name, password_hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		u.Username, foldASCII(u.Username), u.Email, foldASCII(u.Email), u.Name, u.PasswordHash, millis(u.Created)).Scan(&u.ID)
	return u, translate(err)
}

// userIDByLogin selects the id of the user whose username or, failing
// that, email folds to $1.
const userIDByLogin = `SELECT id FROM users WHERE username_key = $1 OR email_key = $1 ORDER BY username_key = $1 DESC LIMIT 1`

// UserByLogin finds a user by username or, failing that, by email, both
// case-insensitive.
func (db *DB) UserByLogin(ctx context.Context, login string) (registry.User, error) {
	var (
		u       registry.User
		created int64
	)
	err := db.pool.QueryRow(ctx, `SELECT id, username, email, name, password_hash, created_at FROM users
		WHERE id = (`+userIDByLogin+`)`, foldASCII(login)).
		Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created)
	u.Created = fromMillis(created)
	return u, translate(err)
}

// UserTokens returns the user a login names and the user's live login
// tokens, newest first, in one query whether or not the user exists.
// It does the same work either way: the unknown name's id is 0, whose
// user and tokens are looked up as a real one's would be, so that the
// time taken does not tell which (TestAccountTimingDoesNotRevealAccounts
// found the difference of a join skipped for the unknown name).
func (db *DB) UserTokens(ctx context.Context, login string) (registry.User, []string, error) {
	rows, err := db.pool.Query(ctx, `WITH k AS (SELECT COALESCE((`+userIDByLogin+`), 0) AS id)
		SELECT COALESCE(u.id, 0), COALESCE(u.username, ''), COALESCE(u.email, ''), COALESCE(u.name, ''),
			COALESCE(u.password_hash, ''), COALESCE(u.created_at, 0), t.token
		FROM k LEFT JOIN users u ON u.id = k.id
		LEFT JOIN tokens t ON t.user_id = k.id AND t.expires_at > $2
		ORDER BY t.id DESC LIMIT $3`, foldASCII(login), millis(db.now()), registry.MaxTokensPerUser)
	if err != nil {
		return registry.User{}, nil, err
	}
	defer rows.Close()
	var (
		u      registry.User
		tokens []string
	)
	for rows.Next() {
		var (
			created int64
			token   *string
		)
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created, &token); err != nil {
			return registry.User{}, nil, err
		}
		u.Created = fromMillis(created)
		if token != nil {
			tokens = append(tokens, *token)
		}
	}
	if err := rows.Err(); err != nil {
		return registry.User{}, nil, err
	}
	if u.ID == 0 {
		return registry.User{}, nil, registry.ErrNotFound
	}
	return u, tokens, nil
}

// SetPassword replaces a user's password hash, revokes all the user's
// login tokens and ends any pending password reset, in one transaction.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := setPasswordTx(ctx, tx, userID, hash); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM resets WHERE user_id = $1`, userID)
		return err
	})
}

func setPasswordTx(ctx context.Context, tx pgx.Tx, userID int64, hash string) error {
	tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, hash, userID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return registry.ErrNotFound
	}
	_, err = tx.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1`, userID)
	return err
}

// AddToken records a login token for the user, valid for ttl, and drops
// expired tokens and those beyond registry.MaxTokensPerUser.
func (db *DB) AddToken(ctx context.Context, userID int64, token string, ttl time.Duration) error {
	now := db.now()
	return db.inTx(ctx, func(tx pgx.Tx) error {
		// The user's row lock orders concurrent logins of one user, so
		// that the cut below keeps the newest MaxTokensPerUser.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&one); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tokens (user_id, token, created_at, expires_at)
			VALUES ($1, $2, $3, $4)`, userID, token, millis(now), millis(now.Add(ttl))); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1 AND (expires_at <= $2 OR id NOT IN
			(SELECT id FROM tokens WHERE user_id = $1 ORDER BY id DESC LIMIT $3))`,
			userID, millis(now), registry.MaxTokensPerUser)
		return err
	})
}

// LiveTokens returns the user's unexpired login tokens.
func (db *DB) LiveTokens(ctx context.Context, userID int64) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT token FROM tokens WHERE user_id = $1 AND expires_at > $2
		ORDER BY id DESC LIMIT $3`, userID, millis(db.now()), registry.MaxTokensPerUser)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// RevokeToken deletes one login token.
func (db *DB) RevokeToken(ctx context.Context, userID int64, token string) error {
	tag, err := db.pool.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1 AND token = $2`, userID, token)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return registry.ErrNotFound
	}
	return nil
}

// Users lists every user, oldest first (for migrate-data).
func (db *DB) Users(ctx context.Context) ([]registry.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, username, email, name, password_hash, created_at FROM users ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var us []registry.User
	for rows.Next() {
		var (
			u       registry.User
			created int64
		)
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created); err != nil {
			return nil, err
		}
		u.Created = fromMillis(created)
		us = append(us, u)
	}
	return us, rows.Err()
}
