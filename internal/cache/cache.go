// Package cache holds Snapshot, a time-bounded cache of one immutable value
// (a list of audiences, of clients) that many readers share.
package cache

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Snapshot keeps the value Load returned, for TTL, and reloads it at most
// once at a time: callers that need a reload while one is under way wait
// for that one and share its outcome, value or error. Readers never take a
// lock while the value is fresh.
type Snapshot[T any] struct {
	Load func(ctx context.Context) (T, error)
	Now  func() time.Time
	TTL  time.Duration

	reload singleflight.Group
	snap   atomic.Pointer[entry[T]]
}

type entry[T any] struct {
	val    T
	loaded time.Time
}

// Get returns the cached value, reloading it when older than TTL. A failed
// reload returns the error to every caller that waited for it; the stale
// value is not served. A caller whose ctx ends stops waiting; the reload
// goes on for the others.
//
// Sharing the outcome matters when the database stops answering: were
// reloads taken in turn, each waiting caller would spend its own timeout
// after the one before it, and a queue of requests would wait many
// timeouts instead of one.
func (c *Snapshot[T]) Get(ctx context.Context) (T, error) {
	if v, ok := c.fresh(); ok {
		return v, nil
	}
	ch := c.reload.DoChan("", func() (any, error) {
		if v, ok := c.fresh(); ok {
			return v, nil
		}
		// The reload serves every caller waiting for it, so it must not end
		// with the request of the first one; the store bounds its calls.
		v, err := c.Load(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		c.snap.Store(&entry[T]{val: v, loaded: c.Now()})
		return v, nil
	})
	var zero T
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		return r.Val.(T), nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

func (c *Snapshot[T]) fresh() (T, bool) {
	if s := c.snap.Load(); s != nil && c.Now().Sub(s.loaded) < c.TTL {
		return s.val, true
	}
	var zero T
	return zero, false
}

// Invalidate drops the value: the next Get reloads.
func (c *Snapshot[T]) Invalidate() { c.snap.Store(nil) }
