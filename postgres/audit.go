package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/nessemble/nessemble-registry/registry"
)

// AppendAudit adds one event to the audit trail, which a trigger keeps
// append-only (migration 3). e.At defaults to now.
func (db *DB) AppendAudit(ctx context.Context, e registry.AuditEvent) error {
	if e.At.IsZero() {
		e.At = db.now()
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO audit
		(at, actor, actor_key, addr, action, package, package_key, version, subject, subject_key, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		millis(e.At), e.Actor, foldASCII(e.Actor), e.Addr, e.Action, e.Package, titleKey(e.Package),
		e.Version, e.Subject, foldASCII(e.Subject), e.Detail)
	return translate(err)
}

// Audit returns the events q selects, oldest first (the newest q.Limit
// when it is set).
func (db *DB) Audit(ctx context.Context, q registry.AuditQuery) ([]registry.AuditEvent, error) {
	var limit *int // NULL: no limit
	if q.Limit > 0 {
		limit = &q.Limit
	}
	user := foldASCII(q.User)
	rows, err := db.pool.Query(ctx, `SELECT id, at, actor, addr, action, package, version, subject, detail FROM (
		SELECT * FROM audit
		WHERE at >= $1 AND ($2 = '' OR actor_key = $2 OR subject_key = $2) AND ($3 = '' OR package_key = $3)
		ORDER BY id DESC LIMIT $4) AS newest ORDER BY id`, millis(q.Since), user, titleKey(q.Package), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (registry.AuditEvent, error) {
		var (
			e  registry.AuditEvent
			at int64
		)
		err := r.Scan(&e.ID, &at, &e.Actor, &e.Addr, &e.Action, &e.Package, &e.Version, &e.Subject, &e.Detail)
		e.At = fromMillis(at)
		return e, err
	})
}
