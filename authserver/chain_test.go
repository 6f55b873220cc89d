package authserver_test

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/storage"
)

// The gateway pattern of docs/agents.md: an agent host (the public client
// "agent") exchanges carol's PAT for a token of the MCP gateway's audience
// "mcp"; the gateway ("mcp-gateway", acting for mcp) exchanges that token
// for one of the orchestrator; a relay ("orch-relay", acting for the
// orchestrator) exchanges that one again. "bystander" acts for mcp too
// but is no delegate of carol's PAT.
const (
	mcpGatewaySecret = "mcp-gateway-secret-0123456789abcd"
	orchRelaySecret  = "orch-relay-secret-0123456789abcde"
	bystanderSecret  = "bystander-secret-0123456789abcdef"
)

// newChainEnv is newEnv with the audience and the clients of the gateway
// pattern, written to the database before anything reads the client or
// audience catalogue.
func newChainEnv(t *testing.T, driver string, o envOptions) *env {
	t.Helper()
	o.driver, o.noRateLimits = driver, true
	e := newEnv(t, o)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	grant := []string{rfc8693.GrantType}
	must(e.store.CreateAudience(ctx, &storage.Audience{ID: "mcp", Name: "MCP gateway", Scopes: []string{"OR.Jobs", "OR.Execution"},
		AccessTokenTTL: 10 * time.Minute}))
	for _, c := range []*storage.Client{
		{ID: "agent", Public: true, Audiences: []string{"mcp"}, GrantTypes: grant},
		{ID: "mcp-gateway", SecretHash: hash(mcpGatewaySecret), Audiences: []string{"orchestrator"}, GrantTypes: grant, OnBehalfOf: []string{"mcp"}},
		{ID: "orch-relay", SecretHash: hash(orchRelaySecret), Audiences: []string{"orchestrator"}, GrantTypes: grant, OnBehalfOf: []string{"orchestrator"}},
		{ID: "bystander", SecretHash: hash(bystanderSecret), Audiences: []string{"orchestrator"}, GrantTypes: grant, OnBehalfOf: []string{"mcp"}},
	} {
		must(e.store.CreateClient(ctx, c))
	}
	return e
}

// delegatedPAT is a PAT of carol (role Dev: OR.Jobs, OR.Execution) whose
// delegates are the gateway and the relay.
func (e *env) delegatedPAT(delegates ...string) (string, *storage.PAT) {
	e.t.Helper()
	return e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs", "OR.Execution"}, delegates: delegates})
}

// agentToken exchanges a PAT as the public client "agent" for the
// gateway's audience.
func (e *env) agentToken(pat string) string {
	e.t.Helper()
	r := e.post("/oauth2/token", url.Values{"grant_type": {rfc8693.GrantType}, "client_id": {"agent"},
		"subject_token": {pat}, "subject_token_type": {rfc8693.TokenTypeAccessToken}, "audience": {"mcp"}}, "", "")
	return accessToken(e.t, r)
}

// chain posts a chained exchange of subject as a confidential client.
func (e *env) chain(client, secret, subject string, extra url.Values) *response {
	e.t.Helper()
	form := url.Values{"grant_type": {rfc8693.GrantType}, "subject_token": {subject},
		"subject_token_type": {rfc8693.TokenTypeAccessToken}, "audience": {"orchestrator"}}
	for k, v := range extra {
		form[k] = v
	}
	return e.post("/oauth2/token", form, client, secret)
}

func accessToken(t testing.TB, r *response) string {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("exchange: %d %s", r.StatusCode, r.body)
	}
	tok, _ := r.json(t)["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", r.body)
	}
	return tok
}

// chainAudit waits for the audit event of a refused chained exchange by
// client with outcome cause.
func (e *env) chainAudit(t *testing.T, client string, cause exchange.Cause) storage.AuditEvent {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// Installation-wide until the PAT is known, then the PAT's
		// organization's.
		for _, org := range []string{"", e.orgIDs["acme"]} {
			events, err := e.store.ListAudit(ctx, storage.AuditFilter{OrgID: org, Action: "exchange.refused", Actor: "client:" + client})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range events {
				if ev.Outcome == string(cause) {
					return ev
				}
			}
		}
	}
	t.Fatalf("no exchange.refused event of client %s with outcome %s", client, cause)
	return storage.AuditEvent{}
}

