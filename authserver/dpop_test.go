package authserver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver"
	"authserver/authserver/dpop"
	"authserver/authserver/dpop/dpoptest"
	"authserver/exchange"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/signing"
	"authserver/storage"
)

// exchangeDPoP posts a token exchange for client (public) to base (the
// server's URL, or a replica's) with the given DPoP header values.
func (e *env) exchangeDPoP(base, client, token string, proofs []string, extra url.Values) *response {
	e.t.Helper()
	form := url.Values{
		"grant_type":         {rfc8693.GrantType},
		"subject_token":      {token},
		"subject_token_type": {rfc8693.TokenTypeAccessToken},
		"client_id":          {client},
		"audience":           {"orchestrator"},
	}
	for k, v := range extra {
		form[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

// callDPoP sends an API request to base with Authorization: <scheme> token
// and the given DPoP header values.
func (e *env) callDPoP(base, method, path, scheme, token string, proofs ...string) *response {
	e.t.Helper()
	req, err := http.NewRequest(method, base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", scheme+" "+token)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

// replica starts a second server on the same database as e (its own
// store, keys and process state), serving at its own URL under e's
// issuer, as a replica behind a load balancer does. It returns its URL.
func (e *env) replica(t *testing.T) string {
	t.Helper()
	st := storetest.OpenAt(t, e.driver, e.dsn)
	log := slog.New(slog.DiscardHandler)
	keys, err := signing.New(ctx, storage.Narrow[signing.KeyTx](st), signing.Options{
		Algorithm: e.cfg.Keys.Algorithm, RotationPeriod: e.cfg.Keys.RotationPeriod.D(), PublishAhead: e.cfg.Keys.PublishAhead.D(),
		MaxTokenTTL: 5 * time.Minute, KEK: e.kek, Now: e.now, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	o := serverOptions(e.cfg, st, keys, log)
	o.Registry, o.Now, o.InsecureNoRateLimits = prometheus.NewRegistry(), e.now, true
	o.HygieneInterval = e.hygiene
	srv, err := authserver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Shutdown(context.Background())
	})
	return ts.URL
}

// TestDPoPTokenEndpoint: a proof binds the token to its key (cnf.jkt,
// token_type DPoP, in the JWT and in introspection); without one nothing
// changes; each broken proof is invalid_dpop_proof with its own exact
// description; a client that requires DPoP gets nothing without a proof.
func TestDPoPTokenEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true})
		tokenURL := e.url + "/oauth2/token"
		key := dpoptest.NewKey("ES256", 0)
		pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})

		t.Run("a proof binds the token to its key", func(t *testing.T) {
			for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
				k := dpoptest.NewKey(alg, 0)
				resp := e.exchangeDPoP(e.url, "cli", pat, []string{k.Proof("POST", tokenURL, nil)}, nil)
				m := wantStatus(t, resp, http.StatusOK)
				if m["token_type"] != "DPoP" {
					t.Fatalf("%s: token_type %v", alg, m["token_type"])
				}
				tok := m["access_token"].(string)
				cnf, _ := jwtPart(t, tok, 1)["cnf"].(map[string]any)
				if cnf["jkt"] != k.JKT() {
					t.Fatalf("%s: cnf %v, want jkt %s", alg, cnf, k.JKT())
				}
				in := wantActive(t, e.introspect(tok))
				if in["token_type"] != "DPoP" || in["cnf"].(map[string]any)["jkt"] != k.JKT() {
					t.Fatalf("%s: introspection %v", alg, in)
				}
			}
		})
		t.Run("without a proof nothing changes", func(t *testing.T) {
			m := wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, nil, nil), http.StatusOK)
			tok := m["access_token"].(string)
			if _, bound := jwtPart(t, tok, 1)["cnf"]; m["token_type"] != "Bearer" || bound {
				t.Fatalf("token_type %v, claims %v", m["token_type"], jwtPart(t, tok, 1))
			}
			if in := wantActive(t, e.introspect(tok)); in["token_type"] != "Bearer" || in["cnf"] != nil {
				t.Fatalf("introspection %v", in)
			}
		})

		claims := func() map[string]any { return dpoptest.Claims("POST", tokenURL) }
		with := func(m map[string]any, k string, v any) map[string]any {
			m = copyMap(m)
			m[k] = v
			return m
		}
		good := key.Proof("POST", tokenURL, nil)
		cases := []struct {
			name, description string
			proofs            []string
		}{
			{"two DPoP headers", "Send exactly one DPoP header.", []string{good, key.Proof("POST", tokenURL, nil)}},
			{"not a JWS", "The DPoP proof is not a compact JWS of at most 8 KiB.", []string{"pat_not-a-proof"}},
			{"typ JWT", "The DPoP proof's typ must be dpop+jwt.", []string{key.Sign(with(key.Header(), "typ", "JWT"), claims())}},
			{"alg none", "The DPoP proof's alg must be one of " + strings.Join(dpop.Algorithms(), ", ") + ".",
				[]string{key.Sign(with(key.Header(), "alg", "none"), claims())}},
			{"alg HS256", "The DPoP proof's alg must be one of " + strings.Join(dpop.Algorithms(), ", ") + ".",
				[]string{key.Sign(with(key.Header(), "alg", "HS256"), claims())}},
			{"a private jwk", "The DPoP proof's jwk must be a public key: it holds a private or symmetric key member.",
				[]string{key.Sign(with(key.Header(), "jwk", key.PrivateJWK()), claims())}},
			{"a bad signature", "The DPoP proof's signature does not verify with its jwk.",
				[]string{key.Sign(with(key.Header(), "jwk", dpoptest.NewKey("ES256", 0).JWK), claims())}},
			{"wrong htm", "The DPoP proof's htm is not the method of the request.", []string{key.Proof("GET", tokenURL, nil)}},
			{"wrong htu", "The DPoP proof's htu is not the URL of the request.", []string{key.Proof("POST", e.url+"/oauth2/introspect", nil)}},
			{"htu of another host", "The DPoP proof's htu is not the URL of the request.", []string{key.Proof("POST", "https://evil.example.com/oauth2/token", nil)}},
			{"stale iat", "The DPoP proof's iat is not within the accepted window of the server's time.",
				[]string{key.Proof("POST", tokenURL, map[string]any{"iat": time.Now().Add(-2 * time.Minute).Unix()})}},
		}
		for _, c := range cases {
			t.Run("refused: "+c.name, func(t *testing.T) {
				resp := e.exchangeDPoP(e.url, "cli", pat, c.proofs, nil)
				wantOAuthError(t, resp, http.StatusBadRequest, "invalid_dpop_proof", c.description)
				if strings.Contains(string(resp.body), pat) {
					t.Fatal("the answer quotes the subject token")
				}
			})
		}
		t.Run("a proof is good once", func(t *testing.T) {
			wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, []string{good}, nil), http.StatusOK)
			wantOAuthError(t, e.exchangeDPoP(e.url, "cli", pat, []string{good}, nil), http.StatusBadRequest,
				"invalid_dpop_proof", "The DPoP proof has been used before.")
		})
		t.Run("a client with dpop: required must send a proof", func(t *testing.T) {
			wantOAuthError(t, e.exchangeDPoP(e.url, "bound", pat, nil, nil), http.StatusBadRequest,
				"invalid_dpop_proof", "This client must send a DPoP proof with every token request.")
			m := wantStatus(t, e.exchangeDPoP(e.url, "bound", pat, []string{key.Proof("POST", tokenURL, nil)}, nil), http.StatusOK)
			if m["token_type"] != "DPoP" {
				t.Fatalf("token_type %v", m["token_type"])
			}
		})
		t.Run("refusals are counted", func(t *testing.T) {
			if got := samples(e.metricsText())[series("authserver_token_exchanges_total", "result", "invalid_dpop_proof", "subject", "pat")]; got < float64(len(cases)+2) {
				t.Fatalf("invalid_dpop_proof counted %v times", got)
			}
		})
		t.Run("discovery lists the proof algorithms", func(t *testing.T) {
			m := wantStatus(t, e.call("GET", "/.well-known/oauth-authorization-server", "", nil), http.StatusOK)
			if got := strs(m["dpop_signing_alg_values_supported"]); !slices.Equal(got, dpop.Algorithms()) ||
				!slices.Contains(got, "ES256") || !slices.Contains(got, "RS256") || !slices.Contains(got, "EdDSA") ||
				slices.Contains(got, "none") || slices.Contains(got, "HS256") {
				t.Fatalf("dpop_signing_alg_values_supported %v", got)
			}
		})
	})
}

