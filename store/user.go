package store

import (
	"context"
	"database/sql"
	"time"

	"github.com/nessemble/nessemble-registry/registry"
)

// CreateUser adds u. A username or email already taken (in any case) is
// registry.ErrConflict.
func (db *DB) CreateUser(ctx context.Context, u registry.User) (registry.User, error) {
	u.Created = db.now().UTC().Truncate(time.Millisecond)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (username, email, name, password_hash, created_at)
			VALUES (?, ?, ?, ?, ?)`, u.Username, u.Email, u.Name, u.PasswordHash, millis(u.Created))
		if err != nil {
			return err
		}
		u.ID, err = res.LastInsertId()
		return err
	})
	return u, err
}

// CreateUsers adds every user of us in one transaction, or none of them
// when any username or email is taken (registry.ErrConflict).
func (db *DB) CreateUsers(ctx context.Context, us []registry.User) ([]registry.User, error) {
	created := db.now().UTC().Truncate(time.Millisecond)
	out := make([]registry.User, len(us))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i, u := range us {
			u.Created = created
			res, err := tx.ExecContext(ctx, `INSERT INTO users (username, email, name, password_hash, created_at)
				VALUES (?, ?, ?, ?, ?)`, u.Username, u.Email, u.Name, u.PasswordHash, millis(u.Created))
			if err != nil {
				return err
			}
			if u.ID, err = res.LastInsertId(); err != nil {
				return err
			}
			out[i] = u
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetDisabled disables an account, revoking every token and ending any
// pending reset in the same transaction, or enables it again.
func (db *DB) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		var at any // NULL enables
		if disabled {
			at = millis(db.now())
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = ? WHERE id = ?`, at, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return registry.ErrNotFound
		}
		if !disabled {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?`, userID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM resets WHERE user_id = ?`, userID)
		return err
	})
}

// ListUsers lists every account, by username.
func (db *DB) ListUsers(ctx context.Context) ([]registry.User, error) {
	rows, err := db.rd.QueryContext(ctx, userColumns+`ORDER BY username`)
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
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created, &u.Disabled); err != nil {
			return nil, err
		}
		u.Created = fromMillis(created)
		us = append(us, u)
	}
	return us, rows.Err()
}

// userIDByLogin selects the id of the user whose username or, failing
// that, email is ?1, both case-insensitive.
const userIDByLogin = `SELECT id FROM users WHERE username = ?1 OR email = ?1 ORDER BY username = ?1 DESC LIMIT 1`

const userColumns = `SELECT id, username, email, name, password_hash, created_at, disabled_at IS NOT NULL FROM users `

// UserByLogin finds a user by username or, failing that, by email, both
// case-insensitive.
func (db *DB) UserByLogin(ctx context.Context, login string) (registry.User, error) {
	var (
		u       registry.User
		created int64
	)
	err := db.rd.QueryRowContext(ctx, userColumns+`WHERE id = (`+userIDByLogin+`)`, login).
		Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created, &u.Disabled)
	u.Created = fromMillis(created)
	return u, translate(err)
}

// UserTokens returns the user a login names, as UserByLogin finds them,
// and the user's live login tokens, newest first. It is one query whether
// or not the user exists, so that checking a signature takes as long
// either way; registry.ErrNotFound when there is no such user.
func (db *DB) UserTokens(ctx context.Context, login string) (registry.User, []string, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT u.id, u.username, u.email, u.name, u.password_hash, u.created_at,
		u.disabled_at IS NOT NULL, t.token
		FROM users u LEFT JOIN tokens t ON t.user_id = u.id AND t.expires_at > ?2
		WHERE u.id = (`+userIDByLogin+`) ORDER BY t.id DESC LIMIT ?3`, login, millis(db.now()), registry.MaxTokensPerUser)
	if err != nil {
		return registry.User{}, nil, err
	}
	defer rows.Close()
	var (
		u      registry.User
		tokens []string
		found  bool
	)
	for rows.Next() {
		var (
			created int64
			token   sql.NullString
		)
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created, &u.Disabled, &token); err != nil {
			return registry.User{}, nil, err
		}
		u.Created, found = fromMillis(created), true
		if token.Valid {
			tokens = append(tokens, token.String)
		}
	}
	if err := rows.Err(); err != nil {
		return registry.User{}, nil, err
	}
	if !found {
		return registry.User{}, nil, registry.ErrNotFound
	}
	return u, tokens, nil
}

// SetPassword replaces a user's password hash, revokes all the user's
// login tokens and ends any pending password reset, in one transaction
// (the operator's reset: a half-done user reset must not undo it).
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := setPasswordTx(ctx, tx, userID, hash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM resets WHERE user_id = ?`, userID)
		return err
	})
}

// setPasswordTx replaces a user's password hash and revokes every login
// token of the user: a new password ends every session of the old one.
func setPasswordTx(ctx context.Context, tx *sql.Tx, userID int64, hash string) error {
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return registry.ErrNotFound
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?`, userID)
	return err
}

// AddToken records a login token for the user, valid for ttl, and drops
// expired tokens and those beyond registry.MaxTokensPerUser.
func (db *DB) AddToken(ctx context.Context, userID int64, token string, ttl time.Duration) error {
	now := db.now()
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (user_id, token, created_at, expires_at)
			VALUES (?, ?, ?, ?)`, userID, token, millis(now), millis(now.Add(ttl))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ?1 AND (expires_at <= ?2 OR id NOT IN
			(SELECT id FROM tokens WHERE user_id = ?1 ORDER BY id DESC LIMIT ?3))`,
			userID, millis(now), registry.MaxTokensPerUser)
		return err
	})
}

// LiveTokens returns the user's unexpired login tokens.
func (db *DB) LiveTokens(ctx context.Context, userID int64) ([]string, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT token FROM tokens WHERE user_id = ? AND expires_at > ?
		ORDER BY id DESC LIMIT ?`, userID, millis(db.now()), registry.MaxTokensPerUser)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, rows.Err()
}

// RevokeToken deletes one login token.
func (db *DB) RevokeToken(ctx context.Context, userID int64, token string) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND token = ?`, userID, token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return registry.ErrNotFound
		}
		return nil
	})
}
