// Package ratelimit is the abuse resistance of every surface: token
// buckets (golang.org/x/time/rate) per client address and per client or
// account, held in bounded sets.
//
// What is limited is failure, not traffic: a client that succeeds — a CI
// farm exchanging thousands of good PATs a minute — never spends a token
// and never gets a bucket. Each surface spends on its failures:
//
//   - /oauth2/token, /oauth2/introspect and /oauth2/revoke (oauthLimits):
//     every answered 4xx spends one token of the client address's bucket,
//     and one of the client's bucket when the client had authenticated
//     (a failed client authentication is charged to the address only, so
//     that nobody can use up a confidential client's budget by sending its
//     id with a wrong secret). A request whose address, or the client it
//     names, has no token left is refused with 429 and Retry-After before
//     anything else is done: no database read, no fosite. A 5xx (database
//     down) is not the client's failure and spends nothing.
//   - Password guesses (Passwords: a console sign-in, and a change of
//     one's own password in the console or the API): one token of the
//     account's and the address's buckets is taken before the password is
//     checked, and given back when it was right. Taking it first bounds how
//     many argon2id verifications one address can have running at once.
//   - POST /api/v1/leaked-tokens: unauthenticated, and its answer never
//     says whether anything was found, so every request spends one token of
//     its address.
//
// Buckets live in this process. With several replicas each limits on its
// own, so the effective budget is the replica count times these. Behind a
// proxy every request has the proxy's address (X-Forwarded-For is not
// trusted), so the per-address budget is then the proxy's.
//
// Memory is bounded however many addresses, clients or accounts are
// tried: a set holds at most its bound, in shards with an LRU each, and
// drops the least recently used bucket when full. A dropped bucket starts
// full again; only an attacker cycling through more keys than the bound
// gains by it, and every key it cycles through still costs it failures. A
// check that finds no bucket creates none, so successful traffic from
// millions of addresses costs nothing.
package ratelimit

import (
	lruList "container/list"
	"hash/maphash"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// MaxAddrLimiters bounds a set of per-address buckets; MaxLimiters
	// every other set. A bucket costs about 300 bytes with its key and
	// list element, so the largest set stays under 20 MiB.
	MaxAddrLimiters = 1 << 16
	MaxLimiters     = 10000
)

// limiterShards is the number of independently locked parts of a limiter,
// so that the token endpoint's check does not serialize every request on
// one mutex.
const limiterShards = 16

// Limiter is a bounded set of token buckets, one per key, each refilling
// at limit up to burst.
type Limiter struct {
	limit  rate.Limit
	burst  int
	seed   maphash.Seed
	shards [limiterShards]limiterShard
}

// limiterShard is an LRU map of buckets.
type limiterShard struct {
	mu  sync.Mutex
	max int
	m   map[string]*lruList.Element // of *limiterEntry
	lru lruList.List                // front: most recently used
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

// New returns a set of buckets of burst tokens, refilled one every
// every, holding at most bound buckets (at least one per shard).
func New(every time.Duration, burst, bound int) *Limiter {
	l := &Limiter{limit: rate.Every(every), burst: burst, seed: maphash.MakeSeed()}
	per := max(1, bound/limiterShards)
	for i := range l.shards {
		l.shards[i].max = per
		l.shards[i].m = map[string]*lruList.Element{}
	}
	return l
}

// bucket returns key's bucket, or nil when it has none and create is
// false. A created bucket starts full; creating one in a full shard drops
// the shard's least recently used bucket.
func (l *Limiter) bucket(key string, create bool) *rate.Limiter {
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok {
		sh.lru.MoveToFront(e)
		return e.Value.(*limiterEntry).lim
	}
	if !create {
		return nil
	}
	if sh.lru.Len() >= sh.max {
		oldest := sh.lru.Back()
		sh.lru.Remove(oldest)
		delete(sh.m, oldest.Value.(*limiterEntry).key)
	}
	lim := rate.NewLimiter(l.limit, l.burst)
	sh.m[key] = sh.lru.PushFront(&limiterEntry{key: key, lim: lim})
	return lim
}

// Wait is how long key must wait before it may fail again: 0 while its
// bucket holds a token or it has no bucket. It spends and creates nothing.
func (l *Limiter) Wait(now time.Time, key string) time.Duration {
	lim := l.bucket(key, false)
	if lim == nil {
		return 0
	}
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) / float64(l.limit) * float64(time.Second)))
}

// Spend takes one token from key's bucket for a failure that happened. A
// failure is never refused after the fact: concurrent requests that all
// passed Wait may take the bucket below zero, and that debt is paid back
// before the key may fail again. The debt stops at burst, so a burst of
// concurrent failures locks a key out for at most twice a full refill.
func (l *Limiter) Spend(now time.Time, key string) {
	lim := l.bucket(key, true)
	if lim.TokensAt(now) > -float64(l.burst) {
		lim.ReserveN(now, 1)
	}
}

// Take spends one token from key's bucket before an attempt, if it holds
// one, and returns the function that gives it back (for an attempt that
// succeeded). Otherwise it spends nothing and returns how long to wait.
func (l *Limiter) Take(now time.Time, key string) (refund func(), wait time.Duration) {
	r := l.bucket(key, true).ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d
	}
	// Cancelling at the reservation's own time restores its token (less
	// the negligible refill that later reservations have made
	// unrecoverable): x/time/rate restores nothing for a reservation
	// cancelled after its time to act.
	return func() { r.CancelAt(now) }, 0
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// AddrKey is the bucket key of a client address: the address itself, or
// its /64 for IPv6, since one host commonly holds a whole /64.
func AddrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// RetryAfter renders a wait as a Retry-After value: whole seconds, at
// least 1.
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
