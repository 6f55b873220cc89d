package authserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/storage"
)

// refused asserts an RFC 6749 §5.2 error answer that issued no token.
func refused(t *testing.T, r *response, status int, code string) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.body)
	}
	body := r.json(t)
	if body["error"] != code {
		t.Fatalf("error %v, want %s: %s", body["error"], code, r.body)
	}
	if _, ok := body["access_token"]; ok {
		t.Fatalf("a refused request carries a token: %s", r.body)
	}
	if d, _ := body["error_description"].(string); d == "" {
		t.Fatalf("no error_description: %s", r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	return body
}

func exchangeForm(token string) url.Values {
	return url.Values{
		"grant_type":         {rfc8693.GrantType},
		"subject_token":      {token},
		"subject_token_type": {rfc8693.TokenTypeAccessToken},
		"client_id":          {"cli"},
		"audience":           {"orchestrator"},
	}
}

func with(form url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<delete>" {
			delete(out, kv[i])
			continue
		}
		out.Set(kv[i], kv[i+1])
	}
	return out
}

func TestTokenEndpointBadInput(t *testing.T) {
	// Forty failures from one address: more than its budget
	// (TestRateLimits covers that).
	e := newEnv(t, envOptions{noRateLimits: true})
	token, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs.Read"}})
	ok := exchangeForm(token)

	// The well-formed request is granted: every case below differs from it
	// in one way only.
	if r := e.post("/oauth2/token", ok, "", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("baseline exchange: %d %s", r.StatusCode, r.body)
	}

	rawCases := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"GET is not allowed", http.MethodGet, "", "", 405, "invalid_request"},
		{"a JSON body is the wrong content type", http.MethodPost, "application/json", `{"grant_type":"x"}`, 400, "invalid_request"},
		{"no content type", http.MethodPost, "", ok.Encode(), 400, "invalid_request"},
		{"a body of 64 KiB + 1 is too large", http.MethodPost, "application/x-www-form-urlencoded",
			ok.Encode() + "&pad=" + strings.Repeat("a", 64<<10), 413, "invalid_request"},
		{"bad percent-encoding", http.MethodPost, "application/x-www-form-urlencoded", ok.Encode() + "&x=%zz", 400, "invalid_request"},
		{"invalid UTF-8 in a value", http.MethodPost, "application/x-www-form-urlencoded", ok.Encode() + "&x=%ff%fe", 400, "invalid_request"},
		{"a NUL byte in a value", http.MethodPost, "application/x-www-form-urlencoded", ok.Encode() + "&x=a%00b", 400, "invalid_request"},
		{"an empty body", http.MethodPost, "application/x-www-form-urlencoded", "", 400, "invalid_request"},
	}
	for _, c := range rawCases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, e.url+"/oauth2/token", strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			refused(t, e.do(req), c.status, c.code)
		})
	}

	t.Run("a multipart body is refused", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range ok {
			mw.WriteField(k, v[0])
		}
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, e.url+"/oauth2/token", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		refused(t, e.do(req), 400, "invalid_request")
	})

	formCases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"grant_type is required", with(ok, "grant_type", "<delete>"), 400, "invalid_request"},
		{"an empty grant_type counts as absent", with(ok, "grant_type", ""), 400, "invalid_request"},
		{"an unknown grant is unsupported_grant_type", with(ok, "grant_type", "client_credentials"), 400, "unsupported_grant_type"},
		{"subject_token is required", with(ok, "subject_token", "<delete>"), 400, "invalid_request"},
		{"an empty subject_token counts as absent", with(ok, "subject_token", ""), 400, "invalid_request"},
		{"subject_token_type is required", with(ok, "subject_token_type", "<delete>"), 400, "invalid_request"},
		{"an unsupported subject_token_type", with(ok, "subject_token_type", "urn:ietf:params:oauth:token-type:id_token"), 400, "invalid_request"},
		{"an unsupported requested_token_type", with(ok, "requested_token_type", "urn:ietf:params:oauth:token-type:saml2"), 400, "invalid_request"},
		{"actor_token is not supported", with(ok, "actor_token", "x", "actor_token_type", rfc8693.TokenTypeAccessToken), 400, "invalid_request"},
		{"actor_token_type alone is not supported", with(ok, "actor_token_type", rfc8693.TokenTypeAccessToken), 400, "invalid_request"},
		{"an unknown audience", with(ok, "audience", "https://nowhere.example.com"), 400, "invalid_target"},
		{"an audience this client may not request", with(ok, "client_id", "api-only"), 400, "invalid_target"},
		{"a resource that is not an absolute URI", with(ok, "audience", "<delete>", "resource", "orchestrator"), 400, "invalid_target"},
		{"a resource that is no audience", with(ok, "audience", "<delete>", "resource", "https://nowhere.example.com/"), 400, "invalid_target"},
		{"no target and no default audience", with(ok, "audience", "<delete>"), 400, "invalid_request"},
		{"an unknown client", with(ok, "client_id", "nobody"), 401, "invalid_client"},
		{"no client at all", with(ok, "client_id", "<delete>"), 401, "invalid_client"},
		{"a public client must not send a secret", with(ok, "client_secret", "anything"), 401, "invalid_client"},
		{"a confidential client without its secret", with(ok, "client_id", "gateway"), 401, "invalid_client"},
		{"a confidential client with a wrong secret", with(ok, "client_id", "gateway", "client_secret", "wrong"), 401, "invalid_client"},
		{"a client not allowed the grant", with(ok, "client_id", "introspector", "client_secret", introspectorSecret), 400, "unauthorized_client"},
		{"client assertions are not supported", with(ok, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", "x.y.z"), 401, "invalid_client"},
		{"a scope the PAT does not cover", with(ok, "scope", "OR.Jobs"), 400, "invalid_scope"},
		{"a scope the audience does not understand", with(ok, "scope", "API.Read"), 400, "invalid_scope"},
		{"a scope with a forbidden character", with(ok, "scope", `OR.Jobs.Read "x"`), 400, "invalid_scope"},
		{"a scope of 10 000 entries", with(ok, "scope", strings.TrimSpace(strings.Repeat("A ", 10000))), 400, "invalid_scope"},
	}
	for _, c := range formCases {
		t.Run(c.name, func(t *testing.T) {
			refused(t, e.post("/oauth2/token", c.form, "", ""), c.status, c.code)
		})
	}

	t.Run("a repeated parameter is refused", func(t *testing.T) {
		for _, name := range []string{"subject_token", "grant_type", "client_id", "subject_token_type"} {
			f := with(ok)
			f.Add(name, f.Get(name)+"x")
			refused(t, e.post("/oauth2/token", f, "", ""), 400, "invalid_request")
		}
	})
	t.Run("a repeated parameter with one empty value is not repeated", func(t *testing.T) {
		f := with(ok)
		f.Add("subject_token", "")
		if r := e.post("/oauth2/token", f, "", ""); r.StatusCode != 200 {
			t.Fatalf("got %d %s", r.StatusCode, r.body)
		}
	})
	t.Run("several audiences are invalid_target", func(t *testing.T) {
		f := with(ok)
		f.Add("audience", "https://api.example.com")
		refused(t, e.post("/oauth2/token", f, "", ""), 400, "invalid_target")
	})
	t.Run("an audience and a resource are invalid_target", func(t *testing.T) {
		refused(t, e.post("/oauth2/token", with(ok, "resource", "https://api.example.com"), "", ""), 400, "invalid_target")
	})
	t.Run("Basic credentials and client_secret together are refused", func(t *testing.T) {
		refused(t, e.post("/oauth2/token", with(ok, "client_id", "<delete>", "client_secret", gatewaySecret), "gateway", gatewaySecret), 400, "invalid_request")
	})
	t.Run("a 401 names the Basic scheme", func(t *testing.T) {
		r := e.post("/oauth2/token", with(ok, "client_id", "<delete>"), "gateway", "wrong")
		refused(t, r, 401, "invalid_client")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("a confidential client with client_secret_post is granted", func(t *testing.T) {
		r := e.post("/oauth2/token", with(ok, "client_id", "gateway", "client_secret", gatewaySecret), "", "")
		if r.StatusCode != 200 {
			t.Fatalf("got %d %s", r.StatusCode, r.body)
		}
	})
}

// unusable holds a PAT for every cause of an unusable PAT (plus an unknown
// and a malformed value), made so by the database and the organizations'
// policy.
type unusable struct {
	unknown, badChecksum                string
	revoked, expired, tooOld            string
	orgDisabled, deactivated, directory string
	// reused: replaced by regeneration, no overlap; outside: allowed
	// only from a network the test client is not in.
	reused, outside string
}

// unusablePATs creates them: alice's revoked and expired PATs, carol's PAT
// older than acme's (lowered) maximum lifetime, dora's (a directory user),
// eve's in globex (PATs disabled) and bob's (deactivated).
func (e *env) unusablePATs() unusable {
	t := e.t
	t.Helper()
	now := time.Now()
	scopes := []string{"OR.Jobs"}
	var u unusable
	var revoked *storage.PAT
	u.revoked, revoked = e.pat(patSpec{org: "acme", user: "alice", scopes: scopes})
	if _, err := e.store.RevokePAT(ctx, revoked.OrgID, revoked.ID, now, "owner"); err != nil {
		t.Fatal(err)
	}
	u.expired, _ = e.pat(patSpec{org: "acme", user: "alice", scopes: scopes, created: now.Add(-2 * time.Hour), expires: ptr(now.Add(-time.Hour))})
	u.tooOld, _ = e.pat(patSpec{org: "acme", user: "carol", scopes: scopes, created: now.Add(-400 * 24 * time.Hour)})
	u.directory, _ = e.pat(patSpec{org: "acme", user: "dora", scopes: scopes})
	u.orgDisabled, _ = e.pat(patSpec{org: "globex", user: "eve", scopes: scopes})
	u.deactivated, _ = e.pat(patSpec{org: "acme", user: "bob", scopes: scopes})
	var reused *storage.PAT
	u.reused, reused = e.pat(patSpec{org: "acme", user: "alice", scopes: scopes})
	if _, err := e.store.RevokePAT(ctx, reused.OrgID, reused.ID, now, storage.RegeneratedReason); err != nil {
		t.Fatal(err)
	}
	u.outside, _ = e.pat(patSpec{org: "acme", user: "alice", scopes: scopes, cidrs: []string{"10.0.0.0/8", "2001:db8::/32"}})
	u.unknown, _ = exchange.NewPAT("pat_", nil)
	u.badChecksum = u.unknown[:len(u.unknown)-1] + flip(u.unknown[len(u.unknown)-1])

	// Policy changes that make otherwise valid PATs unusable.
	acme, _ := e.store.GetOrganization(ctx, e.orgIDs["acme"])
	acme.PATMaxLifetime = 365 * 24 * time.Hour
	globex, _ := e.store.GetOrganization(ctx, e.orgIDs["globex"])
	globex.PATsEnabled = false
	bob := e.user("acme", "bob")
	bob.Status = storage.UserDeactivated
	if e.store.UpdateOrganization(ctx, acme) != nil || e.store.UpdateOrganization(ctx, globex) != nil || e.store.UpdateUser(ctx, bob) != nil {
		t.Fatal("policy changes failed")
	}
	return u
}

// TestUnusablePATs shows every cause of an unusable PAT answered
// identically (no oracle), with the precise cause counted in the metrics,
// on both databases.
func TestUnusablePATs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		u := e.unusablePATs()
		cases := []struct {
			name, token string
			cause       exchange.Cause
		}{
			{"an unknown PAT", u.unknown, exchange.CauseUnknown},
			{"a malformed PAT (bad checksum)", u.badChecksum, exchange.CauseMalformed},
			{"a string that is no PAT at all", "hello", exchange.CauseMalformed},
			{"a revoked PAT", u.revoked, exchange.CauseRevoked},
			{"an expired PAT", u.expired, exchange.CauseExpired},
			{"a PAT older than the organization's maximum lifetime", u.tooOld, exchange.CauseMaxLifetime},
			{"a PAT of an organization with PATs disabled", u.orgDisabled, exchange.CauseOrgDisabled},
			{"a PAT of a deactivated user", u.deactivated, exchange.CauseUserDeactivated},
			{"a PAT of a directory user", u.directory, exchange.CauseNonLocal},
			{"a PAT replaced by regeneration", u.reused, exchange.CauseReused},
			{"a PAT used from outside its allowed networks", u.outside, exchange.CauseNetwork},
		}
		var description string
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="`+string(c.cause)+`",subject="pat"}`)
				body := refused(t, e.exchange(c.token, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
				d := body["error_description"].(string)
				if description == "" {
					description = d
				}
				if d != description {
					t.Fatalf("description %q differs from %q: an oracle", d, description)
				}
				after := metricValue(t, e, `authserver_token_exchange_refusals_total{cause="`+string(c.cause)+`",subject="pat"}`)
				if after != before+1 {
					t.Fatalf("cause %s counted %v → %v, want +1", c.cause, before, after)
				}
			})
		}
		if description != exchange.UnusableDescription {
			t.Fatalf("description %q, want %q", description, exchange.UnusableDescription)
		}

		t.Run("the precise cause is in the audit log, never the token", func(t *testing.T) {
			want := []exchange.Cause{exchange.CauseRevoked, exchange.CauseExpired, exchange.CauseMaxLifetime, exchange.CauseUserDeactivated, exchange.CauseNonLocal,
				exchange.CauseReused, exchange.CauseNetwork}
			var events []storage.AuditEvent
			causes := map[string]bool{}
			// Refusals are audited off the request path: wait for them.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				events, _ = e.store.ListAudit(ctx, storage.AuditFilter{OrgID: e.orgIDs["acme"], Action: "exchange.refused"})
				causes = map[string]bool{}
				for _, ev := range events {
					causes[ev.Outcome] = true
				}
				if allCauses(causes, want) {
					break
				}
			}
			for _, ev := range events {
				causes[ev.Outcome] = true
				raw, _ := json.Marshal(ev)
				for _, tok := range []string{u.revoked, u.expired, u.tooOld, u.directory, u.deactivated} {
					if strings.Contains(string(raw), tok) {
						t.Fatalf("audit event holds a token: %s", raw)
					}
				}
			}
			for _, c := range want {
				if !causes[string(c)] {
					t.Errorf("no audit event with outcome %s (got %v)", c, causes)
				}
			}
		})

		t.Run("re-enabling PATs and reactivating the user restore otherwise valid PATs", func(t *testing.T) {
			globex, _ := e.store.GetOrganization(ctx, e.orgIDs["globex"])
			globex.PATsEnabled = true
			if err := e.store.UpdateOrganization(ctx, globex); err != nil {
				t.Fatal(err)
			}
			bob := e.user("acme", "bob")
			bob.Status = storage.UserActive
			if err := e.store.UpdateUser(ctx, bob); err != nil {
				t.Fatal(err)
			}
			if r := e.exchange(u.orgDisabled, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
				t.Fatalf("globex PAT after re-enabling: %d %s", r.StatusCode, r.body)
			}
			// bob holds no role: usable again, but he has no rights.
			refused(t, e.exchange(u.deactivated, url.Values{"audience": {"orchestrator"}}), 400, "invalid_scope")
		})
	})
}

// TestExchangeRules covers what a granted exchange carries.
func TestExchangeRules(t *testing.T) {
	e := newEnv(t, envOptions{})

	t.Run("the access token never outlives its PAT", func(t *testing.T) {
		tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}, expires: ptr(time.Now().Add(90 * time.Second))})
		r := e.exchange(tok, url.Values{"audience": {"orchestrator"}})
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
		if in := r.json(t)["expires_in"].(float64); in > 90 || in < 85 {
			t.Fatalf("expires_in %v, want at most the PAT's remaining 90s", in)
		}
	})
	t.Run("an audience's own TTL applies", func(t *testing.T) {
		tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"API.Read"}})
		r := e.exchange(tok, url.Values{"audience": {"https://api.example.com"}})
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
		body := r.json(t)
		// JWT times are whole seconds and exp is rounded down.
		if in := body["expires_in"].(float64); in < 119 || in > 120 || body["scope"] != "API.Read" || body["token_type"] != "Bearer" ||
			body["issued_token_type"] != rfc8693.TokenTypeAccessToken {
			t.Fatalf("got %s", r.body)
		}
		if _, ok := body["refresh_token"]; ok {
			t.Fatal("a refresh token was issued")
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
	})
	t.Run("a resource equal to an audience id is that audience", func(t *testing.T) {
		tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"API.Read"}})
		r := e.exchange(tok, url.Values{"resource": {"https://api.example.com"}})
		if r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
	})
	t.Run("scopes the roles no longer grant are dropped silently", func(t *testing.T) {
		tok, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs", "OR.Folders"}})
		r := e.exchange(tok, url.Values{"audience": {"orchestrator"}})
		if r.StatusCode != 200 || r.json(t)["scope"] != "OR.Jobs" {
			t.Fatalf("got %d %s", r.StatusCode, r.body)
		}
	})
	t.Run("removing a role takes effect on the next exchange", func(t *testing.T) {
		tok, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
		if r := e.exchange(tok, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
			t.Fatalf("before: %d %s", r.StatusCode, r.body)
		}
		carol := e.user("acme", "carol")
		as, _ := e.store.ListRoleAssignments(ctx, carol.OrgID, carol.ID)
		for _, a := range as {
			if err := e.store.DeleteRoleAssignment(ctx, carol.OrgID, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		refused(t, e.exchange(tok, url.Values{"audience": {"orchestrator"}}), 400, "invalid_scope")
	})
	t.Run("a revoke that has returned is honoured by the next exchange", func(t *testing.T) {
		tok, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		for i := range 3 {
			if r := e.exchange(tok, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
				t.Fatalf("exchange %d: %d", i, r.StatusCode)
			}
		}
		if _, err := e.store.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "owner"); err != nil {
			t.Fatal(err)
		}
		refused(t, e.exchange(tok, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
	})
	t.Run("last use is written behind the exchange", func(t *testing.T) {
		tok, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		start := time.Now().Add(-time.Second)
		if r := e.exchange(tok, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
		var got *storage.PAT
		waitFor(t, "last_used_at to be written", func() bool {
			var err error
			if got, err = e.store.GetPAT(ctx, p.OrgID, p.ID); err != nil {
				t.Fatal(err)
			}
			return got.LastUsedAt != nil && got.LastUsedAt.After(start)
		})
		// The address and client of the exchange are written with it.
		if got.LastUsedAddr != "127.0.0.1" || got.LastUsedClient != "cli" {
			t.Fatalf("last used from %q through %q, want 127.0.0.1 through cli", got.LastUsedAddr, got.LastUsedClient)
		}
	})
}

// TestLastUseKeptToTheMinute: a PAT's last use is written when it moves
// by a minute or more, or comes from another address or client; uses
// within the minute of the recorded one — exchanges through the same
// client, introspections — are not written. Whether a use was written is
// told by a second PAT used after it: the write-behind flushes every
// pending use at once, so once the second PAT's use is in the database,
// the first's would be too.
func TestLastUseKeptToTheMinute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		clock := &fakeClock{t: time.Now().Truncate(time.Second)}
		e := newEnv(t, envOptions{driver: driver, now: clock.now})
		t0 := clock.now()
		tok, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "API.Read"}})
		exchangeVia := func(client, audience string) {
			t.Helper()
			if r := e.exchange(tok, url.Values{"audience": {audience}, "client_id": {client}}); r.StatusCode != 200 {
				t.Fatalf("exchange through %s: %d %s", client, r.StatusCode, r.body)
			}
		}
		// waitUse waits for the PAT's recorded last use to be want.
		waitUse := func(p *storage.PAT, want storage.PATUse) {
			t.Helper()
			waitFor(t, fmt.Sprintf("PAT %s's last use to be %+v", p.Name, want), func() bool {
				got, err := e.store.GetPAT(ctx, p.OrgID, p.ID)
				if err != nil {
					t.Fatal(err)
				}
				u := got.LastUse()
				return u.At.Equal(want.At) && u.Addr == want.Addr && u.Client == want.Client
			})
		}
		// settled waits until a use of another PAT, made now, is written.
		settled := func() {
			t.Helper()
			other, op := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
			if r := e.exchange(other, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
				t.Fatalf("exchange of the other PAT: %d", r.StatusCode)
			}
			waitUse(op, storage.PATUse{At: clock.now(), Addr: "127.0.0.1", Client: "cli"})
		}

		exchangeVia("cli", "orchestrator")
		first := storage.PATUse{At: t0, Addr: "127.0.0.1", Client: "cli"}
		waitUse(p, first)

		clock.advance(59 * time.Second)
		exchangeVia("cli", "orchestrator")
		if r := e.introspect(tok); r.StatusCode != 200 {
			t.Fatalf("introspection: %d %s", r.StatusCode, r.body)
		}
		settled()
		waitUse(p, first)

		clock.advance(time.Second)
		exchangeVia("cli", "orchestrator")
		waitUse(p, storage.PATUse{At: t0.Add(time.Minute), Addr: "127.0.0.1", Client: "cli"})

		clock.advance(time.Second)
		exchangeVia("api-only", "https://api.example.com")
		waitUse(p, storage.PATUse{At: t0.Add(61 * time.Second), Addr: "127.0.0.1", Client: "api-only"})
	})
}

// TestExchangeWithoutDatabase: no database, no token.
func TestExchangeWithoutDatabase(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	if r := e.exchange(tok, url.Values{"audience": {"orchestrator"}}); r.StatusCode != 200 {
		t.Fatalf("baseline: %d", r.StatusCode)
	}
	e.closeStore()
	refused(t, e.exchange(tok, url.Values{"audience": {"orchestrator"}}), 503, "temporarily_unavailable")
}

// metricValue reads one sample from the server's metrics.
func metricValue(t *testing.T, e *env, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(e.metricsText(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(line, series+" "), "%g", &v)
			return v
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

// flip changes a base62 character into another.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func allCauses(got map[string]bool, want []exchange.Cause) bool {
	for _, c := range want {
		if !got[string(c)] {
			return false
		}
	}
	return true
}
