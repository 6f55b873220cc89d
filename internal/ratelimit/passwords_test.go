package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// TestPasswordsUnderManyAddresses: a flood of addresses and usernames
// keeps memory bounded.
func TestPasswordsUnderManyAddresses(t *testing.T) {
	l := NewPasswords()
	now := time.Now()
	for i := range 2 * MaxAddrLimiters {
		l.Take(now, fmt.Sprintf("acme\x00user%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if a, u := l.addrs.Len(), l.accounts.Len(); a > MaxAddrLimiters || u > MaxLimiters {
		t.Fatalf("%d address and %d account buckets, want at most %d and %d", a, u, MaxAddrLimiters, MaxLimiters)
	}
}

// TestPasswordsRefuseWithoutSpending: a refused attempt spends nothing,
// so waiting the answered delay is enough.
func TestPasswordsRefuseWithoutSpending(t *testing.T) {
	l := NewPasswords()
	now := time.Now()
	for i := range PasswordAccountBurst {
		if _, d := l.Take(now, "acme\x00bob", "192.0.2.1"); d != 0 {
			t.Fatalf("attempt %d delayed %v", i+1, d)
		}
	}
	_, d := l.Take(now, "acme\x00bob", "192.0.2.1")
	if d <= 0 || d > PasswordAccountEvery {
		t.Fatalf("attempt %d delayed %v, want up to %v", PasswordAccountBurst+1, d, PasswordAccountEvery)
	}
	// The refused attempt did not spend the address's token: the address
	// still has PasswordAddrBurst-PasswordAccountBurst attempts for other accounts.
	for i := range PasswordAddrBurst - PasswordAccountBurst {
		if _, d := l.Take(now, fmt.Sprintf("acme\x00other%d", i), "192.0.2.1"); d != 0 {
			t.Fatalf("other account %d delayed %v", i, d)
		}
	}
	if _, d := l.Take(now, "acme\x00another", "192.0.2.1"); d <= 0 || d > PasswordAddrEvery {
		t.Fatalf("the address's next attempt delayed %v, want up to %v", d, PasswordAddrEvery)
	}
	if _, d := l.Take(now.Add(PasswordAccountEvery), "ACME\x00BOB", "198.51.100.7"); d != 0 {
		t.Fatalf("after the delay, from another address: delayed %v", d)
	}
}

// TestPasswordsSpendOnlyFailures: a sign-in that succeeds gives its
// attempt back, to the account and to the address.
func TestPasswordsSpendOnlyFailures(t *testing.T) {
	l := NewPasswords()
	now := time.Now()
	for i := range 10 * PasswordAddrBurst {
		refund, d := l.Take(now, "acme\x00alice", "192.0.2.1")
		if d != 0 {
			t.Fatalf("successful sign-in %d delayed %v", i+1, d)
		}
		refund()
	}
	var off *Passwords
	if refund, d := off.Take(now, "a", "b"); d != 0 || refund == nil {
		t.Fatal("nil limits limited")
	}
}
