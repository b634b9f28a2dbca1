package store

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Problem is one thing Check found wrong with the data folder.
type Problem struct {
	Path   string // file or table the problem is about
	What   string
	Repair bool // Check removed the file
}

// Check verifies the data folder: the schema level, SQLite's own
// consistency check, every version's tarball present with the SHA-1 its
// row names, and no orphaned or temporary files. With repair, orphans and
// temporary files are removed (they hold nothing a 201 promised).
func (db *DB) Check(ctx context.Context, repair bool) ([]Problem, error) {
	var probs []Problem
	have, want, err := db.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if have != want {
		probs = append(probs, Problem{Path: dbFile, What: fmt.Sprintf("schema version %d, this binary expects %d", have, want)})
	}
	var quick string
	if err := db.rd.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&quick); err != nil {
		return nil, err
	}
	if quick != "ok" {
		probs = append(probs, Problem{Path: dbFile, What: "SQLite quick_check: " + quick})
	}

	rows, err := db.rd.QueryContext(ctx, `SELECT p.title, v.version, v.shasum FROM versions v
		JOIN packages p ON p.id = v.package_id ORDER BY p.title, v.id`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var title, version, sum string
		if err := rows.Scan(&title, &version, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		p, err := db.files.path(sum)
		if err != nil {
			probs = append(probs, Problem{Path: title + "@" + version, What: "invalid shasum " + sum})
			continue
		}
		data, err := os.ReadFile(p)
		switch {
		case err != nil:
			probs = append(probs, Problem{Path: p, What: title + "@" + version + ": tarball missing or unreadable"})
		case sha1Hex(data) != sum:
			probs = append(probs, Problem{Path: p, What: title + "@" + version + ": tarball does not match its SHA-1"})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Orphans are looked for under the write lock that Publish holds from
	// writing its tarball to committing its row, so that a publish under
	// way, in a server running meanwhile, is never taken for a leftover.
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		orphans, err := db.orphans(ctx, tx, repair)
		probs = append(probs, orphans...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return probs, nil
}

// orphans lists (and with repair removes) tarballs no version refers to
// and files left in the temp folder.
func (db *DB) orphans(ctx context.Context, tx *sql.Tx, repair bool) ([]Problem, error) {
	known := make(map[string]bool)
	rows, err := tx.QueryContext(ctx, `SELECT shasum FROM versions`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			rows.Close()
			return nil, err
		}
		known[sum] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var probs []Problem
	err = filepath.WalkDir(filepath.Join(db.dir, tarballDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		sum, ok := strings.CutSuffix(d.Name(), ".tar.gz")
		if ok && known[sum] {
			return nil
		}
		probs = append(probs, orphan(p, "file no version refers to", repair))
		return nil
	})
	if err != nil {
		return nil, err
	}
	tmps, err := os.ReadDir(filepath.Join(db.dir, tmpDir))
	if err != nil {
		return nil, err
	}
	for _, t := range tmps {
		probs = append(probs, orphan(filepath.Join(db.dir, tmpDir, t.Name()), "temporary file left by an interrupted publish", repair))
	}
	return probs, nil
}

func orphan(path, what string, repair bool) Problem {
	p := Problem{Path: path, What: what}
	if repair && os.RemoveAll(path) == nil {
		p.Repair = true
	}
	return p
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}
