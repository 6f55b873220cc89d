package authserver_test

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// revoke posts a revocation as the public client "cli".
func (e *env) revoke(token string) *response {
	e.t.Helper()
	return e.post("/oauth2/revoke", url.Values{"token": {token}, "client_id": {"cli"}}, "", "")
}

// wantRevoked200 checks RFC 7009's success answer.
func wantRevoked200(t *testing.T, r *response) {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("got %d %s, want 200", r.StatusCode, r.body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
}

// holderRevocations lists an organization's pat.revoke audit events.
func (e *env) holderRevocations(org string) []storage.AuditEvent {
	e.t.Helper()
	events, err := e.store.ListAudit(ctx, storage.AuditFilter{OrgID: e.orgIDs[org], Action: "pat.revoke"})
	if err != nil {
		e.t.Fatal(err)
	}
	return events
}

func TestRevokeByHolder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})

		t.Run("the holder revokes a PAT with a public client; it is then unusable and audited", func(t *testing.T) {
			token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			jwt := e.jwtFor(token)
			unknown, err := exchange.NewPAT("pat_", nil)
			if err != nil {
				t.Fatal(err)
			}

			wantRevoked200(t, e.revoke(token))

			got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.RevokedAt == nil || got.RevokedReason != "holder" {
				t.Fatalf("revoked_at %v reason %q, want revoked by holder", got.RevokedAt, got.RevokedReason)
			}
			r := e.exchange(token, url.Values{"audience": {"orchestrator"}})
			wantError(t, r, http.StatusBadRequest, "invalid_request")
			if d := r.json(t)["error_description"]; d != exchange.UnusableDescription {
				t.Fatalf("description %q, want the one unusable-PAT description", d)
			}
			ru := e.exchange(unknown, url.Values{"audience": {"orchestrator"}})
			if string(ru.body) != string(r.body) {
				t.Fatalf("a revoked PAT answers %s, an unknown one %s: want identical", r.body, ru.body)
			}
			wantInactive(t, e.introspect(jwt))
			wantInactive(t, e.introspect(token))

			events := e.holderRevocations("acme")
			if len(events) != 1 {
				t.Fatalf("got %d pat.revoke events, want 1: %+v", len(events), events)
			}
			ev := events[0]
			if ev.Actor != "client:cli" || ev.Target != p.ID || ev.Outcome != "success" || ev.Detail != "by holder" ||
				ev.ClientAddr != "127.0.0.1" || ev.OrgID != p.OrgID {
				t.Fatalf("audit event %+v", ev)
			}
			hash := hex.EncodeToString(exchange.HashPAT(token))
			for _, s := range []string{ev.Actor, ev.Target, ev.Outcome, ev.Detail, ev.ClientAddr} {
				if strings.Contains(s, token) || strings.Contains(s, hash) || strings.Contains(s, token[4:]) {
					t.Fatal("the audit event holds the token or its hash")
				}
			}

			t.Run("revoking it again changes nothing", func(t *testing.T) {
				wantRevoked200(t, e.revoke(token))
				again, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !again.RevokedAt.Equal(*got.RevokedAt) || again.RevokedReason != "holder" {
					t.Fatalf("revocation changed: %v %q, was %v", again.RevokedAt, again.RevokedReason, got.RevokedAt)
				}
				if n := len(e.holderRevocations("acme")); n != 1 {
					t.Fatalf("got %d pat.revoke events, want still 1", n)
				}
			})

			logs := e.logs.String()
			for _, s := range []string{token, jwt, hash} {
				if strings.Contains(logs, s) {
					t.Fatal("a token or hash reached the logs")
				}
			}
			metrics := e.metricsText()
			if !strings.Contains(metrics, `authserver_revocations_total{result="revoked"} 1`) ||
				!strings.Contains(metrics, `authserver_pat_events_total{event="revoked_holder"} 1`) {
				t.Error("the revocation was not counted")
			}
		})

		t.Run("possession is the authority: any client, any organization, any hint", func(t *testing.T) {
			token, p := e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
			wantRevoked200(t, e.post("/oauth2/revoke", url.Values{"token": {token}, "token_type_hint": {"something_else"}},
				"gateway", gatewaySecret))
			got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.RevokedAt == nil || got.RevokedReason != "holder" {
				t.Fatalf("revoked_at %v reason %q, want revoked by holder", got.RevokedAt, got.RevokedReason)
			}
			events := e.holderRevocations("globex")
			if len(events) != 1 || events[0].Actor != "client:gateway" || events[0].Target != p.ID {
				t.Fatalf("audit events %+v", events)
			}
		})

		t.Run("an expired PAT can still be revoked", func(t *testing.T) {
			past := time.Now().Add(-time.Minute)
			token, p := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}, created: past.Add(-time.Hour), expires: &past})
			wantRevoked200(t, e.revoke(token))
			if got, err := e.store.GetPAT(ctx, p.OrgID, p.ID); err != nil || got.RevokedAt == nil {
				t.Fatalf("got %+v, %v; want revoked", got, err)
			}
		})
	})
}

