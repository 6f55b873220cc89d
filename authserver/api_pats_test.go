package authserver_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// TestAPIPATListFilters: my PATs and the organization's filter by name,
// audience and "expiring within 7 days", newest first, on both databases;
// bad filters are problems naming the parameter.
func TestAPIPATListFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		carol := e.apiToken("acme", "carol")
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		now := time.Now()
		_, soon := e.pat(patSpec{org: "acme", user: "carol", name: "Deploy soon", scopes: []string{"OR.Jobs"}, expires: ptr(now.Add(3 * 24 * time.Hour))})
		_, api := e.pat(patSpec{org: "acme", user: "carol", name: "api_reader", scopes: []string{"API.Read"}, expires: ptr(now.Add(30 * 24 * time.Hour))})
		_, both := e.pat(patSpec{org: "acme", user: "carol", name: "deploy 100%", scopes: []string{"OR.Folders", "API.Write"}})
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"name=DEPLOY", []string{both.ID, soon.ID}},
			{"name=_", []string{api.ID}},
			{"name=" + url.QueryEscape("%"), []string{both.ID}},
			{"audience=" + url.QueryEscape("https://api.example.com"), []string{both.ID, api.ID}},
			{"expiring=true", []string{soon.ID}},
			{"expiring=true&status=revoked", []string{}},
			{"name=deploy&audience=orchestrator", []string{both.ID, soon.ID}},
		} {
			got := ids(items(t, wantStatus(t, e.call("GET", "/api/v1/me/pats?"+c.query, carol, nil), http.StatusOK)))
			// carol's API token came from a PAT of her own, with an
			// Identity scope: it matches none of these filters.
			if !slices.Equal(got, c.want) {
				t.Errorf("me/pats?%s: got %v, want %v", c.query, got, c.want)
			}
			got = ids(items(t, wantStatus(t, e.call("GET", "/api/v1/admin/pats?owner="+e.user("acme", "carol").ID+"&"+c.query, admin, nil), http.StatusOK)))
			if !slices.Equal(got, c.want) {
				t.Errorf("admin/pats?%s: got %v, want %v", c.query, got, c.want)
			}
		}
		for _, c := range []struct{ query, code, field string }{
			{"expiring=soon", "invalid-parameter", "expiring"},
			{"audience=nope", "audience-unknown", "audience"},
			{"name=a%00b", "invalid-parameter", "name"},
		} {
			wantProblem(t, e.call("GET", "/api/v1/me/pats?"+c.query, carol, nil), http.StatusBadRequest, c.code, c.field)
			wantProblem(t, e.call("GET", "/api/v1/admin/pats?"+c.query, admin, nil), http.StatusBadRequest, c.code, c.field)
		}
	})
}

// TestAPIScopeDescriptions: the catalogue carries the configured
// descriptions, and an empty object for audiences without any.
func TestAPIScopeDescriptions(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.apiToken("acme", "carol")
	for _, it := range items(t, wantStatus(t, e.call("GET", "/api/v1/scopes", tok, nil), http.StatusOK)) {
		desc, ok := it["descriptions"].(map[string]any)
		if !ok {
			t.Fatalf("%v: descriptions %T, want an object", it["audience"], it["descriptions"])
		}
		switch it["audience"] {
		case "orchestrator":
			if len(desc) != 1 || desc["OR.Execution"] != "Start and stop processes" {
				t.Errorf("orchestrator descriptions %v", desc)
			}
		default:
			if len(desc) != 0 {
				t.Errorf("%v descriptions %v, want none", it["audience"], desc)
			}
		}
	}
}

// TestAPILastUsedAddressAndClient: after an exchange, the PAT shows the
// client address and the OAuth client of that exchange.
func TestAPILastUsedAddressAndClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	carol := e.apiToken("acme", "carol")
	tok, p := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
	got := wantStatus(t, e.call("GET", "/api/v1/me/pats/"+p.ID, carol, nil), http.StatusOK)
	if got["last_used_addr"] != "" || got["last_used_client"] != "" || got["last_used_at"] != nil {
		t.Fatalf("before any use: %v", got)
	}
	if !e.exchangeOK(tok) {
		t.Fatal("exchange failed")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got = wantStatus(t, e.call("GET", "/api/v1/me/pats/"+p.ID, carol, nil), http.StatusOK)
		if got["last_used_at"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("last use never written")
		}
	}
	if got["last_used_addr"] != "127.0.0.1" || got["last_used_client"] != "cli" {
		t.Fatalf("last used from %v through %v", got["last_used_addr"], got["last_used_client"])
	}
}

// TestAPIAuditNames: audit items name their actor and target.
func TestAPIAuditNames(t *testing.T) {
	e := newEnv(t, envOptions{})
	carolSession := e.consoleSignIn("acme", "carol")
	admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
	created := wantStatus(t, e.callSession("POST", "/api/v1/me/pats", carolSession, map[string]any{"name": "nightly", "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
	list := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=pat.create", admin, nil), http.StatusOK))
	if len(list) != 1 {
		t.Fatalf("events %v", list)
	}
	ev := list[0]
	if ev["actor"] != e.user("acme", "carol").ID || ev["actor_name"] != "carol" || ev["target"] != created["id"] || ev["target_name"] != "nightly" {
		t.Fatalf("event %v", ev)
	}
}

// TestAPIRegenerateWithNewExpiry: the regenerate body sets the new
// expiry; beyond the maximum it is refused and nothing changes.
func TestAPIRegenerateWithNewExpiry(t *testing.T) {
	e := newEnv(t, envOptions{})
	carol := e.apiToken("acme", "carol")
	_, p := e.pat(patSpec{org: "acme", user: "carol", name: "ci", scopes: []string{"OR.Jobs"}, expires: ptr(time.Now().Add(24 * time.Hour))})
	want := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second)
	got := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+p.ID+"/regenerate", carol, map[string]any{"expires_at": want.Format(time.RFC3339)}), http.StatusOK)
	if got["expires_at"] != want.Format(time.RFC3339Nano) || got["token"] == "" {
		t.Fatalf("regenerated: %v", got)
	}
	e.setSettings("acme", true, "30d")
	before := snapshot(t, e.patsOf("acme", "carol"))
	wantProblem(t, e.call("POST", "/api/v1/me/pats/"+got["id"].(string)+"/regenerate", carol, map[string]any{"expires_at": want.Format(time.RFC3339)}),
		http.StatusBadRequest, "expiry-beyond-maximum", "expires_at")
	if snapshot(t, e.patsOf("acme", "carol")) != before {
		t.Fatal("a refused regeneration changed the store")
	}
}
