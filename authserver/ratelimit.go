package authserver

import (
	"authserver/internal/httpx"
	lruList "container/list"
	"hash/maphash"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ory/fosite"
	"golang.org/x/time/rate"
)

// Abuse resistance: token buckets (golang.org/x/time/rate) per
// client address and per client or account, held in bounded sets.
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
//   - Console sign-in (loginLimits): one token of the account's and the
//     address's buckets is taken before the password is checked, and given
//     back when the sign-in succeeds. Taking it first bounds how many
//     argon2id verifications one address can have running at once.
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

// The limits (documented in README.md and SECURITY.md).
const (
	// oauthAddrBurst failures at the OAuth endpoints from one address at
	// once, then one every oauthAddrEvery.
	oauthAddrBurst = 30
	oauthAddrEvery = 2 * time.Second
	// oauthClientBurst failures of one authenticated client at once, then
	// one every oauthClientEvery (10 a second): a ceiling on what one
	// client can cost the database in failures from many addresses.
	oauthClientBurst = 300
	oauthClientEvery = 100 * time.Millisecond
	// leakedBurst reports to POST /api/v1/leaked-tokens from one address
	// at once (each up to 100 values), then one every leakedEvery.
	leakedBurst = 10
	leakedEvery = 6 * time.Second

	// maxAddrLimiters bounds a set of per-address buckets; maxLimiters
	// every other set. A bucket costs about 300 bytes with its key and
	// list element, so the largest set stays under 20 MiB.
	maxAddrLimiters = 1 << 16
	maxLimiters     = 10000
)

// limiterShards is the number of independently locked parts of a limiter,
// so that the token endpoint's check does not serialize every request on
// one mutex.
const limiterShards = 16

// limiter is a bounded set of token buckets, one per key, each refilling
// at limit up to burst.
type limiter struct {
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

// newLimiter returns a set of buckets of burst tokens, refilled one every
// every, holding at most bound buckets (at least one per shard).
func newLimiter(every time.Duration, burst, bound int) *limiter {
	l := &limiter{limit: rate.Every(every), burst: burst, seed: maphash.MakeSeed()}
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
func (l *limiter) bucket(key string, create bool) *rate.Limiter {
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

// wait is how long key must wait before it may fail again: 0 while its
// bucket holds a token or it has no bucket. It spends and creates nothing.
func (l *limiter) wait(now time.Time, key string) time.Duration {
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

// spend takes one token from key's bucket for a failure that happened. A
// failure is never refused after the fact: concurrent requests that all
// passed wait may take the bucket below zero, and that debt is paid back
// before the key may fail again. The debt stops at burst, so a burst of
// concurrent failures locks a key out for at most twice a full refill.
func (l *limiter) spend(now time.Time, key string) {
	lim := l.bucket(key, true)
	if lim.TokensAt(now) > -float64(l.burst) {
		lim.ReserveN(now, 1)
	}
}

// take spends one token from key's bucket before an attempt, if it holds
// one, and returns the function that gives it back (for an attempt that
// succeeded). Otherwise it spends nothing and returns how long to wait.
func (l *limiter) take(now time.Time, key string) (refund func(), wait time.Duration) {
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

// len is the number of buckets held.
func (l *limiter) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
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

// retryAfter renders a wait as a Retry-After value: whole seconds, at
// least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// oauthLimits are the failure budgets of the OAuth endpoints, shared by
// /oauth2/token, /oauth2/introspect and /oauth2/revoke: an address's
// failures at any of them count against one budget. A nil *oauthLimits
// limits nothing (Options.InsecureNoRateLimits).
type oauthLimits struct {
	addrs, clients *limiter
	now            func() time.Time
}

func newOAuthLimits(now func() time.Time) *oauthLimits {
	return &oauthLimits{
		addrs:   newLimiter(oauthAddrEvery, oauthAddrBurst, maxAddrLimiters),
		clients: newLimiter(oauthClientEvery, oauthClientBurst, maxLimiters),
		now:     now,
	}
}

// admit is how long the request must wait before it is served: 0 to serve
// it now. It checks the client address and the client the request names
// (the Basic user name, else client_id), spending nothing. form may be nil
// (a body that could not be read).
func (l *oauthLimits) admit(r *http.Request, form url.Values) time.Duration {
	if l == nil {
		return 0
	}
	now := l.now()
	d := l.addrs.wait(now, addrKey(httpx.ClientAddrOf(r)))
	if id := namedClient(r, form); id != "" {
		d = max(d, l.clients.wait(now, id))
	}
	return d
}

// succeeded are the result labels of the OAuth endpoints' metrics that are
// not the client's failure: answers, refusals by the limiter itself, and
// server-side failures.
var succeeded = []string{
	"granted", "active", "inactive", "revoked", "already_revoked", "not_found",
	"rate_limited", "temporarily_unavailable", "server_error",
}

// settle spends one failure of the request's address when result (a
// metrics result label) is a failure, and one of clientID's when the
// client had authenticated: clientID is empty otherwise, and a failed
// client authentication (invalid_client) is charged to the address alone.
func (l *oauthLimits) settle(r *http.Request, result, clientID string) {
	if l == nil || slices.Contains(succeeded, result) {
		return
	}
	now := l.now()
	l.addrs.spend(now, addrKey(httpx.ClientAddrOf(r)))
	if clientID != "" && result != fosite.ErrInvalidClient.ErrorField {
		l.clients.spend(now, clientID)
	}
}

// maxClientIDLen bounds a client id the limiter looks up.
const maxClientIDLen = 256

// namedClient is the client a request names: the HTTP Basic user name,
// else the client_id parameter. Nothing is authenticated yet: it is only a
// key to look a budget up by, and budgets are only made for clients that
// did authenticate.
func namedClient(r *http.Request, form url.Values) string {
	id := form.Get("client_id")
	if user, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(user); err == nil {
			id = u
		}
	}
	if len(id) > maxClientIDLen {
		return ""
	}
	return id
}

// errRateLimited is the OAuth answer of a caller out of budget. RFC 6749
// registers no error code for it; "rate_limited" is ours, documented in
// the README, and the status (429) and Retry-After say what to do.
var errRateLimited = &fosite.RFC6749Error{
	ErrorField:       "rate_limited",
	DescriptionField: "Too many failed requests from this client. Retry after the number of seconds in Retry-After.",
	CodeField:        http.StatusTooManyRequests,
}

// writeRateLimited answers 429 at an OAuth endpoint and returns the
// metrics result label.
func writeRateLimited(w http.ResponseWriter, wait time.Duration) string {
	w.Header().Set("Retry-After", retryAfter(wait))
	writeOAuthError(w, http.StatusTooManyRequests, errRateLimited)
	return errRateLimited.ErrorField
}
