package authserver_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/authserver"
	"authserver/authserver/dpop"
	"authserver/exchange"
	"authserver/internal/storetest"
)

var patPattern = regexp.MustCompile(`^pat_[0-9A-Za-z]{36}$`)

// TestAPISelfService: a user obtains an API token by exchanging a PAT with
// Identity.PATs for the issuer's audience, then manages their own PATs.
func TestAPISelfService(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		carol := e.user("acme", "carol")
		tok := e.apiToken("acme", "carol")

		t.Run("who am I", func(t *testing.T) {
			me := wantStatus(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusOK)
			user, _ := me["user"].(map[string]any)
			org, _ := me["organization"].(map[string]any)
			cred, _ := me["credential"].(map[string]any)
			if user["id"] != carol.ID || user["username"] != "carol" || user["admin"] != false {
				t.Fatalf("user %v, want carol", user)
			}
			if org["name"] != "acme" || org["pats_enabled"] != true || org["pat_max_lifetime"] != "0" {
				t.Fatalf("organization %v", org)
			}
			if cred["type"] != "bearer" || !slices.Equal(strs(cred["scopes"]), []string{exchange.ScopePATs}) {
				t.Fatalf("credential %v, want a bearer token holding Identity.PATs", cred)
			}
			if !slices.Contains(strs(me["permissions"]), "OR.Jobs") {
				t.Fatalf("permissions %v miss carol's Dev role", me["permissions"])
			}
		})

		t.Run("create, list, regenerate and revoke", func(t *testing.T) {
			resp := e.call("POST", "/api/v1/me/pats", tok, map[string]any{"name": "ci deploy", "scopes": []string{"OR.Jobs", "OR.Jobs"}})
			created := wantStatus(t, resp, http.StatusCreated)
			token, _ := created["token"].(string)
			id, _ := created["id"].(string)
			if !patPattern.MatchString(token) {
				t.Fatal("create did not answer a well-formed token")
			}
			if loc := resp.Header.Get("Location"); loc != "/api/v1/me/pats/"+id {
				t.Errorf("Location %q", loc)
			}
			owner, _ := created["owner"].(map[string]any)
			if created["name"] != "ci deploy" || created["status"] != "active" || created["expires_at"] != nil ||
				created["revoked_at"] != nil || created["last_used_at"] != nil || owner["username"] != "carol" ||
				!slices.Equal(strs(created["scopes"]), []string{"OR.Jobs"}) || created["hint"] != exchange.PATHint(token) {
				t.Fatalf("created PAT %s", resp.body)
			}
			if _, err := time.Parse(time.RFC3339, created["created_at"].(string)); err != nil || !strings.HasSuffix(created["created_at"].(string), "Z") {
				t.Fatalf("created_at %v is not RFC 3339 UTC", created["created_at"])
			}
			if !e.exchangeOK(token) {
				t.Fatal("the new PAT cannot be exchanged")
			}

			list := wantStatus(t, e.call("GET", "/api/v1/me/pats", tok, nil), http.StatusOK)
			if !slices.Contains(ids(items(t, list)), id) {
				t.Fatalf("list misses the new PAT: %v", list)
			}
			if _, has := list["next_cursor"]; has {
				t.Fatalf("a one-page list has next_cursor: %v", list)
			}
			got := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+id, tok, nil), http.StatusOK)
			if got["id"] != id || got["name"] != "ci deploy" {
				t.Fatalf("get: %v", got)
			}
			for _, m := range append(items(t, list), got) {
				if _, has := m["token"]; has {
					t.Fatal("a PAT read back holds a token")
				}
			}

			regen := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+id+"/regenerate", tok, nil), http.StatusOK)
			newToken, _ := regen["token"].(string)
			newID, _ := regen["id"].(string)
			if !patPattern.MatchString(newToken) || newToken == token || newID == id || regen["name"] != "ci deploy" ||
				!slices.Equal(strs(regen["scopes"]), []string{"OR.Jobs"}) {
				t.Fatalf("regenerated: %v", regen)
			}
			if e.exchangeOK(token) {
				t.Fatal("the old token still works after regeneration")
			}
			if !e.exchangeOK(newToken) {
				t.Fatal("the regenerated token does not work at once")
			}
			old := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+id, tok, nil), http.StatusOK)
			if old["status"] != "revoked" || old["revoked_at"] == nil {
				t.Fatalf("the replaced PAT is %v, want revoked", old["status"])
			}

			revoked := wantStatus(t, e.call("DELETE", "/api/v1/me/pats/"+newID, tok, nil), http.StatusOK)
			if revoked["status"] != "revoked" || revoked["revoked_at"] == nil || revoked["id"] != newID {
				t.Fatalf("revoke answered %v", revoked)
			}
			if e.exchangeOK(newToken) {
				t.Fatal("a revoked PAT can still be exchanged")
			}
			// Revoking again changes nothing.
			again := wantStatus(t, e.call("DELETE", "/api/v1/me/pats/"+newID, tok, nil), http.StatusOK)
			if again["revoked_at"] != revoked["revoked_at"] {
				t.Fatalf("revoking twice moved revoked_at: %v → %v", revoked["revoked_at"], again["revoked_at"])
			}

			m := e.metricsText()
			for _, ev := range []string{"created", "regenerated", "revoked_owner"} {
				if !strings.Contains(m, `authserver_pat_events_total{event="`+ev+`"} `) ||
					strings.Contains(m, `authserver_pat_events_total{event="`+ev+`"} 0`) {
					t.Errorf("metric authserver_pat_events_total{event=%q} not counted", ev)
				}
			}
			if strings.Contains(e.logs.String(), token) || strings.Contains(e.logs.String(), newToken) {
				t.Fatal("a token reached the logs")
			}
		})

		t.Run("status filter on my PATs", func(t *testing.T) {
			past := time.Now().Add(-time.Hour)
			_, expired := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}, created: past.Add(-time.Hour), expires: &past})
			list := items(t, wantStatus(t, e.call("GET", "/api/v1/me/pats?status=expired", tok, nil), http.StatusOK))
			if !slices.Contains(ids(list), expired.ID) {
				t.Fatalf("status=expired misses %s", expired.ID)
			}
			for _, m := range list {
				if m["status"] != "expired" {
					t.Fatalf("status=expired lists a %v PAT", m["status"])
				}
			}
		})

		t.Run("expires_at omitted, null or a date", func(t *testing.T) {
			at := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
			for _, c := range []struct {
				name string
				body string
				want any
			}{
				{"omitted means the default, no expiry without a maximum", `{"name": "exp-omitted", "scopes": ["OR.Jobs"]}`, nil},
				{"null means no expiry", `{"name": "exp-null", "scopes": ["OR.Jobs"], "expires_at": null}`, nil},
				{"a date is kept", `{"name": "exp-date", "scopes": ["OR.Jobs"], "expires_at": "` + at.Format(time.RFC3339) + `"}`, at.Format(time.RFC3339)},
				{"an offset is converted to UTC", `{"name": "exp-offset", "scopes": ["OR.Jobs"], "expires_at": "` + at.In(time.FixedZone("", 2*3600)).Format(time.RFC3339) + `"}`, at.Format(time.RFC3339)},
			} {
				t.Run(c.name, func(t *testing.T) {
					got := wantStatus(t, e.call("POST", "/api/v1/me/pats", tok, c.body), http.StatusCreated)
					if got["expires_at"] != c.want {
						t.Fatalf("expires_at %v, want %v", got["expires_at"], c.want)
					}
				})
			}
		})

		t.Run("names are stored and returned verbatim", func(t *testing.T) {
			for _, name := range []string{"x'); DROP TABLE pats;--", `<script>alert("x")</script> & co`, strings.Repeat("é", 100), "Überweisung 請求書"} {
				created := wantStatus(t, e.call("POST", "/api/v1/me/pats", tok, map[string]any{"name": name, "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
				if created["name"] != name {
					t.Fatalf("name %q came back as %q", name, created["name"])
				}
				got := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+created["id"].(string), tok, nil), http.StatusOK)
				if got["name"] != name {
					t.Fatalf("name %q read back as %q", name, got["name"])
				}
				raw := e.call("GET", "/api/v1/me/pats/"+created["id"].(string), tok, nil).body
				if strings.Contains(name, "<") && !strings.Contains(string(raw), "<script>") {
					t.Fatalf("HTML was escaped in the JSON: %s", raw)
				}
			}
			if len(e.patsOf("acme", "carol")) == 0 {
				t.Fatal("the pats table is gone")
			}
		})

		t.Run("an active name is unique per owner; revoking frees it", func(t *testing.T) {
			body := map[string]any{"name": "dup", "scopes": []string{"OR.Jobs"}}
			first := wantStatus(t, e.call("POST", "/api/v1/me/pats", tok, body), http.StatusCreated)
			before := snapshot(t, e.patsOf("acme", "carol"))
			wantProblem(t, e.call("POST", "/api/v1/me/pats", tok, body), http.StatusConflict, "name-taken", "")
			if after := snapshot(t, e.patsOf("acme", "carol")); after != before {
				t.Fatal("a refused create changed the store")
			}
			wantStatus(t, e.call("POST", "/api/v1/me/pats", e.apiToken("acme", "bob"), body), http.StatusCreated)
			wantStatus(t, e.call("DELETE", "/api/v1/me/pats/"+first["id"].(string), tok, nil), http.StatusOK)
			wantStatus(t, e.call("POST", "/api/v1/me/pats", tok, body), http.StatusCreated)
		})

		t.Run("regenerate with an explicit expiry", func(t *testing.T) {
			created := wantStatus(t, e.call("POST", "/api/v1/me/pats", tok, map[string]any{"name": "regen-exp", "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
			at := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
			regen := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+created["id"].(string)+"/regenerate", tok, `{"expires_at": "`+at+`"}`), http.StatusOK)
			if regen["expires_at"] != at {
				t.Fatalf("expires_at %v, want %s", regen["expires_at"], at)
			}
			regen2 := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+regen["id"].(string)+"/regenerate", tok, `{"expires_at": null}`), http.StatusOK)
			if regen2["expires_at"] != nil {
				t.Fatalf("expires_at %v, want null", regen2["expires_at"])
			}
			// Omitted: the original lifetime from now.
			regen3 := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+regen2["id"].(string)+"/regenerate", tok, `{}`), http.StatusOK)
			if regen3["expires_at"] != nil {
				t.Fatalf("expires_at %v, want null (the original had none)", regen3["expires_at"])
			}
		})

		t.Run("regenerating an expired or revoked PAT is a conflict", func(t *testing.T) {
			past := time.Now().Add(-time.Hour)
			_, expired := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}, created: past.Add(-time.Hour), expires: &past})
			_, revoked := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			if _, err := e.store.RevokePAT(ctx, revoked.OrgID, revoked.ID, time.Now(), "owner"); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, e.patsOf("acme", "carol"))
			wantProblem(t, e.call("POST", "/api/v1/me/pats/"+expired.ID+"/regenerate", tok, nil), http.StatusConflict, "pat-expired", "")
			wantProblem(t, e.call("POST", "/api/v1/me/pats/"+revoked.ID+"/regenerate", tok, nil), http.StatusConflict, "pat-revoked", "")
			if after := snapshot(t, e.patsOf("acme", "carol")); after != before {
				t.Fatal("a refused regeneration changed the store")
			}
		})

		t.Run("another user's or organization's PAT is not found", func(t *testing.T) {
			_, bobs := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
			_, eves := e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
			for _, p := range []string{bobs.ID, eves.ID, "00000000-0000-7000-8000-000000000000", "not-an-id", "%00", "%FF"} {
				wantProblem(t, e.call("GET", "/api/v1/me/pats/"+p, tok, nil), http.StatusNotFound, "not-found", "")
				wantProblem(t, e.call("DELETE", "/api/v1/me/pats/"+p, tok, nil), http.StatusNotFound, "not-found", "")
				wantProblem(t, e.call("POST", "/api/v1/me/pats/"+p+"/regenerate", tok, nil), http.StatusNotFound, "not-found", "")
				wantProblem(t, e.call("GET", "/api/v1/me/pats/"+p+"/effective?audience=orchestrator", tok, nil), http.StatusNotFound, "not-found", "")
			}
			for _, p := range append(e.patsOf("acme", "bob"), e.patsOf("globex", "eve")...) {
				if p.RevokedAt != nil {
					t.Fatalf("PAT %s of another user was revoked", p.ID)
				}
			}
		})
	})
}

