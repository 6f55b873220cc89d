package authserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// introspect asks about token as the "introspector" client with HTTP Basic.
func (e *env) introspect(token string) *response {
	e.t.Helper()
	return e.post("/oauth2/introspect", url.Values{"token": {token}}, "introspector", introspectorSecret)
}

// jwtFor exchanges a PAT with the public client for the orchestrator
// audience and returns the access token.
func (e *env) jwtFor(token string) string {
	e.t.Helper()
	resp := e.exchange(token, url.Values{"audience": {"orchestrator"}})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("exchange: %d %s", resp.StatusCode, resp.body)
	}
	jwt, _ := resp.json(e.t)["access_token"].(string)
	if jwt == "" {
		e.t.Fatalf("exchange: no access_token in %s", resp.body)
	}
	return jwt
}

// jwtPart decodes the header (0) or payload (1) of a compact JWS.
func jwtPart(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// wantActive checks a 200 active answer and returns its fields.
func wantActive(t *testing.T, r *response) map[string]any {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.StatusCode, r.body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	m := r.json(t)
	if m["active"] != true {
		t.Fatalf("got %s, want active", r.body)
	}
	return m
}

// wantInactive checks the one inactive answer: 200 and exactly
// {"active":false}.
func wantInactive(t *testing.T, r *response) {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("got %d %s, want 200 {\"active\":false}", r.StatusCode, r.body)
	}
	if got := strings.TrimSpace(string(r.body)); got != `{"active":false}` {
		t.Fatalf("got %s, want exactly {\"active\":false}", got)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

// wantError checks an RFC 6749 error answer.
func wantError(t *testing.T, r *response, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("got %d %s, want %d %s", r.StatusCode, r.body, status, code)
	}
	if got := r.json(t)["error"]; got != code {
		t.Fatalf("error %v, want %s (%s)", got, code, r.body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
		t.Errorf("401 without a Basic WWW-Authenticate: %q", r.Header.Get("WWW-Authenticate"))
	}
}

// fakeClock is a settable clock for envOptions.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// signForeign signs payload with a fresh ES256 key that is not ours, with
// typ at+jwt and the given kid.
func signForeign(t *testing.T, payload []byte, kid string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signOurs signs claims with the server's active key.
func (e *env) signOurs(c exchange.Claims) string {
	e.t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := e.keys.Sign(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func TestIntrospectActiveTokensReportTheirFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice := e.user("acme", "alice")

		t.Run("a fresh PAT is active with its scopes, owner, creation and no exp", func(t *testing.T) {
			token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "OR.Folders"}})
			m := wantActive(t, e.introspect(token))
			want := map[string]any{
				"active": true, "scope": "OR.Jobs OR.Folders", "sub": alice.ID, "iat": float64(p.CreatedAt.Unix()),
				"org_id": e.orgIDs["acme"], "pat_id": p.ID, "token_type": "N_A",
			}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if len(m) != len(want) {
				t.Errorf("got fields %v, want exactly %v", m, want)
			}
		})

		t.Run("a PAT's exp is its expires_at", func(t *testing.T) {
			exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
			token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}, expires: &exp})
			if m := wantActive(t, e.introspect(token)); m["exp"] != float64(exp.Unix()) {
				t.Fatalf("exp %v, want %d", m["exp"], exp.Unix())
			}
		})

		t.Run("a PAT's exp is capped by the organization's maximum lifetime", func(t *testing.T) {
			org, err := e.store.GetOrganization(ctx, e.orgIDs["globex"])
			if err != nil {
				t.Fatal(err)
			}
			org.PATMaxLifetime = 30 * 24 * time.Hour
			if err := e.store.UpdateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			created := time.Now().Add(-time.Hour).Truncate(time.Second)
			late := created.Add(90 * 24 * time.Hour)
			token, _ := e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}, created: created, expires: &late})
			if m := wantActive(t, e.introspect(token)); m["exp"] != float64(created.Add(org.PATMaxLifetime).Unix()) {
				t.Fatalf("exp %v, want created + 30 days = %d", m["exp"], created.Add(org.PATMaxLifetime).Unix())
			}
		})

		t.Run("a JWT from a real exchange is active with its claims", func(t *testing.T) {
			token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "OR.Folders"}})
			jwt := e.jwtFor(token)
			claims := jwtPart(t, jwt, 1)
			m := wantActive(t, e.introspect(jwt))
			for _, k := range []string{"scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti", "org_id", "pat_id"} {
				if m[k] != claims[k] {
					t.Errorf("%s = %v, want the JWT's %v", k, m[k], claims[k])
				}
			}
			got, _ := json.Marshal(m["authorization_details"])
			want, _ := json.Marshal(claims["authorization_details"])
			if claims["authorization_details"] == nil || string(got) != string(want) {
				t.Errorf("authorization_details %s, want the JWT's %s", got, want)
			}
			if m["token_type"] != "Bearer" || m["pat_id"] != p.ID || m["client_id"] != "cli" || m["aud"] != "orchestrator" {
				t.Errorf("token_type %v pat_id %v client_id %v aud %v", m["token_type"], m["pat_id"], m["client_id"], m["aud"])
			}
		})

		t.Run("client_secret_post authenticates the caller too", func(t *testing.T) {
			token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			wantActive(t, e.post("/oauth2/introspect", url.Values{"token": {token}, "client_id": {"introspector"},
				"client_secret": {introspectorSecret}}, "", ""))
		})

		t.Run("an unknown token_type_hint is ignored", func(t *testing.T) {
			token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			wantActive(t, e.post("/oauth2/introspect", url.Values{"token": {token}, "token_type_hint": {"refresh_token"}},
				"introspector", introspectorSecret))
		})

		if !strings.Contains(e.metricsText(), `authserver_introspections_total{result="active"}`) {
			t.Error("no introspection metric")
		}
	})
}

