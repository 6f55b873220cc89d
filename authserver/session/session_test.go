package session

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sweepStore records the sweeps of expired sessions.
type sweepStore struct {
	Store // only DeleteExpiredSessions is called
	mu    sync.Mutex
	calls []time.Duration
}

func (s *sweepStore) DeleteExpiredSessions(_ context.Context, _ time.Time, idle time.Duration) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, idle)
	return 1, nil
}

func (s *sweepStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// TestSweepDeletesExpiredSessionsUntilStopped: the sweep asks the store to
// delete expired sessions with the idle timeout, every interval, and
// returns when its context ends.
func TestSweepDeletesExpiredSessionsUntilStopped(t *testing.T) {
	st := &sweepStore{}
	c := &Sessions{store: st, idle: 10 * time.Millisecond, now: time.Now, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Sweep(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for st.count() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sweep did not stop with its context")
	}
	if st.count() < 2 || st.calls[0] != c.idle {
		t.Fatalf("sweeps %v, want at least two with the idle timeout %v", st.calls, c.idle)
	}
}

// TestSecrets: cookie values and CSRF tokens are 32 random bytes, and only
// well-formed values are looked up.
func TestSecrets(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b || !WellFormedSecret(a) || len(a) != 43 {
		t.Fatalf("secrets %q %q", a, b)
	}
	for _, bad := range []string{"", "short", a + "x", a[:42] + "!", a[:42] + "=", strings.Repeat("é", 21) + "x"} {
		if WellFormedSecret(bad) {
			t.Errorf("%q is accepted as a secret", bad)
		}
	}
	if TokenEqual("", "") || TokenEqual(a, "") || !TokenEqual(a, a) || TokenEqual(a, b) {
		t.Fatal("tokenEqual accepts what it must not, or refuses a match")
	}
	if id := sessionID(a); id == a || len(id) != 64 {
		t.Fatalf("session id %q", id)
	}
}
