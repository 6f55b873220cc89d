package storage

import (
	"context"
	"time"
)

type auditRow struct {
	ID         int64     `db:"id"`
	Time       time.Time `db:"time"`
	OrgID      string    `db:"org_id"`
	Actor      string    `db:"actor"`
	Action     string    `db:"action"`
	Target     string    `db:"target"`
	ClientAddr string    `db:"client_addr"`
	Outcome    string    `db:"outcome"`
	Detail     string    `db:"detail"`
}

const auditCols = `time, org_id, actor, action, target, client_addr, outcome, detail`

// AppendAudit appends e, filling in its time when zero and its id.
func (s *SQLStore) AppendAudit(ctx context.Context, e *AuditEvent) error {
	s.fillAudit(e)
	// RETURNING works on both SQLite (3.35+) and PostgreSQL.
	err := s.get(ctx, "append audit event", &e.ID,
		`INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		s.t(e.Time), e.OrgID, e.Actor, e.Action, e.Target, e.ClientAddr, e.Outcome, e.Detail)
	// A write read back through RETURNING: its fault is a write fault.
	if err != nil {
		return s.writeFailed(err)
	}
	s.wrote()
	return nil
}

// fillAudit fills in e's time when it is zero, as an event is written.
func (s *SQLStore) fillAudit(e *AuditEvent) {
	if e.Time.IsZero() {
		e.Time = s.stamp()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
}

// ListAudit lists events newest first.
func (s *SQLStore) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := `SELECT id, ` + auditCols + ` FROM audit_events WHERE org_id = ?`
	args := []any{f.OrgID}
	add := func(cond string, v any) {
		q += ` AND ` + cond
		args = append(args, v)
	}
	if f.Actor != "" {
		add(`actor = ?`, f.Actor)
	}
	if f.Action != "" {
		add(`action = ?`, f.Action)
	}
	if f.Target != "" {
		add(`target = ?`, f.Target)
	}
	if !f.Since.IsZero() {
		add(`time >= ?`, s.t(f.Since))
	}
	if !f.Until.IsZero() {
		add(`time < ?`, s.t(f.Until))
	}
	if !f.BeforeTime.IsZero() {
		bt := s.t(f.BeforeTime)
		q += ` AND (time < ? OR (time = ? AND id < ?))`
		args = append(args, bt, bt, f.Before)
	}
	q += ` ORDER BY time DESC, id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var rows []auditRow
	if err := s.sel(ctx, "list audit events", &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = AuditEvent{
			ID: r.ID, Time: utc(r.Time), OrgID: r.OrgID, Actor: r.Actor, Action: r.Action,
			Target: r.Target, ClientAddr: r.ClientAddr, Outcome: r.Outcome, Detail: r.Detail,
		}
	}
	return out, nil
}