func TestIntrospectJWTIsActiveOnlyWhileItsPATIsUsable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})

		t.Run("a JWT whose PAT was revoked since is inactive", func(t *testing.T) {
			token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			jwt := e.jwtFor(token)
			wantActive(t, e.introspect(jwt))
			if _, err := e.store.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "owner"); err != nil {
				t.Fatal(err)
			}
			wantInactive(t, e.introspect(jwt))
			wantInactive(t, e.introspect(token))
		})

		t.Run("a JWT whose owner was deactivated is inactive, and active again on reactivation", func(t *testing.T) {
			token, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			jwt := e.jwtFor(token)
			carol := e.user("acme", "carol")
			carol.Status = storage.UserDeactivated
			if err := e.store.UpdateUser(ctx, carol); err != nil {
				t.Fatal(err)
			}
			wantInactive(t, e.introspect(jwt))
			wantInactive(t, e.introspect(token))
			carol.Status = storage.UserActive
			if err := e.store.UpdateUser(ctx, carol); err != nil {
				t.Fatal(err)
			}
			wantActive(t, e.introspect(jwt))
			wantActive(t, e.introspect(token))
		})

		t.Run("a JWT whose organization disabled PATs is inactive, and active again when re-enabled", func(t *testing.T) {
			token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			jwt := e.jwtFor(token)
			org, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
			if err != nil {
				t.Fatal(err)
			}
			org.PATsEnabled = false
			if err := e.store.UpdateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			wantInactive(t, e.introspect(jwt))
			wantInactive(t, e.introspect(token))
			org.PATsEnabled = true
			if err := e.store.UpdateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			wantActive(t, e.introspect(jwt))
		})
	})
}

