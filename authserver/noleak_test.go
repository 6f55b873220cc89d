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

	"authserver/authserver/dpop/dpoptest"
	"authserver/exchange"
	"authserver/internal/rfc8693"
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
			before := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="`+string(c.cause)+`",subject="pat"}`)
			form := url.Values{"audience": {"orchestrator"}}
			for k, v := range c.form {
				form[k] = v
			}
			if r := e.exchange(c.token, form); r.StatusCode != c.status {
				t.Fatalf("cause %s: status %d: %s", c.cause, r.StatusCode, r.body)
			}
			if after := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="`+string(c.cause)+`",subject="pat"}`); after != before+1 {
				t.Fatalf("cause %s not produced (%v → %v)", c.cause, before, after)
			}
		}
		// Client authentication with a wrong secret, at every endpoint.
		gw := url.Values{"grant_type": {rfc8693.GrantType}, "subject_token": {carolTok},
			"subject_token_type": {rfc8693.TokenTypeAccessToken}, "audience": {"orchestrator"}}
		wantError(t, e.post("/oauth2/token", gw, "gateway", wrongSecret), http.StatusUnauthorized, "invalid_client")
		withSecret := url.Values{"client_id": {"gateway"}, "client_secret": {wrongSecret}}
		for k, v := range gw {
			withSecret[k] = v
		}
		wantError(t, e.post("/oauth2/token", withSecret, "", ""), http.StatusUnauthorized, "invalid_client")
		wantError(t, e.post("/oauth2/introspect", url.Values{"token": {carolTok}}, "introspector", wrongSecret), http.StatusUnauthorized, "invalid_client")
		wantError(t, e.post("/oauth2/revoke", url.Values{"token": {carolTok}}, "gateway", wrongSecret), http.StatusUnauthorized, "invalid_client")
		if v := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="client",subject="pat"}`); v < 2 {
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

		// DPoP: a bound token and its proofs, used, refused, and a PAT sent
		// as a proof.
		key := dpoptest.NewKey("ES256", 0)
		dpopTok, _ := storePAT(patSpec{org: "acme", user: "carol", scopes: []string{exchange.ScopePATs}})
		proof := key.Proof("POST", e.url+"/oauth2/token", nil)
		s.jwt(proof)
		bound, _ := wantStatus(t, e.exchangeDPoP(e.url, "cli", dpopTok, []string{proof}, url.Values{"audience": {e.url}}), http.StatusOK)["access_token"].(string)
		s.jwt(bound)
		refused(t, e.exchangeDPoP(e.url, "cli", dpopTok, []string{proof}, nil), 400, "invalid_dpop_proof")
		refused(t, e.exchangeDPoP(e.url, "cli", dpopTok, []string{carolTok}, nil), 400, "invalid_dpop_proof")
		apiProof := key.Proof("GET", e.url+"/api/v1/me", map[string]any{"ath": dpoptest.ATH(bound)})
		s.jwt(apiProof)
		wantStatus(t, e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", bound, apiProof), http.StatusOK)
		wantProblem(t, e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", bound, apiProof), http.StatusUnauthorized, "invalid-dpop-proof", "")
		wantProblem(t, e.callDPoP(e.url, "GET", "/api/v1/me", "Bearer", bound), http.StatusUnauthorized, "invalid-token", "")

		// PATs disabled in an organization.
		wantStatus(t, e.call("PUT", "/api/v1/admin/settings", eveAdmin, map[string]any{"pats_enabled": false, "pat_max_lifetime": "0"}), http.StatusOK)
		before := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="org-disabled",subject="pat"}`)
		refused(t, e.exchange(eveTok, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
		if after := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="org-disabled",subject="pat"}`); after != before+1 {
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
		for _, safe := range []string{aliceID, `"msg":"token exchange refused"`, `"msg":"http request"`, `"msg":"DPoP proof refused"`,
			`"msg":"pat revoked by its holder"`, `"msg":"management API request failed"`, `"msg":"token exchange failed"`,
			`"route":"POST /api/v1/admin/pats/revoke-by-value"`, `"request_id":"`} {
			if !strings.Contains(logs, safe) {
				t.Fatalf("the logs do not hold %q: the search below would prove nothing", safe)
			}
		}
		for _, safe := range []string{`authserver_token_exchanges_total{result="granted",subject="pat"}`, `authserver_pat_events_total{event="regenerated"} 1`,
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

// TestClientInputNeverEchoed puts one live PAT in every position of a
// request that a client controls — form parameter names and values, header
// names and values, query parameter names and values, JSON member names
// and values (known, unknown, repeated, nested), the path and the method —
// at the OAuth endpoints, the management API and the console, and then
// looks for it (and its hashes) in every response body and header, the
// logs and the metrics. A client that pastes a token in the wrong place
// must not find it mirrored in an error, where proxies, browsers and error
// trackers keep what servers answer.
func TestClientInputNeverEchoed(t *testing.T) {
	// Dozens of deliberate failures from one address: the limits have
	// their own test.
	e := newEnv(t, envOptions{noRateLimits: true})
	s := &secrets{t: t, values: map[string]string{}}
	pat, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs", exchange.ScopePATs}})
	s.pat(e.cfg.Tokens.PATPrefix, pat)
	api := e.exchangeForAPI(pat)
	admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
	_, mine := e.pat(patSpec{org: "acme", user: "carol", name: "mine", scopes: []string{"OR.Jobs"}})
	console := e.consoleClient().signIn("acme", "alice")
	const form, jsonType = "application/x-www-form-urlencoded", "application/json"

	// A well-formed request of each OAuth endpoint, to which each case
	// adds the PAT somewhere.
	tokenForm := exchangeForm("pat_elsewhere").Encode()
	introspectForm := url.Values{"token": {"pat_elsewhere"}}.Encode()
	revokeForm := url.Values{"token": {"pat_elsewhere"}, "client_id": {"cli"}}.Encode()

	type probe struct {
		name                     string
		method, path             string
		contentType, body        string
		header                   []string // name, value, …
		basicUser, basicPassword string
		viaConsole               bool // send with the signed-in console client
	}
	var probes []probe
	oauth := []struct{ path, ok, user, password string }{
		{"/oauth2/token", tokenForm, "", ""},
		{"/oauth2/introspect", introspectForm, "introspector", introspectorSecret},
		{"/oauth2/revoke", revokeForm, "", ""},
	}
	for _, ep := range oauth {
		add := func(name, body string, header ...string) {
			probes = append(probes, probe{name: ep.path + ": " + name, method: http.MethodPost, path: ep.path,
				contentType: form, body: body, header: header, basicUser: ep.user, basicPassword: ep.password})
		}
		add("repeated unknown parameter name", ep.ok+"&"+pat+"=1&"+pat+"=2")
		add("repeated unknown parameter name without values", ep.ok+"&"+pat+"&"+pat)
		add("unknown parameter name", ep.ok+"&"+pat+"=1")
		add("unknown parameter value", ep.ok+"&x="+pat)
		add("repeated unknown parameter value", ep.ok+"&x="+pat+"&x="+pat)
		add("repeated known parameter", ep.ok+"&client_id="+pat)
		add("repeated known parameter holding the token", ep.ok+"&grant_type="+pat+"&subject_token="+pat+"&token="+pat)
		for _, known := range []string{"grant_type", "client_id", "client_secret", "subject_token_type", "actor_token",
			"actor_token_type", "requested_token_type", "audience", "resource", "scope", "authorization_details", "token_type_hint"} {
			v, _ := url.ParseQuery(ep.ok)
			v.Set(known, pat)
			add("known parameter "+known, v.Encode())
		}
		add("invalid UTF-8 after the token in a name", ep.ok+"&"+pat+"%ff=1")
		add("invalid UTF-8 after the token in a value", ep.ok+"&x="+pat+"%ff")
		add("bad encoding after the token", ep.ok+"&"+pat+"=%zz")
		add("Authorization header (Bearer)", ep.ok, "Authorization", "Bearer "+pat)
		add("Authorization header (raw)", ep.ok, "Authorization", pat)
		add("Authorization header (Basic id)", ep.ok, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pat+":x")))
		add("Authorization header (Basic secret)", ep.ok, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("cli:"+pat)))
		add("header names", ep.ok, pat, "1", "X-"+pat, pat)
		add("header values", ep.ok, "X-Forwarded-For", pat, "X-Real-Ip", pat, "Forwarded", "for="+pat,
			"User-Agent", pat, "Referer", "https://example.com/"+pat, "Origin", "https://"+pat+".example.com",
			"Accept", pat, "Accept-Language", pat, "Cookie", "session="+pat, "X-Request-Id", pat, "X-Custom", pat)
		probes = append(probes,
			probe{name: ep.path + ": content type parameter", method: http.MethodPost, path: ep.path,
				contentType: form + "; charset=" + pat, body: ep.ok},
			probe{name: ep.path + ": content type", method: http.MethodPost, path: ep.path,
				contentType: "application/" + pat, body: ep.ok},
			probe{name: ep.path + ": query string", method: http.MethodPost, path: ep.path + "?" + pat + "=" + pat,
				contentType: form, body: ep.ok},
			probe{name: ep.path + ": path", method: http.MethodPost, path: ep.path + "/" + pat, contentType: form, body: ep.ok},
			probe{name: ep.path + ": method", method: pat, path: ep.path, contentType: form, body: ep.ok},
			probe{name: ep.path + ": GET with the token in the query", method: http.MethodGet, path: ep.path + "?token=" + pat},
			probe{name: ep.path + ": JSON body", method: http.MethodPost, path: ep.path, contentType: jsonType,
				body: `{"` + pat + `": "` + pat + `"}`},
		)
	}

	// The management API: the caller's own token is an API token; the PAT
	// sits in a member, a parameter, a header or the path.
	apiCase := func(name, method, path, token, body string, header ...string) {
		ct := ""
		if body != "" {
			ct = jsonType
		}
		if token != "" {
			header = append([]string{"Authorization", "Bearer " + token}, header...)
		}
		probes = append(probes, probe{name: "API " + name, method: method, path: path, contentType: ct, body: body, header: header})
	}
	q := `"` + pat + `"`
	for _, c := range []struct{ name, path, token, body string }{
		{"unknown member", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], ` + q + `: 1}`},
		{"unknown member holding an object", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], ` + q + `: {` + q + `: ` + q + `}}`},
		{"repeated unknown member", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], ` + q + `: 1, ` + q + `: 2}`},
		{"repeated known member", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], "name": ` + q + `}`},
		{"unknown member before a known one", "/api/v1/me/pats", api, `{` + q + `: 1, "name": "x", "scopes": ["OR.Jobs"]}`},
		{"nested member of a known member", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": {` + q + `: 1}}`},
		{"nested repeated member", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": {` + q + `: 1, ` + q + `: 1}}`},
		{"member in an array of a known member", "/api/v1/me/pats", api, `{"name": "x", "scopes": [{` + q + `: 1}]}`},
		{"known member name with the token's case", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], "NAME": ` + q + `}`},
		{"value of a member of the wrong type", "/api/v1/me/pats", api, `{"name": ["` + pat + `"], "scopes": ["OR.Jobs"]}`},
		{"scope value", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs", ` + q + `]}`},
		{"expiry value", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": ` + q + `}`},
		{"a name value with scopes refused", "/api/v1/me/pats", api, `{"name": ` + q + `, "scopes": []}`},
		{"trailing data", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"]} ` + q},
		{"trailing garbage", "/api/v1/me/pats", api, `{"name": "x", "scopes": ["OR.Jobs"]}` + pat},
		{"malformed JSON", "/api/v1/me/pats", api, `{"name": "x", ` + pat + `}`},
		{"truncated JSON", "/api/v1/me/pats", api, `{"name": "x", ` + q},
		{"a string body", "/api/v1/me/pats", api, q},
		{"an array body", "/api/v1/me/pats", api, `[` + q + `]`},
		{"regenerate with an unknown member", "/api/v1/me/pats/" + mine.ID + "/regenerate", api, `{` + q + `: 1}`},
		{"regenerate with an expiry value", "/api/v1/me/pats/" + mine.ID + "/regenerate", api, `{"expires_at": ` + q + `}`},
		{"bulk revoke with an unknown member", "/api/v1/admin/pats/revoke", admin, `{"ids": ["x"], ` + q + `: 1}`},
		{"a user with an unknown member", "/api/v1/admin/users", admin, `{"username": "x", ` + q + `: "admin"}`},
		{"a user of an unknown kind", "/api/v1/admin/users", admin, `{"username": "x", "kind": ` + q + `}`},
		{"a role refused with the token as a permission", "/api/v1/admin/roles", admin, `{"name": "a\u202eb", "permissions": [` + q + `]}`},
		{"an assignment of an unknown user", "/api/v1/admin/assignments", admin, `{"user_id": ` + q + `, "role_id": ` + q + `, "folder": ` + q + `}`},
		{"leaked-token report with an unknown member", "/api/v1/leaked-tokens", "", `{"tokens": [], ` + q + `: 1}`},
	} {
		apiCase(c.name, http.MethodPost, c.path, c.token, c.body)
	}
	for _, c := range []struct{ name, method, path, token, body string }{
		{"settings with an unknown member", "PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": "0", ` + q + `: 1}`},
		{"settings with a lifetime value", "PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": ` + q + `}`},
		{"a role update with an unknown member", "PUT", "/api/v1/admin/roles/" + pat, admin, `{"name": "r", "permissions": [], ` + q + `: 1}`},
		{"unknown query parameter", "GET", "/api/v1/me/pats?" + pat + "=1", api, ""},
		{"repeated unknown query parameter", "GET", "/api/v1/me/pats?" + pat + "=1&" + pat + "=2", api, ""},
		{"unknown query parameter on a route that takes none", "GET", "/api/v1/me?" + pat + "=1", api, ""},
		{"query values", "GET", "/api/v1/me/pats?status=" + pat + "&cursor=" + pat, api, ""},
		{"cursor value", "GET", "/api/v1/me/pats?cursor=" + pat, api, ""},
		{"limit value", "GET", "/api/v1/me/pats?limit=" + pat, api, ""},
		{"query value with a control character", "GET", "/api/v1/me/pats?status=" + pat + "%00", api, ""},
		{"dry-run audience and scope", "GET", "/api/v1/me/pats/" + mine.ID + "/effective?audience=" + pat + "&scope=" + pat, api, ""},
		{"audit filters", "GET", "/api/v1/admin/audit?actor=" + pat + "&action=" + pat + "&target=" + pat + "&since=" + pat, admin, ""},
		{"admin owner filter", "GET", "/api/v1/admin/pats?owner=" + pat, admin, ""},
		{"assignments user filter", "GET", "/api/v1/admin/assignments?user_id=" + pat, admin, ""},
		{"path id", "GET", "/api/v1/me/pats/" + pat, api, ""},
		{"path id of a sub-route", "GET", "/api/v1/me/pats/" + pat + "/effective", api, ""},
		{"path id of a user", "POST", "/api/v1/admin/users/" + pat + "/deactivate", admin, ""},
		{"unknown route", "GET", "/api/v1/" + pat, api, ""},
		{"method", pat, "/api/v1/me/pats", api, ""},
		{"PAT as the bearer token", "GET", "/api/v1/me", pat, ""},
		{"no token", "GET", "/api/v1/me?" + pat + "=" + pat, "", ""},
	} {
		apiCase(c.name, c.method, c.path, c.token, c.body)
	}
	apiCase("PAT as a Basic credential", "GET", "/api/v1/me", "", "", "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pat+":"+pat)))
	apiCase("PAT as the session cookie and CSRF header", "POST", "/api/v1/me/pats", "", `{}`, "Cookie", "authserver_session="+pat, "X-CSRF-Token", pat)
	apiCase("header names and values", "GET", "/api/v1/me", api, "", pat, pat, "X-Forwarded-For", pat, "X-Request-Id", pat,
		"User-Agent", pat, "Accept", pat, "If-None-Match", `"`+pat+`"`)
	apiCase("content type parameter", "POST", "/api/v1/me/pats", api, "", "Content-Type", "application/json; charset="+pat)

	// The console, signed in as an admin.
	consoleCase := func(name, method, path string, v url.Values, header ...string) {
		body, ct := "", ""
		if v != nil {
			if _, ok := v["csrf_token"]; !ok {
				v.Set("csrf_token", console.csrf)
			}
			body, ct = v.Encode(), form
		}
		probes = append(probes, probe{name: "console " + name, method: method, path: path, contentType: ct, body: body,
			header: append([]string{"Origin", e.url, "Sec-Fetch-Site", "same-origin"}, header...), viaConsole: true})
	}
	consoleCase("unknown path", "GET", "/console/"+pat, nil)
	consoleCase("token id", "GET", "/console/tokens/"+pat, nil)
	consoleCase("query parameters", "GET", "/console/tokens?"+pat+"="+pat, nil)
	consoleCase("dry-run audience and scope", "GET", "/console/tokens/"+mine.ID+"?audience="+pat+"&scope="+pat, nil)
	consoleCase("audit filters", "GET", "/console/org/audit?actor="+pat+"&target="+pat, nil)
	consoleCase("unknown form parameter", "POST", "/console/tokens", url.Values{pat: {pat}})
	consoleCase("token form with the PAT as scope and expiry", "POST", "/console/tokens", url.Values{"name": {"x"}, "scopes": {pat}, "expiry": {pat}, "expires_on": {pat}})
	consoleCase("CSRF token", "POST", "/console/tokens", url.Values{"csrf_token": {pat}, "name": {"x"}})
	consoleCase("bulk revoke ids", "POST", "/console/org/tokens/revoke", url.Values{"ids": {pat}})
	consoleCase("settings", "POST", "/console/org/settings", url.Values{"pats_enabled": {pat}, "pat_max_lifetime": {pat}})
	consoleCase("user id", "POST", "/console/org/users/"+pat+"/deactivate", url.Values{})
	consoleCase("header values", "GET", "/console/tokens", nil, "X-Forwarded-For", pat, "User-Agent", pat, "X-Request-Id", pat, pat, pat)
	probes = append(probes,
		probe{name: "console sign-in", method: http.MethodPost, path: "/console/login", contentType: form,
			body: url.Values{"organization": {pat}, "username": {pat}, "password": {pat}, "csrf_token": {pat}}.Encode()},
		probe{name: "console session cookie", method: http.MethodGet, path: "/console/tokens", header: []string{"Cookie", "authserver_session=" + pat}},
	)

	// Last, the positions where the PAT is what the endpoint takes, or may
	// be read as such, and it gets revoked: they run after every other use
	// of it, while it is live.
	revoking := []probe{
		{name: "API leaked-token report with a repeated member", method: http.MethodPost, path: "/api/v1/leaked-tokens",
			contentType: jsonType, body: `{"tokens": [], "tokens": [` + q + `]}`},
		{name: "/oauth2/introspect: the token itself", method: http.MethodPost, path: "/oauth2/introspect", contentType: form,
			body: url.Values{"token": {pat}}.Encode(), basicUser: "introspector", basicPassword: introspectorSecret},
		{name: "console revoke by value", method: http.MethodPost, path: "/console/org/tokens/revoke-by-value", contentType: form,
			body: url.Values{"token": {pat}, "csrf_token": {console.csrf}}.Encode(), viaConsole: true,
			header: []string{"Origin", e.url, "Sec-Fetch-Site", "same-origin"}},
		{name: "API revoke by value", method: http.MethodPost, path: "/api/v1/admin/pats/revoke-by-value", contentType: jsonType,
			body: `{"token": ` + q + `}`, header: []string{"Authorization", "Bearer " + admin}},
		{name: "API leaked-token report", method: http.MethodPost, path: "/api/v1/leaked-tokens", contentType: jsonType,
			body: `{"tokens": [` + q + `]}`},
		{name: "/oauth2/revoke: the token itself", method: http.MethodPost, path: "/oauth2/revoke", contentType: form,
			body: url.Values{"token": {pat}, "client_id": {"cli"}}.Encode()},
		{name: "/oauth2/token: the revoked token", method: http.MethodPost, path: "/oauth2/token", contentType: form,
			body: exchangeForm(pat).Encode()},
	}

	run := func(p probe) {
		t.Run(p.name, func(t *testing.T) {
			req, err := http.NewRequest(p.method, e.url+p.path, strings.NewReader(p.body))
			if err != nil {
				t.Fatal(err)
			}
			if p.contentType != "" {
				req.Header.Set("Content-Type", p.contentType)
			}
			if p.basicUser != "" {
				req.SetBasicAuth(p.basicUser, p.basicPassword)
			}
			for i := 0; i+1 < len(p.header); i += 2 {
				req.Header.Set(p.header[i], p.header[i+1])
			}
			var r *response
			if p.viaConsole {
				r = console.do(req)
			} else {
				r = e.do(req)
			}
			var head strings.Builder
			r.Header.Write(&head)
			for v, what := range s.values {
				if strings.Contains(string(r.body), v) {
					t.Errorf("the response body (%d) holds the %s: %s", r.StatusCode, what, r.body)
				}
				if strings.Contains(head.String(), v) {
					t.Errorf("the response headers hold the %s:\n%s", what, head.String())
				}
			}
		})
	}
	for _, p := range probes {
		run(p)
	}
	if !e.exchangeOK(pat) {
		t.Fatal("the PAT is no longer live: the probes above did not all hold a live credential")
	}
	for _, p := range revoking {
		run(p)
	}

	logs, metrics := e.logs.String(), e.metricsText()
	// The corpus is real: the requests above were served and logged.
	if n := strings.Count(logs, `"msg":"http request"`); n < len(probes)+len(revoking) {
		t.Fatalf("%d requests logged, want at least %d: the search below would prove nothing", n, len(probes)+len(revoking))
	}
	for v, what := range s.values {
		for name, corpus := range map[string]string{"logs": logs, "metrics": metrics} {
			if strings.Contains(corpus, v) {
				t.Errorf("the %s hold the %s", name, what)
			}
		}
	}
}
