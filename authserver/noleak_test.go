package authserver_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// secrets collects every secret a test handles, with the forms in which
// one could leak.
type secrets struct {
	t      *testing.T
	values map[string]string // value → what it is
}

func (s *secrets) add(what, v string) {
	s.t.Helper()
	if v == "" {
		s.t.Fatalf("no %s to collect", what)
	}
	s.values[v] = what
}

// pat adds a PAT, its body without the prefix, and its SHA-256 (what the
// database holds) as hex, base64 and raw bytes.
func (s *secrets) pat(prefix, token string) {
	s.t.Helper()
	s.add("PAT", token)
	s.add("PAT body", strings.TrimPrefix(token, prefix))
	h := sha256.Sum256([]byte(token))
	s.add("PAT hash (hex)", hex.EncodeToString(h[:]))
	s.add("PAT hash (HEX)", strings.ToUpper(hex.EncodeToString(h[:])))
	s.add("PAT hash (base64)", base64.StdEncoding.EncodeToString(h[:]))
	s.add("PAT hash (base64url)", base64.RawURLEncoding.EncodeToString(h[:]))
	s.add("PAT hash (raw)", string(h[:]))
}

// jwt adds an access token and its payload and signature parts.
func (s *secrets) jwt(token string) {
	s.t.Helper()
	s.add("JWT", token)
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		s.t.Fatalf("not a JWT: %q", token)
	}
	s.add("JWT payload", parts[1])
	s.add("JWT signature", parts[2])
}

