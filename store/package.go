package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/semver"
	"github.com/nessemble/nessemble-registry/registry"
)

// Publish stores version v of a package, owned by owner if new, with its
// canonical tarball, once rule has accepted what is stored of the title
// (see registry.Packages). v.Published defaults to now. The tarball
// reaches the disk (fsynced) before the row naming it is committed; a
// failure leaves neither behind.
func (db *DB) Publish(ctx context.Context, owner string, v registry.Version, tarball []byte, rule func(registry.Stored) error) (registry.Version, error) {
	if _, err := semver.Parse(v.Version); err != nil {
		return registry.Version{}, fmt.Errorf("version %q: %w", v.Version, err)
	}
	v.Shasum = blobs.SHA1(tarball)
	// A version is published neither yanked nor removed, whatever v says.
	v.Yanked, v.Removed, v.RemovedReason = false, false, ""
	v.Size = int64(len(tarball))
	if v.Published.IsZero() {
		v.Published = db.now()
	}
	v.Published = v.Published.UTC().Truncate(time.Millisecond)
	tags, err := json.Marshal(nonNil(v.Tags))
	if err != nil {
		return registry.Version{}, err
	}

	// The tarball is written inside the write transaction, whose lock
	// (BEGIN IMMEDIATE) every writer of this data folder takes, in this
	// process or another: a concurrent Check then never sees it before its
	// row, and no other publish comes between the rule and the write. A
	// failed publish, commit included, removes the file it created.
	var created bool
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		// The rule first: a refused publish costs no tarball write.
		row, err := storedOf(ctx, tx, &v)
		if err != nil {
			return err
		}
		if err := rule(row.Stored); err != nil {
			return err
		}
		if created, err = db.blobs.Put(ctx, v.Shasum, tarball); err != nil {
			return err
		}
		if err := publishRows(ctx, tx, owner, row, &v, string(tags)); err != nil {
			return err
		}
		return logChange(ctx, tx, registry.Change{Kind: registry.ChangePublish, Title: v.Title, Version: v.Version, Shasum: v.Shasum, At: v.Published})
	})
	if err != nil {
		if created {
			_ = db.blobs.Remove(context.WithoutCancel(ctx), v.Shasum)
		}
		return registry.Version{}, err
	}
	// Committed: a failure here only delays the index until the next
	// CatchUp, and the client must not lose the publish's answer to it.
	_ = db.CatchUp(context.WithoutCancel(ctx))
	return v, nil
}

// pkgRow is what a write found of its package's row.
type pkgRow struct {
	registry.Stored
	id int64
}

// storedOf reads what is stored of v's title and version, and gives
// v.Title the stored spelling.
func storedOf(ctx context.Context, tx *sql.Tx, v *registry.Version) (pkgRow, error) {
	var (
		row     pkgRow
		removed sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, `SELECT id, owner, latest, title, removed_at FROM packages WHERE title = ?`, v.Title).
		Scan(&row.id, &row.Owner, &row.Served, &v.Title, &removed)
	if errors.Is(err, sql.ErrNoRows) {
		return row, nil
	}
	if err != nil {
		return row, err
	}
	row.Exists, row.Removed = true, removed.Valid
	rows, err := tx.QueryContext(ctx, `SELECT version, yanked_at IS NOT NULL, removed_at IS NOT NULL
		FROM versions WHERE package_id = ?`, row.id)
	if err != nil {
		return row, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ver              string
			yanked, vremoved bool
		)
		if err := rows.Scan(&ver, &yanked, &vremoved); err != nil {
			return row, err
		}
		row.Add(ver, yanked, vremoved, v.Version)
	}
	if err := rows.Err(); err != nil {
		return row, err
	}
	row.Owners, err = ownersOf(ctx, tx, row.id)
	return row, err
}

