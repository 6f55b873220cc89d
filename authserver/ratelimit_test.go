package authserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestLimiterIsBounded: however many keys are tried, a limiter holds at
// most its bound, dropping the least recently used.
func TestLimiterIsBounded(t *testing.T) {
	l := newLimiter(time.Minute, 1, 160)
	now := time.Now()
	l.spend(now, "hot")
	hot := l.bucket("hot", false)
	for i := range 100000 {
		l.spend(now, fmt.Sprint(i))
		if i%5 == 0 {
			l.wait(now, "hot") // a check keeps it recently used
		}
	}
	if got := l.len(); got > 160 || got < 160-limiterShards {
		t.Fatalf("%d buckets held, want at most the bound 160 (and near it)", got)
	}
	if l.bucket("hot", false) != hot || l.wait(now, "hot") == 0 {
		t.Fatal("a recently used bucket was dropped")
	}
}

// TestLimiterUnderMillionsOfAddresses: a flood of distinct IPv4 and IPv6
// addresses keeps the per-address set at its bound.
func TestLimiterUnderMillionsOfAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("a million addresses")
	}
	l := newLimiter(oauthAddrEvery, oauthAddrBurst, maxAddrLimiters)
	now := time.Now()
	for i := range 1 << 20 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if i%2 == 1 {
			addr = fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)
		}
		l.spend(now, addrKey(addr))
	}
	if got := l.len(); got > maxAddrLimiters {
		t.Fatalf("%d buckets, want at most %d", got, maxAddrLimiters)
	}
}

// TestLimiterChecksCreateNothing: looking up a key that never failed
// creates no bucket, so successful traffic costs no memory.
func TestLimiterChecksCreateNothing(t *testing.T) {
	l := newLimiter(time.Second, 3, 100)
	now := time.Now()
	for i := range 1000 {
		if d := l.wait(now, fmt.Sprint(i)); d != 0 {
			t.Fatalf("a key that never failed waits %v", d)
		}
	}
	if n := l.len(); n != 0 {
		t.Fatalf("%d buckets after checks alone", n)
	}
}

// TestLimiterSpendsOnlyFailures: burst failures pass, the next waits for
// one refill, and a failure spent concurrently is paid back (debt), never
// more than a burst of it.
func TestLimiterSpendsOnlyFailures(t *testing.T) {
	l := newLimiter(time.Second, 3, 100)
	now := time.Now()
	for i := range 3 {
		if d := l.wait(now, "k"); d != 0 {
			t.Fatalf("failure %d: waits %v", i+1, d)
		}
		l.spend(now, "k")
	}
	if d := l.wait(now, "k"); d <= 0 || d > time.Second {
		t.Fatalf("after the burst: waits %v, want up to 1s", d)
	}
	if d := l.wait(now.Add(time.Second), "k"); d != 0 {
		t.Fatalf("after one refill: waits %v", d)
	}
	// Concurrent failures that passed the check go into debt...
	for range 100 {
		l.spend(now, "k")
	}
	d := l.wait(now, "k")
	// ...bounded at burst: 3 tokens of debt + 1 to spend = 4 s at most.
	if d <= 3*time.Second || d > 4*time.Second+time.Millisecond {
		t.Fatalf("after 100 concurrent failures: waits %v, want (3s, 4s]", d)
	}
}

// TestLimiterTakeAndRefund: take spends a token up front, refund gives it
// back, and a refused take spends nothing.
func TestLimiterTakeAndRefund(t *testing.T) {
	l := newLimiter(time.Minute, 2, 100)
	now := time.Now()
	for range 10 {
		refund, d := l.take(now, "ok")
		if d != 0 {
			t.Fatalf("a refunded attempt left a wait of %v", d)
		}
		refund()
	}
	r1, _ := l.take(now, "k")
	_, d := l.take(now, "k")
	if d != 0 {
		t.Fatalf("second attempt waits %v", d)
	}
	if _, d := l.take(now, "k"); d <= 0 {
		t.Fatal("third attempt was not refused")
	}
	if _, d := l.take(now, "k"); d <= 0 || d > time.Minute {
		t.Fatalf("refused attempts spent: waits %v", d)
	}
	r1() // the first attempt succeeded after all
	if _, d := l.take(now, "k"); d != 0 {
		t.Fatalf("after a refund: waits %v", d)
	}
}

// TestLimiterIsSafeForConcurrentUse (run with -race).
func TestLimiterIsSafeForConcurrentUse(t *testing.T) {
	l := newLimiter(time.Millisecond, 5, 64)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				key := fmt.Sprint((g*7 + i) % 100)
				l.wait(now, key)
				l.spend(now, key)
				if refund, d := l.take(now, key); d == 0 {
					refund()
				}
			}
		}()
	}
	wg.Wait()
	if l.len() > 64 {
		t.Fatalf("%d buckets", l.len())
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
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestOAuthLimits: failures spend the address's budget and, once the
// client authenticated, the client's; successes, 5xx and failed client
// authentication do not spend the client's.
func TestOAuthLimits(t *testing.T) {
	now := time.Now()
	l := newOAuthLimits(func() time.Time { return now })
	req := func(addr string, form url.Values, basic ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
		r.RemoteAddr = addr + ":4711"
		if len(basic) == 2 {
			r.SetBasicAuth(basic[0], basic[1])
		}
		return r
	}
	cli := url.Values{"client_id": {"cli"}}

	for range 1000 {
		l.settle(req("192.0.2.1", cli), "granted", "cli")
		l.settle(req("192.0.2.1", cli), "temporarily_unavailable", "cli")
	}
	if d := l.admit(req("192.0.2.1", cli), cli); d != 0 {
		t.Fatalf("successes and server failures were limited: %v", d)
	}

	for range oauthAddrBurst {
		l.settle(req("192.0.2.2", cli), "invalid_request", "cli")
	}
	if d := l.admit(req("192.0.2.2", nil), nil); d <= 0 || d > oauthAddrEvery {
		t.Fatalf("address after its burst of failures: waits %v", d)
	}
	if d := l.admit(req("2001:db8::1", cli), cli); d != 0 {
		t.Fatalf("another address waits %v", d)
	}

	// invalid_client is charged to the address alone: a wrong secret sent
	// with gateway's id does not use up gateway's budget.
	for i := range 2 * oauthClientBurst {
		l.settle(req(fmt.Sprintf("198.51.100.%d", i%250), nil, "gateway", "wrong"), "invalid_client", "gateway")
	}
	if d := l.admit(req("203.0.113.9", nil, "gateway", "secret"), nil); d != 0 {
		t.Fatalf("failed authentications used up the client's budget: waits %v", d)
	}

	// An authenticated client's failures from many addresses reach its
	// ceiling, named by client_id or by Basic.
	for i := range oauthClientBurst {
		l.settle(req(fmt.Sprintf("203.0.%d.%d", i/250, i%250), cli), "invalid_request", "cli")
	}
	if d := l.admit(req("203.0.113.200", cli), cli); d <= 0 {
		t.Fatal("client_id cli is not limited after its burst")
	}
	if d := l.admit(req("203.0.113.200", nil, "cli", ""), nil); d <= 0 {
		t.Fatal("Basic cli is not limited after its burst")
	}

	var off *oauthLimits
	off.settle(req("192.0.2.3", cli), "invalid_request", "cli")
	if d := off.admit(req("192.0.2.3", cli), cli); d != 0 {
		t.Fatal("nil limits limited")
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1",
		1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := retryAfter(d); got != want {
			t.Errorf("retryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}
