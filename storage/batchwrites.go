package storage

import (
	"context"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// This file holds the writes of many rows at once that a job flushing
// what it noted in memory makes: the PATs' new networks, with their audit
// events and lifecycle events, a few statements per batch rather than a
// few per record.

// writeBatch bounds how many rows one statement of this file reads or
// writes: 500 rows of 8 columns stay far below both databases' limits on
// the parameters of one statement (65 535 on PostgreSQL, 32 766 on
// SQLite).
const writeBatch = 500

// RecentNetworksChange is one PAT's recent networks changed by compare
// and set: to Next, if they are still Old.
type RecentNetworksChange struct {
	OrgID, ID string
	Old, Next []string
}

// inBatches calls fn for each run of at most writeBatch of n rows, in one
// transaction when there is more than one run, so that a call writes all
// its rows or none.
func (s *SQLStore) inBatches(ctx context.Context, n int, fn func(s *SQLStore, lo, hi int) error) error {
	run := func(s *SQLStore) error {
		for lo := 0; lo < n; lo += writeBatch {
			if err := fn(s, lo, min(lo+writeBatch, n)); err != nil {
				return err
			}
		}
		return nil
	}
	if n <= writeBatch || s.inTx {
		return run(s)
	}
	return s.WithTx(ctx, func(tx Store) error { return run(tx.(*SQLStore)) })
}

// GetPATsByID reads the PATs of ids, in whichever organizations they are,
// keyed by id; ids that name no PAT are absent (the caller checks each
// PAT's organization). Inside a transaction on PostgreSQL the rows are
// locked (FOR UPDATE) until it ends, taken in id order so that two
// transactions locking overlapping sets cannot deadlock; on SQLite a
// transaction holds the database's write lock from its start (BEGIN
// IMMEDIATE), so there is nothing more to take.
func (s *SQLStore) GetPATsByID(ctx context.Context, ids []string) (map[string]*PAT, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make(map[string]*PAT, len(ids))
	for lo := 0; lo < len(ids); lo += writeBatch {
		chunk := ids[lo:min(lo+writeBatch, len(ids))]
		var rows []patRow
		var err error
		if s.driver == DriverPostgres {
			q := `SELECT ` + patReadCols + ` FROM pats WHERE id = ANY($1::text[]) ORDER BY id`
			if s.inTx {
				q += ` FOR UPDATE`
			}
			err = s.sel(ctx, "get pats", &rows, q, pq.Array(chunk))
		} else {
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			err = s.sel(ctx, "get pats", &rows,
				`SELECT `+patReadCols+` FROM pats WHERE id IN (`+params(len(chunk), "?")+`)`, args...)
		}
		if err != nil {
			return nil, err
		}
		for i := range rows {
			p := rows[i].model()
			out[p.ID] = &p
		}
	}
	return out, nil
}

// SetPATsRecentNetworks is SetPATRecentNetworks for many PATs, each named
// at most once, and reports how many it changed: a PAT whose list is no
// longer Old, or that is not of OrgID, is left as is and not counted. On
// PostgreSQL each run of writeBatch changes is one statement; on SQLite,
// where a statement costs no round trip, one prepared UPDATE per PAT in
// one transaction.
func (s *SQLStore) SetPATsRecentNetworks(ctx context.Context, changes []RecentNetworksChange) (int, error) {
	if len(changes) == 0 {
		return 0, nil
	}
	if s.driver != DriverPostgres {
		return s.setNetworksEach(ctx, changes)
	}
	changed := 0
	err := s.inBatches(ctx, len(changes), func(s *SQLStore, lo, hi int) error {
		n := hi - lo
		orgs, ids, olds, nexts := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		for i, c := range changes[lo:hi] {
			orgs[i], ids[i], olds[i], nexts[i] = c.OrgID, c.ID, joinList(c.Old), joinList(c.Next)
		}
		k, err := s.execCount(ctx, "set pats networks", `UPDATE pats SET recent_networks = v.next
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v (org_id, id, old, next)
			WHERE pats.id = v.id AND pats.org_id = v.org_id AND pats.recent_networks = v.old`,
			pq.Array(orgs), pq.Array(ids), pq.Array(olds), pq.Array(nexts))
		if err != nil {
			return err
		}
		changed += int(k)
		return nil
	})
	return changed, err
}

func (s *SQLStore) setNetworksEach(ctx context.Context, changes []RecentNetworksChange) (int, error) {
	changed := 0
	err := s.WithTx(ctx, func(tx Store) error {
		ts := tx.(*SQLStore)
		ctx, cancel := s.bound(ctx)
		defer cancel()
		stmt, err := ts.x.(*sqlx.Tx).PreparexContext(ctx,
			`UPDATE pats SET recent_networks = ? WHERE org_id = ? AND id = ? AND recent_networks = ?`)
		if err != nil {
			return wrapf("set pats networks", ts.writeFailed(mapErr(err)))
		}
		defer stmt.Close()
		for _, c := range changes {
			res, err := stmt.ExecContext(ctx, joinList(c.Next), c.OrgID, c.ID, joinList(c.Old))
			if err != nil {
				return wrapf("set pats networks", ts.writeFailed(mapErr(err)))
			}
			k, err := res.RowsAffected()
			if err != nil {
				return wrapf("set pats networks", mapErr(err))
			}
			changed += int(k)
		}
		return nil
	})
	return changed, err
}

// AppendAudits is AppendAudit for many events, a statement per run of
// writeBatch: it fills in each event's time when zero, but not its id
// (no caller of a batch needs it back, and reading ids back would cost a
// RETURNING list).
func (s *SQLStore) AppendAudits(ctx context.Context, events []*AuditEvent) error {
	for _, e := range events {
		s.fillAudit(e)
	}
	return s.inBatches(ctx, len(events), func(s *SQLStore, lo, hi int) error {
		args := make([]any, 0, (hi-lo)*8)
		for _, e := range events[lo:hi] {
			args = append(args, s.t(e.Time), e.OrgID, e.Actor, e.Action, e.Target, e.ClientAddr, e.Outcome, e.Detail)
		}
		return s.execRows(ctx, "append audit events", `INSERT INTO audit_events (`+auditCols+`) VALUES `, hi-lo, 8, args)
	})
}

// AppendEvents is AppendEvent for many events, a statement per run of
// writeBatch: it fills in each event's id and time when empty. Call it in
// the transaction of the changes the events report.
func (s *SQLStore) AppendEvents(ctx context.Context, events []*Event) error {
	data := make([]string, len(events))
	for i, e := range events {
		var err error
		if data[i], err = s.fillEvent(e); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
	}
	return s.inBatches(ctx, len(events), func(s *SQLStore, lo, hi int) error {
		args := make([]any, 0, (hi-lo)*7)
		for i, e := range events[lo:hi] {
			args = append(args, e.ID, e.Type, s.t(e.Time), e.OrgID, e.UserID, e.PATID, data[lo+i])
		}
		return s.execRows(ctx, "append events", `INSERT INTO events (`+eventCols+`) VALUES `, hi-lo, 7, args)
	})
}

// execRows runs insert (ending in VALUES) for rows rows of cols
// parameters each, args in order, and checks that each row landed. The
// text differs with the number of rows, so it is rebound without being
// kept in the store's cache of query texts.
func (s *SQLStore) execRows(ctx context.Context, op, insert string, rows, cols int, args []any) error {
	q := s.q.rebindOnce(insert + params(rows, "("+params(cols, "?")+")"))
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.x.ExecContext(ctx, q, args...)
	if err != nil {
		return wrapf(op, s.writeFailed(mapErr(err)))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrapf(op, mapErr(err))
	}
	if n != int64(rows) {
		return fmt.Errorf("%s: wrote %d rows of %d", op, n, rows)
	}
	s.wrote()
	return nil
}
