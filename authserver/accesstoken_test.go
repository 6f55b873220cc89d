package authserver_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// TestAJWTGetsOneVerdictAtIntrospectionAndAtTheAPI feeds the same JWT to
// introspection and to the management API. Both verify it through the one
// verifier, so a token is never "not yet valid" at one and accepted at the
// other. The only difference is the audience each serves: the API accepts
// its own (the issuer) only, introspection answers for every audience the
// server knows; an audience the server does not know is refused by both.
func TestAJWTGetsOneVerdictAtIntrospectionAndAtTheAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		carol := e.user("acme", "carol")
		_, p := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{exchange.ScopePATs}})
		now := time.Now().Unix()
		// claims are valid now for the management audience; each case
		// changes one of them.
		claims := func(edit func(c map[string]any)) string {
			c := map[string]any{
				"iss": e.url, "sub": carol.ID, "aud": e.url, "exp": now + 120, "iat": now, "nbf": now,
				"jti": "jti-1", "client_id": "cli", "scope": exchange.ScopePATs, "org_id": carol.OrgID, "pat_id": p.ID,
			}
			edit(c)
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := e.keys.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		const accepted, refused = true, false
		type verdict struct{ introspection, api bool }
		both := func(v bool) verdict { return verdict{v, v} }
		cases := []struct {
			name  string
			token string
			want  verdict
		}{
			{"a token valid now is accepted", claims(func(map[string]any) {}), both(accepted)},
			{"nbf in the future within the leeway is accepted", claims(func(c map[string]any) { c["nbf"] = now + 10 }), both(accepted)},
			{"nbf in the future beyond the leeway is refused", claims(func(c map[string]any) { c["nbf"] = now + 120 }), both(refused)},
			{"iat in the future beyond the leeway is refused", claims(func(c map[string]any) { c["iat"] = now + 120 }), both(refused)},
			{"aud as an array naming the audience is accepted", claims(func(c map[string]any) { c["aud"] = []string{"orchestrator", e.url} }), both(accepted)},
			{"expired is refused", claims(func(c map[string]any) { c["exp"] = now - 1 }), both(refused)},
			{"expired within the leeway is refused: exp has none", claims(func(c map[string]any) { c["exp"] = now - 5 }), both(refused)},
			{"another issuer is refused", claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" }), both(refused)},
			{"an audience the server does not know is refused", claims(func(c map[string]any) { c["aud"] = "https://gone.example.com" }), both(refused)},
			{"an array of audiences the server does not know is refused", claims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), both(refused)},
			// Another audience of this server: a valid token for its
			// resource server, which introspection answers for and the API
			// does not serve.
			{"another audience of ours: active at introspection, refused by the API",
				claims(func(c map[string]any) { c["aud"] = "orchestrator" }), verdict{introspection: accepted, api: refused}},
			{"an array naming another audience of ours only: active at introspection, refused by the API",
				claims(func(c map[string]any) { c["aud"] = []string{"orchestrator", "https://api.example.com"} }), verdict{introspection: accepted, api: refused}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := e.introspect(c.token)
				if in.StatusCode != http.StatusOK {
					t.Fatalf("introspection: got %d %s, want 200", in.StatusCode, in.body)
				}
				active, _ := in.json(t)["active"].(bool)
				api := e.call("GET", "/api/v1/me", c.token, nil)
				if api.StatusCode != http.StatusOK && api.StatusCode != http.StatusUnauthorized {
					t.Fatalf("API: got %d %s, want 200 or 401", api.StatusCode, api.body)
				}
				got := verdict{introspection: active, api: api.StatusCode == http.StatusOK}
				if got != c.want {
					t.Fatalf("got introspection active %v and API accepted %v, want %v and %v",
						got.introspection, got.api, c.want.introspection, c.want.api)
				}
				if active {
					m := in.json(t)
					if m["pat_id"] != p.ID || m["sub"] != carol.ID {
						t.Fatalf("introspection: got %s, want the token's pat_id and sub", in.body)
					}
				}
				if !got.api {
					wantProblem(t, api, http.StatusUnauthorized, "invalid-token", "")
				}
			})
		}
	})
}