// TestNoSecretInLogsOrMetrics runs every server-side flow — PATs created in
// the store and through the API, granted and refused exchanges, introspection
// of PATs and JWTs, holder revocation, user and admin API calls, failed
// client authentication, a database outage — and then looks for every
// token, PAT hash, client secret and bootstrap password in the logs and
// the metrics. None may be there.
func TestNoSecretInLogsOrMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		prefix := e.cfg.Tokens.PATPrefix
		s := &secrets{t: t, values: map[string]string{}}
		for _, pw := range []string{"alice-password", "bob-password", "carol-password", "eve-password"} {
			s.add("bootstrap password", pw)
		}
		wrongSecret := "wrong-secret-0123456789abcdefghij"
		s.add("client secret", gatewaySecret)
		s.add("client secret", introspectorSecret)
		s.add("client secret (wrong)", wrongSecret)
		s.add("client secret hash", sha256hex(gatewaySecret))
		s.add("client secret hash", sha256hex(introspectorSecret))
		storePAT := func(spec patSpec) (string, string) {
			tok, p := e.pat(spec)
			s.pat(prefix, tok)
			return tok, p.ID
		}
		granted := func(tok string) string {
			t.Helper()
			r := e.exchange(tok, url.Values{"audience": {"orchestrator"}})
			if r.StatusCode != http.StatusOK {
				t.Fatalf("exchange: %d %s", r.StatusCode, r.body)
			}
			jwt, _ := r.json(t)["access_token"].(string)
			s.jwt(jwt)
			return jwt
		}
		apiFor := func(org, user string, scopes ...string) string {
			t.Helper()
			if len(scopes) == 0 {
				scopes = []string{exchange.ScopePATs}
			}
			tok, _ := storePAT(patSpec{org: org, user: user, scopes: scopes})
			jwt := e.exchangeForAPI(tok)
			s.jwt(jwt)
			return jwt
		}

		// PATs created in the store, and API tokens.
		now := time.Now()
		aliceTok, aliceID := storePAT(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		carolTok, _ := storePAT(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
		expiredTok, _ := storePAT(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"},
			created: now.Add(-2 * time.Hour), expires: ptr(now.Add(-time.Hour))})
		doraTok, _ := storePAT(patSpec{org: "acme", user: "dora", scopes: []string{"OR.Jobs"}})
		bobTok, _ := storePAT(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
		eveOldTok, _ := storePAT(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}, created: now.Add(-48 * time.Hour)})
		eveTok, _ := storePAT(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
		admin := apiFor("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		carolAPI := apiFor("acme", "carol")
		eveAdmin := apiFor("globex", "eve", exchange.ScopePATs, exchange.ScopeAdmin)

		// PATs created, listed, regenerated and revoked through the API.
		newPAT := func(token string, name string) (string, string) {
			t.Helper()
			got := wantStatus(t, e.call("POST", "/api/v1/me/pats", token, map[string]any{"name": name, "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
			tok, _ := got["token"].(string)
			id, _ := got["id"].(string)
			s.pat(prefix, tok)
			return tok, id
		}
		_, apiID := newPAT(carolAPI, "ci")
		_, ownRevokeID := newPAT(carolAPI, "to revoke")
		leakedTok, _ := newPAT(carolAPI, "leaked")
		_, bulkID := newPAT(carolAPI, "bulk")
		wantStatus(t, e.call("GET", "/api/v1/me/pats", carolAPI, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/me/pats/"+apiID, carolAPI, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/me/pats/"+apiID+"/effective?audience=orchestrator", carolAPI, nil), http.StatusOK)
		regen := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+apiID+"/regenerate", carolAPI, map[string]any{}), http.StatusOK)
		regenTok, _ := regen["token"].(string)
		s.pat(prefix, regenTok)
		wantStatus(t, e.call("DELETE", "/api/v1/me/pats/"+ownRevokeID, carolAPI, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/me", admin, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/scopes", admin, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/admin/pats", admin, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/admin/users", admin, nil), http.StatusOK)
		wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]string{"token": leakedTok}), http.StatusOK)
		// A value that is not a PAT of the organization: 404, and still not logged.
		wantProblem(t, e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]string{"token": eveTok}), http.StatusNotFound, "not-found", "")
		wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke", admin, map[string]any{"ids": []string{bulkID, "no-such-id"}}), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusOK)
		wantStatus(t, e.call("PUT", "/api/v1/admin/settings", eveAdmin, map[string]any{"pats_enabled": true, "pat_max_lifetime": "1d"}), http.StatusOK)
		bob := e.user("acme", "bob")
		wantStatus(t, e.call("POST", "/api/v1/admin/users/"+bob.ID+"/deactivate", admin, nil), http.StatusOK)
		wantStatus(t, e.call("GET", "/api/v1/admin/audit", admin, nil), http.StatusOK)
		// A bearer token that is no token of ours, and a PAT sent as a bearer token.
		wantProblem(t, e.call("GET", "/api/v1/me", aliceTok, nil), http.StatusUnauthorized, "invalid-token", "")

		// Exchanges: granted, and refused with every cause.
		jwt := granted(aliceTok)
		granted(regenTok)
		unknown, _ := exchange.NewPAT(prefix, nil)
		s.pat(prefix, unknown)
		malformed := unknown[:len(unknown)-1] + flip(unknown[len(unknown)-1])
		s.add("malformed PAT", malformed)
		for _, c := range []struct {
			token  string
			form   url.Values
			status int
			cause  exchange.Cause
		}{
			{unknown, nil, 400, exchange.CauseUnknown},
			{malformed, nil, 400, exchange.CauseMalformed},
			{leakedTok, nil, 400, exchange.CauseRevoked},
			{expiredTok, nil, 400, exchange.CauseExpired},
			{eveOldTok, nil, 400, exchange.CauseMaxLifetime},
			{bobTok, nil, 400, exchange.CauseUserDeactivated},
			{doraTok, nil, 400, exchange.CauseNonLocal},
			{carolTok, url.Values{"scope": {"OR.Folders"}}, 400, exchange.CauseScope},
			{carolTok, url.Values{"audience": {"https://nowhere.example.com"}}, 400, exchange.CauseTarget},
		} {
			before := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="`+string(c.cause)+`"}`)
			form := url.Values{"audience": {"orchestrator"}}
			for k, v := range c.form {
				form[k] = v
			}
			if r := e.exchange(c.token, form); r.StatusCode != c.status {
				t.Fatalf("cause %s: status %d: %s", c.cause, r.StatusCode, r.body)
			}
			if after := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="`+string(c.cause)+`"}`); after != before+1 {
				t.Fatalf("cause %s not produced (%v → %v)", c.cause, before, after)
			}
		}
		// Client authentication with a wrong secret, at every endpoint.
		gw := url.Values{"grant_type": {exchange.GrantType}, "subject_token": {carolTok},
			"subject_token_type": {exchange.TokenTypeAccessToken}, "audience": {"orchestrator"}}
		wantError(t, e.post("/oauth2/token", gw, "gateway", wrongSecret), http.StatusUnauthorized, "invalid_client")
		withSecret := url.Values{"client_id": {"gateway"}, "client_secret": {wrongSecret}}
		for k, v := range gw {
			withSecret[k] = v
		}
		wantError(t, e.post("/oauth2/token", withSecret, "", ""), http.StatusUnauthorized, "invalid_client")
		wantError(t, e.post("/oauth2/introspect", url.Values{"token": {carolTok}}, "introspector", wrongSecret), http.StatusUnauthorized, "invalid_client")
		wantError(t, e.post("/oauth2/revoke", url.Values{"token": {carolTok}}, "gateway", wrongSecret), http.StatusUnauthorized, "invalid_client")
		if v := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="client"}`); v < 2 {
			t.Fatalf("client refusals counted %v, want 2", v)
		}
		// A confidential client that authenticates.
		gwJWT, _ := wantStatus(t, e.post("/oauth2/token", gw, "gateway", gatewaySecret), http.StatusOK)["access_token"].(string)
		s.jwt(gwJWT)

		// Introspection of a PAT and a JWT, active and not.
		wantActive(t, e.introspect(carolTok))
		wantActive(t, e.introspect(jwt))
		wantInactive(t, e.introspect(leakedTok))
		wantInactive(t, e.introspect(unknown))

		// Revocation by the holder, then of a JWT (not revocable one by one).
		wantRevoked200(t, e.revoke(aliceTok))
		wantRevoked200(t, e.revoke(aliceTok))
		wantRevoked200(t, e.revoke(unknown))
		wantError(t, e.revoke(jwt), http.StatusBadRequest, "unsupported_token_type")
		wantInactive(t, e.introspect(jwt))

		// PATs disabled in an organization.
		wantStatus(t, e.call("PUT", "/api/v1/admin/settings", eveAdmin, map[string]any{"pats_enabled": false, "pat_max_lifetime": "0"}), http.StatusOK)
		before := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="org-disabled"}`)
		refused(t, e.exchange(eveTok, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
		if after := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="org-disabled"}`); after != before+1 {
			t.Fatal("cause org-disabled not produced")
		}
		// Let the last-use times be written before the database goes.
		for deadline := time.Now().Add(5 * time.Second); metricValue(t, e, "authserver_last_used_queue_depth") != 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("last-use times were never flushed")
			}
		}

		// The database goes away: errors are logged with their causes.
		e.closeStore()
		refused(t, e.exchange(carolTok, url.Values{"audience": {"orchestrator"}}), 503, "temporarily_unavailable")
		wantError(t, e.introspect(carolTok), http.StatusServiceUnavailable, "temporarily_unavailable")
		wantError(t, e.revoke(carolTok), http.StatusServiceUnavailable, "temporarily_unavailable")
		if r := e.call("GET", "/api/v1/me/pats", carolAPI, nil); r.StatusCode < 500 {
			t.Fatalf("API with the database down: %d", r.StatusCode)
		}

		logs := e.logs.String()
		metrics := e.metricsText()

		// The corpus is real: it holds what a leak would sit next to.
		for _, safe := range []string{aliceID, `"msg":"token exchange refused"`, `"msg":"http request"`,
			`"msg":"pat revoked by its holder"`, `"msg":"management API request failed"`, `"msg":"token exchange failed"`,
			`"route":"POST /api/v1/admin/pats/revoke-by-value"`, `"request_id":"`} {
			if !strings.Contains(logs, safe) {
				t.Fatalf("the logs do not hold %q: the search below would prove nothing", safe)
			}
		}
		for _, safe := range []string{`authserver_token_exchanges_total{result="granted"}`, `authserver_pat_events_total{event="regenerated"} 1`,
			`authserver_pat_events_total{event="revoked_value"} 1`, `authserver_pat_events_total{event="revoked_holder"} 1`,
			`authserver_pat_events_total{event="revoked_admin"} 1`, `authserver_pat_events_total{event="revoked_owner"} 1`,
			`authserver_pat_events_total{event="created"} 4`} {
			if !strings.Contains(metrics, safe) {
				t.Fatalf("the metrics do not hold %q", safe)
			}
		}
		if len(s.values) < 80 {
			t.Fatalf("only %d secrets collected", len(s.values))
		}
		for v, what := range s.values {
			for name, corpus := range map[string]string{"logs": logs, "metrics": metrics} {
				if strings.Contains(corpus, v) {
					t.Errorf("a %s is in the %s", what, name)
				}
			}
		}
	})
}
