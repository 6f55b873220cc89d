package authserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/storage"
)

// exchangeFrom posts a token exchange for the client cli with an
// X-Forwarded-For header (none when xff is ""), to base ("" for e's URL).
func (e *env) exchangeFrom(base, token, xff string) *response {
	e.t.Helper()
	if base == "" {
		base = e.url
	}
	form := url.Values{"grant_type": {rfc8693.GrantType}, "subject_token": {token},
		"subject_token_type": {rfc8693.TokenTypeAccessToken}, "client_id": {"cli"}, "audience": {"orchestrator"}}
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	return e.do(req)
}

// wantUnusable checks the one answer of every unusable PAT.
func wantUnusable(t *testing.T, r *response) {
	t.Helper()
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.StatusCode, r.body)
	}
	m := r.json(t)
	if m["error"] != "invalid_request" || m["error_description"] != exchange.UnusableDescription {
		t.Fatalf("answer %v, want the unusable-PAT answer", m)
	}
}

// auditOf waits until the organization's audit log holds n events of
// action about target (at least n when more may come), and returns them.
func (e *env) auditOf(t *testing.T, org, action, target string, n int) []storage.AuditEvent {
	t.Helper()
	var events []storage.AuditEvent
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		events, err = e.store.ListAudit(ctx, storage.AuditFilter{OrgID: e.orgIDs[org], Action: action, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) >= n {
			return events
		}
	}
	t.Fatalf("%d %s audit events about %s, want %d", len(events), action, target, n)
	return nil
}

