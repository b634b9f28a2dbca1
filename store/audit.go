package store

import (
	"context"
	"database/sql"

	"github.com/nessemble/nessemble-registry/registry"
)

// AppendAudit adds one event to the audit trail, which triggers keep
// append-only (migration 4). e.At defaults to now.
func (db *DB) AppendAudit(ctx context.Context, e registry.AuditEvent) error {
	if e.At.IsZero() {
		e.At = db.now()
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, addr, action, package, version, subject, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, millis(e.At), e.Actor, e.Addr, e.Action, e.Package, e.Version, e.Subject, e.Detail)
		return err
	})
}

// Audit returns the events q selects, oldest first (the newest q.Limit
// when it is set).
func (db *DB) Audit(ctx context.Context, q registry.AuditQuery) ([]registry.AuditEvent, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := db.rd.QueryContext(ctx, `SELECT id, at, actor, addr, action, package, version, subject, detail FROM (
		SELECT * FROM audit
		WHERE at >= ?1 AND (?2 = '' OR actor = ?2 COLLATE NOCASE OR subject = ?2 COLLATE NOCASE)
			AND (?3 = '' OR package = ?3 COLLATE NOCASE)
		ORDER BY id DESC LIMIT ?4) ORDER BY id`, millis(q.Since), q.User, q.Package, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []registry.AuditEvent
	for rows.Next() {
		var (
			e  registry.AuditEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Addr, &e.Action, &e.Package, &e.Version, &e.Subject, &e.Detail); err != nil {
			return nil, err
		}
		e.At = fromMillis(at)
		es = append(es, e)
	}
	return es, rows.Err()
}
