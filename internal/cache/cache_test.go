package cache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSnapshot(t *testing.T) {
	var loads atomic.Int32
	now := time.Unix(0, 0)
	var fail bool
	c := &Snapshot[int]{TTL: time.Second, Now: func() time.Time { return now },
		Load: func(context.Context) (int, error) {
			if fail {
				return 0, errors.New("down")
			}
			return int(loads.Add(1)), nil
		}}
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := c.Get(ctx); err != nil || v != 1 {
				t.Errorf("got %d, %v; want 1", v, err)
			}
		}()
	}
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("concurrent readers loaded %d times, want once", loads.Load())
	}
	now = now.Add(999 * time.Millisecond)
	if v, _ := c.Get(ctx); v != 1 {
		t.Fatalf("a fresh value was reloaded: got %d", v)
	}
	now = now.Add(time.Millisecond)
	if v, _ := c.Get(ctx); v != 2 {
		t.Fatalf("a stale value was served: got %d, want 2", v)
	}
	now = now.Add(time.Second)
	fail = true
	if _, err := c.Get(ctx); err == nil {
		t.Fatal("a failed reload served the stale value")
	}
	fail = false
	c.Invalidate()
	if v, _ := c.Get(ctx); v != 3 {
		t.Fatalf("after Invalidate got %d, want a reload", v)
	}
}
