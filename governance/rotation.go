package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"authserver/exchange"
	"authserver/internal/duration"
	"authserver/storage"
)

// This file is rotation with overlap, a PAT's allowed networks, and the
// records of what the token endpoint notices about a PAT's use: the reuse
// of a rotated secret and the first use from a new network.

// MaxOverlap bounds how long a regenerated PAT's old secret may keep
// working.
const MaxOverlap = 7 * 24 * time.Hour

// overlapEnd is when the old secret of a PAT regenerated at now stops
// working under an overlap d: nil for none.
func overlapEnd(d time.Duration, now time.Time) (*time.Time, error) {
	switch {
	case d < 0:
		return nil, invalid("overlap", "overlap-invalid", "must not be negative")
	case d > MaxOverlap:
		return nil, invalid("overlap", "overlap-too-long", "may be at most %s", duration.Format(MaxOverlap))
	case d == 0:
		return nil, nil
	}
	return ptr(now.Add(d).Truncate(time.Microsecond)), nil
}

// checkCIDRs reads a PAT's allowed networks (exchange.CanonicalCIDR):
// canonical, without duplicates, at most exchange.MaxAllowedCIDRs. A bad
// entry is named by its position, never quoted.
func checkCIDRs(in []string) ([]string, error) {
	if len(in) > exchange.MaxAllowedCIDRs {
		return nil, invalid("allowed_cidrs", "cidrs-too-many", "may list at most %d networks", exchange.MaxAllowedCIDRs)
	}
	out := make([]string, 0, len(in))
	for i, c := range in {
		n, ok := exchange.CanonicalCIDR(c)
		if !ok {
			return nil, invalid("allowed_cidrs", "cidr-invalid",
				"entry %d (counting from 1) is not a network such as 192.0.2.0/24 or 2001:db8::/32, nor an address", i+1)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// rotationView fills the rotation and network fields of v from p.
func rotationView(v *PATView, p *storage.PAT, now time.Time) {
	v.OverlapUntil, v.InOverlap, v.ReplacedBy = p.OverlapUntil, p.InOverlap(now), p.ReplacedBy
	v.AllowedCIDRs, v.RecentNetworks = p.AllowedCIDRs, p.RecentNetworks
	if v.AllowedCIDRs == nil {
		v.AllowedCIDRs = []string{}
	}
	if v.RecentNetworks == nil {
		v.RecentNetworks = []string{}
	}
}

// endOverlap ends now the overlap of p, revoked by regeneration, when its
// old secret still works: revoking it again is how its owner or an admin
// stops the old secret before the overlap ends. Any other revoked PAT is
// returned as is.
func (s *Service) endOverlap(ctx context.Context, a Actor, p *storage.PAT, detail string) (*storage.PAT, error) {
	if !p.InOverlap(s.now()) {
		return p, nil
	}
	if _, err := s.endOverlapTx(ctx, a, p, detail); err != nil {
		return nil, err
	}
	out, err := s.store.GetPAT(ctx, p.OrgID, p.ID)
	return out, storeErr(err, "personal access token")
}

// endOverlapTx is endOverlapIn in a transaction of its own.
func (s *Service) endOverlapTx(ctx context.Context, a Actor, p *storage.PAT, detail string) (bool, error) {
	var ended bool
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		ended, err = s.endOverlapIn(ctx, tx, a, p, detail)
		return err
	})
	return ended, storeErr(err, "personal access token")
}

// endOverlapIn ends p's overlap now inside tx, audited (pat.revoke, with
// detail), when it still runs, and reports whether it did.
func (s *Service) endOverlapIn(ctx context.Context, tx Tx, a Actor, p *storage.PAT, detail string) (bool, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	if !p.InOverlap(now) {
		return false, nil
	}
	ended, err := tx.EndPATOverlap(ctx, p.OrgID, p.ID, now)
	if err != nil || !ended {
		return false, err
	}
	return true, s.audit(ctx, tx, a, p.OrgID, "pat.revoke", p.ID, detail+"; ends the old secret's overlap")
}

// RecordReuse records that the secret of PAT patID of orgID, replaced by
// regeneration, was presented after its overlap ended (the token endpoint
// refused it, actor a the client): the audit action pat.reuse and the
// event pat.reused, in one transaction. The successor is not revoked: the
// owner decides. A PAT that was not replaced by regeneration records
// nothing.
func (s *Service) RecordReuse(ctx context.Context, a Actor, orgID, patID string) error {
	if !plausibleID(patID) {
		return nil
	}
	p, err := s.store.GetPAT(ctx, orgID, patID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeErr(err, "personal access token")
	}
	if p.RevokedReason != storage.RegeneratedReason {
		return nil
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		e := a.Attribute(storage.AuditEvent{Time: s.now(), OrgID: orgID, Action: "pat.reuse", Target: p.ID,
			Outcome: "refused", Detail: "secret replaced by " + p.ReplacedBy + " presented after its overlap"})
		if err := tx.AppendAudit(ctx, &e); err != nil {
			return err
		}
		return s.emit(ctx, tx, storage.EventPATReused, orgID, p.UserID, p.ID,
			map[string]string{"name": p.Name, "successor": p.ReplacedBy})
	})
	return storeErr(err, "personal access token")
}

// errNetworksChanged retries RecordNewNetwork when another writer changed
// the list between the read and the compare and set.
var errNetworksChanged = errors.New("recent networks changed")

// RecordNewNetwork records that PAT patID of orgID was exchanged from
// network (exchange.NetworkOf, never an address) by the client of actor a
// (whose address is not recorded): when network is not among the PAT's
// recent networks as read now, it goes first in the list (the oldest
// beyond storage.RecentNetworkCount dropped), with the audit action
// pat.new_address and the event pat.new_address, all in one transaction.
// The list is changed by compare and set, so of two replicas that saw the
// same new network only one records it. It reports whether this call
// recorded it.
func (s *Service) RecordNewNetwork(ctx context.Context, a Actor, orgID, patID, network string) (bool, error) {
	if !plausibleID(patID) {
		return false, nil
	}
	if n, ok := exchange.CanonicalCIDR(network); !ok || n != network {
		return false, invalid("network", "network-invalid", "is not a network")
	}
	a.Addr = "" // the network is all the record holds of where the use came from
	for range 3 {
		recorded := false
		err := s.store.Update(ctx, func(tx Tx) error {
			p, err := tx.GetPAT(ctx, orgID, patID)
			if err != nil {
				return err
			}
			if slices.Contains(p.RecentNetworks, network) {
				return nil
			}
			ok, err := tx.SetPATRecentNetworks(ctx, orgID, patID, p.RecentNetworks, exchange.WithNetwork(p.RecentNetworks, network))
			if err != nil {
				return err
			}
			if !ok {
				return errNetworksChanged
			}
			recorded = true
			if err := s.audit(ctx, tx, a, orgID, "pat.new_address", p.ID, "network "+network); err != nil {
				return err
			}
			return s.emit(ctx, tx, storage.EventPATNewAddress, orgID, p.UserID, p.ID,
				map[string]string{"name": p.Name, "network": network})
		})
		switch {
		case errors.Is(err, errNetworksChanged):
			continue
		case errors.Is(err, storage.ErrNotFound):
			return false, nil
		case err != nil:
			return false, storeErr(err, "personal access token")
		}
		return recorded, nil
	}
	return false, fmt.Errorf("record new network: %w", errNetworksChanged)
}
