// Package cache holds Snapshot, a time-bounded cache of one immutable value
// (a list of audiences, of clients) that many readers share.
package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Snapshot keeps the value Load returned, for TTL, and reloads it at most
// once per TTL: one caller reloads while the others keep using the last
// value. Readers never take a lock while the value is fresh.
type Snapshot[T any] struct {
	Load func(ctx context.Context) (T, error)
	Now  func() time.Time
	TTL  time.Duration

	mu   sync.Mutex // serializes reloads
	snap atomic.Pointer[entry[T]]
}

type entry[T any] struct {
	val    T
	loaded time.Time
}

// Get returns the cached value, reloading it when older than TTL. A failed
// reload returns the error; the stale value is not served.
func (c *Snapshot[T]) Get(ctx context.Context) (T, error) {
	if s := c.snap.Load(); s != nil && c.Now().Sub(s.loaded) < c.TTL {
		return s.val, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.snap.Load(); s != nil && c.Now().Sub(s.loaded) < c.TTL {
		return s.val, nil
	}
	v, err := c.Load(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	c.snap.Store(&entry[T]{val: v, loaded: c.Now()})
	return v, nil
}

// Invalidate drops the cached value, so the next Get reloads it.
func (c *Snapshot[T]) Invalidate() { c.snap.Store(nil) }
