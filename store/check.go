package store

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Problem is one thing Check found in the data folder: damage, or a
// leftover.
type Problem struct {
	Path string // file or table the problem is about
	What string
	// Leftover marks a file that a process which is gone left behind: the
	// temporary upload, or the renamed tarball, of a publish killed before
	// its row committed. It holds nothing a 201 promised, so it is not
	// damage; serve removes it at start.
	Leftover bool
	Repair   bool // the file was removed
}

// Check verifies the data folder: the schema level, SQLite's own
// consistency check, every version's tarball present with the SHA-1 its
// row names, and no files beside them (leftovers, or files the registry
// never writes). With repair, those files are removed (they hold nothing
// a 201 promised).
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
		JOIN packages p ON p.id = v.package_id WHERE v.removed_at IS NULL ORDER BY p.title, v.id`)
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

	strays, err := db.sweep(ctx, func(Problem) bool { return repair })
	return append(probs, strays...), err
}

// RemoveLeftovers removes what killed publishes left behind (see
// Problem.Leftover) and returns it; serve calls it at start so that
// leftovers never pile up. Files the registry never writes are left
// for check to report.
func (db *DB) RemoveLeftovers(ctx context.Context) ([]Problem, error) {
	strays, err := db.sweep(ctx, func(p Problem) bool { return p.Leftover })
	var left []Problem
	for _, p := range strays {
		if p.Leftover {
			left = append(left, p)
		}
	}
	return left, err
}

// sweep lists the files beside the stored tarballs, and removes each one
// that remove says to.
//
// A file is only a leftover if no live process is still writing it, and
// two guards make sure of that. The sweep runs under the write lock that
// Publish holds from creating its temporary file to committing its row,
// in whichever process: so no publish is under way meanwhile, and every
// tarball of a committed row is known. And a temporary file is locked
// (flock) by its writer, as long as it exists under that name (see
// files.put): one that cannot be locked belongs to a live process and is
// skipped, even one that does not take the write lock. Both locks die
// with their process, so a crash never leaves one held.
func (db *DB) sweep(ctx context.Context, remove func(Problem) bool) ([]Problem, error) {
	var probs []Problem
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		known, err := shasums(ctx, tx)
		if err != nil {
			return err
		}
		err = filepath.WalkDir(filepath.Join(db.dir, tarballDir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			sum, _ := strings.CutSuffix(d.Name(), ".tar.gz")
			if known[sum] {
				return nil
			}
			// Only a name Publish would have given is a leftover.
			pr := Problem{Path: p, What: "file the registry did not write"}
			if want, err := db.files.path(sum); err == nil && want == p && d.Type().IsRegular() {
				pr = Problem{Path: p, What: "tarball of an interrupted publish, no version refers to it", Leftover: true}
			}
			probs = append(probs, removeIf(pr, remove))
			return nil
		})
		if err != nil {
			return err
		}
		tmps, err := os.ReadDir(filepath.Join(db.dir, tmpDir))
		if err != nil {
			return err
		}
		for _, t := range tmps {
			p := filepath.Join(db.dir, tmpDir, t.Name())
			if !strings.HasPrefix(t.Name(), uploadPrefix) || !t.Type().IsRegular() {
				probs = append(probs, removeIf(Problem{Path: p, What: "file the registry did not write"}, remove))
				continue
			}
			pr, ok, err := sweepTemp(p, remove)
			if err != nil {
				return err
			}
			if ok {
				probs = append(probs, pr)
			}
		}
		return nil
	})
	return probs, err
}

// sweepTemp looks at one temporary upload: ok is false when a live
// process holds it (or it is gone already). It is removed, if at all,
// while locked, so that its writer cannot be midway.
func sweepTemp(path string, remove func(Problem) bool) (p Problem, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Problem{}, false, nil
	}
	if err != nil {
		return Problem{}, false, err
	}
	defer f.Close()
	if held, err := tryLock(f); err != nil || !held {
		return Problem{}, false, err
	}
	return removeIf(Problem{Path: path, What: "temporary upload of an interrupted publish", Leftover: true}, remove), true, nil
}

func removeIf(p Problem, remove func(Problem) bool) Problem {
	if remove(p) && os.RemoveAll(p.Path) == nil {
		p.Repair = true
	}
	return p
}

// shasums is the set of tarballs that committed versions name (a removed
// version has none: a file of one is what a crash left of its removal).
func shasums(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	known := make(map[string]bool)
	rows, err := tx.QueryContext(ctx, `SELECT shasum FROM versions WHERE removed_at IS NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return nil, err
		}
		known[sum] = true
	}
	return known, rows.Err()
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}
