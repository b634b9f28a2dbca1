package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nessemble/nessemble-registry/internal/semver"
	"github.com/nessemble/nessemble-registry/registry"
)

// Yanks, owners and removals: each write reads what is stored of its
// package and version under the write lock, lets the registry's rule
// decide on it, and logs its change in the same transaction, so that a
// running server (CatchUp) drops what it derived from the old state.

// ownersOf lists a package's owners in the order they were added.
func ownersOf(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, pkgID int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT username FROM owners WHERE package_id = ? ORDER BY added_at, rowid`, pkgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var owners []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		owners = append(owners, o)
	}
	return owners, rows.Err()
}

// Owners lists a package's owners in the order they were added.
func (db *DB) Owners(ctx context.Context, title string) ([]string, error) {
	var id int64
	if err := db.rd.QueryRowContext(ctx, `SELECT id FROM packages WHERE title = ?`, title).Scan(&id); err != nil {
		return nil, translate(err)
	}
	return ownersOf(ctx, db.rd, id)
}

// moderate runs one moderation write: rule on what is stored, then write,
// then the change logged, then the index caught up after the commit.
func (db *DB) moderate(ctx context.Context, title, version string, rule func(registry.Stored) error,
	write func(tx *sql.Tx, row pkgRow, title string) (registry.Change, error)) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		v := registry.Version{Title: title, Version: version}
		row, err := storedOf(ctx, tx, &v)
		if err != nil {
			return err
		}
		if err := rule(row.Stored); err != nil {
			return err
		}
		if !row.Exists {
			return registry.ErrNotFound // a rule that lets a missing package through
		}
		c, err := write(tx, row, v.Title)
		if err != nil {
			return err
		}
		c.Title, c.At = v.Title, db.now()
		return logChange(ctx, tx, c)
	})
	if err != nil {
		return err
	}
	_ = db.CatchUp(context.WithoutCancel(ctx)) // committed: a failure only delays the index
	return nil
}

// SetYanked yanks a version, or restores it (see registry.Packages).
func (db *DB) SetYanked(ctx context.Context, title, version string, yanked bool, rule func(registry.Stored) error) (registry.Package, error) {
	var stored string
	err := db.moderate(ctx, title, version, rule, func(tx *sql.Tx, row pkgRow, t string) (registry.Change, error) {
		stored = t
		if !row.HasVersion {
			return registry.Change{}, registry.ErrNotFound
		}
		var at any // NULL restores
		kind := registry.ChangeUnyank
		if yanked {
			at, kind = millis(db.now()), registry.ChangeYank
		}
		if _, err := tx.ExecContext(ctx, `UPDATE versions SET yanked_at = ? WHERE package_id = ? AND version = ?`,
			at, row.id, version); err != nil {
			return registry.Change{}, err
		}
		return registry.Change{Kind: kind, Version: version}, refreshLatest(ctx, tx, row.id, millis(db.now()))
	})
	if err != nil {
		return registry.Package{}, err
	}
	return db.Package(ctx, stored)
}

// SetOwner adds or removes an owner (see registry.Packages).
func (db *DB) SetOwner(ctx context.Context, title, username string, add bool, rule func(registry.Stored) error) error {
	return db.moderate(ctx, title, "", rule, func(tx *sql.Tx, row pkgRow, _ string) (registry.Change, error) {
		var err error
		if add {
			_, err = tx.ExecContext(ctx, `INSERT INTO owners (package_id, username, added_at) VALUES (?, ?, ?)`,
				row.id, username, millis(db.now()))
		} else {
			var res sql.Result
			res, err = tx.ExecContext(ctx, `DELETE FROM owners WHERE package_id = ? AND username = ?`, row.id, username)
			if err == nil {
				if n, _ := res.RowsAffected(); n == 0 {
					err = registry.ErrNotFound
				}
			}
		}
		return registry.Change{Kind: registry.ChangeOwners}, err
	})
}

// Remove marks a version, or a whole package, removed and deletes the
// tarballs (see registry.Packages). The files go only after the commit:
// a crash in between leaves files that no version names, which check
// lists as leftovers and serve removes.
func (db *DB) Remove(ctx context.Context, title, version, reason string, rule func(registry.Stored) error) error {
	var sums []string
	err := db.moderate(ctx, title, version, rule, func(tx *sql.Tx, row pkgRow, _ string) (registry.Change, error) {
		now := millis(db.now())
		where := `package_id = ? AND removed_at IS NULL`
		args := []any{row.id}
		if version != "" {
			if !row.HasVersion {
				return registry.Change{}, registry.ErrNotFound
			}
			where += ` AND version = ?`
			args = append(args, version)
		}
		rows, err := tx.QueryContext(ctx, `SELECT shasum FROM versions WHERE `+where, args...)
		if err != nil {
			return registry.Change{}, err
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				rows.Close()
				return registry.Change{}, err
			}
			sums = append(sums, s)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return registry.Change{}, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE versions SET removed_at = ?, removed_reason = ? WHERE `+where,
			append([]any{now, reason}, args...)...); err != nil {
			return registry.Change{}, err
		}
		if version == "" {
			if _, err := tx.ExecContext(ctx, `UPDATE packages SET removed_at = ?, removed_reason = ?, latest = ''
				WHERE id = ?`, now, reason, row.id); err != nil {
				return registry.Change{}, err
			}
		} else if err := refreshLatest(ctx, tx, row.id, now); err != nil {
			return registry.Change{}, err
		}
		return registry.Change{Kind: registry.ChangeRemove, Version: version}, nil
	})
	if err != nil {
		return err
	}
	for _, s := range sums {
		// Another version's row could name the same bytes only if two
		// versions had one canonical tarball, which their package.json
		// (title and version) rules out; check to be sure.
		var one int
		err := db.wr.QueryRowContext(ctx, `SELECT 1 FROM versions WHERE shasum = ? AND removed_at IS NULL`, s).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			db.files.remove(s)
		}
	}
	return nil
}

// refreshLatest points a package at its newest version neither yanked nor
// removed (none: the empty string), with that version's description and
// tags for lists and searches; updated_at moves to now when it changes.
func refreshLatest(ctx context.Context, tx *sql.Tx, pkgID, now int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT version, description, tags FROM versions
		WHERE package_id = ? AND yanked_at IS NULL AND removed_at IS NULL`, pkgID)
	if err != nil {
		return err
	}
	var best, desc, tags string
	for rows.Next() {
		var v, d, t string
		if err := rows.Scan(&v, &d, &t); err != nil {
			rows.Close()
			return err
		}
		if best == "" || semver.Compare(v, best) > 0 {
			best, desc, tags = v, d, t
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if best == "" {
		_, err = tx.ExecContext(ctx, `UPDATE packages SET latest = '', updated_at = ? WHERE id = ? AND latest != ''`, now, pkgID)
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE packages SET latest = ?1, description = ?2, tags = ?3, updated_at = ?4
		WHERE id = ?5 AND latest != ?1`, best, desc, tags, now, pkgID)
	return err
}