// TestAPIScopesAndDryRun: the scope catalogue by audience and the dry run
// of an exchange.
func TestAPIScopesAndDryRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		tok := e.apiToken("acme", "alice")

		t.Run("the catalogue lists every audience, the management API included", func(t *testing.T) {
			got := items(t, wantStatus(t, e.call("GET", "/api/v1/scopes", tok, nil), http.StatusOK))
			want := map[string][]string{
				"orchestrator":            {"OR.Jobs", "OR.Execution", "OR.Folders"},
				"https://api.example.com": {"API.Read", "API.Write"},
				e.url:                     {exchange.ScopeAdmin, exchange.ScopePATs},
			}
			if len(got) != len(want) {
				t.Fatalf("%d audiences, want %d: %v", len(got), len(want), got)
			}
			for _, a := range got {
				id, _ := a["audience"].(string)
				if !sortedEqual(strs(a["scopes"]), want[id]) || a["name"] == "" || a["management"] != (id == e.url) {
					t.Fatalf("audience %v, want scopes %v", a, want[id])
				}
			}
		})

		_, pat := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "OR.Folders", "API.Write"}})
		base := "/api/v1/me/pats/" + pat.ID + "/effective"
		t.Run("the dry run shows grants, folders and dropped scopes", func(t *testing.T) {
			got := wantStatus(t, e.call("GET", base+"?audience=orchestrator", tok, nil), http.StatusOK)
			want := `{"audience":"orchestrator","authorization_details":[{"actions":["OR.Folders.Read","OR.Jobs"],"identifier":"Finance","locations":["orchestrator"],"type":"folder"}],` +
				`"dropped":[{"reason":"not in audience","scope":"API.Write"}],"scope":"OR.Jobs","usable":true}`
			if b, _ := json.Marshal(got); string(b) != want {
				t.Fatalf("dry run\n got %s\nwant %s", b, want)
			}
		})
		t.Run("the dry run of a requested scope drops what was not requested", func(t *testing.T) {
			got := wantStatus(t, e.call("GET", base+"?audience=orchestrator&scope=OR.Jobs.Read", tok, nil), http.StatusOK)
			want := `{"audience":"orchestrator","authorization_details":[],"dropped":[{"reason":"not in audience","scope":"API.Write"},{"reason":"not requested","scope":"OR.Folders"}],"scope":"OR.Jobs.Read","usable":true}`
			if b, _ := json.Marshal(got); string(b) != want {
				t.Fatalf("dry run\n got %s\nwant %s", b, want)
			}
		})
		t.Run("the dry run names scopes no role grants", func(t *testing.T) {
			got := wantStatus(t, e.call("GET", base+"?audience=https://api.example.com", tok, nil), http.StatusOK)
			want := `{"audience":"https://api.example.com","authorization_details":[],"dropped":[{"reason":"no role grants it","scope":"API.Write"},{"reason":"not in audience","scope":"OR.Folders"},{"reason":"not in audience","scope":"OR.Jobs"}],"scope":"","usable":true}`
			if b, _ := json.Marshal(got); string(b) != want {
				t.Fatalf("dry run\n got %s\nwant %s", b, want)
			}
		})
		t.Run("the dry run refuses what the exchange would refuse", func(t *testing.T) {
			wantProblem(t, e.call("GET", base+"?audience=orchestrator&scope=API.Read", tok, nil), http.StatusBadRequest, "scope-not-covered", "scope")
			wantProblem(t, e.call("GET", base+"?audience=orchestrator&scope=OR.Nothing", tok, nil), http.StatusBadRequest, "scope-not-covered", "scope")
			wantProblem(t, e.call("GET", base+"?audience=nowhere", tok, nil), http.StatusBadRequest, "audience-unknown", "audience")
			wantProblem(t, e.call("GET", base, tok, nil), http.StatusBadRequest, "audience-required", "audience")
		})
		t.Run("the dry run of an unusable PAT says why", func(t *testing.T) {
			if _, err := e.store.RevokePAT(ctx, pat.OrgID, pat.ID, time.Now(), "owner"); err != nil {
				t.Fatal(err)
			}
			got := wantStatus(t, e.call("GET", base+"?audience=orchestrator", tok, nil), http.StatusOK)
			if got["usable"] != false || got["reason"] != "revoked" {
				t.Fatalf("usable %v reason %v, want false, revoked", got["usable"], got["reason"])
			}
		})
	})
}

