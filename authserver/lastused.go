package authserver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"authserver/internal/periodic"
	"authserver/storage"
)

// toucher is the store method the write-behind needs.
type toucher interface {
	TouchPATs(ctx context.Context, used map[string]storage.PATUse) error
}

// maxPendingLastUsed bounds the write-behind map; beyond it new PATs'
// uses are dropped (and counted) until the next flush, so a database
// outage cannot grow memory without bound.
const maxPendingLastUsed = 1 << 20

// lastUseResolution is how far apart two uses of a PAT from the same
// address through the same client must be for the later to be written.
const lastUseResolution = time.Minute

// lastUsed coalesces PAT last uses (time, client address, OAuth client) in memory and writes them in
// batches, off the exchange path: one exchange is one read, never a write.
// A use within lastUseResolution of the last use recorded, from the same address
// through the same client, is not written at all: "last used" is kept to
// the minute, as GitLab keeps it to ten, and a PAT in constant use costs
// the database one write a minute instead of one per flush.
// A failed flush keeps its entries for the next attempt, so an outage loses
// no update; TouchPATs only moves times forward, so replicas never undo
// each other's writes.
type lastUsed struct {
	store    toucher
	interval time.Duration
	log      *slog.Logger
	// onFlush reports each flush's outcome (metrics); may be nil.
	onFlush func(n int, err error)
	// onDrop counts uses dropped because the map was full; may be nil.
	onDrop func()

	mu      sync.Mutex
	pending map[string]storage.PATUse
}

// newLastUsed returns the write-behind of last-use times; onFlush and
// onDrop may be nil.
func newLastUsed(st toucher, interval time.Duration, log *slog.Logger, onFlush func(n int, err error), onDrop func()) *lastUsed {
	return &lastUsed{store: st, interval: interval, log: log, onFlush: onFlush, onDrop: onDrop, pending: make(map[string]storage.PATUse)}
}

// Used records that a PAT was used at a time, from a client address
// through an OAuth client (both "" when the use names neither: an
// introspection), given the PAT's last use as the exchange read it. A use
// that last already covers (covers) — within a minute, from the same address
// through the same client — is dropped at once. Used never blocks on I/O
// and allocates nothing but a new map entry: the strings are the
// request's own.
func (l *lastUsed) Used(patID string, last storage.PATUse, at time.Time, addr, client string) {
	if covers(last, at, addr, client) {
		return
	}
	l.mu.Lock()
	if prev, ok := l.pending[patID]; !ok {
		if len(l.pending) >= maxPendingLastUsed {
			l.mu.Unlock()
			if l.onDrop != nil {
				l.onDrop()
			}
			return
		}
		l.pending[patID] = storage.PATUse{At: at, Addr: addr, Client: client}
	} else if at.After(prev.At) {
		if addr == "" && client == "" {
			// Keep the address and client of the pending exchange.
			addr, client = prev.Addr, prev.Client
		}
		l.pending[patID] = storage.PATUse{At: at, Addr: addr, Client: client}
	}
	l.mu.Unlock()
}

// covers reports whether the recorded last use makes a use at, from addr
// through client, not worth writing: it is less than lastUseResolution
// older (or later: another replica's clock, and times never move back),
// and the use names the same address and client or neither.
func covers(last storage.PATUse, at time.Time, addr, client string) bool {
	if last.At.IsZero() || at.Sub(last.At) >= lastUseResolution {
		return false
	}
	return addr == "" && client == "" || addr == last.Addr && client == last.Client
}

// Len is the number of PATs waiting to be written.
func (l *lastUsed) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Flush writes every pending time. On failure the entries go back into the
// map (keeping the later time where a newer use arrived meanwhile).
func (l *lastUsed) Flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = make(map[string]storage.PATUse, len(batch))
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := l.store.TouchPATs(ctx, batch)
	if err != nil {
		l.mu.Lock()
		for id, u := range batch {
			if cur, ok := l.pending[id]; !ok || u.At.After(cur.At) {
				l.pending[id] = u
			}
		}
		l.mu.Unlock()
	}
	if l.onFlush != nil {
		l.onFlush(len(batch), err)
	}
	return err
}

// Run flushes every interval until ctx is done, then returns; the final
// flush on shutdown is the caller's (Server.Shutdown).
func (l *lastUsed) Run(ctx context.Context) {
	periodic.Every(ctx, l.interval, func(ctx context.Context) {
		if err := l.Flush(ctx); err != nil && ctx.Err() == nil {
			l.log.Warn("last-used flush failed; will retry", "err", err, "pending", l.Len())
		}
	})
}