// TestDPoPReplayOnAnotherReplica: a proof spent on one replica is refused
// on another replica of the same database, at the token endpoint and at
// the management API.
func TestDPoPReplayOnAnotherReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true})
		other := e.replica(t)
		key := dpoptest.NewKey("ES256", 0)
		pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{exchange.ScopePATs}})

		// The proof names the issuer's URL, whichever replica serves it.
		proof := key.Proof("POST", e.url+"/oauth2/token", nil)
		api := wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, []string{proof}, url.Values{"audience": {e.url}}), http.StatusOK)
		wantOAuthError(t, e.exchangeDPoP(other, "cli", pat, []string{proof}, url.Values{"audience": {e.url}}), http.StatusBadRequest,
			"invalid_dpop_proof", "The DPoP proof has been used before.")
		// A fresh proof is good on the other replica.
		wantStatus(t, e.exchangeDPoP(other, "cli", pat, []string{key.Proof("POST", e.url+"/oauth2/token", nil)}, url.Values{"audience": {e.url}}), http.StatusOK)

		tok := api["access_token"].(string)
		call := key.Proof("GET", e.url+"/api/v1/me", map[string]any{"ath": dpoptest.ATH(tok)})
		wantStatus(t, e.callDPoP(other, "GET", "/api/v1/me", "DPoP", tok, call), http.StatusOK)
		resp := e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", tok, call)
		wantProblem(t, resp, http.StatusUnauthorized, "invalid-dpop-proof", "")
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP realm="authserver", error="invalid_dpop_proof"`) {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	})
}

// TestDPoPNonce: with tokens.dpop_nonce on, a proof without the server's
// nonce is use_dpop_nonce with a DPoP-Nonce header; the retry with it is
// granted, and the nonce is good on another replica too.
func TestDPoPNonce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true, config: "tokens:\n  dpop_nonce: true\n"})
		other := e.replica(t)
		tokenURL := e.url + "/oauth2/token"
		key := dpoptest.NewKey("ES256", 0)
		pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", exchange.ScopePATs}})

		resp := e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", tokenURL, nil)}, nil)
		wantOAuthError(t, resp, http.StatusBadRequest, "use_dpop_nonce", "The DPoP proof must carry the nonce given in the DPoP-Nonce header.")
		nonce := resp.Header.Get("DPoP-Nonce")
		if nonce == "" {
			t.Fatal("no DPoP-Nonce header")
		}
		wantOAuthError(t, e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", tokenURL, map[string]any{"nonce": "made-up"})}, nil),
			http.StatusBadRequest, "use_dpop_nonce", "The DPoP proof's nonce is not a current nonce of this server; use the one in the DPoP-Nonce header.")
		ok := e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", tokenURL, map[string]any{"nonce": nonce})}, nil)
		if m := wantStatus(t, ok, http.StatusOK); m["token_type"] != "DPoP" {
			t.Fatalf("token_type %v", m["token_type"])
		}
		if ok.Header.Get("DPoP-Nonce") == "" {
			t.Fatal("a granted answer carries no DPoP-Nonce")
		}
		// The other replica takes the first replica's nonce.
		wantStatus(t, e.exchangeDPoP(other, "cli", pat, []string{key.Proof("POST", tokenURL, map[string]any{"nonce": nonce})}, nil), http.StatusOK)

		// The management API asks for the nonce the same way.
		m := wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", tokenURL, map[string]any{"nonce": nonce})},
			url.Values{"audience": {e.url}}), http.StatusOK)
		tok := m["access_token"].(string)
		r := e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", tok, key.Proof("GET", e.url+"/api/v1/me", map[string]any{"ath": dpoptest.ATH(tok)}))
		wantProblem(t, r, http.StatusUnauthorized, "use-dpop-nonce", "")
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || r.Header.Get("DPoP-Nonce") == "" {
			t.Fatalf("WWW-Authenticate %q, DPoP-Nonce %q", r.Header.Get("WWW-Authenticate"), r.Header.Get("DPoP-Nonce"))
		}
		wantStatus(t, e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", tok,
			key.Proof("GET", e.url+"/api/v1/me", map[string]any{"ath": dpoptest.ATH(tok), "nonce": r.Header.Get("DPoP-Nonce")})), http.StatusOK)
	})
}

// TestDPoPManagementAPI: the API takes a bound token under the DPoP scheme
// with a proof of its key for the request, and refuses it as Bearer, with a
// proof for another token (ath), of another key, for another request, or
// without one.
func TestDPoPManagementAPI(t *testing.T) {
	e := newEnv(t, envOptions{noRateLimits: true})
	key := dpoptest.NewKey("ES256", 0)
	pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{exchange.ScopePATs}})
	m := wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", e.url+"/oauth2/token", nil)},
		url.Values{"audience": {e.url}}), http.StatusOK)
	tok := m["access_token"].(string)
	meURL := e.url + "/api/v1/me"
	proof := func(extra map[string]any) string {
		c := map[string]any{"ath": dpoptest.ATH(tok)}
		for k, v := range extra {
			c[k] = v
		}
		return key.Proof("GET", meURL, c)
	}

	me := wantStatus(t, e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", tok, proof(nil)), http.StatusOK)
	if cred, _ := me["credential"].(map[string]any); cred["type"] != "dpop" {
		t.Fatalf("credential %v", me["credential"])
	}

	metadata := `resource_metadata="` + e.url + `/.well-known/oauth-protected-resource"`
	algs := `algs="` + strings.Join(dpop.Algorithms(), " ") + `"`
	bearer := wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, nil, url.Values{"audience": {e.url}}), http.StatusOK)["access_token"].(string)
	for _, c := range []struct {
		name, scheme, token string
		proofs              []string
		code, problem       string
	}{
		{"a bound token as Bearer", "Bearer", tok, nil, "invalid_token", "invalid-token"},
		{"a bound token as Bearer, even with a proof", "Bearer", tok, []string{proof(nil)}, "invalid_token", "invalid-token"},
		{"a bearer token under DPoP", "DPoP", bearer, []string{key.Proof("GET", meURL, map[string]any{"ath": dpoptest.ATH(bearer)})}, "invalid_token", "invalid-token"},
		{"no proof", "DPoP", tok, nil, "invalid_dpop_proof", "invalid-dpop-proof"},
		{"a proof without ath", "DPoP", tok, []string{key.Proof("GET", meURL, nil)}, "invalid_dpop_proof", "invalid-dpop-proof"},
		{"ath of another token", "DPoP", tok, []string{proof(map[string]any{"ath": dpoptest.ATH(bearer)})}, "invalid_dpop_proof", "invalid-dpop-proof"},
		{"a proof of another key", "DPoP", tok, []string{dpoptest.NewKey("ES256", 0).Proof("GET", meURL, map[string]any{"ath": dpoptest.ATH(tok)})}, "invalid_dpop_proof", "invalid-dpop-proof"},
		{"htu of another route", "DPoP", tok, []string{key.Proof("GET", e.url+"/api/v1/scopes", map[string]any{"ath": dpoptest.ATH(tok)})}, "invalid_dpop_proof", "invalid-dpop-proof"},
		{"htm of another method", "DPoP", tok, []string{key.Proof("POST", meURL, map[string]any{"ath": dpoptest.ATH(tok)})}, "invalid_dpop_proof", "invalid-dpop-proof"},
		{"a stale proof", "DPoP", tok, []string{proof(map[string]any{"iat": time.Now().Add(-5 * time.Minute).Unix()})}, "invalid_dpop_proof", "invalid-dpop-proof"},
	} {
		t.Run("refused: "+c.name, func(t *testing.T) {
			resp := e.callDPoP(e.url, "GET", "/api/v1/me", c.scheme, c.token, c.proofs...)
			wantProblem(t, resp, http.StatusUnauthorized, c.problem, "")
			want := `DPoP realm="authserver", error="` + c.code + `", ` + algs + ", " + metadata
			if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, []string{want}) {
				t.Fatalf("WWW-Authenticate %q, want %q", got, want)
			}
			if strings.Contains(string(resp.body), c.token) {
				t.Fatal("the problem quotes the token")
			}
		})
	}
	// A bound token lacking a route's scope is told so under its scheme.
	resp := e.callDPoP(e.url, "GET", "/api/v1/admin/settings", "DPoP", tok,
		key.Proof("GET", e.url+"/api/v1/admin/settings", map[string]any{"ath": dpoptest.ATH(tok)}))
	wantProblem(t, resp, http.StatusForbidden, "insufficient-scope", "")
	if got := resp.Header.Get("WWW-Authenticate"); got != `DPoP realm="authserver", error="insufficient_scope", scope="Identity.Admin"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

