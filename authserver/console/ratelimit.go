package console

import (
	"crypto/sha256"
	"strings"
	"time"

	"authserver/internal/ratelimit"
)

// Sign-in attempts are limited by two token buckets (see internal/ratelimit),
// one per account (organization + username, as typed, case-folded) and one
// per client address. An attempt takes a token from both before the
// password is checked and gives them back if it succeeds, so only failed
// sign-ins use the budget, while one address can never have more attempts
// (argon2id verifications) in flight than its bucket holds. The account
// bucket slows guessing one user's password from many addresses; the
// address bucket slows one address trying many accounts. The limits are a
// brake on guessing: the argon2id cost and strong passwords are the wall.

// The limits. An account gets 5 failed attempts at once, then one a
// minute; an address 20 at once, then one every 6 seconds.
const (
	accountBurst = 5
	accountEvery = time.Minute
	addrBurst    = 20
	addrEvery    = 6 * time.Second
)

// loginLimits holds the buckets of sign-in attempts. A nil *loginLimits
// limits nothing (Options.NoLimits).
type loginLimits struct {
	accounts, addrs *ratelimit.Limiter
}

func newLoginLimits() *loginLimits {
	return &loginLimits{
		accounts: ratelimit.New(accountEvery, accountBurst, ratelimit.MaxLimiters),
		addrs:    ratelimit.New(addrEvery, addrBurst, ratelimit.MaxAddrLimiters),
	}
}

// take spends one attempt for account from addr at now. It returns the
// function that gives the attempt back (call it when the sign-in
// succeeds), or how long to wait, having spent nothing.
func (l *loginLimits) take(now time.Time, account, addr string) (refund func(), wait time.Duration) {
	if l == nil {
		return func() {}, 0
	}
	ra, d := l.addrs.Take(now, ratelimit.AddrKey(addr))
	if d > 0 {
		return nil, d
	}
	ru, d := l.accounts.Take(now, accountKey(account))
	if d > 0 {
		ra()
		return nil, d
	}
	return func() { ru(); ra() }, 0
}

// accountKey is the bucket key of an account: the SHA-256 of its
// case-folded name, so that a key costs 32 bytes however long the typed
// organization and username are.
func accountKey(account string) string {
	h := sha256.Sum256([]byte(strings.ToLower(account)))
	return string(h[:])
}
