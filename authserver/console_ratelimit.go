package authserver

import (
	lruList "container/list"
	"crypto/sha256"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Sign-in attempts are limited by two token buckets, one per account
// (organization + username, as typed, case-folded) and one per client
// address, each attempt taking a token from both, whatever its outcome.
// The account bucket slows guessing one user's password from many
// addresses; the address bucket slows one address trying many accounts.
//
// The buckets live in this process, in two LRU maps of bounded size, so
// memory stays bounded however many addresses or usernames are tried: when
// a map is full the least recently used bucket is dropped (a dropped
// bucket starts full again, which only an attacker cycling through more
// than maxLimiters keys can exploit, and then at a cost of one attempt per
// key). With several replicas each limits on its own; the limits are a
// brake on guessing, the argon2id cost and strong passwords are the wall.

// The limits. An account gets 5 attempts at once, then one a minute; an
// address 20 at once, then one every 6 seconds.
const (
	accountBurst = 5
	accountEvery = time.Minute
	addrBurst    = 20
	addrEvery    = 6 * time.Second
	// maxLimiters bounds each map.
	maxLimiters = 10000
)

// loginLimits holds the buckets of sign-in attempts.
type loginLimits struct {
	accounts, addrs *limiterSet
}

func newLoginLimits() *loginLimits {
	return &loginLimits{
		accounts: newLimiterSet(rate.Every(accountEvery), accountBurst, maxLimiters),
		addrs:    newLimiterSet(rate.Every(addrEvery), addrBurst, maxLimiters),
	}
}

// take spends one attempt for account from addr at now. It returns 0 when
// the attempt may proceed, else how long to wait, having spent nothing.
func (l *loginLimits) take(now time.Time, account, addr string) time.Duration {
	ra := l.addrs.get(addrKey(addr)).ReserveN(now, 1)
	if d := ra.DelayFrom(now); d > 0 {
		ra.CancelAt(now)
		return d
	}
	ru := l.accounts.get(accountKey(account)).ReserveN(now, 1)
	if d := ru.DelayFrom(now); d > 0 {
		ru.CancelAt(now)
		ra.CancelAt(now)
		return d
	}
	return 0
}

// accountKey is the bucket key of an account: the SHA-256 of its
// case-folded name, so that a key costs 32 bytes however long the typed
// organization and username are.
func accountKey(account string) string {
	h := sha256.Sum256([]byte(strings.ToLower(account)))
	return string(h[:])
}

// addrKey is the bucket key of a client address: the address itself, or
// its /64 for IPv6, since one host commonly holds a whole /64.
func addrKey(addr string) string {
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

// limiterSet is a bounded LRU map of token buckets.
type limiterSet struct {
	limit rate.Limit
	burst int
	max   int

	mu  sync.Mutex
	m   map[string]*lruList.Element // of *limiterEntry
	lru *lruList.List               // front: most recently used
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newLimiterSet(limit rate.Limit, burst, max int) *limiterSet {
	return &limiterSet{limit: limit, burst: burst, max: max, m: map[string]*lruList.Element{}, lru: lruList.New()}
}

// get returns key's bucket, creating it (full) and evicting the least
// recently used one when the set is at its bound.
func (s *limiterSet) get(key string) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*limiterEntry).lim
	}
	if s.lru.Len() >= s.max {
		oldest := s.lru.Back()
		s.lru.Remove(oldest)
		delete(s.m, oldest.Value.(*limiterEntry).key)
	}
	lim := rate.NewLimiter(s.limit, s.burst)
	s.m[key] = s.lru.PushFront(&limiterEntry{key: key, lim: lim})
	return lim
}

// len is the number of buckets held.
func (s *limiterSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
