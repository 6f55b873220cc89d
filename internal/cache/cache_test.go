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

// TestSnapshotWaitersShareAFailedReload: while a reload is under way,
// callers wait for it and share its outcome. When the database does not
// answer, a queue of callers waits one timeout, not one each in turn.
func TestSnapshotWaitersShareAFailedReload(t *testing.T) {
	var loads atomic.Int32
	release := make(chan struct{})
	c := &Snapshot[int]{TTL: time.Second, Now: time.Now,
		Load: func(context.Context) (int, error) {
			loads.Add(1)
			<-release
			return 0, errors.New("no answer in time")
		}}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Get(context.Background())
			errs <- err
		}()
	}
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the others queue behind it
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Fatal("a caller got a value from a failed reload")
		}
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("20 concurrent callers ran %d reloads, want 1 shared", n)
	}

	t.Run("a caller whose context ends stops waiting", func(t *testing.T) {
		block := make(chan struct{})
		defer close(block)
		c := &Snapshot[int]{TTL: time.Second, Now: time.Now,
			Load: func(context.Context) (int, error) { <-block; return 1, nil }}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the caller's deadline", err)
		}
	})
}
