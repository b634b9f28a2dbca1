package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nessemble/nessemble-registry/internal/semver"
)

// Package is a package as lists and searches show it: the fields of its
// newest version.
type Package struct {
	Title       string
	Description string
	Tags        []string
	Owner       string
	Latest      string
	Updated     time.Time
}

// Version is one published version of a package.
type Version struct {
	Title       string
	Version     string
	Description string
	Author      string
	License     string
	Tags        []string
	Readme      string
	Shasum      string // SHA-1 of the canonical tarball, lowercase hex
	Size        int64  // tarball size in bytes
	Published   time.Time
}

// Release is a version number and when it was published.
type Release struct {
	Version   string
	Published time.Time
}

// Mode says what a publish may do.
type Mode int

const (
	// Create adds a new package; the title must be free (POST).
	Create Mode = iota
	// Update adds a version newer than every stored one to a package the
	// publisher owns (PUT).
	Update
	// Import adds any version not stored yet, creating the package if
	// needed; for seeding and tools.
	Import
)

// ErrPackageExists means Create was asked for a title the publisher
// already owns.
var ErrPackageExists = errors.New("package exists; publish a new version with PUT")

// NotNewerError refuses an Update whose version is not above Current.
type NotNewerError struct{ Current string }

func (e *NotNewerError) Error() string {
	return "version is not newer than " + e.Current
}

// Publish stores version v of a package owned by owner, together with its
// canonical tarball. v.Published defaults to now. The tarball reaches the
// disk (fsynced) before the row naming it is committed; a failure leaves
// neither behind.
func (db *DB) Publish(ctx context.Context, owner string, mode Mode, v Version, tarball []byte) (Version, error) {
	if _, err := semver.Parse(v.Version); err != nil {
		return Version{}, fmt.Errorf("version %q: %w", v.Version, err)
	}
	v.Shasum = sha1Hex(tarball)
	v.Size = int64(len(tarball))
	if v.Published.IsZero() {
		v.Published = db.now()
	}
	v.Published = v.Published.UTC().Truncate(time.Millisecond)
	tags, err := json.Marshal(nonNil(v.Tags))
	if err != nil {
		return Version{}, err
	}

	// The tarball is written inside the write transaction, whose lock
	// (BEGIN IMMEDIATE) every writer of this data folder takes, in this
	// process or another: a concurrent Check then never sees it before its
	// row. A failed publish, commit included, removes the file it created.
	var created bool
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		// The rules first: a refused publish costs no tarball write.
		row, err := db.publishRules(ctx, tx, owner, mode, &v)
		if err != nil {
			return err
		}
		if created, err = db.files.put(v.Shasum, tarball); err != nil {
			return err
		}
		if err := db.publishRows(ctx, tx, owner, row, &v, string(tags)); err != nil {
			return err
		}
		return logChange(ctx, tx, Change{Kind: ChangePublish, Title: v.Title, Version: v.Version, Shasum: v.Shasum, At: v.Published})
	})
	if err != nil {
		if created {
			db.files.remove(v.Shasum)
		}
		return Version{}, err
	}
	// Committed: a failure here only delays the index until the next
	// CatchUp, and the client must not lose the publish's answer to it.
	_ = db.CatchUp(context.WithoutCancel(ctx))
	return v, nil
}

// pkgRow is what a publish found of its package's row.
type pkgRow struct {
	exists        bool
	id            int64
	owner, latest string
}