// eventsOf lists the organization's outbox events of a type about a PAT.
func (e *env) eventsOf(t *testing.T, org, typ, patID string) []storage.Event {
	t.Helper()
	all, err := e.store.ListEvents(ctx, e.orgIDs[org], time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []storage.Event
	for _, ev := range all {
		if ev.Type == typ && ev.PATID == patID {
			out = append(out, ev)
		}
	}
	return out
}

// TestRotationOverlap: a PAT regenerated with an overlap keeps its old
// secret working (exchange, introspection of its tokens) until the
// overlap ends, the API showing until when; then the old secret gets the
// one unusable answer, its use is audited as pat.reuse and written as
// pat.reused (once a minute however often it is tried), counted as
// cause reused, and the successor still works. An overlap beyond 7d, a
// negative one or a bad one is refused by field.
func TestRotationOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		clock := &fakeClock{t: time.Now().Truncate(time.Second)}
		e := newEnv(t, envOptions{driver: driver, now: clock.now, noRateLimits: true})
		carol := e.apiToken("acme", "carol")
		created := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, map[string]any{
			"name": "deploy", "scopes": []string{"OR.Jobs"}, "allowed_cidrs": []string{"127.0.0.1"}}), http.StatusCreated)
		oldID, oldTok := created["id"].(string), created["token"].(string)
		for bad, code := range map[string]string{"8d": "overlap-too-long", "7d1s": "overlap-too-long", "-1h": "invalid-field", "soon": "invalid-field"} {
			wantProblem(t, e.call("POST", "/api/v1/me/pats/"+oldID+"/regenerate", carol, map[string]any{"overlap": bad}),
				http.StatusBadRequest, code, "overlap")
		}
		before := e.exchangeJWTFrom(t, oldTok)
		regen := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+oldID+"/regenerate", carol, map[string]any{"overlap": "1h"}), http.StatusOK)
		newID, newTok := regen["id"].(string), regen["token"].(string)
		if got := regen["allowed_cidrs"].([]any); len(got) != 1 || got[0] != "127.0.0.1/32" {
			t.Errorf("successor's allowed_cidrs %v, want the old PAT's", got)
		}
		old := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+oldID, carol, nil), http.StatusOK)
		end := clock.now().Add(time.Hour).UTC().Format(time.RFC3339)
		if old["status"] != "revoked" || old["replaced_by"] != newID || old["overlap_until"] != end {
			t.Fatalf("old PAT during the overlap: status %v, replaced_by %v, overlap_until %v; want revoked, %s, %s",
				old["status"], old["replaced_by"], old["overlap_until"], newID, end)
		}
		// During the overlap both secrets work, and the tokens of both.
		oldJWT := e.exchangeJWTFrom(t, oldTok)
		e.exchangeJWTFrom(t, newTok)
		for _, jwt := range []string{before, oldJWT} {
			if r := e.introspect(jwt).json(t); r["active"] != true {
				t.Errorf("introspection of the old PAT's token during the overlap: %v", r)
			}
		}
		clock.advance(time.Hour)
		reusedBefore := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="reused",subject="pat"}`)
		for range 3 {
			wantUnusable(t, e.exchangeFrom("", oldTok, ""))
		}
		if r := e.introspect(oldJWT).json(t); r["active"] != false {
			t.Errorf("the old PAT's token after the overlap is active: %v", r)
		}
		if got := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="reused",subject="pat"}`); got != reusedBefore+3 {
			t.Errorf("reused refusals %v, want %v", got, reusedBefore+3)
		}
		ev := e.auditOf(t, "acme", "pat.reuse", oldID, 1)[0]
		if ev.Actor != "client:cli" || ev.ClientAddr != "127.0.0.1" || !strings.Contains(ev.Detail, newID) {
			t.Errorf("reuse audit %+v", ev)
		}
		e.exchangeJWTFrom(t, newTok)       // the successor is not revoked
		time.Sleep(200 * time.Millisecond) // several flushes
		if n := len(e.auditOf(t, "acme", "pat.reuse", oldID, 1)); n != 1 {
			t.Errorf("%d reuse audit events for three tries within a minute, want 1", n)
		}
		evs := e.eventsOf(t, "acme", storage.EventPATReused, oldID)
		if len(evs) != 1 || evs[0].Data["successor"] != newID || evs[0].Data["name"] != "deploy" {
			t.Errorf("pat.reused events %+v", evs)
		}
		refused := e.auditOf(t, "acme", "exchange.refused", oldID, 3)
		if refused[0].Outcome != string(exchange.CauseReused) {
			t.Errorf("exchange.refused outcome %q, want reused", refused[0].Outcome)
		}
		// A minute later, a reuse is recorded again.
		clock.advance(time.Minute)
		wantUnusable(t, e.exchangeFrom("", oldTok, ""))
		e.auditOf(t, "acme", "pat.reuse", oldID, 2)

		// Without an overlap the old secret stops at once.
		carol = e.apiToken("acme", "carol") // the first has expired meanwhile
		regen2 := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+newID+"/regenerate", carol, nil), http.StatusOK)
		wantUnusable(t, e.exchangeFrom("", newTok, ""))
		e.exchangeJWTFrom(t, regen2["token"].(string))
		if p := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+newID, carol, nil), http.StatusOK); p["overlap_until"] != nil || p["replaced_by"] != regen2["id"] {
			t.Errorf("regenerated without overlap: %v", p)
		}
	})
}

// exchangeJWTFrom exchanges a PAT for the orchestrator and returns the
// access token, failing the test when refused.
func (e *env) exchangeJWTFrom(t *testing.T, pat string) string {
	t.Helper()
	r := e.exchangeFrom("", pat, "")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.StatusCode, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	return tok
}

