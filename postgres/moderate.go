package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/internal/semver"
	"github.com/nessemble/nessemble-registry/registry"
)

// Yanks, owners and removals, as store/ has them: each write reads what
// is stored of its package and version under the title's publish lock,
// lets the registry's rule decide on it, and logs its change in the same
// transaction, so that every replica drops what it derived from the old
// state.

// ownersOf lists a package's owners in the order they were added.
func ownersOf(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, pkgID int64) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT username FROM owners WHERE package_id = $1 ORDER BY added_at, id`, pkgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Owners lists a package's owners in the order they were added.
func (db *DB) Owners(ctx context.Context, title string) ([]string, error) {
	var id int64
	if err := db.pool.QueryRow(ctx, `SELECT id FROM packages WHERE title_key = $1`, titleKey(title)).Scan(&id); err != nil {
		return nil, translate(err)
	}
	return ownersOf(ctx, db.pool, id)
}

// moderate runs one moderation write: rule on what is stored, then write,
// then the change logged, then the serial caught up after the commit.
func (db *DB) moderate(ctx context.Context, title, version string, rule func(registry.Stored) error,
	write func(tx pgx.Tx, row pkgRow, title string) (registry.Change, error)) error {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The lock a publish of the title takes: no publish or other
		// moderation of it comes between the rule and the write.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockPublish, titleKey(title)); err != nil {
			return err
		}
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
	_ = db.CatchUp(context.WithoutCancel(ctx)) // committed: a failure only delays the serial
	return nil
}

// SetYanked yanks a version, or restores it (see registry.Packages).
func (db *DB) SetYanked(ctx context.Context, title, version string, yanked bool, rule func(registry.Stored) error) (registry.Package, error) {
	var stored string
	err := db.moderate(ctx, title, version, rule, func(tx pgx.Tx, row pkgRow, t string) (registry.Change, error) {
		stored = t
		if !row.HasVersion {
			return registry.Change{}, registry.ErrNotFound
		}
		var at *int64 // NULL restores
		kind := registry.ChangeUnyank
		if yanked {
			ms := millis(db.now())
			at, kind = &ms, registry.ChangeYank
		}
		if _, err := tx.Exec(ctx, `UPDATE versions SET yanked_at = $1 WHERE package_id = $2 AND version = $3`,
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
	return db.moderate(ctx, title, "", rule, func(tx pgx.Tx, row pkgRow, _ string) (registry.Change, error) {
		if add {
			_, err := tx.Exec(ctx, `INSERT INTO owners (package_id, username, username_key, added_at) VALUES ($1, $2, $3, $4)`,
				row.id, username, foldASCII(username), millis(db.now()))
			return registry.Change{Kind: registry.ChangeOwners}, err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM owners WHERE package_id = $1 AND username_key = $2`, row.id, foldASCII(username))
		if err == nil && tag.RowsAffected() == 0 {
			err = registry.ErrNotFound
		}
		return registry.Change{Kind: registry.ChangeOwners}, err
	})
}

// Remove marks a version, or a whole package, removed and deletes the
// tarballs (see registry.Packages). The blobs go only after the commit:
// a crash in between leaves blobs that no version names, which check
// lists as leftovers and serve removes.
func (db *DB) Remove(ctx context.Context, title, version, reason string, rule func(registry.Stored) error) error {
	var sums []string
	err := db.moderate(ctx, title, version, rule, func(tx pgx.Tx, row pkgRow, _ string) (registry.Change, error) {
		now := millis(db.now())
		if version != "" && !row.HasVersion {
			return registry.Change{}, registry.ErrNotFound
		}
		// version "" matches every version of the package.
		rows, err := tx.Query(ctx, `UPDATE versions SET removed_at = $1, removed_reason = $2
			WHERE package_id = $3 AND removed_at IS NULL AND ($4 = '' OR version = $4) RETURNING shasum`,
			now, reason, row.id, version)
		if err != nil {
			return registry.Change{}, err
		}
		if sums, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return registry.Change{}, err
		}
		if version == "" {
			if _, err := tx.Exec(ctx, `UPDATE packages SET removed_at = $1, removed_reason = $2, latest = ''
				WHERE id = $3`, now, reason, row.id); err != nil {
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
		err := db.pool.QueryRow(ctx, `SELECT 1 FROM versions WHERE shasum = $1 AND removed_at IS NULL LIMIT 1`, s).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			_ = db.blobs.Remove(ctx, s)
		}
	}
	return nil
}

// refreshLatest points a package at its newest version neither yanked nor
// removed (none: the empty string), with that version's description and
// tags for lists and searches; updated_at moves to now when it changes.
func refreshLatest(ctx context.Context, tx pgx.Tx, pkgID, now int64) error {
	rows, err := tx.Query(ctx, `SELECT v.version, v.description, v.tags, p.title FROM versions v
		JOIN packages p ON p.id = v.package_id
		WHERE v.package_id = $1 AND v.yanked_at IS NULL AND v.removed_at IS NULL`, pkgID)
	if err != nil {
		return err
	}
	var (
		best, desc, title string
		tags              []string
	)
	for rows.Next() {
		var (
			v, d, t string
			tg      []string
		)
		if err := rows.Scan(&v, &d, &tg, &t); err != nil {
			rows.Close()
			return err
		}
		if best == "" || semver.Compare(v, best) > 0 {
			best, desc, tags, title = v, d, tg, t
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if best == "" {
		_, err = tx.Exec(ctx, `UPDATE packages SET latest = '', updated_at = $1 WHERE id = $2 AND latest <> ''`, now, pkgID)
		return err
	}
	tags = nonNil(tags)
	_, err = tx.Exec(ctx, `UPDATE packages SET latest = $1, description = $2, desc_key = $3, tags = $4, hay = $5,
		updated_at = $6 WHERE id = $7 AND latest <> $1`,
		best, desc, strings.ToLower(desc), tags, hay(title, desc, tags), now, pkgID)
	return err
}