// TestChainOneAndTwoHops walks the gateway pattern: PAT → gateway token →
// orchestrator token (act: the gateway) → a second hop (act nests the
// first) → a third hop, beyond tokens.max_delegation_depth (2), refused
// and audited with the client and the depth. Every chained token carries
// exactly the rights the PAT's own exchange for that audience gives.
func TestChainOneAndTwoHops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		pat, p := e.delegatedPAT("mcp-gateway", "orch-relay")
		carol := e.user("acme", "carol")
		grantedBefore := metricValue(t, e, `authserver_token_exchanges_total{result="granted",subject="jwt"}`)

		gw := e.agentToken(pat)
		claims := jwtPart(t, gw, 1)
		if claims["client_id"] != "agent" || claims["act"] != nil {
			t.Fatalf("the gateway's token: %v", claims)
		}
		// Of the PAT's delegates, only mcp-gateway acts for mcp.
		if !reflect.DeepEqual(claims["may_act"], map[string]any{"sub": "mcp-gateway"}) {
			t.Fatalf("may_act %v, want {sub: mcp-gateway}", claims["may_act"])
		}

		hop1 := e.chain("mcp-gateway", mcpGatewaySecret, gw, nil)
		one := accessToken(t, hop1)
		c1 := jwtPart(t, one, 1)
		if c1["sub"] != carol.ID || c1["pat_id"] != p.ID || c1["aud"] != "orchestrator" || c1["client_id"] != "mcp-gateway" {
			t.Fatalf("hop 1 claims %v", c1)
		}
		if !reflect.DeepEqual(c1["act"], map[string]any{"sub": "mcp-gateway"}) {
			t.Fatalf("hop 1 act %v", c1["act"])
		}
		if !reflect.DeepEqual(c1["may_act"], map[string]any{"sub": "orch-relay"}) {
			t.Fatalf("hop 1 may_act %v, want the relay, the one delegate acting for the orchestrator", c1["may_act"])
		}
		direct := e.exchange(pat, url.Values{"audience": {"orchestrator"}}).json(t)
		if got := hop1.json(t); got["scope"] != direct["scope"] || !reflect.DeepEqual(got["authorization_details"], direct["authorization_details"]) {
			t.Fatalf("hop 1 grants %v %v, the PAT's own exchange %v %v", got["scope"], got["authorization_details"], direct["scope"], direct["authorization_details"])
		}
		if got := hop1.json(t)["issued_token_type"]; got != rfc8693.TokenTypeAccessToken {
			t.Fatalf("issued_token_type %v", got)
		}

		// The relay presents hop 1's token, typed as a JWT this time.
		two := accessToken(t, e.chain("orch-relay", orchRelaySecret, one, url.Values{"subject_token_type": {rfc8693.TokenTypeJWT}}))
		c2 := jwtPart(t, two, 1)
		want := map[string]any{"sub": "orch-relay", "act": map[string]any{"sub": "mcp-gateway"}}
		if !reflect.DeepEqual(c2["act"], want) || c2["client_id"] != "orch-relay" || c2["pat_id"] != p.ID {
			t.Fatalf("hop 2 claims %v, want act %v", c2, want)
		}
		in := wantActive(t, e.introspect(two))
		if !reflect.DeepEqual(in["act"], want) || in["client_id"] != "orch-relay" || in["pat_id"] != p.ID {
			t.Fatalf("introspection of hop 2: %v", in)
		}

		body := refused(t, e.chain("orch-relay", orchRelaySecret, two, nil), http.StatusBadRequest, "invalid_request")
		if body["error_description"] != exchange.DepthDescription {
			t.Fatalf("hop 3: %v", body)
		}
		ev := e.chainAudit(t, "orch-relay", exchange.CauseDepth)
		if ev.Detail != "chained exchange, depth 3" || ev.Target != p.ID || ev.OrgID != e.orgIDs["acme"] {
			t.Fatalf("audit of hop 3: %+v", ev)
		}
		if got := metricValue(t, e, `authserver_token_exchanges_total{result="granted",subject="jwt"}`); got != grantedBefore+2 {
			t.Fatalf("granted chained exchanges %v → %v, want +2", grantedBefore, got)
		}
		if got := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="depth",subject="jwt"}`); got != 1 {
			t.Fatalf("depth refusals %v, want 1", got)
		}
	})
}

// TestChainExpiryNeverBeyondTheSubject: a chained token expires no later
// than the token it was exchanged from, though its audience allows longer.
func TestChainExpiryNeverBeyondTheSubject(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		clock := &fakeClock{t: time.Now().Truncate(time.Second)}
		e := newChainEnv(t, driver, envOptions{now: clock.now})
		pat, _ := e.delegatedPAT("mcp-gateway", "orch-relay")
		gw := e.agentToken(pat) // mcp: 10 minutes
		gwExp := jwtPart(t, gw, 1)["exp"].(float64)
		clock.advance(8 * time.Minute)
		r := e.chain("mcp-gateway", mcpGatewaySecret, gw, nil)
		one := accessToken(t, r)
		if exp := jwtPart(t, one, 1)["exp"].(float64); exp != gwExp {
			t.Fatalf("hop 1 exp %v, want the subject's %v (the orchestrator's 5 minutes would end later)", exp, gwExp)
		}
		if in := r.json(t)["expires_in"].(float64); in != 120 {
			t.Fatalf("expires_in %v, want the subject's remaining 120 s", in)
		}
		clock.advance(2 * time.Minute)
		body := refused(t, e.chain("orch-relay", orchRelaySecret, one, nil), http.StatusBadRequest, "invalid_request")
		if body["error_description"] != exchange.SubjectDescription {
			t.Fatalf("an expired subject: %v", body)
		}
	})
}

// TestChainRevocationReachesEveryHop: revoking the PAT or deactivating its
// owner mid-chain refuses the next hop with the one unusable-PAT
// description, and introspection of the chained tokens turns inactive.
func TestChainRevocationReachesEveryHop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		for _, c := range []struct {
			name string
			end  func(p *storage.PAT)
		}{
			{"the PAT revoked", func(p *storage.PAT) {
				if _, err := e.store.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "owner"); err != nil {
					t.Fatal(err)
				}
			}},
			{"the owner deactivated", func(p *storage.PAT) {
				u := e.user("acme", "carol")
				u.Status = storage.UserDeactivated
				if err := e.store.UpdateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				pat, p := e.delegatedPAT("mcp-gateway", "orch-relay")
				one := accessToken(t, e.chain("mcp-gateway", mcpGatewaySecret, e.agentToken(pat), nil))
				wantActive(t, e.introspect(one))
				c.end(p)
				body := refused(t, e.chain("orch-relay", orchRelaySecret, one, nil), http.StatusBadRequest, "invalid_request")
				if body["error_description"] != exchange.UnusableDescription {
					t.Fatalf("next hop: %v", body)
				}
				wantInactive(t, e.introspect(one))
				ev := e.chainAudit(t, "orch-relay", map[string]exchange.Cause{"the PAT revoked": exchange.CauseRevoked,
					"the owner deactivated": exchange.CauseUserDeactivated}[c.name])
				if ev.Detail != "chained exchange, depth 2" || ev.Target != p.ID {
					t.Fatalf("audit: %+v", ev)
				}
			})
		}
	})
}

// TestChainRoleRemovedNarrowsTheNextHop: the owner's roles are read at
// every hop, so a role removed mid-chain narrows the next token.
func TestChainRoleRemovedNarrowsTheNextHop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		carol := e.user("acme", "carol")
		runner := &storage.Role{OrgID: carol.OrgID, Name: "Runner", Permissions: []string{"OR.Execution"}}
		if err := e.store.CreateRole(ctx, runner); err != nil {
			t.Fatal(err)
		}
		if err := e.store.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: carol.OrgID, UserID: carol.ID, RoleID: runner.ID}); err != nil {
			t.Fatal(err)
		}
		pat, _ := e.delegatedPAT("mcp-gateway", "orch-relay")
		r1 := e.chain("mcp-gateway", mcpGatewaySecret, e.agentToken(pat), nil)
		one := accessToken(t, r1)
		if s := r1.json(t)["scope"]; s != "OR.Execution OR.Jobs" {
			t.Fatalf("hop 1 scope %v", s)
		}
		assignments, err := e.store.ListRoleAssignments(ctx, carol.OrgID, carol.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range assignments {
			if a.RoleID != runner.ID {
				if err := e.store.DeleteRoleAssignment(ctx, carol.OrgID, a.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		r2 := e.chain("orch-relay", orchRelaySecret, one, nil)
		accessToken(t, r2)
		if s := r2.json(t)["scope"]; s != "OR.Execution" {
			t.Fatalf("hop 2 scope %v, want OR.Execution alone once Dev is removed", s)
		}
		body := refused(t, e.chain("orch-relay", orchRelaySecret, one, url.Values{"scope": {"OR.Folders"}}), http.StatusBadRequest, "invalid_scope")
		if body["error_description"] != "A requested scope is not covered by the personal access token." {
			t.Fatalf("more than the PAT covers: %v", body)
		}
	})
}

// TestChainRefusals: every refusal of a chained exchange is the standard
// error with an exact description that repeats nothing sent.
func TestChainRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		pat, p := e.delegatedPAT("mcp-gateway")
		gw := e.agentToken(pat)
		one := accessToken(t, e.chain("mcp-gateway", mcpGatewaySecret, gw, nil))
		plainPAT, _ := e.delegatedPAT()
		plainGW := e.agentToken(plainPAT)

		carol := e.user("acme", "carol")
		now := time.Now().Unix()
		forged := func(edit func(c *exchange.Claims)) string {
			c := exchange.Claims{Issuer: e.url, Subject: carol.ID, Audience: "mcp", Expiry: now + 300, IssuedAt: now, NotBefore: now,
				ID: "j", ClientID: "agent", Scope: "OR.Jobs", OrgID: carol.OrgID, PATID: p.ID}
			edit(&c)
			return e.signOurs(c)
		}
		tampered := gw[:len(gw)-2] + map[bool]string{true: "AA", false: "BB"}[strings.HasSuffix(gw, "BB")]

		cases := []struct {
			name, client, secret, subject string
			extra                         url.Values
			status                        int
			code, description             string
			cause                         exchange.Cause
		}{
			{"a client that is not a delegate of the PAT", "bystander", bystanderSecret, gw, nil,
				400, "invalid_request", exchange.NotDelegateDescription, exchange.CauseNotDelegate},
			{"a PAT without delegates", "mcp-gateway", mcpGatewaySecret, plainGW, nil,
				400, "invalid_request", exchange.NotDelegateDescription, exchange.CauseNotDelegate},
			{"a subject for an audience outside the client's on_behalf_of", "mcp-gateway", mcpGatewaySecret, one, nil,
				400, "invalid_request", exchange.SubjectDescription, exchange.CauseSubject},
			{"a tampered subject", "mcp-gateway", mcpGatewaySecret, tampered, nil,
				400, "invalid_request", exchange.SubjectDescription, exchange.CauseSubject},
			{"an expired subject", "mcp-gateway", mcpGatewaySecret, forged(func(c *exchange.Claims) { c.Expiry = now - 1 }), nil,
				400, "invalid_request", exchange.SubjectDescription, exchange.CauseSubject},
			{"a subject of another issuer", "mcp-gateway", mcpGatewaySecret, forged(func(c *exchange.Claims) { c.Issuer = "https://other.example.com" }), nil,
				400, "invalid_request", exchange.SubjectDescription, exchange.CauseSubject},
			{"a subject with alg none", "mcp-gateway", mcpGatewaySecret, algNone(t, gw), nil,
				400, "invalid_request", exchange.SubjectDescription, exchange.CauseSubject},
			{"a subject signed by a foreign key", "mcp-gateway", mcpGatewaySecret, foreignJWT(t, exchange.Claims{Issuer: e.url, Subject: carol.ID,
				Audience: "mcp", Expiry: now + 300, IssuedAt: now, NotBefore: now, ID: "j", ClientID: "agent", OrgID: carol.OrgID, PATID: p.ID}), nil,
				400, "invalid_request", exchange.SubjectDescription, exchange.CauseSubject},
			{"a target outside the client's audiences", "mcp-gateway", mcpGatewaySecret, gw, url.Values{"audience": {"https://api.example.com"}},
				400, "invalid_target", "The client is not allowed to request this target.", exchange.CauseTarget},
			{"the management API as a chained target", "mcp-gateway", mcpGatewaySecret, gw, url.Values{"audience": {e.url}},
				400, "invalid_target", "The client is not allowed to request this target.", exchange.CauseTarget},
			{"a confidential client without on_behalf_of", "gateway", gatewaySecret, gw, nil,
				400, "unauthorized_client", "The client is not allowed to present an access token as subject_token.", exchange.CauseClient},
			{"actor_token", "mcp-gateway", mcpGatewaySecret, gw, url.Values{"actor_token": {gw}, "actor_token_type": {rfc8693.TokenTypeAccessToken}},
				400, "invalid_request", exchange.ActorTokenDescription, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body := refused(t, e.chain(c.client, c.secret, c.subject, c.extra), c.status, c.code)
				if body["error_description"] != c.description {
					t.Fatalf("description %q, want %q", body["error_description"], c.description)
				}
				if c.cause != "" {
					ev := e.chainAudit(t, c.client, c.cause)
					if !strings.HasPrefix(ev.Detail, "chained exchange, depth ") {
						t.Fatalf("audit detail %q", ev.Detail)
					}
				}
			})
		}

		t.Run("a public client presenting a JWT", func(t *testing.T) {
			r := e.post("/oauth2/token", url.Values{"grant_type": {rfc8693.GrantType}, "client_id": {"cli"},
				"subject_token": {gw}, "subject_token_type": {rfc8693.TokenTypeAccessToken}, "audience": {"orchestrator"}}, "", "")
			body := refused(t, r, http.StatusBadRequest, "unauthorized_client")
			if body["error_description"] != "The client is not allowed to present an access token as subject_token." {
				t.Fatalf("%v", body)
			}
			if ev := e.chainAudit(t, "cli", exchange.CauseClient); ev.Detail != "chained exchange, depth unknown (subject not verified)" {
				t.Fatalf("audit detail %q", ev.Detail)
			}
		})

		t.Run("no answer repeats the subject token", func(t *testing.T) {
			for _, c := range cases {
				r := e.chain(c.client, c.secret, c.subject, c.extra)
				sig := c.subject[strings.LastIndexByte(c.subject, '.')+1:]
				if strings.Contains(string(r.body), c.subject) || sig != "" && strings.Contains(string(r.body), sig) {
					t.Fatalf("%s: the answer holds the token: %s", c.name, r.body)
				}
			}
			if strings.Contains(e.logs.String(), gw) {
				t.Fatal("the logs hold a subject token")
			}
		})
	})
}

// TestChainAPIDelegates: a PAT created through the API names its
// delegates, every view of it shows them, an ineligible or unknown one is
// a problem naming the field and never the value, and the PAT's token then
// goes through the gateway.
func TestChainAPIDelegates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		carol := e.apiToken("acme", "carol")
		created := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol,
			map[string]any{"name": "agent", "scopes": []string{"OR.Jobs"}, "delegates": []string{"mcp-gateway"}}), http.StatusCreated)
		if got := strs(created["delegates"]); len(got) != 1 || got[0] != "mcp-gateway" {
			t.Fatalf("created delegates %v", created["delegates"])
		}
		id := created["id"].(string)
		if got := strs(wantStatus(t, e.call("GET", "/api/v1/me/pats/"+id, carol, nil), http.StatusOK)["delegates"]); len(got) != 1 {
			t.Fatalf("read back delegates %v", got)
		}
		for _, it := range items(t, wantStatus(t, e.call("GET", "/api/v1/me/pats", carol, nil), http.StatusOK)) {
			if _, ok := it["delegates"].([]any); !ok {
				t.Fatalf("a listed PAT without a delegates list: %v", it)
			}
		}
		one := accessToken(t, e.chain("mcp-gateway", mcpGatewaySecret, e.agentToken(created["token"].(string)), nil))
		if c := jwtPart(t, one, 1); c["pat_id"] != id {
			t.Fatalf("chained token of PAT %v, want %s", c["pat_id"], id)
		}

		canary := "pat_" + strings.Repeat("Q", 36)
		for _, c := range []struct {
			delegates []string
			code      string
		}{
			{[]string{canary}, "delegate-unknown"},
			{[]string{"agent"}, "delegate-not-eligible"},
			{[]string{"mcp-gateway", "mcp-gateway"}, "delegate-duplicate"},
		} {
			r := e.call("POST", "/api/v1/me/pats", carol, map[string]any{"name": "refused", "scopes": []string{"OR.Jobs"}, "delegates": c.delegates})
			wantProblem(t, r, http.StatusBadRequest, c.code, "delegates")
			if strings.Contains(string(r.body), canary) {
				t.Fatalf("the problem repeats the value: %s", r.body)
			}
		}
	})
}
