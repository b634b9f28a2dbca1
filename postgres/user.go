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
	u.Disabled = false // every account starts enabled (see SetDisabled)
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
	u, err := scanUser(db.pool.QueryRow(ctx, userColumns+`WHERE id = (`+userIDByLogin+`)`, foldASCII(login)))
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
			COALESCE(u.password_hash, ''), COALESCE(u.created_at, 0), COALESCE(u.disabled_at IS NOT NULL, false), t.token
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
		if err := rows.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created, &u.Disabled, &token); err != nil {
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

// userColumns are what scanUser reads.
const userColumns = `SELECT id, username, email, name, password_hash, created_at, disabled_at IS NOT NULL FROM users `

func scanUser(r pgx.Row) (registry.User, error) {
	var (
		u       registry.User
		created int64
	)
	err := r.Scan(&u.ID, &u.Username, &u.Email, &u.Name, &u.PasswordHash, &created, &u.Disabled)
	u.Created = fromMillis(created)
	return u, err
}

// ListUsers lists every account, by username (in the SQLite backend's
// order: ASCII case folded, then bytes).
func (db *DB) ListUsers(ctx context.Context) ([]registry.User, error) {
	rows, err := db.pool.Query(ctx, userColumns+`ORDER BY username_key COLLATE "C"`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (registry.User, error) { return scanUser(r) })
}

// CreateUsers adds every user of us in one transaction, or none of them
// when any username or email is taken (registry.ErrConflict).
func (db *DB) CreateUsers(ctx context.Context, us []registry.User) ([]registry.User, error) {
	created := db.now().UTC().Truncate(time.Millisecond)
	out := make([]registry.User, len(us))
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		for i, u := range us {
			u.Created, u.Disabled = created, false
			if err := tx.QueryRow(ctx, `INSERT INTO users (username, username_key, email, email_key, name, password_hash, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
				u.Username, foldASCII(u.Username), u.Email, foldASCII(u.Email), u.Name, u.PasswordHash, millis(u.Created)).Scan(&u.ID); err != nil {
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
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var at *int64 // NULL enables
		if disabled {
			ms := millis(db.now())
			at = &ms
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = $1 WHERE id = $2`, at, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return registry.ErrNotFound
		}
		if !disabled {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE user_id = $1`, userID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM resets WHERE user_id = $1`, userID)
		return err
	})
}
