package oauth

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"

	"authserver/authserver/dpop"
	"authserver/internal/httpx"
	"authserver/internal/ratelimit"
)

// The failure budgets of the OAuth endpoints (the rules: internal/ratelimit;
// documented in README.md and SECURITY.md).
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
)

// oauthLimits are the failure budgets of the OAuth endpoints, shared by
// /oauth2/token, /oauth2/introspect and /oauth2/revoke: an address's
// failures at any of them count against one budget. A nil *oauthLimits
// limits nothing (Options.NoRateLimits).
type oauthLimits struct {
	addrs, clients *ratelimit.Limiter
	now            func() time.Time
}

func newOAuthLimits(now func() time.Time) *oauthLimits {
	return &oauthLimits{
		addrs:   ratelimit.New(oauthAddrEvery, oauthAddrBurst, ratelimit.MaxAddrLimiters),
		clients: ratelimit.New(oauthClientEvery, oauthClientBurst, ratelimit.MaxLimiters),
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
	d := l.addrs.Wait(now, ratelimit.AddrKey(httpx.ClientAddrOf(r)))
	if id := namedClient(r, form); id != "" {
		d = max(d, l.clients.Wait(now, id))
	}
	return d
}

// succeeded are the result labels of the OAuth endpoints' metrics that are
// not the client's failure: answers, refusals by the limiter itself,
// server-side failures, and the DPoP nonce challenge (a client without the
// current nonce is told it and retries; RFC 9449 §8).
var succeeded = []string{
	"granted", "active", "inactive", "revoked", "already_revoked", "not_found",
	"rate_limited", "temporarily_unavailable", "server_error", dpop.CodeUseNonce,
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
	l.addrs.Spend(now, ratelimit.AddrKey(httpx.ClientAddrOf(r)))
	if clientID != "" && result != fosite.ErrInvalidClient.ErrorField {
		l.clients.Spend(now, clientID)
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
	w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
	writeOAuthError(w, http.StatusTooManyRequests, errRateLimited)
	return errRateLimited.ErrorField
}
