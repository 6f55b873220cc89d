package authserver

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"authserver/storage"
)

// fakeToucher records what the write-behind writes, and fails while down.
type fakeToucher struct {
	mu      sync.Mutex
	down    bool
	written []map[string]storage.PATUse
}

func (f *fakeToucher) TouchPATs(_ context.Context, used map[string]storage.PATUse) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return storage.ErrUnavailable
	}
	f.written = append(f.written, maps.Clone(used))
	return nil
}

// TestLastUsedResolution: a use is written unless the last use as read
// already covers it — within the resolution, from the same address
// through the same client, or an introspection (no address, no client)
// within the resolution (a minute).
func TestLastUsedResolution(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	last := storage.PATUse{At: t0, Addr: "192.0.2.7", Client: "cli"}
	cases := []struct {
		name      string
		last      storage.PATUse
		at        time.Time
		addr, cli string
		written   bool
	}{
		{"never used before", storage.PATUse{}, t0, "192.0.2.7", "cli", true},
		{"same address and client within the minute", last, t0.Add(59 * time.Second), "192.0.2.7", "cli", false},
		{"same address and client a minute later", last, t0.Add(time.Minute), "192.0.2.7", "cli", true},
		{"another address within the minute", last, t0.Add(time.Second), "192.0.2.8", "cli", true},
		{"another client within the minute", last, t0.Add(time.Second), "192.0.2.7", "ci", true},
		{"an unknown address within the minute", last, t0.Add(time.Second), "", "cli", true},
		{"an introspection within the minute", last, t0.Add(30 * time.Second), "", "", false},
		{"an introspection a minute later", last, t0.Add(time.Minute), "", "", true},
		{"a recorded use later than this one (another replica's clock)", last, t0.Add(-time.Second), "192.0.2.7", "cli", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &fakeToucher{}
			l := newLastUsed(st, time.Hour, slog.New(slog.DiscardHandler), nil, nil)
			l.Used("p1", c.last, c.at, c.addr, c.cli)
			if got := l.Len() == 1; got != c.written {
				t.Fatalf("pending %d, want written=%v", l.Len(), c.written)
			}
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !c.written {
				if len(st.written) != 0 {
					t.Fatalf("wrote %v, want nothing", st.written)
				}
				return
			}
			want := map[string]storage.PATUse{"p1": {At: c.at, Addr: c.addr, Client: c.cli}}
			if len(st.written) != 1 || !maps.Equal(st.written[0], want) {
				t.Fatalf("wrote %v, want %v", st.written, want)
			}
		})
	}
}

// TestLastUsedFlushRetries: a failed flush keeps its uses, and a newer use
// that arrived meanwhile wins over the retried one.
func TestLastUsedFlushRetries(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	st := &fakeToucher{down: true}
	var flushes, failures int
	l := newLastUsed(st, time.Hour, slog.New(slog.DiscardHandler), func(_ int, err error) {
		flushes++
		if err != nil {
			failures++
		}
	}, nil)
	l.Used("p1", storage.PATUse{}, t0, "192.0.2.7", "cli")
	l.Used("p2", storage.PATUse{}, t0, "192.0.2.7", "cli")
	if err := l.Flush(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("flush while down: %v", err)
	}
	l.Used("p1", storage.PATUse{}, t0.Add(time.Second), "192.0.2.9", "ci")
	st.mu.Lock()
	st.down = false
	st.mu.Unlock()
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]storage.PATUse{
		"p1": {At: t0.Add(time.Second), Addr: "192.0.2.9", Client: "ci"},
		"p2": {At: t0, Addr: "192.0.2.7", Client: "cli"},
	}
	if len(st.written) != 1 || !maps.Equal(st.written[0], want) {
		t.Fatalf("wrote %v, want %v", st.written, want)
	}
	if flushes != 2 || failures != 1 {
		t.Fatalf("%d flushes, %d failed; want 2 and 1", flushes, failures)
	}
}
