package console

import (
	"fmt"
	"testing"
	"time"

	"authserver/internal/ratelimit"
)

// TestLoginLimitsUnderManyAddresses: a flood of addresses and usernames
// keeps memory bounded.
func TestLoginLimitsUnderManyAddresses(t *testing.T) {
	l := newLoginLimits()
	now := time.Now()
	for i := range 2 * ratelimit.MaxAddrLimiters {
		l.take(now, fmt.Sprintf("acme\x00user%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if a, u := l.addrs.Len(), l.accounts.Len(); a > ratelimit.MaxAddrLimiters || u > ratelimit.MaxLimiters {
		t.Fatalf("%d address and %d account buckets, want at most %d and %d", a, u, ratelimit.MaxAddrLimiters, ratelimit.MaxLimiters)
	}
}

// TestLoginLimitsRefuseWithoutSpending: a refused attempt spends nothing,
// so waiting the answered delay is enough.
func TestLoginLimitsRefuseWithoutSpending(t *testing.T) {
	l := newLoginLimits()
	now := time.Now()
	for i := range accountBurst {
		if _, d := l.take(now, "acme\x00bob", "192.0.2.1"); d != 0 {
			t.Fatalf("attempt %d delayed %v", i+1, d)
		}
	}
	_, d := l.take(now, "acme\x00bob", "192.0.2.1")
	if d <= 0 || d > accountEvery {
		t.Fatalf("attempt %d delayed %v, want up to %v", accountBurst+1, d, accountEvery)
	}
	// The refused attempt did not spend the address's token: the address
	// still has addrBurst-accountBurst attempts for other accounts.
	for i := range addrBurst - accountBurst {
		if _, d := l.take(now, fmt.Sprintf("acme\x00other%d", i), "192.0.2.1"); d != 0 {
			t.Fatalf("other account %d delayed %v", i, d)
		}
	}
	if _, d := l.take(now, "acme\x00another", "192.0.2.1"); d <= 0 || d > addrEvery {
		t.Fatalf("the address's next attempt delayed %v, want up to %v", d, addrEvery)
	}
	if _, d := l.take(now.Add(accountEvery), "ACME\x00BOB", "198.51.100.7"); d != 0 {
		t.Fatalf("after the delay, from another address: delayed %v", d)
	}
}

// TestLoginLimitsSpendOnlyFailures: a sign-in that succeeds gives its
// attempt back, to the account and to the address.
func TestLoginLimitsSpendOnlyFailures(t *testing.T) {
	l := newLoginLimits()
	now := time.Now()
	for i := range 10 * addrBurst {
		refund, d := l.take(now, "acme\x00alice", "192.0.2.1")
		if d != 0 {
			t.Fatalf("successful sign-in %d delayed %v", i+1, d)
		}
		refund()
	}
	var off *loginLimits
	if refund, d := off.take(now, "a", "b"); d != 0 || refund == nil {
		t.Fatal("nil limits limited")
	}
}
