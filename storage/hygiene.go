package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The reads and writes of the PAT hygiene jobs (governance/hygiene.go):
// expiry notices, the expired event and idle revocation. Each scan reads
// one organization's PATs that are not revoked over the partial indexes
// of migration 00010, in pages of at most Limit, so that no run holds
// locks or reads long however many PATs there are.

// EndingFilter selects an organization's PATs that are not revoked and
// whose end — the earlier of expires_at and created_at + MaxLifetime
// (0: none) — lies after After and at or before Until, and that have no
// notice of kind WithoutNotice yet: at most Limit of them, listed by id.
type EndingFilter struct {
	OrgID         string
	MaxLifetime   time.Duration
	After, Until  time.Time
	WithoutNotice string
	Limit         int
}

// ListPATsEnding lists the PATs f selects.
func (s *SQLStore) ListPATsEnding(ctx context.Context, f EndingFilter) ([]PAT, error) {
	if f.Limit <= 0 {
		return nil, fmt.Errorf("list pats ending: a limit is required")
	}
	q, args := s.endingQuery(f)
	var rows []patRow
	if err := s.sel(ctx, "list pats ending", &rows, q, args...); err != nil {
		return nil, err
	}
	return byID(rows), nil
}

// endingQuery is ListPATsEnding's query: the PATs that end by their
// expires_at (within the window, and not earlier by the maximum lifetime),
// and, under a maximum lifetime, those that end by it (created within the
// window moved back by the maximum, and expiring after the window or
// never). The two are disjoint, each one range of a partial index
// (pats_live_expiry, pats_live_created); an OR of them would leave the
// choice of index to the planner, which may walk the whole table instead.
// The answer is in no order: ListPATsEnding sorts it.
func (s *SQLStore) endingQuery(f EndingFilter) (string, []any) {
	const notice = ` AND NOT EXISTS (SELECT 1 FROM pat_notices n WHERE n.pat_id = p.id AND n.kind = ?)`
	q := `SELECT ` + patReadCols + ` FROM pats p WHERE p.org_id = ? AND p.revoked_at IS NULL
		AND p.expires_at > ? AND p.expires_at <= ?`
	args := []any{f.OrgID, s.t(f.After), s.t(f.Until)}
	if f.MaxLifetime > 0 {
		q += ` AND p.created_at > ?`
		args = append(args, s.t(f.After.Add(-f.MaxLifetime)))
	}
	q += notice
	args = append(args, f.WithoutNotice)
	if f.MaxLifetime > 0 {
		q += ` UNION ALL SELECT ` + patReadCols + ` FROM pats p WHERE p.org_id = ? AND p.revoked_at IS NULL
		AND p.created_at > ? AND p.created_at <= ? AND (p.expires_at IS NULL OR p.expires_at > ?)` + notice
		args = append(args, f.OrgID, s.t(f.After.Add(-f.MaxLifetime)), s.t(f.Until.Add(-f.MaxLifetime)), s.t(f.Until), f.WithoutNotice)
	}
	q += ` LIMIT ?`
	return q, append(args, f.Limit)
}

// IdleFilter selects an organization's PATs that are active at Now (not
// revoked, not expired under MaxLifetime) and were last used — or, never
// used, created — at or before IdleSince: the Limit idle the longest,
// listed by id.
type IdleFilter struct {
	OrgID       string
	MaxLifetime time.Duration
	Now         time.Time
	IdleSince   time.Time
	Limit       int
}

// ListIdlePATs lists the PATs f selects.
func (s *SQLStore) ListIdlePATs(ctx context.Context, f IdleFilter) ([]PAT, error) {
	if f.Limit <= 0 {
		return nil, fmt.Errorf("list idle pats: a limit is required")
	}
	q, args := s.idleQuery(f)
	var rows []patRow
	if err := s.sel(ctx, "list idle pats", &rows, q, args...); err != nil {
		return nil, err
	}
	return byID(rows), nil
}

// idleQuery is ListIdlePATs' query. No index holds the last use (an
// index on it would turn every last-use write into an update of every
// index of pats), so the scan takes the organization's live PATs created
// at or before IdleSince from pats_live_created — a PAT is never last
// used before it was created, so no idle one is outside that range — and
// filters and sorts those.
func (s *SQLStore) idleQuery(f IdleFilter) (string, []any) {
	q := `SELECT ` + patReadCols + ` FROM pats WHERE org_id = ? AND revoked_at IS NULL AND created_at <= ?
		AND COALESCE(last_used_at, created_at) <= ? AND (expires_at IS NULL OR expires_at > ?)`
	args := []any{f.OrgID, s.t(f.IdleSince), s.t(f.IdleSince), s.t(f.Now)}
	if f.MaxLifetime > 0 {
		q += ` AND created_at > ?`
		args = append(args, s.t(f.Now.Add(-f.MaxLifetime)))
	}
	q += ` ORDER BY COALESCE(last_used_at, created_at), id LIMIT ?`
	return q, append(args, f.Limit)
}

// byID turns rows into PATs sorted by id: the order in which a job's
// transaction writes them, the same in every replica, so that two
// transactions waiting for each other's rows never wait in a circle.
func byID(rows []patRow) []PAT {
	out := make([]PAT, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	slices.SortFunc(out, func(a, b PAT) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AddPATNotice records that the notice kind about a PAT was written at a
// time, and reports whether this call recorded it: false when it was
// recorded before, by this process or another. Call it in the transaction
// that writes the notice's event, which then commits with the record or
// not at all. On PostgreSQL a concurrent transaction recording the same
// notice waits for this one and then finds it recorded.
func (s *SQLStore) AddPATNotice(ctx context.Context, patID, kind string, at time.Time) (bool, error) {
	res, err := s.exec(ctx, "add pat notice",
		`INSERT INTO pat_notices (pat_id, kind, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		patID, kind, s.t(at))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add pat notice: %w", mapErr(err))
	}
	return n == 1, nil
}

// PATNotices lists the kinds of notice recorded about a PAT, for tests
// and operators.
func (s *SQLStore) PATNotices(ctx context.Context, patID string) ([]string, error) {
	var kinds []string
	if err := s.sel(ctx, "list pat notices", &kinds,
		`SELECT kind FROM pat_notices WHERE pat_id = ? ORDER BY kind`, patID); err != nil {
		return nil, err
	}
	return kinds, nil
}