// publishRows stores a publish its rule accepted: the version's row, and
// the package's, which shows its newest version.
func publishRows(ctx context.Context, tx *sql.Tx, owner string, row pkgRow, v *registry.Version, tags string) error {
	now := millis(v.Published)
	if !row.Exists {
		res, err := tx.ExecContext(ctx, `INSERT INTO packages
			(title, owner, description, tags, latest, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			v.Title, owner, v.Description, tags, v.Version, now, now)
		if err != nil {
			return err
		}
		if row.id, err = res.LastInsertId(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO owners (package_id, username, added_at) VALUES (?, ?, ?)`,
			row.id, owner, now); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO versions
		(package_id, version, description, author, license, tags, readme, shasum, size, published_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.id, v.Version, v.Description, v.Author, v.License, tags, v.Readme, v.Shasum, v.Size, now)
	if err != nil {
		return err
	}
	if row.Exists && (row.Served == "" || semver.Compare(v.Version, row.Served) > 0) {
		_, err = tx.ExecContext(ctx, `UPDATE packages SET description = ?, tags = ?, latest = ?,
			updated_at = ? WHERE id = ?`,
			v.Description, tags, v.Version, now, row.id)
	}
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Package returns the package titled title (case-insensitive).
func (db *DB) Package(ctx context.Context, title string) (registry.Package, error) {
	row := db.rd.QueryRowContext(ctx, `SELECT `+packageColumns+` FROM packages p WHERE title = ?`, title)
	p, err := scanPackage(row)
	return p, translate(err)
}

// packageColumns are what scanPackage reads, of packages p.
const packageColumns = `p.title, p.description, p.tags, p.owner, p.latest, p.updated_at, p.removed_at IS NOT NULL, p.removed_reason`

// ByAuthor returns a page of the packages whose newest version names
// author (any case) in package.json, by title, and how many there are.
func (db *DB) ByAuthor(ctx context.Context, author string, offset, limit int) ([]registry.Package, int, error) {
	const match = ` FROM packages p JOIN versions v ON v.package_id = p.id AND v.version = p.latest
		WHERE p.removed_at IS NULL AND v.author = ? COLLATE NOCASE`
	var n int
	if err := db.rd.QueryRowContext(ctx, `SELECT count(*)`+match, author).Scan(&n); err != nil {
		return nil, 0, err
	}
	rows, err := db.rd.QueryContext(ctx, `SELECT `+packageColumns+match+` ORDER BY p.title COLLATE NOCASE LIMIT ? OFFSET ?`,
		author, limit, offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var page []registry.Package
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return nil, 0, err
		}
		page = append(page, p)
	}
	return page, n, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanPackage(s scanner) (registry.Package, error) {
	var (
		p       registry.Package
		tags    string
		updated int64
	)
	if err := s.Scan(&p.Title, &p.Description, &tags, &p.Owner, &p.Latest, &updated, &p.Removed, &p.RemovedReason); err != nil {
		return p, err
	}
	p.Updated = fromMillis(updated)
	return p, json.Unmarshal([]byte(tags), &p.Tags)
}

// Version returns one version of a package; version "" means the newest.
func (db *DB) Version(ctx context.Context, title, version string) (registry.Version, error) {
	const q = `SELECT p.title, v.version, v.description, v.author, v.license, v.tags,
		v.readme, v.shasum, v.size, v.published_at, v.yanked_at IS NOT NULL, v.removed_at IS NOT NULL, v.removed_reason
		FROM versions v JOIN packages p ON p.id = v.package_id
		WHERE p.title = ? AND v.version = `
	var row *sql.Row
	if version == "" {
		row = db.rd.QueryRowContext(ctx, q+`p.latest`, title)
	} else {
		row = db.rd.QueryRowContext(ctx, q+`?`, title, version)
	}
	var (
		v         registry.Version
		tags      string
		published int64
	)
	err := row.Scan(&v.Title, &v.Version, &v.Description, &v.Author, &v.License, &tags,
		&v.Readme, &v.Shasum, &v.Size, &published, &v.Yanked, &v.Removed, &v.RemovedReason)
	if err != nil {
		return v, translate(err)
	}
	v.Published = fromMillis(published)
	return v, json.Unmarshal([]byte(tags), &v.Tags)
}

// Releases lists a package's versions, newest first by semver precedence.
func (db *DB) Releases(ctx context.Context, title string) ([]registry.Release, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT v.version, v.published_at, v.yanked_at IS NOT NULL
		FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.title = ? AND v.removed_at IS NULL`, title)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []registry.Release
	for rows.Next() {
		var (
			r  registry.Release
			ms int64
		)
		if err := rows.Scan(&r.Version, &ms, &r.Yanked); err != nil {
			return nil, err
		}
		r.Published = fromMillis(ms)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, registry.ErrNotFound
	}
	sort.Slice(rs, func(i, j int) bool { return semver.Compare(rs[i].Version, rs[j].Version) > 0 })
	return rs, nil
}

// Counts returns the number of packages and of users.
func (db *DB) Counts(ctx context.Context) (packages, users int, err error) {
	err = db.rd.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM packages WHERE removed_at IS NULL), (SELECT count(*) FROM users)`).Scan(&packages, &users)
	return packages, users, err
}

// CountVersions returns the number of versions of all packages, yanked
// ones included, removed ones not.
func (db *DB) CountVersions(ctx context.Context) (int, error) {
	var n int
	err := db.rd.QueryRowContext(ctx, `SELECT count(*) FROM versions WHERE removed_at IS NULL`).Scan(&n)
	return n, err
}

// Tarball returns the canonical tarball with the given SHA-1.
func (db *DB) Tarball(shasum string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	return db.blobs.Get(ctx, shasum)
}

// blobTimeout bounds a tarball read, which has no caller's context.
const blobTimeout = 30 * time.Second
