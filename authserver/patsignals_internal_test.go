package authserver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"authserver/governance"
	"authserver/storage"
)

// fakeRecorder records the calls of patSignals and fails them while down.
type fakeRecorder struct {
	mu       sync.Mutex
	down     bool
	reuses   []string // PAT ids
	networks []string // "pat network"
	batches  int      // calls of RecordNewNetworks
	actors   []governance.Actor
}

func (f *fakeRecorder) RecordReuse(_ context.Context, a governance.Actor, _, patID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return storage.ErrUnavailable
	}
	f.reuses = append(f.reuses, patID)
	f.actors = append(f.actors, a)
	return nil
}

func (f *fakeRecorder) RecordNewNetworks(_ context.Context, uses []governance.NetworkUse) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	if f.down {
		return 0, storage.ErrUnavailable
	}
	for _, u := range uses {
		f.networks = append(f.networks, u.PATID+" "+u.Network)
		f.actors = append(f.actors, u.Actor)
	}
	return len(uses), nil
}

// TestPATSignals: a reuse is recorded at most once a minute per PAT; a
// new network once per flush however often it is noticed; a write that
// fails for want of the database is retried at the next flush; beyond
// the bound, records are dropped and counted.
func TestPATSignals(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	rec := &fakeRecorder{}
	dropped := 0
	s := newPATSignals(rec, time.Hour, slog.New(slog.DiscardHandler), clock, func() { dropped++ })
	ctx := context.Background()

	for range 100 {
		s.Reused("o", "p1", "cli", "192.0.2.1")
		s.NewNetwork("o", "p1", "cli", "192.0.2.0/24")
	}
	s.Reused("o", "p2", "cli", "192.0.2.1")
	if s.Len() != 3 {
		t.Fatalf("pending %d, want 3", s.Len())
	}
	rec.down = true
	s.Flush(ctx)
	if s.Len() != 3 || len(rec.reuses)+len(rec.networks) != 0 {
		t.Fatalf("a failed flush: pending %d, written %v %v", s.Len(), rec.reuses, rec.networks)
	}
	rec.down = false
	s.Flush(ctx)
	if s.Len() != 0 || len(rec.reuses) != 2 || len(rec.networks) != 1 || rec.networks[0] != "p1 192.0.2.0/24" {
		t.Fatalf("after the retry: pending %d, reuses %v, networks %v", s.Len(), rec.reuses, rec.networks)
	}
	for _, a := range rec.actors {
		if a.Kind != governance.ActorClient || a.ClientID != "cli" {
			t.Errorf("actor %+v, want the client", a)
		}
	}
	if rec.actors[len(rec.actors)-1].Addr != "" {
		t.Error("a new-network record carries the address")
	}

	// Within the minute: no new reuse record; after it, one.
	advance(30 * time.Second)
	s.Reused("o", "p1", "cli", "192.0.2.1")
	s.Flush(ctx)
	if len(rec.reuses) != 2 {
		t.Fatalf("a reuse within the minute was recorded: %v", rec.reuses)
	}
	advance(31 * time.Second)
	s.Reused("o", "p1", "cli", "192.0.2.1")
	s.Flush(ctx)
	if len(rec.reuses) != 3 {
		t.Fatalf("a reuse after the minute was not recorded: %v", rec.reuses)
	}

	// The bound.
	for i := range maxPendingSignals + 5 {
		s.NewNetwork("o", "p", "cli", time.Duration(i).String())
	}
	if dropped != 5 || s.Len() != maxPendingSignals {
		t.Fatalf("dropped %d, pending %d", dropped, s.Len())
	}
}

// TestPATSignalsNetworksInOneBatch: the new networks pending at a flush
// are written in one call, a PAT's networks in the order they were
// noticed; a call that fails for want of the database keeps all of them
// for the next flush.
func TestPATSignalsNetworksInOneBatch(t *testing.T) {
	rec := &fakeRecorder{}
	s := newPATSignals(rec, time.Hour, slog.New(slog.DiscardHandler), time.Now, nil)
	ctx := context.Background()
	var want []string
	for i := range 50 {
		pat := []string{"p1", "p2", "p3"}[i%3]
		network := fmt.Sprintf("198.51.%d.0/24", i)
		s.NewNetwork("o", pat, "cli", network)
		want = append(want, pat+" "+network)
	}
	rec.down = true
	s.Flush(ctx)
	if rec.batches != 1 || s.Len() != 50 {
		t.Fatalf("a failed flush: %d calls, %d pending; want 1 call, all 50 kept", rec.batches, s.Len())
	}
	rec.down = false
	s.Flush(ctx)
	if rec.batches != 2 || s.Len() != 0 {
		t.Fatalf("after the retry: %d calls, %d pending; want one more call, none pending", rec.batches, s.Len())
	}
	if !slices.Equal(rec.networks, want) {
		t.Errorf("recorded %v, want in the order noticed %v", rec.networks, want)
	}
	s.Flush(ctx)
	if rec.batches != 2 {
		t.Error("a flush with no new network called the recorder")
	}
}
