package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// LeakReport is a leaked-token report waiting to be processed: the SHA-256
// of each well-formed value reported, never the values.
type LeakReport struct {
	ID         int64
	ReceivedAt time.Time
	ClientAddr string
	Hashes     [][]byte
	// Attempts counts the processing runs that failed.
	Attempts      int
	NextAttemptAt time.Time
}

// LeakStats describes the reports waiting.
type LeakStats struct {
	Pending int64
	// Oldest is when the oldest waiting report arrived; zero when none.
	Oldest time.Time
}

type leakRow struct {
	ID            int64     `db:"id"`
	ReceivedAt    time.Time `db:"received_at"`
	ClientAddr    string    `db:"client_addr"`
	Hashes        string    `db:"hashes"`
	Attempts      int       `db:"attempts"`
	NextAttemptAt time.Time `db:"next_attempt_at"`
}

// AddLeakReport writes a report down; it is durable once this returns.
func (s *SQLStore) AddLeakReport(ctx context.Context, r *LeakReport) error {
	hashes := make([]string, len(r.Hashes))
	for i, h := range r.Hashes {
		hashes[i] = hex.EncodeToString(h)
	}
	now := s.stamp()
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	r.NextAttemptAt = r.ReceivedAt
	_, err := s.exec(ctx, "add leak report", `INSERT INTO leak_reports (received_at, client_addr, hashes, attempts, next_attempt_at)
		VALUES (?, ?, ?, 0, ?)`, s.t(r.ReceivedAt), r.ClientAddr, joinList(hashes), s.t(r.NextAttemptAt))
	return err
}

// NextLeakReport returns the oldest report due at now, or ErrNotFound. It
// must be called inside WithTx: on PostgreSQL the row stays locked until
// the transaction ends and other replicas skip it; on SQLite the
// transaction already holds the single write lock.
func (s *SQLStore) NextLeakReport(ctx context.Context, now time.Time) (*LeakReport, error) {
	if !s.inTx {
		return nil, fmt.Errorf("next leak report: not inside a transaction")
	}
	q := `SELECT id, received_at, client_addr, hashes, attempts, next_attempt_at FROM leak_reports
		WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1`
	if s.driver == DriverPostgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	var r leakRow
	if err := s.get(ctx, "next leak report", &r, q, s.t(now)); err != nil {
		return nil, err
	}
	rep := &LeakReport{ID: r.ID, ReceivedAt: utc(r.ReceivedAt), ClientAddr: r.ClientAddr, Attempts: r.Attempts,
		NextAttemptAt: utc(r.NextAttemptAt)}
	for _, h := range splitList(r.Hashes) {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("next leak report: report %d holds a malformed hash", r.ID)
		}
		rep.Hashes = append(rep.Hashes, b)
	}
	return rep, nil
}

// DeleteLeakReport removes a processed report.
func (s *SQLStore) DeleteLeakReport(ctx context.Context, id int64) error {
	return s.execOne(ctx, "delete leak report", `DELETE FROM leak_reports WHERE id = ?`, id)
}

// DeferLeakReport counts a failed attempt at a report and sets when it is
// due again.
func (s *SQLStore) DeferLeakReport(ctx context.Context, id int64, next time.Time) error {
	return s.execOne(ctx, "defer leak report",
		`UPDATE leak_reports SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?`, s.t(next), id)
}

// LeakReportStats counts the reports waiting and finds the oldest.
func (s *SQLStore) LeakReportStats(ctx context.Context) (LeakStats, error) {
	var r struct {
		N      int64   `db:"n"`
		Oldest *string `db:"oldest"`
	}
	// MIN over a timestamp is read back as text on SQLite (the column type
	// is lost in an aggregate), so it is compared and parsed as text there.
	q := `SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM leak_reports`
	if s.driver == DriverPostgres {
		q = `SELECT COUNT(*) AS n, to_char(MIN(received_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS oldest FROM leak_reports`
	}
	if err := s.get(ctx, "leak report stats", &r, q); err != nil {
		return LeakStats{}, err
	}
	st := LeakStats{Pending: r.N}
	if r.Oldest != nil && *r.Oldest != "" {
		t, err := time.Parse(sqliteTime, strings.TrimSuffix(*r.Oldest, "Z"))
		if err != nil {
			return LeakStats{}, fmt.Errorf("leak report stats: %w", err)
		}
		st.Oldest = t.UTC()
	}
	return st, nil
}
