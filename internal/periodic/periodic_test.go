package periodic

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// calls runs loop for span of fake time, each call taking work, and
// returns when each call began, counted from the start, and whether loop
// returned (within a minute) once its context ended.
func calls(t *testing.T, loop func(context.Context, time.Duration, func(context.Context)), interval, span, work time.Duration) (at []time.Duration, returned bool) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			loop(ctx, interval, func(context.Context) {
				at = append(at, time.Since(start))
				time.Sleep(work)
			})
		}()
		time.Sleep(span)
		cancel()
		select {
		case <-done:
			returned = true
		case <-time.After(time.Minute):
		}
	})
	return at, returned
}

func TestSchedule(t *testing.T) {
	const s = time.Second
	for _, c := range []struct {
		rule  string
		loop  func(context.Context, time.Duration, func(context.Context))
		work  time.Duration
		span  time.Duration
		calls []time.Duration
	}{
		{"Every waits one interval before the first call", Every, 0, 3500 * time.Millisecond, []time.Duration{s, 2 * s, 3 * s}},
		{"NowAndEvery calls at once, then every interval", NowAndEvery, 0, 3500 * time.Millisecond, []time.Duration{0, s, 2 * s, 3 * s}},
		{"the beat is kept from the start, not from the end of a call", NowAndEvery, 300 * time.Millisecond, 2500 * time.Millisecond, []time.Duration{0, s, 2 * s}},
		{"a call that overruns the interval delays the next, without queueing more", Every, 2500 * time.Millisecond, 5500 * time.Millisecond, []time.Duration{s, 3500 * time.Millisecond}},
		{"Every makes no call when stopped within the first interval", Every, 0, 500 * time.Millisecond, nil},
	} {
		at, returned := calls(t, c.loop, s, c.span, c.work)
		if !slices.Equal(at, c.calls) {
			t.Errorf("%s: calls at %v, want %v", c.rule, at, c.calls)
		}
		if !returned {
			t.Errorf("%s: did not return when its context ended", c.rule)
		}
	}
}

// TestNoCallAfterTheContextEnded: a loop whose context has ended returns
// without calling, even with a tick due or a call owed at once.
func TestNoCallAfterTheContextEnded(t *testing.T) {
	for name, loop := range map[string]func(context.Context, time.Duration, func(context.Context)){"Every": Every, "NowAndEvery": NowAndEvery} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		called := false
		loop(ctx, time.Nanosecond, func(context.Context) { called = true })
		if called {
			t.Errorf("%s called fn after its context ended", name)
		}
	}
}
