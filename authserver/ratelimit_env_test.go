package authserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/rfc8693"
)

// wantRateLimited fails unless r is the OAuth endpoints' 429: exactly
// {"error": "rate_limited", "error_description": ...}, Retry-After within
// (0, max] seconds, never cached.
func wantRateLimited(t *testing.T, r *response, maxWait int) {
	t.Helper()
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", r.StatusCode, r.body)
	}
	var body map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 2 || body["error"] != "rate_limited" ||
		body["error_description"] != "Too many failed requests from this client. Retry after the number of seconds in Retry-After." {
		t.Fatalf("body %s", r.body)
	}
	if r.Header.Get("Content-Type") != "application/json;charset=UTF-8" || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", r.Header)
	}
	if secs, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || secs < 1 || secs > maxWait {
		t.Fatalf("Retry-After %q, want 1..%d", r.Header.Get("Retry-After"), maxWait)
	}
}

// TestRateLimits: failed exchanges and introspections are limited per
// client address (30 at once, then one every 2 s); successes never are; a
// caller over its limit is refused before any database work.
func TestRateLimits(t *testing.T) {
	t.Run("failed exchanges: 30 from one address, then one every 2 s", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		good, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		unknown, _ := exchange.NewPAT("pat_", nil)
		before := metricValue(t, e, `authserver_token_exchanges_total{result="rate_limited",subject="pat"}`)
		for i := range 29 {
			refused(t, e.exchange(unknown, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
			if i%10 == 0 {
				// Successes in between spend nothing.
				for range 50 {
					if r := e.exchange(good, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
						t.Fatalf("a good exchange after %d failures: %d %s", i+1, r.StatusCode, r.body)
					}
				}
			}
		}
		// Every kind of failure counts: a malformed request too.
		refused(t, e.post("/oauth2/token", url.Values{"grant_type": {"password"}}, "", ""), 400, "unsupported_grant_type")
		wantRateLimited(t, e.exchange(good, url.Values{"audience": {"orchestrator"}}), 2)
		wantRateLimited(t, e.post("/oauth2/token", url.Values{"grant_type": {"password"}}, "", ""), 2)
		if after := metricValue(t, e, `authserver_token_exchanges_total{result="rate_limited",subject="pat"}`); after != before+2 {
			t.Fatalf("rate_limited counted %v → %v, want +2", before, after)
		}
		// The revocation endpoint shares the budget.
		wantRateLimited(t, e.post("/oauth2/revoke", url.Values{"token": {unknown}, "client_id": {"cli"}}, "", ""), 2)

		clock.advance(2 * time.Second)
		if r := e.exchange(good, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
			t.Fatalf("after the wait: %d %s", r.StatusCode, r.body)
		}
		refused(t, e.exchange(unknown, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
		wantRateLimited(t, e.exchange(good, url.Values{"audience": {"orchestrator"}}), 2)
	})

	t.Run("a caller over its limit is refused before any database work", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		good, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		for range 30 {
			refused(t, e.exchange("pat_x", url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
		}
		e.closeStore()
		// With the database gone, anything that reached it would be 503.
		wantRateLimited(t, e.exchange(good, url.Values{"audience": {"orchestrator"}}), 2)
		wantRateLimited(t, e.post("/oauth2/introspect", url.Values{"token": {good}}, "introspector", introspectorSecret), 2)
	})

	t.Run("a legitimate client doing only successful exchanges is never limited", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		var toks []string
		for range 5 {
			tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			toks = append(toks, tok)
		}
		for i := range 500 {
			if r := e.exchange(toks[i%len(toks)], url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
				t.Fatalf("exchange %d: %d %s", i+1, r.StatusCode, r.body)
			}
		}
	})

	t.Run("failed introspections are limited; inactive answers are not failures", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		unknown, _ := exchange.NewPAT("pat_", nil)
		for i := range 200 {
			r := e.post("/oauth2/introspect", url.Values{"token": {unknown}}, "introspector", introspectorSecret)
			if r.StatusCode != 200 || string(r.body) != "{\"active\":false}\n" {
				t.Fatalf("introspection %d: %d %s", i+1, r.StatusCode, r.body)
			}
		}
		for range 30 {
			refused(t, e.post("/oauth2/introspect", url.Values{"token": {unknown}}, "introspector", "wrong"), 401, "invalid_client")
		}
		wantRateLimited(t, e.post("/oauth2/introspect", url.Values{"token": {unknown}}, "introspector", introspectorSecret), 2)
		before := metricValue(t, e, `authserver_introspections_total{result="rate_limited"}`)
		wantRateLimited(t, e.post("/oauth2/introspect", url.Values{"token": {unknown}}, "introspector", introspectorSecret), 2)
		if after := metricValue(t, e, `authserver_introspections_total{result="rate_limited"}`); after != before+1 {
			t.Fatalf("rate_limited counted %v → %v", before, after)
		}
		clock.advance(2 * time.Second)
		if r := e.post("/oauth2/introspect", url.Values{"token": {unknown}}, "introspector", introspectorSecret); r.StatusCode != 200 {
			t.Fatalf("after the wait: %d %s", r.StatusCode, r.body)
		}
	})

	t.Run("successful console sign-ins use none of the address's budget", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		for range 30 { // more than the address's 20
			e.consoleClient().signIn("acme", "alice")
		}
		for i := range 20 {
			if r := e.consoleClient().tryLogin("acme", "nobody"+strconv.Itoa(i), "wrong"); r.StatusCode != http.StatusForbidden {
				t.Fatalf("failure %d: %d", i+1, r.StatusCode)
			}
		}
		if r := e.consoleClient().tryLogin("acme", "alice", "alice-password"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("after 20 failures from the address: %d", r.StatusCode)
		}
	})
}

// TestRateLimitsBehindTrustedProxy: behind a trusted proxy each client
// forwarded by it has its own failure budget, named by X-Forwarded-For;
// from a peer that is not a trusted proxy the header changes nothing. Every
// test client connects from 127.0.0.1, which plays the proxy.
func TestRateLimitsBehindTrustedProxy(t *testing.T) {
	// forwarded posts an exchange with the X-Forwarded-For lines xff.
	forwarded := func(e *env, token string, xff ...string) *response {
		form := url.Values{
			"grant_type":         {rfc8693.GrantType},
			"subject_token":      {token},
			"subject_token_type": {rfc8693.TokenTypeAccessToken},
			"client_id":          {"cli"},
			"audience":           {"orchestrator"},
		}
		req, err := http.NewRequest(http.MethodPost, e.url+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		return e.do(req)
	}
	unknown, _ := exchange.NewPAT("pat_", nil)

	t.Run("clients behind a trusted proxy have separate budgets", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now, config: "http:\n  trusted_proxies: [127.0.0.1]\n"})
		// The left-most entries are the client's own and change nothing:
		// 192.0.2.1 is the client its proxy saw.
		for i := range 30 {
			refused(t, forwarded(e, unknown, fmt.Sprintf("198.51.100.%d, 192.0.2.1", i)), 400, "invalid_request")
		}
		wantRateLimited(t, forwarded(e, unknown, "198.51.100.200, 192.0.2.1"), 2)
		wantRateLimited(t, forwarded(e, unknown, "192.0.2.1"), 2)
		// Another client behind the same proxy still has its whole budget,
		// as does the proxy's own address.
		refused(t, forwarded(e, unknown, "192.0.2.2"), 400, "invalid_request")
		refused(t, forwarded(e, unknown, "2001:db8::2", "127.0.0.1"), 400, "invalid_request")
		refused(t, forwarded(e, unknown), 400, "invalid_request")

		// The access log names the client, never the entries it wrote.
		logs := e.logs.String()
		if !strings.Contains(logs, `"client_addr":"192.0.2.1"`) || !strings.Contains(logs, `"client_addr":"2001:db8::2"`) {
			t.Errorf("got no access-log line naming the forwarded clients, want client_addr 192.0.2.1 and 2001:db8::2:\n%s", logs)
		}
		if strings.Contains(logs, "198.51.100.") {
			t.Errorf("got a log naming an address the client wrote, want none:\n%s", logs)
		}
	})

	t.Run("an untrusted peer's spoofed header gives no fresh budget", func(t *testing.T) {
		for _, cfg := range []string{"", "http:\n  trusted_proxies: [10.0.0.0/8, 192.0.2.0/24]\n"} {
			clock := &fakeClock{t: time.Now()}
			e := newEnv(t, envOptions{now: clock.now, config: cfg})
			for i := range 30 {
				refused(t, forwarded(e, unknown, fmt.Sprintf("192.0.2.%d", i)), 400, "invalid_request")
			}
			wantRateLimited(t, forwarded(e, unknown, "203.0.113.77"), 2)
			wantRateLimited(t, forwarded(e, unknown, "10.0.0.1", "203.0.113.78"), 2)
			wantRateLimited(t, forwarded(e, unknown), 2)
			if logs := e.logs.String(); strings.Contains(logs, "203.0.113.") {
				t.Errorf("trusted_proxies %q: got a log naming a spoofed address, want none:\n%s", cfg, logs)
			}
		}
	})
}
