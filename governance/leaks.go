package governance

import (
	"context"
	"errors"
	"time"

	"authserver/exchange"
	"authserver/storage"
)

// Leaked-token reports work like a credential revocation API: anyone who
// finds token values exposed reports them without credentials, and every
// real, active PAT among them is revoked and audited ("reported leaked",
// actor anonymous, with the reporter's address), in whichever organization
// it is.
//
// A report is written down before it is answered and processed from the
// database, so a report that was accepted is never lost, whatever happens
// to the process or the database afterwards; while the database cannot
// take it, the report is refused and the reporter tries again. Only the
// SHA-256 of each value is written. Writing a report costs the same
// whether its values are real or not, so neither the answer nor its timing
// tells a reporter which values were real.

// LeakReport is what a reporter sent and where from.
type LeakReport struct {
	Values []string
	Addr   string
}

// ReportLeaked durably records the well-formed PATs among values for
// revocation and says how many there were; values that cannot be PATs of
// this server (CheckPAT: public arithmetic) cost nothing further and are
// not recorded. Zero means nothing was written.
func (s *Service) ReportLeaked(ctx context.Context, r LeakReport) (int, error) {
	var hashes [][]byte
	seen := map[string]bool{}
	for _, v := range r.Values {
		if seen[v] || exchange.CheckPAT(s.prefix, v) != nil {
			continue
		}
		seen[v] = true
		hashes = append(hashes, exchange.HashPAT(v))
	}
	if len(hashes) == 0 {
		return 0, nil
	}
	err := s.store.AddLeakReport(ctx, &storage.LeakReport{ReceivedAt: s.now(), ClientAddr: r.Addr, Hashes: hashes})
	if err != nil {
		return 0, storeErr(err, "leak report")
	}
	return len(hashes), nil
}

// ErrNoLeakReport: no report is due.
var ErrNoLeakReport = errors.New("no leak report due")

// LeakRetry is how long a report waits after a processing run failed for
// a reason other than the database (which the caller retries sooner).
const LeakRetry = time.Minute

// ProcessLeakReport takes the oldest report due, revokes every real,
// active PAT it names, audits each revocation and deletes the report, all
// in one transaction: the report is processed completely or not at all.
// It returns how many PATs it revoked, or ErrNoLeakReport when none is due.
// When a run fails for a reason other than an unavailable database, the
// report is deferred by LeakRetry so that one bad report cannot hold up the
// others; it is never dropped.
func (s *Service) ProcessLeakReport(ctx context.Context) (int, error) {
	var revoked int
	var failedID int64
	err := s.store.Update(ctx, func(tx Tx) error {
		rep, err := tx.NextLeakReport(ctx, s.now())
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNoLeakReport
		}
		if err != nil {
			return err
		}
		failedID = rep.ID
		actor := Anonymous(rep.ClientAddr)
		for _, h := range rep.Hashes {
			p, err := tx.GetPATByHash(ctx, h)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if p.RevokedAt != nil {
				continue
			}
			_, mine, err := s.revokeIn(ctx, tx, actor, p, "leaked", "reported leaked")
			if err != nil {
				return err
			}
			if mine {
				revoked++
			}
		}
		return tx.DeleteLeakReport(ctx, rep.ID)
	})
	switch {
	case errors.Is(err, ErrNoLeakReport):
		return 0, err
	case err != nil:
		if failedID != 0 && !errors.Is(err, storage.ErrUnavailable) {
			if derr := s.store.DeferLeakReport(ctx, failedID, s.now().Add(LeakRetry)); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		return 0, storeErr(err, "leak report")
	}
	for range revoked {
		s.event("revoked_leaked")
	}
	return revoked, nil
}

// LeakReportStats says how many reports wait and since when.
func (s *Service) LeakReportStats(ctx context.Context) (storage.LeakStats, error) {
	st, err := s.store.LeakReportStats(ctx)
	return st, storeErr(err, "leak report")
}
