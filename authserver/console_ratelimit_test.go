package authserver

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestLimiterSetIsBounded: however many keys are tried, the set holds at
// most its bound, dropping the least recently used.
func TestLimiterSetIsBounded(t *testing.T) {
	s := newLimiterSet(rate.Every(time.Minute), 1, 100)
	now := time.Now()
	hot := s.get("hot")
	hot.AllowN(now, 1)
	for i := range 10000 {
		s.get(fmt.Sprint(i)).AllowN(now, 1)
		if i%50 == 0 {
			s.get("hot") // kept recently used
		}
	}
	if got := s.len(); got != 100 {
		t.Fatalf("%d buckets held, want the bound 100", got)
	}
	if s.get("hot") != hot || hot.AllowN(now, 1) {
		t.Fatal("a recently used bucket was dropped")
	}
}

// TestLoginLimitsUnderManyAddresses: a flood of addresses and usernames
// keeps memory bounded.
func TestLoginLimitsUnderManyAddresses(t *testing.T) {
	l := newLoginLimits()
	now := time.Now()
	for i := range 3 * maxLimiters {
		l.take(now, fmt.Sprintf("acme\x00user%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if a, u := l.addrs.len(), l.accounts.len(); a > maxLimiters || u > maxLimiters {
		t.Fatalf("%d address and %d account buckets, want at most %d each", a, u, maxLimiters)
	}
}

// TestLoginLimitsRefuseWithoutSpending: a refused attempt spends nothing,
// so waiting the answered delay is enough.
func TestLoginLimitsRefuseWithoutSpending(t *testing.T) {
	l := newLoginLimits()
	now := time.Now()
	for i := range accountBurst {
		if d := l.take(now, "acme\x00bob", "192.0.2.1"); d != 0 {
			t.Fatalf("attempt %d delayed %v", i+1, d)
		}
	}
	d := l.take(now, "acme\x00bob", "192.0.2.1")
	if d <= 0 || d > accountEvery {
		t.Fatalf("attempt %d delayed %v, want up to %v", accountBurst+1, d, accountEvery)
	}
	// The refused attempt did not spend the address's token: the address
	// still has addrBurst-accountBurst attempts for other accounts.
	for i := range addrBurst - accountBurst {
		if d := l.take(now, fmt.Sprintf("acme\x00other%d", i), "192.0.2.1"); d != 0 {
			t.Fatalf("other account %d delayed %v", i, d)
		}
	}
	if d := l.take(now, "acme\x00another", "192.0.2.1"); d <= 0 || d > addrEvery {
		t.Fatalf("the address's next attempt delayed %v, want up to %v", d, addrEvery)
	}
	if d := l.take(now.Add(accountEvery), "ACME\x00BOB", "198.51.100.7"); d != 0 {
		t.Fatalf("after the delay, from another address: delayed %v", d)
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
		"not an address (a pipe)": "not an address (a pipe)",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