// TestProtectedResourceMetadata: the management API publishes its RFC 9728
// metadata, and its 401s point to it.
func TestProtectedResourceMetadata(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := wantStatus(t, e.call("GET", "/.well-known/oauth-protected-resource", "", nil), http.StatusOK)
	if m["resource"] != e.url || !slices.Equal(strs(m["authorization_servers"]), []string{e.url}) ||
		!slices.Equal(strs(m["scopes_supported"]), []string{exchange.ScopePATs, exchange.ScopeAdmin}) ||
		!slices.Equal(strs(m["bearer_methods_supported"]), []string{"header"}) ||
		!slices.Equal(strs(m["dpop_signing_alg_values_supported"]), dpop.Algorithms()) {
		t.Fatalf("metadata %v", m)
	}
	// The authorization server it names publishes its own metadata there.
	as := wantStatus(t, e.call("GET", "/.well-known/oauth-authorization-server", "", nil), http.StatusOK)
	if as["issuer"] != m["authorization_servers"].([]any)[0] {
		t.Fatalf("issuer %v", as["issuer"])
	}
	resp := e.call("GET", "/api/v1/me", "", nil)
	wantProblem(t, resp, http.StatusUnauthorized, "unauthorized", "")
	for _, h := range resp.Header.Values("WWW-Authenticate") {
		if !strings.Contains(h, `resource_metadata="`+e.url+`/.well-known/oauth-protected-resource"`) {
			t.Fatalf("challenge without resource_metadata: %q", h)
		}
	}
}

// copyMap copies a map.
func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestDPoPWithoutDatabase: when the replay store cannot be asked, a proof
// is neither accepted nor refused: 503 with Retry-After, at the token
// endpoint and at the API.
func TestDPoPWithoutDatabase(t *testing.T) {
	e := newEnv(t, envOptions{noRateLimits: true})
	key := dpoptest.NewKey("ES256", 0)
	pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{exchange.ScopePATs}})
	tok := wantStatus(t, e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", e.url+"/oauth2/token", nil)},
		url.Values{"audience": {e.url}}), http.StatusOK)["access_token"].(string)
	e.closeStore()

	resp := e.exchangeDPoP(e.url, "cli", pat, []string{key.Proof("POST", e.url+"/oauth2/token", nil)}, nil)
	wantOAuthError(t, resp, http.StatusServiceUnavailable, "temporarily_unavailable", "The authorization server is temporarily unavailable.")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	resp = e.callDPoP(e.url, "GET", "/api/v1/me", "DPoP", tok, key.Proof("GET", e.url+"/api/v1/me", map[string]any{"ath": dpoptest.ATH(tok)}))
	wantProblem(t, resp, http.StatusServiceUnavailable, "unavailable", "")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}
