package governance

import (
	"context"
	"errors"
	"strconv"
	"time"

	"authserver/internal/patpolicy"
	"authserver/storage"
)

// PAT hygiene: the jobs the server runs every minute (RunHygiene) on each
// organization's policy.
//
//   - Expiry notices: a PAT whose end — the earlier of its own expiry and
//     its creation plus the organization's maximum lifetime — is within N
//     days, for N an expiry notice day of the organization, gets one
//     pat.expiry_notice event for N. A PAT within several days at once
//     (created with 5 days left under 30, 7 and 1) gets the notice of the
//     smallest day it is within only (7), then the next smaller one (1)
//     when it gets there: the days cut the time before the end into bands,
//     (0, 1], (1, 7] and (7, 30] days, and a PAT is notified once for each
//     band it is seen in.
//   - Expired: a PAT whose end has passed gets one pat.expired event, when
//     its end is at most ExpiredLookback ago (so that the PATs that had
//     ended long before the job first ran do not flood the outbox).
//   - Idle revocation: under pat_idle_revoke_after, an active PAT last
//     used (never used: created) that long ago or longer is revoked with
//     reason idle, by the System actor, audited ("idle") and reported
//     (pat.revoked, reason idle) like every revocation. Last use is written
//     behind (a few seconds after the use), so the idle clock has that
//     granularity; the minimum of a day dwarfs it.
//
// Each notice and the expired event are written once: the transaction
// that writes one records it in pat_notices (storage.Store.AddPATNotice)
// and writes the event only when its insert was the one that recorded it,
// so replicas running the job at the same time, or a job run again after
// a restart, write nothing twice. An idle revocation is decided the same
// way (kind idle). A regenerated PAT is a new PAT (a new id) and starts
// without notices. The scans read the partial indexes of the PATs that are
// not revoked, in batches of hygieneBatch, each batch one short
// transaction writing its PATs in id order (the same in every replica, so
// that waits between replicas never form a circle), at most
// hygieneMaxBatches per job, organization and run: a backlog (a first run
// over a million PATs) is worked off over a few runs instead of in one
// long one.

// ExpiredLookback is how long after a PAT's end the expired event is
// still written.
const ExpiredLookback = 7 * 24 * time.Hour

// HygieneInterval is how often the server runs the jobs.
const HygieneInterval = time.Minute

const (
	hygieneBatch      = 100
	hygieneMaxBatches = 50
)

// The kinds of pat_notices rows.
const (
	noticeExpired = "expired"
	// noticeIdle marks the idle revocation.
	noticeIdle = "idle"
	// noticeExpiry is followed by the number of days.
	noticeExpiry = "expiry:"
)

// HygieneResult counts what one run did.
type HygieneResult struct {
	// Notices is the number of pat.expiry_notice events written.
	Notices int
	// Expired is the number of pat.expired events written.
	Expired int
	// IdleRevoked is the number of PATs revoked for being idle.
	IdleRevoked int
}

// RunHygiene runs the jobs once over every organization. It goes on with
// the next organization after one fails and returns what it did with the
// errors joined; the work left undone is found by the next run.
func (s *Service) RunHygiene(ctx context.Context) (HygieneResult, error) {
	var res HygieneResult
	orgs, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return res, storeErr(err, "organization")
	}
	var errs []error
	for i := range orgs {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		o := &orgs[i]
		if err := s.expiryNotices(ctx, o, &res); err != nil {
			errs = append(errs, err)
		}
		if err := s.expiredEvents(ctx, o, &res); err != nil {
			errs = append(errs, err)
		}
		if err := s.idleRevocations(ctx, o, &res); err != nil {
			errs = append(errs, err)
		}
	}
	return res, storeErr(errors.Join(errs...), "organization")
}

// hygieneNow is the jobs' clock at the storage precision.
func (s *Service) hygieneNow() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// endOf is when p stops working under the maximum lifetime max (0: none),
// or nil for never.
func endOf(p *storage.PAT, max time.Duration) *time.Time {
	end := p.ExpiresAt
	if max > 0 {
		byMax := p.CreatedAt.Add(max)
		if end == nil || byMax.Before(*end) {
			end = &byMax
		}
	}
	return end
}

