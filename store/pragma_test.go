package store

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// TestPragmasOnEveryConnection checks the settings the store relies on,
// on every connection of both pools at once: pragmas run once on whichever
// connection came first would be missing on the others.
func TestPragmasOnEveryConnection(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]string{
		"foreign_keys": "1",
		"journal_mode": "wal",
		"busy_timeout": "10000",
		"synchronous":  "2", // FULL
	}
	for name, pool := range map[string]*sql.DB{"writer": db.wr, "reader": db.rd} {
		n := pool.Stats().MaxOpenConnections
		var held []*sql.Conn
		for i := 0; i < n; i++ {
			conn, err := pool.Conn(ctx) // held, so each is a distinct connection
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, conn)
			for pragma, value := range want {
				var got string
				if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != value {
					t.Errorf("%s connection %d: %s = %q (%v), want %q", name, i, pragma, got, err, value)
				}
			}
		}
		for _, c := range held {
			c.Close()
		}
	}
	// Foreign keys are enforced: a version of no package is refused.
	_, err = db.wr.ExecContext(ctx, `INSERT INTO versions (package_id, version, description, author, license,
		tags, readme, shasum, size, published_at) VALUES (999, '1.0.0', '', '', '', '[]', '', '', 0, 0)`)
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		t.Errorf("a version of a missing package: %v, want a foreign key constraint error", err)
	}
}
