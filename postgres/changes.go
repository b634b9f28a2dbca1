package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/registry"
)

// logChange appends c to the change log inside the transaction that makes
// the change, and announces it on notifyChannel at commit.
//
// A serial is drawn when the row is inserted, but rows become visible in
// commit order, which on several replicas need not be the same: a
// follower that had read up to serial 6 would never see 5 committed
// after it. So writers take the table's EXCLUSIVE lock (which readers do
// not wait for) before the insert and hold it to their commit: serials
// then commit in the order they are drawn. It is the last step of a
// transaction, so it is held for a commit's time.
func logChange(ctx context.Context, tx pgx.Tx, c registry.Change) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE changes IN EXCLUSIVE MODE`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO changes (kind, title, version, shasum, at) VALUES ($1, $2, $3, $4, $5)`,
		c.Kind, c.Title, c.Version, c.Shasum, millis(c.At)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel)
	return err
}

// ChangesSince returns up to limit changes after serial, oldest first.
func (db *DB) ChangesSince(ctx context.Context, serial int64, limit int) ([]registry.Change, error) {
	rows, err := db.pool.Query(ctx, `SELECT serial, kind, title, version, shasum, at FROM changes
		WHERE serial > $1 ORDER BY serial LIMIT $2`, serial, limit)
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

// Changes is the serial of the last change this DB has seen: whatever a
// caller derived from package data at one serial is stale once it moves.
func (db *DB) Changes() int64 { return db.serial.Load() }

// ReferenceGeneration is the serial of the last reference import seen; 0
// means none was ever imported.
func (db *DB) ReferenceGeneration() int64 { return db.refSerial.Load() }

// CatchUp moves Changes to the last change committed, by this replica or
// any other. Nothing is kept in memory but the serials: every read asks
// the database, and the server's answer cache keys on the serial.
func (db *DB) CatchUp(ctx context.Context) error {
	db.followMu.Lock()
	defer db.followMu.Unlock()
	var last, ref *int64
	err := db.pool.QueryRow(ctx, `SELECT max(serial), max(serial) FILTER (WHERE kind = $2)
		FROM changes WHERE serial > $1`, db.serial.Load(), registry.ChangeReference).Scan(&last, &ref)
	if err != nil {
		return err
	}
	if ref != nil {
		db.refSerial.Store(*ref)
	}
	if last != nil {
		db.serial.Store(*last)
	}
	return nil
}

func (db *DB) openSerials(ctx context.Context) error {
	db.serial.Store(0)
	return db.CatchUp(ctx)
}

// Wake signals when another process announced a change, so that a
// follower catches up at once instead of at its next tick.
func (db *DB) Wake() <-chan struct{} { return db.wake }

// listen holds one connection LISTENing on notifyChannel until Close,
// connecting again after a failure.
func (db *DB) listen() {
	defer db.listened.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-db.stop
		cancel()
	}()
	for ctx.Err() == nil {
		db.listenOnce(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (db *DB) listenOnce(ctx context.Context) {
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return
		}
		select {
		case db.wake <- struct{}{}:
		default:
		}
	}
}
