package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/nessemble/nessemble-registry/registry"
)

// logChange appends c to the change log inside the transaction that makes
// the change, so that the two commit together or not at all.
func logChange(ctx context.Context, tx *sql.Tx, c registry.Change) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO changes (kind, title, version, shasum, at) VALUES (?, ?, ?, ?, ?)`,
		c.Kind, c.Title, c.Version, c.Shasum, millis(c.At))
	return err
}

// ChangesSince returns up to limit changes after serial, oldest first.
func (db *DB) ChangesSince(ctx context.Context, serial int64, limit int) ([]registry.Change, error) {
	rows, err := db.rd.QueryContext(ctx, `SELECT serial, kind, title, version, shasum, at FROM changes
		WHERE serial > ? ORDER BY serial LIMIT ?`, serial, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []registry.Change
	for rows.Next() {
		var (
			c  registry.Change
			at int64
		)
		if err := rows.Scan(&c.Serial, &c.Kind, &c.Title, &c.Version, &c.Shasum, &at); err != nil {
			return nil, err
		}
		c.At = fromMillis(at)
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// Changes is the serial of the last change this DB has applied to what it
// keeps in memory (the package index): whatever a caller derived from
// package data at one serial is stale once it moves.
func (db *DB) Changes() int64 { return db.serial.Load() }

// ReferenceGeneration is the serial of the last reference import this DB
// has seen; 0 means no reference was ever imported.
func (db *DB) ReferenceGeneration() int64 { return db.refSerial.Load() }

// CatchUp applies the changes made since Changes, by this process or any
// other writing the same data folder, to the package index, then moves
// Changes on. A server calls it every few hundred milliseconds; every
// write of this DB calls it after its commit.
func (db *DB) CatchUp(ctx context.Context) error {
	db.followMu.Lock()
	defer db.followMu.Unlock()
	for {
		cs, err := db.ChangesSince(ctx, db.serial.Load(), 256)
		if err != nil || len(cs) == 0 {
			return err
		}
		for _, c := range cs {
			switch c.Kind {
			case registry.ChangePublish, registry.ChangeYank, registry.ChangeUnyank, registry.ChangeRemove, registry.ChangeOwners:
				if err := db.reindex(ctx, c.Title); err != nil {
					return err
				}
			case registry.ChangeReference:
				db.refSerial.Store(c.Serial)
			}
			// The index first, the serial second: whoever sees the new
			// serial must find the new data (the server's answer cache
			// keys on it).
			db.serial.Store(c.Serial)
		}
	}
}

// reindex puts the package's row as it now is into the index.
func (db *DB) reindex(ctx context.Context, title string) error {
	ix := &db.index
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.loaded {
		return nil // the first load reads it from the database
	}
	// Read under the index's lock, so that a load cannot slip in between
	// and be overwritten with an older row.
	p, err := db.Package(ctx, title)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Removed {
		ix.deleteLocked(p.Title)
		return nil
	}
	ix.putLocked(p)
	return nil
}

// openSerials reads where the log stands when a DB opens: the index is
// loaded later from the current rows, so nothing before now needs
// applying.
func (db *DB) openSerials(ctx context.Context) error {
	var last, ref sql.NullInt64
	err := db.rd.QueryRowContext(ctx, `SELECT (SELECT max(serial) FROM changes),
		(SELECT max(serial) FROM changes WHERE kind = ?)`, registry.ChangeReference).Scan(&last, &ref)
	db.serial.Store(last.Int64)
	db.refSerial.Store(ref.Int64)
	return err
}
