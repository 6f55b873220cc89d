package authserver

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"authserver/governance"
	"authserver/internal/periodic"
)

// signalRecorder is what the PAT signals are written through: governance,
// which writes each record with its audit event and lifecycle event in
// one transaction, and the new networks of a flush together, one
// transaction for each batch of them.
type signalRecorder interface {
	RecordReuse(ctx context.Context, a governance.Actor, orgID, patID string) error
	RecordNewNetworks(ctx context.Context, uses []governance.NetworkUse) (int, error)
}

// reuseEvery is how often one replica records the reuse of one rotated
// secret: a client retrying it in a loop costs one record a minute, not
// one per request (each refusal is still counted and, within the failure
// budget, audited as exchange.refused).
const reuseEvery = time.Minute

// maxPendingSignals bounds each map of pending records; beyond it new
// records are dropped (and counted) until the next flush.
const maxPendingSignals = 4096

// reuseSignal is a pending record of a rotated secret's reuse.
type reuseSignal struct {
	orgID, patID, client, addr string
}

// networkSignal is a pending record of a PAT's first use from a network.
type networkSignal struct {
	orgID, patID, client, network string
	// seq orders the records noted, so that a PAT's new networks of one
	// flush are recorded in the order they were noticed.
	seq uint64
}

// patSignals records what the token endpoint notices about a PAT's use —
// the reuse of a rotated secret, the first use from a network not among
// its recent ones — off the request path: the exchange only notes it in
// memory, and a job writes the records every interval. A write that fails
// is kept and tried again at the next flush. A record pending when the
// process dies is lost, but not for long: the PAT's recent networks were
// not updated, so the next exchange from that network notices it again;
// likewise the next use of a rotated secret. So each first use from a new
// network is recorded at least once, and, because governance updates the
// list by compare and set, at most once however many replicas noticed it.
type patSignals struct {
	rec      signalRecorder
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
	// onDrop counts records dropped because a map was full; may be nil.
	onDrop func()

	mu        sync.Mutex
	reuses    map[string]reuseSignal      // by PAT id
	networks  map[[2]string]networkSignal // by PAT id and network
	lastReuse map[string]time.Time        // when each PAT's reuse was last noted
	seq       uint64                      // the last networkSignal.seq given
}

func newPATSignals(rec signalRecorder, interval time.Duration, log *slog.Logger, now func() time.Time, onDrop func()) *patSignals {
	return &patSignals{rec: rec, interval: interval, log: log, now: now, onDrop: onDrop,
		reuses: map[string]reuseSignal{}, networks: map[[2]string]networkSignal{}, lastReuse: map[string]time.Time{}}
}

// Reused notes that the rotated secret of a PAT was presented by client
// from addr: at most once per PAT every reuseEvery. It never blocks on
// I/O.
func (s *patSignals) Reused(orgID, patID, client, addr string) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.lastReuse[patID]; ok && now.Sub(last) < reuseEvery {
		return
	}
	if _, ok := s.reuses[patID]; !ok && len(s.reuses) >= maxPendingSignals {
		s.drop()
		return
	}
	s.lastReuse[patID] = now
	s.reuses[patID] = reuseSignal{orgID: orgID, patID: patID, client: client, addr: addr}
}

// NewNetwork notes that a PAT was exchanged by client from a network not
// among its recent ones. It never blocks on I/O.
func (s *patSignals) NewNetwork(orgID, patID, client, network string) {
	key := [2]string{patID, network}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.networks[key]; ok {
		return
	}
	if len(s.networks) >= maxPendingSignals {
		s.drop()
		return
	}
	s.seq++
	s.networks[key] = networkSignal{orgID: orgID, patID: patID, client: client, network: network, seq: s.seq}
}

// drop counts a dropped record; s.mu is held.
func (s *patSignals) drop() {
	if s.onDrop != nil {
		s.onDrop()
	}
}

// Len is the number of records waiting to be written.
func (s *patSignals) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reuses) + len(s.networks)
}

// Flush writes every pending record: the reuses one by one (they are
// rare, at most one a minute per PAT), the new networks in one call, which
// governance writes a few statements per batch. Records whose write failed
// because the database could not be reached stay for the next flush — of
// the new networks, all of the call's, since governance reports no more
// than that its batches from the failing one on were not written (those
// written record nothing when written again); others (a record governance
// refuses) are dropped with a warning.
func (s *patSignals) Flush(ctx context.Context) {
	s.mu.Lock()
	reuses, networks := s.reuses, s.networks
	s.reuses, s.networks = map[string]reuseSignal{}, map[[2]string]networkSignal{}
	cutoff := s.now().Add(-reuseEvery)
	for id, t := range s.lastReuse {
		if t.Before(cutoff) {
			delete(s.lastReuse, id)
		}
	}
	s.mu.Unlock()
	var failedReuses []reuseSignal
	var failedNetworks []networkSignal
	for _, r := range reuses {
		err := s.rec.RecordReuse(ctx, governance.ClientActor(r.client, r.addr), r.orgID, r.patID)
		if s.failed(ctx, "reuse of a rotated token", err, "pat_id", r.patID) {
			failedReuses = append(failedReuses, r)
		}
	}
	if len(networks) > 0 {
		pending := make([]networkSignal, 0, len(networks))
		for _, n := range networks {
			pending = append(pending, n)
		}
		slices.SortFunc(pending, func(a, b networkSignal) int { return cmp.Compare(a.seq, b.seq) })
		uses := make([]governance.NetworkUse, len(pending))
		for i, n := range pending {
			uses[i] = governance.NetworkUse{Actor: governance.ClientActor(n.client, ""), OrgID: n.orgID, PATID: n.patID, Network: n.network}
		}
		_, err := s.rec.RecordNewNetworks(ctx, uses)
		if s.failed(ctx, "new network", err, "records", len(uses)) {
			failedNetworks = pending
		}
	}
	if len(failedReuses)+len(failedNetworks) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range failedReuses {
		if _, ok := s.reuses[r.patID]; !ok {
			s.reuses[r.patID] = r
		}
	}
	for _, n := range failedNetworks {
		key := [2]string{n.patID, n.network}
		if _, ok := s.networks[key]; !ok {
			s.networks[key] = n
		}
	}
}

// failed logs a failed write (attrs naming what it was of) and reports
// whether to try it again.
func (s *patSignals) failed(ctx context.Context, what string, err error, attrs ...any) bool {
	if err == nil {
		return false
	}
	retry := governance.KindOf(err) == governance.Unavailable || (governance.KindOf(err) == 0 && ctx.Err() == nil)
	s.log.WarnContext(ctx, "PAT record not written", append([]any{"record", what}, append(attrs, "err", err, "retry", retry)...)...)
	return retry
}

// Run flushes every interval until ctx is done; the final flush on
// shutdown is the caller's (Server.Shutdown).
func (s *patSignals) Run(ctx context.Context) {
	periodic.Every(ctx, s.interval, s.Flush)
}
