package oauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"authserver/internal/ratelimit"
)

// TestLimiterUnderMillionsOfAddresses: a flood of distinct IPv4 and IPv6
// addresses keeps the per-address set at its bound.
func TestLimiterUnderMillionsOfAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("a million addresses")
	}
	l := ratelimit.New(oauthAddrEvery, oauthAddrBurst, ratelimit.MaxAddrLimiters)
	now := time.Now()
	for i := range 1 << 20 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		if i%2 == 1 {
			addr = fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff)
		}
		l.Spend(now, ratelimit.AddrKey(addr))
	}
	if got := l.Len(); got > ratelimit.MaxAddrLimiters {
		t.Fatalf("%d buckets, want at most %d", got, ratelimit.MaxAddrLimiters)
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

	// The DPoP nonce challenge is an instruction, not a failure; a refused
	// proof is a failure like any other.
	for range 1000 {
		l.settle(req("192.0.2.4", nil), "use_dpop_nonce", "")
	}
	if d := l.admit(req("192.0.2.4", nil), nil); d != 0 {
		t.Fatalf("use_dpop_nonce answers were limited: %v", d)
	}
	for range oauthAddrBurst {
		l.settle(req("192.0.2.5", nil), "invalid_dpop_proof", "")
	}
	if d := l.admit(req("192.0.2.5", nil), nil); d <= 0 {
		t.Fatal("refused DPoP proofs did not spend the address's budget")
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
