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

// errNetworksChanged retries the recording of new networks when another
// writer changed a list between the read and the compare and set.
var errNetworksChanged = errors.New("recent networks changed")

// networkAttempts bounds how often one batch of new networks is tried
// when another writer changed a list under it.
const networkAttempts = 3

// networkBatch bounds how many uses one transaction of RecordNewNetworks
// records.
const networkBatch = 500

// NetworkUse is a PAT exchanged from a network not among its recent ones:
// the PAT (PATID of OrgID), the network (exchange.NetworkOf, never an
// address) and the client that exchanged it (Actor, whose address is not
// recorded).
type NetworkUse struct {
	Actor   Actor
	OrgID   string
	PATID   string
	Network string
}

// RecordNewNetwork records one new network, as RecordNewNetworks does,
// and reports whether this call recorded it. A network that is not
// canonical is refused (Invalid); a PAT that does not exist records
// nothing.
func (s *Service) RecordNewNetwork(ctx context.Context, a Actor, orgID, patID, network string) (bool, error) {
	if !plausibleID(patID) {
		return false, nil
	}
	if n, ok := exchange.CanonicalCIDR(network); !ok || n != network {
		return false, invalid("network", "network-invalid", "is not a network")
	}
	a.Addr = ""
	n, err := s.recordNetworks(ctx, []NetworkUse{{Actor: a, OrgID: orgID, PATID: patID, Network: network}})
	return n == 1, err
}

// RecordNewNetworks records each use whose network is not among its PAT's
// recent networks as read now: the network goes first in the list (the
// oldest beyond storage.RecentNetworkCount dropped), with the audit action
// pat.new_address (detail "network <cidr>", no address) and the event
// pat.new_address, all in one transaction per networkBatch uses — a few
// statements for the whole batch rather than a few per use. Several uses
// of one PAT apply in order; a network already in the list records
// nothing. A use whose PAT id is implausible or names no PAT of its
// organization, or whose network is not canonical, is skipped: it fails
// nothing. On PostgreSQL the batch's PATs are locked while it is written;
// the lists are still changed by compare and set (the whole batch tried
// again when one changed under it), so of two replicas that saw the same
// new network only one records it. It reports how many uses it recorded.
// On an error, the batches before the failing one are recorded: recording
// their uses again records nothing, as their networks are then present.
func (s *Service) RecordNewNetworks(ctx context.Context, uses []NetworkUse) (int, error) {
	valid := make([]NetworkUse, 0, len(uses))
	for _, u := range uses {
		if !plausibleID(u.PATID) {
			continue
		}
		if n, ok := exchange.CanonicalCIDR(u.Network); !ok || n != u.Network {
			continue
		}
		u.Actor.Addr = "" // the network is all the record holds of where the use came from
		valid = append(valid, u)
	}
	recorded := 0
	for len(valid) > 0 {
		chunk := valid[:min(len(valid), networkBatch)]
		valid = valid[len(chunk):]
		n, err := s.recordNetworks(ctx, chunk)
		recorded += n
		if err != nil {
			return recorded, err
		}
	}
	return recorded, nil
}

// recordNetworks records valid uses in one transaction, tried again up to
// networkAttempts times when a list changed under it.
func (s *Service) recordNetworks(ctx context.Context, uses []NetworkUse) (int, error) {
	ids := make([]string, len(uses))
	for i, u := range uses {
		ids[i] = u.PATID
	}
	for range networkAttempts {
		recorded := 0
		err := s.store.Update(ctx, func(tx Tx) error {
			var err error
			recorded, err = s.recordNetworksIn(ctx, tx, ids, uses)
			return err
		})
		switch {
		case errors.Is(err, errNetworksChanged):
			continue
		case err != nil:
			return 0, storeErr(err, "personal access token")
		}
		return recorded, nil
	}
	return 0, fmt.Errorf("record new networks: %w", errNetworksChanged)
}

// recordNetworksIn is one attempt of recordNetworks inside tx: one read of
// the PATs, one write of the lists that change, one of their audit events
// and one of their lifecycle events.
func (s *Service) recordNetworksIn(ctx context.Context, tx Tx, ids []string, uses []NetworkUse) (int, error) {
	pats, err := tx.GetPATsByID(ctx, ids)
	if err != nil {
		return 0, err
	}
	next := make(map[string][]string, len(pats)) // by PAT id, as changed so far
	var order []string                           // the PATs changed, in the order first changed
	var audits []*storage.AuditEvent
	var events []*storage.Event
	for _, u := range uses {
		p := pats[u.PATID]
		if p == nil || p.OrgID != u.OrgID {
			continue
		}
		cur, changed := next[p.ID]
		if !changed {
			cur = p.RecentNetworks
		}
		if slices.Contains(cur, u.Network) {
			continue
		}
		if !changed {
			order = append(order, p.ID)
		}
		next[p.ID] = exchange.WithNetwork(cur, u.Network)
		e := s.auditEvent(u.Actor, p.OrgID, "pat.new_address", p.ID, "network "+u.Network)
		audits = append(audits, &e)
		events = append(events, s.lifecycleEvent(storage.EventPATNewAddress, p.OrgID, p.UserID, p.ID,
			map[string]string{"name": p.Name, "network": u.Network}))
	}
	if len(order) == 0 {
		return 0, nil
	}
	changes := make([]storage.RecentNetworksChange, len(order))
	for i, id := range order {
		p := pats[id]
		changes[i] = storage.RecentNetworksChange{OrgID: p.OrgID, ID: id, Old: p.RecentNetworks, Next: next[id]}
	}
	n, err := tx.SetPATsRecentNetworks(ctx, changes)
	if err != nil {
		return 0, err
	}
	if n != len(changes) {
		return 0, errNetworksChanged
	}
	if err := tx.AppendAudits(ctx, audits); err != nil {
		return 0, err
	}
	if err := tx.AppendEvents(ctx, events); err != nil {
		return 0, err
	}
	return len(audits), nil
}
