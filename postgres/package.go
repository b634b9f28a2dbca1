package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/blobs"
	"github.com/nessemble/nessemble-registry/internal/semver"
	"github.com/nessemble/nessemble-registry/registry"
)

// blobTimeout bounds a tarball read, which has no caller's context.
const blobTimeout = 30 * time.Second

// Publish stores version v of a package, owned by owner if new, with its
// canonical tarball, once rule has accepted what is stored of the title
// (see registry.Packages). The tarball is stored and verified in the blob
// store before the row naming it commits; a failure leaves neither.
//
// Publishes of one title queue on an advisory lock of the title, taken in
// the transaction and held to its commit, on whichever replica: no other
// publish of the title comes between the rule and the write. The unique
// keys (title, title and version) refuse anything that would slip past.
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
	tags := nonNil(v.Tags)

	var created bool
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// Shared: a sweep (check, serve's start) waits for publishes in
		// flight, and they for it, so it never takes a tarball whose row
		// is about to commit.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, 0), pg_advisory_xact_lock($2, hashtext($3))`,
			lockSweep, lockPublish, titleKey(v.Title)); err != nil {
			return err
		}
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
		if err := publishRows(ctx, tx, owner, row, &v, tags); err != nil {
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
	_ = db.CatchUp(context.WithoutCancel(ctx))
	return v, nil
}

// titleKey is the spelling titles are unique by and sorted by: lower
// case, as the SQLite backend's index sorts them.
func titleKey(title string) string { return strings.ToLower(title) }

// hay is a package's searchable text, as the SQLite backend's index has
// it: title, description and tags, lower-cased, split by \x1f.
func hay(title, description string, tags []string) string {
	return strings.ToLower(strings.Join(append([]string{title, description}, tags...), "\x1f"))
}

// pkgRow is what a write found of its package's row.
type pkgRow struct {
	registry.Stored
	id int64
}

// storedOf reads what is stored of v's title and version, and gives
// v.Title the stored spelling.
func storedOf(ctx context.Context, tx pgx.Tx, v *registry.Version) (pkgRow, error) {
	var (
		row     pkgRow
		removed *int64
	)
	err := tx.QueryRow(ctx, `SELECT id, owner, latest, title, removed_at FROM packages WHERE title_key = $1`, titleKey(v.Title)).
		Scan(&row.id, &row.Owner, &row.Served, &v.Title, &removed)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, nil
	}
	if err != nil {
		return row, err
	}
	row.Exists, row.Removed = true, removed != nil
	rows, err := tx.Query(ctx, `SELECT version, yanked_at IS NOT NULL, removed_at IS NOT NULL
		FROM versions WHERE package_id = $1`, row.id)
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