// publishRules checks a publish against the package as stored, and gives
// v.Title the stored spelling.
func (db *DB) publishRules(ctx context.Context, tx *sql.Tx, owner string, mode Mode, v *Version) (pkgRow, error) {
	var row pkgRow
	err := tx.QueryRowContext(ctx, `SELECT id, owner, latest, title FROM packages WHERE title = ?`, v.Title).
		Scan(&row.id, &row.owner, &row.latest, &v.Title)
	row.exists = err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return row, err
	}
	switch {
	case row.exists && !strings.EqualFold(row.owner, owner):
		return row, ErrNotOwner
	case row.exists && mode == Create:
		return row, ErrPackageExists
	case !row.exists && mode == Update:
		return row, ErrNotFound
	case row.exists && mode == Update && semver.Compare(v.Version, row.latest) <= 0:
		return row, &NotNewerError{Current: row.latest}
	}
	if row.exists {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM versions WHERE package_id = ? AND version = ?`,
			row.id, v.Version).Scan(&one)
		if err == nil {
			return row, fmt.Errorf("%w: %s %s is already stored", ErrConflict, v.Title, v.Version)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return row, err
		}
	}
	return row, nil
}

// publishRows stores a publish that passed publishRules: the version's
// row, and the package's, which shows its newest version.
func (db *DB) publishRows(ctx context.Context, tx *sql.Tx, owner string, row pkgRow, v *Version, tags string) error {
	now := millis(v.Published)
	if !row.exists {
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
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO versions
		(package_id, version, description, author, license, tags, readme, shasum, size, published_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		row.id, v.Version, v.Description, v.Author, v.License, tags, v.Readme, v.Shasum, v.Size, now)
	if err != nil {
		return err
	}
	if row.exists && semver.Compare(v.Version, row.latest) > 0 {
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
func (db *DB) Package(ctx context.Context, title string) (Package, error) {
	row := db.rd.QueryRowContext(ctx, `SELECT title, description, tags, owner, latest, updated_at
		FROM packages WHERE title = ?`, title)
	p, err := scanPackage(row)
	return p, translate(err)
}

type scanner interface{ Scan(...any) error }

func scanPackage(s scanner) (Package, error) {
	var (
		p       Package
		tags    string
		updated int64
	)
	if err := s.Scan(&p.Title, &p.Description, &tags, &p.Owner, &p.Latest, &updated); err != nil {
		return p, err
	}
	p.Updated = fromMillis(updated)
	return p, json.Unmarshal([]byte(tags), &p.Tags)
}

// Version returns one version of a package; version "" means the newest.
func (db *DB) Version(ctx context.Context, title, version string) (Version, error) {
	const q = `SELECT p.title, v.version, v.description, v.author, v.license, v.tags,
		v.readme, v.shasum, v.size, v.published_at
		FROM versions v JOIN packages p ON p.id = v.package_id
		WHERE p.title = ? AND v.version = `
	var row *sql.Row
	if version == "" {
		row = db.rd.QueryRowContext(ctx, q+`p.latest`, title)
	} else {
		row = db.rd.QueryRowContext(ctx, q+`?`, title, version)
	}
	var (
		v         Version
		tags      string
		published int64
	)
	err := row.Scan(&v.Title, &v.Version, &v.Description, &v.Author, &v.License, &tags,
		&v.Readme, &v.Shasum, &v.Size, &published)
	if err != nil {
		return v, translate(err)
	}
	v.Published = fromMillis(published)
	return v, json.Unmarshal([]byte(tags), &v.Tags)
}

// Releases lists a package's versions, newest first by semver precedence.
func (db *DB) Releases(ctx context.Context, title string) ([]Release, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT v.version, v.published_at
		FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.title = ?`, title)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []Release
	for rows.Next() {
		var (
			r  Release
			ms int64
		)
		if err := rows.Scan(&r.Version, &ms); err != nil {
			return nil, err
		}
		r.Published = fromMillis(ms)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, ErrNotFound
	}
	sort.Slice(rs, func(i, j int) bool { return semver.Compare(rs[i].Version, rs[j].Version) > 0 })
	return rs, nil
}

// ListOptions selects a page of packages.
type ListOptions struct {
	Offset, Limit int
	ByDescription bool // sort by description instead of title
	Desc          bool // descending order
}

// Counts returns the number of packages and of users.
func (db *DB) Counts(ctx context.Context) (packages, users int, err error) {
	err = db.rd.QueryRowContext(ctx,
		`SELECT (SELECT count(*) FROM packages), (SELECT count(*) FROM users)`).Scan(&packages, &users)
	return packages, users, err
}

// Tarball returns the canonical tarball with the given SHA-1.
func (db *DB) Tarball(shasum string) ([]byte, error) {
	return db.files.read(shasum)
}
