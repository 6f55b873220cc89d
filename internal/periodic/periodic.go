// Package periodic holds the loop behind the server's background jobs:
// call a function every interval until a context ends.
//
// It is a time.Ticker and a select, written once here rather than taken
// from a library: the one that offers it (Kubernetes' wait.Until and its
// kin) brings k8s.io/apimachinery and its dependencies for twenty lines,
// and always calls at once, where most jobs here wait one interval first.
package periodic

import (
	"context"
	"time"
)

// Every calls fn every interval, the first time one interval after it is
// called, until ctx is done; it returns then, without calling fn again. A
// call that overruns the interval delays the next one instead of queueing
// more. fn gets ctx, so a call under way when ctx ends can give up.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	run(ctx, interval, false, fn)
}

// NowAndEvery is Every with a first call at once: for a job whose result
// is wanted from the start (readiness, metrics), not only one interval in.
// The beat is kept from the start, so the second call comes one interval
// after the first began.
func NowAndEvery(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	run(ctx, interval, true, fn)
}

func run(ctx context.Context, interval time.Duration, now bool, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	if now && ctx.Err() == nil {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Both may be ready at once, and select picks either: a
			// job must not start after its context ended.
			if ctx.Err() != nil {
				return
			}
			fn(ctx)
		}
	}
}
