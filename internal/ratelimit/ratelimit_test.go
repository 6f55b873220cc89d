package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestLimiterIsBounded: however many keys are tried, a limiter holds at
// most its bound, dropping the least recently used.
func TestLimiterIsBounded(t *testing.T) {
	l := New(time.Minute, 1, 160)
	now := time.Now()
	l.Spend(now, "hot")
	hot := l.bucket("hot", false)
	for i := range 100000 {
		l.Spend(now, fmt.Sprint(i))
		if i%5 == 0 {
			l.Wait(now, "hot") // a check keeps it recently used
		}
	}
	if got := l.Len(); got > 160 || got < 160-limiterShards {
		t.Fatalf("%d buckets held, want at most the bound 160 (and near it)", got)
	}
	if l.bucket("hot", false) != hot || l.Wait(now, "hot") == 0 {
		t.Fatal("a recently used bucket was dropped")
	}
}

// TestLimiterChecksCreateNothing: looking up a key that never failed
// creates no bucket, so successful traffic costs no memory.
func TestLimiterChecksCreateNothing(t *testing.T) {
	l := New(time.Second, 3, 100)
	now := time.Now()
	for i := range 1000 {
		if d := l.Wait(now, fmt.Sprint(i)); d != 0 {
			t.Fatalf("a key that never failed waits %v", d)
		}
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d buckets after checks alone", n)
	}
}

// TestLimiterSpendsOnlyFailures: burst failures pass, the next waits for
// one refill, and a failure spent concurrently is paid back (debt), never
// more than a burst of it.
func TestLimiterSpendsOnlyFailures(t *testing.T) {
	l := New(time.Second, 3, 100)
	now := time.Now()
	for i := range 3 {
		if d := l.Wait(now, "k"); d != 0 {
			t.Fatalf("failure %d: waits %v", i+1, d)
		}
		l.Spend(now, "k")
	}
	if d := l.Wait(now, "k"); d <= 0 || d > time.Second {
		t.Fatalf("after the burst: waits %v, want up to 1s", d)
	}
	if d := l.Wait(now.Add(time.Second), "k"); d != 0 {
		t.Fatalf("after one refill: waits %v", d)
	}
	// Concurrent failures that passed the check go into debt...
	for range 100 {
		l.Spend(now, "k")
	}
	d := l.Wait(now, "k")
	// ...bounded at burst: 3 tokens of debt + 1 to spend = 4 s at most.
	if d <= 3*time.Second || d > 4*time.Second+time.Millisecond {
		t.Fatalf("after 100 concurrent failures: waits %v, want (3s, 4s]", d)
	}
}

// TestLimiterTakeAndRefund: take spends a token up front, refund gives it
// back, and a refused take spends nothing.
func TestLimiterTakeAndRefund(t *testing.T) {
	l := New(time.Minute, 2, 100)
	now := time.Now()
	for range 10 {
		refund, d := l.Take(now, "ok")
		if d != 0 {
			t.Fatalf("a refunded attempt left a wait of %v", d)
		}
		refund()
	}
	r1, _ := l.Take(now, "k")
	_, d := l.Take(now, "k")
	if d != 0 {
		t.Fatalf("second attempt waits %v", d)
	}
	if _, d := l.Take(now, "k"); d <= 0 {
		t.Fatal("third attempt was not refused")
	}
	if _, d := l.Take(now, "k"); d <= 0 || d > time.Minute {
		t.Fatalf("refused attempts spent: waits %v", d)
	}
	r1() // the first attempt succeeded after all
	if _, d := l.Take(now, "k"); d != 0 {
		t.Fatalf("after a refund: waits %v", d)
	}
}

// TestLimiterIsSafeForConcurrentUse (run with -race).
func TestLimiterIsSafeForConcurrentUse(t *testing.T) {
	l := New(time.Millisecond, 5, 64)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				key := fmt.Sprint((g*7 + i) % 100)
				l.Wait(now, key)
				l.Spend(now, key)
				if refund, d := l.Take(now, key); d == 0 {
					refund()
				}
			}
		}()
	}
	wg.Wait()
	if l.Len() > 64 {
		t.Fatalf("%d buckets", l.Len())
	}
}

// TestAddrKey: an IPv6 host is limited by its /64, an IPv4-mapped address
// as IPv4.
func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":               "192.0.2.1",
		"::ffff:192.0.2.1":        "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":    "2001:db8:1:2::/64",
		"fe80::1%eth0":            "fe80::/64",
		"not an address (a pipe)": "not an address (a pipe)",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1",
		1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}