// expiryNotices writes the organization's due expiry notices, band by
// band from the smallest day up.
func (s *Service) expiryNotices(ctx context.Context, o *storage.Organization, res *HygieneResult) error {
	days := patpolicy.NormalizeExpiryNoticeDays(o.ExpiryNoticeDays)
	now := s.hygieneNow()
	lower := 0
	for i := len(days) - 1; i >= 0; i-- {
		n := days[i]
		f := storage.EndingFilter{OrgID: o.ID, MaxLifetime: o.PATMaxLifetime,
			After: now.Add(time.Duration(lower) * 24 * time.Hour), Until: now.Add(time.Duration(n) * 24 * time.Hour),
			WithoutNotice: noticeExpiry + strconv.Itoa(n), Limit: hygieneBatch}
		data := map[string]string{"days": strconv.Itoa(n)}
		written, err := s.noticeBatches(ctx, o, f, storage.EventPATExpiryNotice, data)
		res.Notices += written
		for range written {
			s.event("expiry_notice")
		}
		if err != nil {
			return err
		}
		lower = n
	}
	return nil
}

// expiredEvents writes the organization's due expired events.
func (s *Service) expiredEvents(ctx context.Context, o *storage.Organization, res *HygieneResult) error {
	now := s.hygieneNow()
	f := storage.EndingFilter{OrgID: o.ID, MaxLifetime: o.PATMaxLifetime, After: now.Add(-ExpiredLookback), Until: now,
		WithoutNotice: noticeExpired, Limit: hygieneBatch}
	written, err := s.noticeBatches(ctx, o, f, storage.EventPATExpired, nil)
	res.Expired += written
	for range written {
		s.event("expired")
	}
	return err
}

// noticeBatches writes the event typ, with data and each PAT's name and
// end, for the PATs f selects, batch by batch, each batch in one
// transaction. It returns how many events it wrote.
func (s *Service) noticeBatches(ctx context.Context, o *storage.Organization, f storage.EndingFilter, typ string, data map[string]string) (int, error) {
	total := 0
	for range hygieneMaxBatches {
		list, err := s.store.ListPATsEnding(ctx, f)
		if err != nil {
			return total, err
		}
		written := 0
		err = s.store.Update(ctx, func(tx Tx) error {
			written = 0
			at := s.hygieneNow()
			for i := range list {
				// Read again in the transaction: a PAT revoked since the
				// scan gets no notice.
				p, err := tx.GetPAT(ctx, o.ID, list[i].ID)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				end := endOf(p, o.PATMaxLifetime)
				if p.RevokedAt != nil || end == nil {
					continue
				}
				mine, err := tx.AddPATNotice(ctx, p.ID, f.WithoutNotice, at)
				if err != nil {
					return err
				}
				if !mine {
					continue // another run wrote it
				}
				d := map[string]string{"name": p.Name, "expires_at": end.UTC().Format(time.RFC3339)}
				for k, v := range data {
					d[k] = v
				}
				if err := s.emit(ctx, tx, typ, p.OrgID, p.UserID, p.ID, d); err != nil {
					return err
				}
				written++
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += written
		if len(list) < f.Limit {
			break
		}
	}
	return total, nil
}

// idleRevocations revokes the organization's idle PATs.
func (s *Service) idleRevocations(ctx context.Context, o *storage.Organization, res *HygieneResult) error {
	if o.PATIdleRevokeAfter <= 0 {
		return nil
	}
	for range hygieneMaxBatches {
		now := s.hygieneNow()
		since := now.Add(-o.PATIdleRevokeAfter)
		list, err := s.store.ListIdlePATs(ctx, storage.IdleFilter{OrgID: o.ID, MaxLifetime: o.PATMaxLifetime,
			Now: now, IdleSince: since, Limit: hygieneBatch})
		if err != nil {
			return err
		}
		revoked := 0
		err = s.store.Update(ctx, func(tx Tx) error {
			revoked = 0
			for i := range list {
				// Read again in the transaction: a use written since the
				// scan keeps the PAT.
				p, err := tx.GetPAT(ctx, o.ID, list[i].ID)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				last := p.CreatedAt
				if p.LastUsedAt != nil {
					last = *p.LastUsedAt
				}
				if p.RevokedAt != nil || last.After(since) {
					continue
				}
				// The marker decides which of the replicas running the
				// job at once revokes: revokeIn tells its own revocation
				// by its time, which two replicas can share.
				first, err := tx.AddPATNotice(ctx, p.ID, noticeIdle, s.hygieneNow())
				if err != nil {
					return err
				}
				if !first {
					continue
				}
				_, mine, err := s.revokeIn(ctx, tx, System(), p, IdleReason, "idle")
				if err != nil {
					return err
				}
				if mine {
					revoked++
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.IdleRevoked += revoked
		for range revoked {
			s.event("revoked_" + IdleReason)
		}
		if len(list) < hygieneBatch {
			break
		}
	}
	return nil
}

// IdleReason is the revocation reason (storage.PAT.RevokedReason) of a
// PAT revoked for being unused for its organization's
// pat_idle_revoke_after.
const IdleReason = "idle"