func publishRows(ctx context.Context, tx pgx.Tx, owner string, row pkgRow, v *registry.Version, tags []string) error {
	now := millis(v.Published)
	if !row.Exists {
		err := tx.QueryRow(ctx, `INSERT INTO packages
			(title, title_key, owner, description, desc_key, tags, hay, latest, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`,
			v.Title, titleKey(v.Title), owner, v.Description, strings.ToLower(v.Description), tags,
			hay(v.Title, v.Description, tags), v.Version, now).Scan(&row.id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO owners (package_id, username, username_key, added_at) VALUES ($1, $2, $3, $4)`,
			row.id, owner, foldASCII(owner), now); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO versions
		(package_id, version, description, author, license, tags, readme, shasum, size, published_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		row.id, v.Version, v.Description, v.Author, v.License, tags, v.Readme, v.Shasum, v.Size, now)
	if err != nil {
		return err
	}
	if row.Exists && (row.Served == "" || semver.Compare(v.Version, row.Served) > 0) {
		_, err = tx.Exec(ctx, `UPDATE packages SET description = $1, desc_key = $2, tags = $3, hay = $4, latest = $5,
			updated_at = $6 WHERE id = $7`,
			v.Description, strings.ToLower(v.Description), tags, hay(v.Title, v.Description, tags), v.Version, now, row.id)
	}
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// packageColumns are what scanPackage reads.
const packageColumns = `SELECT title, description, tags, owner, latest, updated_at, removed_at IS NOT NULL, removed_reason FROM packages `

func scanPackage(s pgx.Row) (registry.Package, error) {
	var (
		p       registry.Package
		updated int64
	)
	if err := s.Scan(&p.Title, &p.Description, &p.Tags, &p.Owner, &p.Latest, &updated, &p.Removed, &p.RemovedReason); err != nil {
		return p, err
	}
	p.Tags = nonNil(p.Tags)
	p.Updated = fromMillis(updated)
	return p, nil
}

// Package returns the package titled title (case-insensitive), removed
// ones included.
func (db *DB) Package(ctx context.Context, title string) (registry.Package, error) {
	p, err := scanPackage(db.pool.QueryRow(ctx, packageColumns+`WHERE title_key = $1`, titleKey(title)))
	return p, translate(err)
}

// Version returns one version of a package, yanked and removed ones
// included; version "" means the newest neither yanked nor removed.
func (db *DB) Version(ctx context.Context, title, version string) (registry.Version, error) {
	const q = `SELECT p.title, v.version, v.description, v.author, v.license, v.tags,
		v.readme, v.shasum, v.size, v.published_at, v.yanked_at IS NOT NULL, v.removed_at IS NOT NULL, v.removed_reason
		FROM versions v JOIN packages p ON p.id = v.package_id
		WHERE p.title_key = $1 AND v.version = `
	var row pgx.Row
	if version == "" {
		row = db.pool.QueryRow(ctx, q+`p.latest`, titleKey(title))
	} else {
		row = db.pool.QueryRow(ctx, q+`$2`, titleKey(title), version)
	}
	var (
		v         registry.Version
		published int64
	)
	err := row.Scan(&v.Title, &v.Version, &v.Description, &v.Author, &v.License, &v.Tags,
		&v.Readme, &v.Shasum, &v.Size, &published, &v.Yanked, &v.Removed, &v.RemovedReason)
	if err != nil {
		return v, translate(err)
	}
	v.Tags = nonNil(v.Tags)
	v.Published = fromMillis(published)
	return v, nil
}

// Releases lists a package's versions that are not removed, newest
// first by semver precedence, yanked ones marked.
func (db *DB) Releases(ctx context.Context, title string) ([]registry.Release, error) {
	rows, err := db.pool.Query(ctx, `SELECT v.version, v.published_at, v.yanked_at IS NOT NULL
		FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.title_key = $1 AND v.removed_at IS NULL`, titleKey(title))
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

// ListPackages returns one page of packages, in the order of the SQLite
// backend's index (byte order of the lower-cased keys), and the number of
// packages; removed packages are left out.
func (db *DB) ListPackages(ctx context.Context, o registry.ListOptions) ([]registry.Package, int, error) {
	order := `title_key COLLATE "C"`
	if o.ByDescription {
		order = `desc_key COLLATE "C", title_key COLLATE "C"`
	}
	if o.Desc {
		order = strings.ReplaceAll(order, `"C"`, `"C" DESC`)
	}
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM packages WHERE removed_at IS NULL`).Scan(&n); err != nil {
		return nil, 0, err
	}
	// order is one of the constants above, never user input.
	rows, err := db.pool.Query(ctx, packageColumns+`WHERE removed_at IS NULL ORDER BY `+order+` OFFSET $1 LIMIT $2`, o.Offset, o.Limit)
	if err != nil {
		return nil, 0, err
	}
	page, err := collectPackages(rows)
	return page, n, err
}

func collectPackages(rows pgx.Rows) ([]registry.Package, error) {
	defer rows.Close()
	var page []registry.Package
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return nil, err
		}
		page = append(page, p)
	}
	return page, rows.Err()
}

// Search returns one page of packages whose title, description or tags
// contain term (case-insensitive), the exact title first, then by title,
// and the number of matches; removed packages are left out.
func (db *DB) Search(ctx context.Context, term string, offset, limit int) ([]registry.Package, int, error) {
	needle := strings.ToLower(term)
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM packages
		WHERE removed_at IS NULL AND (strpos(hay, $1) > 0 OR title_key = $1)`, needle).Scan(&n); err != nil {
		return nil, 0, err
	}
	rows, err := db.pool.Query(ctx, packageColumns+`WHERE removed_at IS NULL AND (strpos(hay, $1) > 0 OR title_key = $1)
		ORDER BY title_key = $1 DESC, title_key COLLATE "C" OFFSET $2 LIMIT $3`, needle, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	page, err := collectPackages(rows)
	return page, n, err
}

// Counts returns the number of packages (not removed) and of users.
func (db *DB) Counts(ctx context.Context) (packages, users int, err error) {
	err = db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM packages WHERE removed_at IS NULL), (SELECT count(*) FROM users)`).Scan(&packages, &users)
	return packages, users, err
}

// Tarball returns the canonical tarball with the given SHA-1.
func (db *DB) Tarball(shasum string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), blobTimeout)
	defer cancel()
	return db.blobs.Get(ctx, shasum)
}

// ByAuthor returns a page of the packages whose newest version names
// author (ASCII case folded, as the SQLite backend's NOCASE) in
// package.json, by title, and how many there are.
func (db *DB) ByAuthor(ctx context.Context, author string, offset, limit int) ([]registry.Package, int, error) {
	const match = ` FROM packages p JOIN versions v ON v.package_id = p.id AND v.version = p.latest
		WHERE p.removed_at IS NULL AND translate(v.author, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') = $1`
	key := foldASCII(author)
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*)`+match, key).Scan(&n); err != nil {
		return nil, 0, err
	}
	rows, err := db.pool.Query(ctx, `SELECT p.title, p.description, p.tags, p.owner, p.latest, p.updated_at,
		p.removed_at IS NOT NULL, p.removed_reason`+match+` ORDER BY p.title_key COLLATE "C" OFFSET $2 LIMIT $3`, key, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	page, err := collectPackages(rows)
	return page, n, err
}

// CountVersions is the number of versions of all packages, removed ones
// left out.
func (db *DB) CountVersions(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM versions WHERE removed_at IS NULL`).Scan(&n)
	return n, err
}