// TestAllowedNetworks: a PAT with allowed networks is exchanged only from
// inside them, the client address being the one the trusted-proxy rules
// give; outside, the answer is the one unusable-PAT answer and the cause
// (network) is in the audit log and the metrics. Bad networks are refused
// by position.
func TestAllowedNetworks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true, config: "http:\n  trusted_proxies: [127.0.0.1]\n"})
		carol := e.apiToken("acme", "carol")
		p := wantProblem(t, e.call("POST", "/api/v1/me/pats", carol, map[string]any{
			"name": "n", "scopes": []string{"OR.Jobs"}, "allowed_cidrs": []string{"10.0.0.0/8", "pat_not_a_network"}}),
			http.StatusBadRequest, "cidr-invalid", "allowed_cidrs")
		if d, _ := p["detail"].(string); !strings.Contains(d, "entry 2") || strings.Contains(d, "pat_not_a_network") {
			t.Errorf("detail %q, want the position and not the value", d)
		}
		created := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, map[string]any{
			"name": "office", "scopes": []string{"OR.Jobs"}, "allowed_cidrs": []string{"192.0.2.77/24", "2001:DB8::/32"}}), http.StatusCreated)
		id, tok := created["id"].(string), created["token"].(string)
		if got := created["allowed_cidrs"].([]any); len(got) != 2 || got[0] != "192.0.2.0/24" || got[1] != "2001:db8::/32" {
			t.Errorf("allowed_cidrs %v, want canonical", got)
		}
		before := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="network",subject="pat"}`)
		wantUnusable(t, e.exchangeFrom("", tok, ""))             // the proxy itself: 127.0.0.1
		wantUnusable(t, e.exchangeFrom("", tok, "198.51.100.4")) // outside
		wantUnusable(t, e.exchangeFrom("", tok, "2001:db9::1"))  // outside
		if r := e.exchangeFrom("", tok, "192.0.2.200"); r.StatusCode != http.StatusOK {
			t.Errorf("from inside (IPv4): %d %s", r.StatusCode, r.body)
		}
		if r := e.exchangeFrom("", tok, "2001:db8:1::5"); r.StatusCode != http.StatusOK {
			t.Errorf("from inside (IPv6): %d %s", r.StatusCode, r.body)
		}
		if got := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="network",subject="pat"}`); got != before+3 {
			t.Errorf("network refusals %v, want %v", got, before+3)
		}
		evs := e.auditOf(t, "acme", "exchange.refused", id, 3)
		addrs := []string{}
		for _, ev := range evs {
			if ev.Outcome != string(exchange.CauseNetwork) {
				t.Errorf("refusal audited with outcome %q, want network", ev.Outcome)
			}
			addrs = append(addrs, ev.ClientAddr)
		}
		slices.Sort(addrs)
		if want := []string{"127.0.0.1", "198.51.100.4", "2001:db9::1"}; !slices.Equal(addrs, want) {
			t.Errorf("refusals audited from %v, want %v", addrs, want)
		}
	})
}