func TestRevokeUnknownOrInvalidTokensIs200(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		good, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		unknown, err := exchange.NewPAT("pat_", nil)
		if err != nil {
			t.Fatal(err)
		}
		jwt := e.jwtFor(good)
		now := time.Now().Unix()
		expiredJWT := e.signOurs(exchange.Claims{Issuer: e.url, Subject: p.UserID, Audience: "orchestrator", Expiry: now - 1,
			IssuedAt: now - 301, NotBefore: now - 301, ID: "x", ClientID: "cli", Scope: "OR.Jobs", OrgID: p.OrgID, PATID: p.ID})
		for _, c := range []struct{ name, token string }{
			{"an unknown PAT", unknown},
			{"a PAT with a bad checksum", badChecksum(good)},
			{"random text", "not a token"},
			{"a foreign JWT", signForeign(t, []byte(`{"iss":"x"}`), "k")},
			{"an expired JWT of ours", expiredJWT},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantRevoked200(t, e.revoke(c.token))
			})
		}
		if got, err := e.store.GetPAT(ctx, p.OrgID, p.ID); err != nil || got.RevokedAt != nil {
			t.Fatalf("got %+v, %v; want the other PAT untouched", got, err)
		}
		if n := len(e.holderRevocations("acme")); n != 0 {
			t.Fatalf("got %d pat.revoke events, want none", n)
		}
		wantActive(t, e.introspect(jwt))
	})
}

func TestRevokeJWTIsUnsupportedTokenType(t *testing.T) {
	e := newEnv(t, envOptions{})
	token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	jwt := e.jwtFor(token)
	wantError(t, e.revoke(jwt), http.StatusBadRequest, "unsupported_token_type")
	wantActive(t, e.introspect(jwt))
	if got, err := e.store.GetPAT(ctx, p.OrgID, p.ID); err != nil || got.RevokedAt != nil {
		t.Fatalf("got %+v, %v; want the PAT untouched", got, err)
	}
}

func TestRevokeRequiresClientAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{})
	token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	jwt := e.jwtFor(token)
	cases := []struct {
		name   string
		resp   func() *response
		status int
		code   string
	}{
		{"no client authentication", func() *response {
			return e.post("/oauth2/revoke", url.Values{"token": {token}}, "", "")
		}, 401, "invalid_client"},
		{"an unknown client", func() *response {
			return e.post("/oauth2/revoke", url.Values{"token": {token}, "client_id": {"nobody"}}, "", "")
		}, 401, "invalid_client"},
		{"a wrong secret", func() *response {
			return e.post("/oauth2/revoke", url.Values{"token": {token}}, "gateway", "wrong-secret")
		}, 401, "invalid_client"},
		{"a public client sending a secret", func() *response {
			return e.post("/oauth2/revoke", url.Values{"token": {token}, "client_id": {"cli"}, "client_secret": {"x"}}, "", "")
		}, 401, "invalid_client"},
		{"a bearer token instead of client credentials", func() *response {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/oauth2/revoke", strings.NewReader(url.Values{"token": {token}, "client_id": {"cli"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Bearer "+jwt)
			return e.do(req)
		}, 401, "invalid_client"},
		{"a missing token", func() *response {
			return e.post("/oauth2/revoke", url.Values{"client_id": {"cli"}}, "", "")
		}, 400, "invalid_request"},
		{"a repeated token", func() *response {
			return e.post("/oauth2/revoke", url.Values{"token": {token, "other"}, "client_id": {"cli"}}, "", "")
		}, 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused", func(t *testing.T) {
			wantError(t, c.resp(), c.status, c.code)
		})
	}
	if got, err := e.store.GetPAT(ctx, p.OrgID, p.ID); err != nil || got.RevokedAt != nil {
		t.Fatalf("got %+v, %v; want the PAT untouched by refused requests", got, err)
	}
}

func TestRevokeDatabaseFailureIs503NeverAFalse200(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		unknown, err := exchange.NewPAT("pat_", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Load the client cache first, so the failure is the PAT's, not
		// the client's.
		wantRevoked200(t, e.revoke(unknown))
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"a PAT": token, "an unknown PAT": unknown} {
			t.Run(name, func(t *testing.T) {
				wantError(t, e.revoke(tok), http.StatusServiceUnavailable, "temporarily_unavailable")
			})
		}
	})
}