// TestAPIAuthentication: who may call the API, checked on every request
// against the database.
func TestAPIAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice, carol := e.user("acme", "alice"), e.user("acme", "carol")

		t.Run("no credentials: 401 naming the scheme", func(t *testing.T) {
			for _, auth := range []string{"", "Basic YWxpY2U6cGFzc3dvcmQ="} {
				req, _ := http.NewRequest("GET", e.url+"/api/v1/me", nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp := e.do(req)
				wantProblem(t, resp, http.StatusUnauthorized, "unauthorized", "")
				metadata := `resource_metadata="` + e.url + `/.well-known/oauth-protected-resource"`
				want := []string{`Bearer realm="authserver", ` + metadata,
					`DPoP realm="authserver", algs="` + strings.Join(dpop.Algorithms(), " ") + `", ` + metadata}
				if got := resp.Header.Values("WWW-Authenticate"); !slices.Equal(got, want) {
					t.Fatalf("WWW-Authenticate %q, want %q", got, want)
				}
			}
		})

		// forge signs claims with the server's own key: only the claims are
		// wrong, so each case tests the claim check, not the signature.
		_, carolPAT := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{exchange.ScopePATs}})
		forge := func(edit func(c *exchange.Claims)) string {
			now := time.Now().Unix()
			c := exchange.Claims{Issuer: e.url, Subject: carol.ID, Audience: e.url, Expiry: now + 60, IssuedAt: now, NotBefore: now,
				ID: "jti", ClientID: "cli", Scope: exchange.ScopePATs, OrgID: carol.OrgID, PATID: carolPAT.ID}
			edit(&c)
			b, _ := json.Marshal(c)
			tok, err := e.keys.Sign(b)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		t.Run("a well-formed token signed by the server is accepted", func(t *testing.T) {
			wantStatus(t, e.call("GET", "/api/v1/me", forge(func(*exchange.Claims) {}), nil), http.StatusOK)
		})

		orchestrator := e.exchange(mustPAT(e, "acme", "carol", "OR.Jobs"), map[string][]string{"audience": {"orchestrator"}}).json(t)["access_token"].(string)
		valid := forge(func(*exchange.Claims) {})
		_, alicePAT := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{exchange.ScopePATs}})
		cases := []struct {
			name  string
			token string
		}{
			{"garbage", "not-a-jwt"},
			{"a PAT is not an API token", mustPAT(e, "acme", "carol", exchange.ScopePATs)},
			{"a token for another audience", orchestrator},
			{"a tampered signature", valid[:len(valid)-4] + "AAAA"},
			{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + strings.Split(valid, ".")[1] + "."},
			{"another issuer", forge(func(c *exchange.Claims) { c.Issuer = "https://evil.example.com" })},
			{"another audience", forge(func(c *exchange.Claims) { c.Audience = "orchestrator" })},
			{"expired", forge(func(c *exchange.Claims) { c.Expiry = time.Now().Unix() - 1 })},
			{"not yet valid", forge(func(c *exchange.Claims) { c.NotBefore = time.Now().Unix() + 3600 })},
			{"without pat_id", forge(func(c *exchange.Claims) { c.PATID = "" })},
			{"an unknown pat_id", forge(func(c *exchange.Claims) { c.PATID = "00000000-0000-7000-8000-000000000000" })},
			{"a pat_id of another user", forge(func(c *exchange.Claims) { c.PATID = alicePAT.ID })},
			{"another organization", forge(func(c *exchange.Claims) { c.OrgID = e.orgIDs["globex"] })},
		}
		// Algorithm confusion: the valid claims under HS256, keyed with the
		// server's own public key in every form it could be taken from.
		secrets := e.publicKeySecrets(t, kidOf(t, valid))
		for _, form := range slices.Sorted(maps.Keys(secrets)) {
			cases = append(cases, struct{ name, token string }{"HS256 keyed with the public key as " + form, hs256(t, valid, secrets[form])})
		}
		for _, c := range cases {
			t.Run("refused: "+c.name, func(t *testing.T) {
				resp := e.call("GET", "/api/v1/me", c.token, nil)
				wantProblem(t, resp, http.StatusUnauthorized, "invalid-token", "")
				if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="authserver", error="invalid_token", resource_metadata="`+e.url+`/.well-known/oauth-protected-resource"` {
					t.Fatalf("WWW-Authenticate %q", got)
				}
			})
		}

		t.Run("revoking the PAT ends its API token at once", func(t *testing.T) {
			pat, p := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{exchange.ScopePATs}})
			tok := e.exchangeForAPI(pat)
			wantStatus(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusOK)
			if _, err := e.store.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "owner"); err != nil {
				t.Fatal(err)
			}
			wantProblem(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusUnauthorized, "invalid-token", "")
		})

		t.Run("Identity.PATs alone cannot administer", func(t *testing.T) {
			resp := e.call("GET", "/api/v1/admin/settings", e.apiToken("acme", "carol"), nil)
			wantProblem(t, resp, http.StatusForbidden, "insufficient-scope", "")
			if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="authserver", error="insufficient_scope", scope="Identity.Admin"` {
				t.Fatalf("WWW-Authenticate %q", got)
			}
		})
		t.Run("an admin's token without Identity.Admin cannot administer", func(t *testing.T) {
			wantProblem(t, e.call("GET", "/api/v1/admin/settings", e.apiToken("acme", "alice"), nil), http.StatusForbidden, "insufficient-scope", "")
		})
		t.Run("admin-ness is read from the database on every request", func(t *testing.T) {
			tok := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
			wantStatus(t, e.call("GET", "/api/v1/admin/settings", tok, nil), http.StatusOK)
			setAdmin(t, e, alice.ID, false)
			t.Cleanup(func() { setAdmin(t, e, alice.ID, true) })
			wantProblem(t, e.call("GET", "/api/v1/admin/settings", tok, nil), http.StatusForbidden, "insufficient-scope", "")
			me := wantStatus(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusOK)
			if cred := me["credential"].(map[string]any); !slices.Equal(strs(cred["scopes"]), []string{exchange.ScopePATs}) {
				t.Fatalf("a demoted admin's credential holds %v", cred["scopes"])
			}
			setAdmin(t, e, alice.ID, true)
			wantStatus(t, e.call("GET", "/api/v1/admin/settings", tok, nil), http.StatusOK)
		})
		t.Run("an admin-only token cannot manage PATs", func(t *testing.T) {
			tok := e.apiToken("acme", "alice", exchange.ScopeAdmin)
			resp := e.call("GET", "/api/v1/me/pats", tok, nil)
			wantProblem(t, resp, http.StatusForbidden, "insufficient-scope", "")
			if got := resp.Header.Get("WWW-Authenticate"); !strings.Contains(got, `scope="Identity.PATs"`) {
				t.Fatalf("WWW-Authenticate %q", got)
			}
			wantStatus(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusOK)
		})

		t.Run("a console session authenticates like a token", func(t *testing.T) {
			alice := e.consoleSignIn("acme", "alice")
			me := wantStatus(t, e.callSession("GET", "/api/v1/me", alice, nil), http.StatusOK)
			cred := me["credential"].(map[string]any)
			if cred["type"] != "session" || !sortedEqual(strs(cred["scopes"]), []string{exchange.ScopePATs, exchange.ScopeAdmin}) {
				t.Fatalf("credential %v", cred)
			}
			wantStatus(t, e.callSession("GET", "/api/v1/admin/settings", alice, nil), http.StatusOK)
			wantProblem(t, e.callSession("GET", "/api/v1/admin/settings", e.consoleSignIn("acme", "carol"), nil), http.StatusForbidden, "insufficient-scope", "")
			wantProblem(t, e.callSession("GET", "/api/v1/me", &consoleLogin{cookie: "unknown"}, nil), http.StatusUnauthorized, "invalid-token", "")
			// An Authorization header is judged alone: a bad token never
			// falls back to the cookie.
			req, _ := http.NewRequest("GET", e.url+"/api/v1/me", nil)
			req.Header.Set("Authorization", "Bearer not-a-jwt")
			req.AddCookie(&http.Cookie{Name: authserver.ConsoleSessionCookie, Value: alice.cookie})
			wantProblem(t, e.do(req), http.StatusUnauthorized, "invalid-token", "")
		})
	})
}

// mustPAT creates a PAT in the store and returns its token.
func mustPAT(e *env, org, user string, scopes ...string) string {
	tok, _ := e.pat(patSpec{org: org, user: user, scopes: scopes})
	return tok
}

// setAdmin changes a user's admin flag straight in the store.
func setAdmin(t *testing.T, e *env, userID string, admin bool) {
	t.Helper()
	u, err := e.store.GetUser(ctx, e.orgIDs["acme"], userID)
	if err != nil {
		t.Fatal(err)
	}
	u.Admin = admin
	if err := e.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
}