// TestNewNetworkAudit: the first exchange from a network not among the
// PAT's recent ones is audited (the network, never the address) and
// written as pat.new_address once; the same /24 is not again; a sixth
// network drops the oldest; the API shows the list. Two replicas seeing
// the same new network record it once.
func TestNewNetworkAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true, config: "http:\n  trusted_proxies: [127.0.0.1]\n"})
		tok, p := e.pat(patSpec{org: "acme", user: "carol", name: "roaming", scopes: []string{"OR.Jobs"}})
		for _, addr := range []string{"192.0.2.10", "192.0.2.11", "192.0.2.12"} {
			e.exchangeJWTFromAddr(t, "", tok, addr)
		}
		ev := e.auditOf(t, "acme", "pat.new_address", p.ID, 1)
		time.Sleep(200 * time.Millisecond)
		if ev = e.auditOf(t, "acme", "pat.new_address", p.ID, 1); len(ev) != 1 {
			t.Fatalf("%d new-address audit events for one /24, want 1", len(ev))
		}
		if ev[0].Detail != "network 192.0.2.0/24" || ev[0].ClientAddr != "" || ev[0].Actor != "client:cli" ||
			strings.Contains(fmt.Sprint(ev[0]), "192.0.2.1") {
			t.Errorf("audit %+v, want the network only", ev[0])
		}
		if evs := e.eventsOf(t, "acme", storage.EventPATNewAddress, p.ID); len(evs) != 1 || evs[0].Data["network"] != "192.0.2.0/24" || evs[0].Data["name"] != "roaming" {
			t.Errorf("pat.new_address events %+v", evs)
		}
		nets := []string{"2001:db8:0:1::/64", "198.51.100.0/24", "203.0.113.0/24", "2001:db8:0:2::/64", "10.1.2.0/24"}
		for i, addr := range []string{"2001:db8:0:1::9", "198.51.100.1", "203.0.113.1", "2001:db8:0:2:ffff::1", "10.1.2.3"} {
			e.exchangeJWTFromAddr(t, "", tok, addr)
			e.auditOf(t, "acme", "pat.new_address", p.ID, i+2) // one at a time: the order is the list's
		}
		carol := e.apiToken("acme", "carol")
		got := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+p.ID, carol, nil), http.StatusOK)["recent_networks"].([]any)
		want := []any{nets[4], nets[3], nets[2], nets[1], nets[0]}
		if !slices.Equal(got, want) {
			t.Errorf("recent_networks %v, want %v (192.0.2.0/24 dropped)", got, want)
		}

		// Two replicas, one new network: one record.
		other := e.replica(t)
		var wg sync.WaitGroup
		for _, base := range []string{"", other, "", other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.exchangeFrom(base, tok, "100.64.7.7")
			}()
		}
		wg.Wait()
		e.auditOf(t, "acme", "pat.new_address", p.ID, 7)
		time.Sleep(300 * time.Millisecond)
		n := 0
		for _, ev := range e.auditOf(t, "acme", "pat.new_address", p.ID, 7) {
			if ev.Detail == "network 100.64.7.0/24" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d records of a network two replicas saw, want 1", n)
		}
	})
}

// exchangeJWTFromAddr is exchangeJWTFrom through the trusted proxy for a
// client at addr.
func (e *env) exchangeJWTFromAddr(t *testing.T, base, pat, addr string) {
	t.Helper()
	if r := e.exchangeFrom(base, pat, addr); r.StatusCode != http.StatusOK {
		t.Fatalf("exchange from %s: %d %s", addr, r.StatusCode, r.body)
	}
}

// postFrom is e.post through the trusted proxy for a client at xff.
func (e *env) postFrom(xff string, form url.Values, basicID, basicSecret string) *response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", xff)
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return e.do(req)
}

// TestChainedExchangeNetworks: a PAT's allowed networks bind its chained
// exchanges too: a gateway outside them gets the one unusable-PAT answer,
// with the cause network audited against it; inside, it is granted.
func TestChainedExchangeNetworks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{config: "http:\n  trusted_proxies: [127.0.0.1]\n"})
		pat, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs", "OR.Execution"},
			delegates: []string{"mcp-gateway"}, cidrs: []string{"192.0.2.0/24"}})
		agent := accessToken(t, e.postFrom("192.0.2.5", url.Values{"grant_type": {rfc8693.GrantType}, "client_id": {"agent"},
			"subject_token": {pat}, "subject_token_type": {rfc8693.TokenTypeAccessToken}, "audience": {"mcp"}}, "", ""))
		hop := url.Values{"grant_type": {rfc8693.GrantType}, "subject_token": {agent},
			"subject_token_type": {rfc8693.TokenTypeAccessToken}, "audience": {"orchestrator"}}
		wantUnusable(t, e.postFrom("198.51.100.7", hop, "mcp-gateway", mcpGatewaySecret))
		if ev := e.chainAudit(t, "mcp-gateway", exchange.CauseNetwork); ev.ClientAddr != "198.51.100.7" {
			t.Errorf("audited from %q", ev.ClientAddr)
		}
		accessToken(t, e.postFrom("192.0.2.200", hop, "mcp-gateway", mcpGatewaySecret))
	})
}