func TestIntrospectInvalidTokensAreExactlyActiveFalse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice := e.user("acme", "alice")
		good, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		jwt := e.jwtFor(good)
		payload, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[1])
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := jwtPart(t, jwt, 0)["kid"].(string)
		unknown, err := exchange.NewPAT("pat_", nil)
		if err != nil {
			t.Fatal(err)
		}
		past := time.Now().Add(-time.Minute)
		expired, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}, created: past.Add(-time.Hour), expires: &past})
		revoked, rp := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		if _, err := e.store.RevokePAT(ctx, rp.OrgID, rp.ID, time.Now(), "owner"); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Unix()
		claims := exchange.Claims{Issuer: e.url, Subject: alice.ID, Audience: "orchestrator", Expiry: now + 300,
			IssuedAt: now, NotBefore: now, ID: "jti-1", ClientID: "cli", Scope: "OR.Jobs", OrgID: p.OrgID, PATID: p.ID}
		with := func(f func(c *exchange.Claims)) exchange.Claims {
			c := claims
			f(&c)
			return c
		}
		parts := strings.Split(jwt, ".")
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"OR.Jobs"`, `"OR.Jobs OR.Execution"`, 1))) + "." + parts[2]

		cases := []struct{ name, token string }{
			{"an unknown PAT", unknown},
			{"a PAT with a bad checksum", badChecksum(good)},
			{"a PAT that is too short", good[:len(good)-2]},
			{"a string with another prefix", "ghp_" + good[4:]},
			{"an expired PAT", expired},
			{"a revoked PAT", revoked},
			{"random text", "hello world"},
			{"three dots of garbage", "a.b.c"},
			{"our JWT with its payload altered", tampered},
			{"the same claims signed by a foreign key under our kid", signForeign(t, payload, kid)},
			{"the same claims signed by a foreign key under its own kid", signForeign(t, payload, "foreign-kid")},
			{"our signature, another issuer", e.signOurs(with(func(c *exchange.Claims) { c.Issuer = "https://evil.example.com" }))},
			{"our signature, expired", e.signOurs(with(func(c *exchange.Claims) { c.Expiry = now - 1 }))},
			{"our signature, not yet valid", e.signOurs(with(func(c *exchange.Claims) { c.NotBefore = now + 120 }))},
			{"our signature, an unknown PAT", e.signOurs(with(func(c *exchange.Claims) { c.PATID = "0190aaaa-0000-7000-8000-000000000000" }))},
			{"our signature, another owner than the PAT's", e.signOurs(with(func(c *exchange.Claims) { c.Subject = e.user("acme", "bob").ID }))},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantInactive(t, e.introspect(c.token))
			})
		}
		// The control: the good ones are active.
		wantActive(t, e.introspect(good))
		wantActive(t, e.introspect(jwt))
		wantActive(t, e.introspect(e.signOurs(claims)))

		logs := e.logs.String()
		for _, secret := range []string{good, jwt, unknown, expired, revoked, hex.EncodeToString(exchange.HashPAT(good)), introspectorSecret} {
			if strings.Contains(logs, secret) {
				t.Fatal("a token, hash or secret reached the logs")
			}
		}
	})
}

func TestIntrospectJWTIsInactiveOnceExpired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{driver: driver, now: clock.now})
		token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		jwt := e.jwtFor(token)
		exp := int64(jwtPart(t, jwt, 1)["exp"].(float64))
		wantActive(t, e.introspect(jwt))
		clock.advance(time.Unix(exp, 0).Sub(clock.now()) - time.Second)
		wantActive(t, e.introspect(jwt))
		clock.advance(time.Second) // now == exp
		wantInactive(t, e.introspect(jwt))
		wantActive(t, e.introspect(token)) // the PAT itself lives on
	})
}

func TestIntrospectCallerMustBeAConfidentialClientWithTheIntrospectionFlag(t *testing.T) {
	e := newEnv(t, envOptions{})
	token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	jwt := e.jwtFor(token)

	bearer := func(auth string) *response {
		req, err := http.NewRequest(http.MethodPost, e.url+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", auth)
		return e.do(req)
	}
	cases := []struct {
		name   string
		resp   func() *response
		status int
		code   string
	}{
		{"a caller authorized by an active bearer token is refused", func() *response { return bearer("Bearer " + jwt) }, 401, "invalid_client"},
		{"a bearer token alongside client credentials is refused", func() *response {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/oauth2/introspect", strings.NewReader(url.Values{"token": {token},
				"client_id": {"introspector"}, "client_secret": {introspectorSecret}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+jwt)
			return e.do(req)
		}, 401, "invalid_client"},
		{"a public client is refused", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token}, "client_id": {"cli"}}, "", "")
		}, 401, "invalid_client"},
		{"a public client with an empty Basic secret is refused", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token}}, "cli", "")
		}, 401, "invalid_client"},
		{"an unknown client is refused", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token}}, "nobody", "secret")
		}, 401, "invalid_client"},
		{"a wrong secret is refused", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token}}, "introspector", "wrong-secret")
		}, 401, "invalid_client"},
		{"no client authentication is refused", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token}}, "", "")
		}, 401, "invalid_client"},
		{"a confidential client without the introspection flag is forbidden", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token}}, "gateway", gatewaySecret)
		}, 403, "unauthorized_client"},
		{"a missing token is invalid_request", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token_type_hint": {"access_token"}}, "introspector", introspectorSecret)
		}, 400, "invalid_request"},
		{"a repeated token is invalid_request", func() *response {
			return e.post("/oauth2/introspect", url.Values{"token": {token, jwt}}, "introspector", introspectorSecret)
		}, 400, "invalid_request"},
		{"a JSON body is invalid_request", func() *response {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/oauth2/introspect", strings.NewReader(`{"token":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth("introspector", introspectorSecret)
			return e.do(req)
		}, 400, "invalid_request"},
		{"GET is not allowed", func() *response {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/oauth2/introspect?token=x", nil)
			req.SetBasicAuth("introspector", introspectorSecret)
			return e.do(req)
		}, 405, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.resp()
			wantError(t, r, c.status, c.code)
			if strings.Contains(string(r.body), "active") {
				t.Fatalf("a refused caller learned something about the token: %s", r.body)
			}
		})
	}
	t.Run("a body over 64 KiB is refused with 413", func(t *testing.T) {
		r := e.post("/oauth2/introspect", url.Values{"token": {strings.Repeat("x", 70<<10)}}, "introspector", introspectorSecret)
		if r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", r.StatusCode)
		}
	})
	if strings.Contains(e.logs.String(), introspectorSecret) || strings.Contains(e.logs.String(), jwt) {
		t.Fatal("a secret or token reached the logs")
	}
}

