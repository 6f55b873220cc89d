package ratelimit

import (
	"crypto/sha256"
	"strings"
	"time"
)

// Password guesses (a console sign-in, or a change of one's own password
// in the console or the API, which checks the current password) are
// limited by two token buckets, one per account (organization + username,
// case-folded) and one per client address. An attempt takes a token from
// both before the password is checked and gives them back if the password
// was right, so only wrong guesses use the budget, while one address can
// never have more attempts (argon2id verifications) in flight than its
// bucket holds. The account bucket slows guessing one user's password from
// many addresses; the address bucket slows one address trying many
// accounts. Every surface shares one Passwords, so a guess costs the same
// budget wherever it is made. The limits are a brake on guessing: the
// argon2id cost and strong passwords are the wall.

// The limits. An account gets 5 wrong guesses at once, then one a minute;
// an address 20 at once, then one every 6 seconds.
const (
	PasswordAccountBurst = 5
	PasswordAccountEvery = time.Minute
	PasswordAddrBurst    = 20
	PasswordAddrEvery    = 6 * time.Second
)

// Passwords holds the buckets of password guesses. A nil *Passwords limits
// nothing (tests and benchmarks that turn rate limits off).
type Passwords struct {
	accounts, addrs *Limiter
}

// NewPasswords makes the buckets, bounded like every other limiter here.
func NewPasswords() *Passwords {
	return &Passwords{
		accounts: New(PasswordAccountEvery, PasswordAccountBurst, MaxLimiters),
		addrs:    New(PasswordAddrEvery, PasswordAddrBurst, MaxAddrLimiters),
	}
}

// Account is the account part of a guess: the organization's and the
// user's names as typed.
func Account(org, username string) string { return org + "\x00" + username }

// Take spends one guess at account (see Account) from addr at now. It
// returns the function that gives the guess back (call it when the
// password was right), or how long to wait, having spent nothing.
func (l *Passwords) Take(now time.Time, account, addr string) (refund func(), wait time.Duration) {
	if l == nil {
		return func() {}, 0
	}
	ra, d := l.addrs.Take(now, AddrKey(addr))
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