func TestIntrospectingAPATUpdatesItsLastUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		before := time.Now().Add(-time.Second)
		wantActive(t, e.introspect(token))
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.LastUsedAt != nil {
				if got.LastUsedAt.Before(before) {
					t.Fatalf("last_used_at %v, want after %v", got.LastUsedAt, before)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("last_used_at was not written within 5s of an introspection")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// waitLastUsed waits until the write-behind has flushed a PAT's last use, so
// that closing the store afterwards leaves nothing for Shutdown to write.
func (e *env) waitLastUsed(p *storage.PAT) {
	e.t.Helper()
	waitFor(e.t, "last_used_at to be written", func() bool {
		got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		return got.LastUsedAt != nil
	})
}

func TestIntrospectDatabaseFailureIs503NeverInactive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		jwt := e.jwtFor(token)
		e.waitLastUsed(p)
		unknown, err := exchange.NewPAT("pat_", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"a PAT": token, "a JWT": jwt, "an unknown PAT": unknown} {
			t.Run(name, func(t *testing.T) {
				wantError(t, e.introspect(tok), http.StatusServiceUnavailable, "temporarily_unavailable")
			})
		}
	})
}

// badChecksum changes the last checksum character of a PAT.
func badChecksum(token string) string {
	last := byte('A')
	if token[len(token)-1] == last {
		last = 'B'
	}
	return token[:len(token)-1] + string(last)
}
