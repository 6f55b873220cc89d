package authserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// TestAPIAdminPolicy: an admin switches PATs off and on and caps their
// lifetime; the rules apply at once to exchanges, creation and API tokens.
func TestAPIAdminPolicy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		// Real console sessions: the admin re-enables PATs through one,
		// since her API token came from a PAT and stops with them.
		aliceSession, carolSession := e.consoleSignIn("acme", "alice"), e.consoleSignIn("acme", "carol")

		t.Run("settings read", func(t *testing.T) {
			got := wantStatus(t, e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusOK)
			if got["pats_enabled"] != true || got["pat_max_lifetime"] != "0" {
				t.Fatalf("settings %v", got)
			}
		})

		t.Run("disabling PATs stops exchanges and creation; re-enabling restores them", func(t *testing.T) {
			t.Cleanup(func() { e.setSettings("acme", true, "0") })
			carolPAT := mustPAT(e, "acme", "carol", "OR.Jobs")
			if !e.exchangeOK(carolPAT) {
				t.Fatal("exchange fails before disabling")
			}
			got := wantStatus(t, e.call("PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": false, "pat_max_lifetime": "0"}`), http.StatusOK)
			if got["pats_enabled"] != false || got["pat_max_lifetime"] != "0" {
				t.Fatalf("settings %v", got)
			}
			if e.exchangeOK(carolPAT) {
				t.Fatal("a PAT can be exchanged while PATs are disabled")
			}
			// The admin's own API token came from a PAT: it stops too.
			wantProblem(t, e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusUnauthorized, "invalid-token", "")
			before := snapshot(t, e.patsOf("acme", "carol"))
			wantProblem(t, e.callSession("POST", "/api/v1/me/pats", carolSession, map[string]any{"name": "while off", "scopes": []string{"OR.Jobs"}}),
				http.StatusForbidden, "pats-disabled", "")
			if after := snapshot(t, e.patsOf("acme", "carol")); after != before {
				t.Fatal("a refused create changed the store")
			}
			// Re-enabled through the console (the admin's tokens are PATs too).
			wantStatus(t, e.callSession("PUT", "/api/v1/admin/settings", aliceSession, map[string]any{"pats_enabled": true, "pat_max_lifetime": "0"}), http.StatusOK)
			if !e.exchangeOK(carolPAT) {
				t.Fatal("exchange fails after re-enabling")
			}
			wantStatus(t, e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusOK)
			audit := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=org.settings", admin, nil), http.StatusOK))
			if len(audit) != 2 || audit[0]["detail"] != "pats_enabled false→true" || audit[1]["detail"] != "pats_enabled true→false" {
				t.Fatalf("settings audit %v", audit)
			}
		})

		t.Run("a maximum lifetime caps new PATs and ends older ones", func(t *testing.T) {
			t.Cleanup(func() { e.setSettings("acme", true, "0") })
			old := mustPATCreated(e, "acme", "carol", time.Now().Add(-60*24*time.Hour), "OR.Jobs")
			carol := e.apiToken("acme", "carol")
			if !e.exchangeOK(old) {
				t.Fatal("a 60-day-old PAT fails without a maximum")
			}
			got := wantStatus(t, e.call("PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": "30d"}`), http.StatusOK)
			if got["pat_max_lifetime"] != "30d" {
				t.Fatalf("settings %v", got)
			}
			if e.exchangeOK(old) {
				t.Fatal("a PAT older than the new maximum still works")
			}
			expired := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/pats?status=expired", admin, nil), http.StatusOK))
			if len(expired) != 1 {
				t.Fatalf("%d expired PATs listed, want the old one", len(expired))
			}

			before := snapshot(t, e.patsOf("acme", "carol"))
			beyond := time.Now().Add(31 * 24 * time.Hour).UTC().Format(time.RFC3339)
			wantProblem(t, e.call("POST", "/api/v1/me/pats", carol, `{"name": "long", "scopes": ["OR.Jobs"], "expires_at": "`+beyond+`"}`),
				http.StatusBadRequest, "expiry-beyond-maximum", "expires_at")
			wantProblem(t, e.call("POST", "/api/v1/me/pats", carol, `{"name": "forever", "scopes": ["OR.Jobs"], "expires_at": null}`),
				http.StatusBadRequest, "expiry-required", "expires_at")
			if after := snapshot(t, e.patsOf("acme", "carol")); after != before {
				t.Fatal("a refused create changed the store")
			}
			def := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, `{"name": "default", "scopes": ["OR.Jobs"]}`), http.StatusCreated)
			exp, err := time.Parse(time.RFC3339, def["expires_at"].(string))
			if err != nil || exp.Sub(time.Now().Add(30*24*time.Hour)).Abs() > time.Minute {
				t.Fatalf("default expiry %v, want now + 30d", def["expires_at"])
			}
			within := time.Now().Add(29 * 24 * time.Hour).UTC().Format(time.RFC3339)
			wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, `{"name": "within", "scopes": ["OR.Jobs"], "expires_at": "`+within+`"}`), http.StatusCreated)
			wantProblem(t, e.call("POST", "/api/v1/me/pats/"+def["id"].(string)+"/regenerate", carol, `{"expires_at": null}`),
				http.StatusBadRequest, "expiry-required", "expires_at")

			wantStatus(t, e.call("PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": "0"}`), http.StatusOK)
			if !e.exchangeOK(old) {
				t.Fatal("lifting the maximum does not restore the old PAT")
			}
		})

		t.Run("bad settings are refused and change nothing", func(t *testing.T) {
			for _, c := range []struct {
				body, code, field string
			}{
				{`{"pats_enabled": false}`, "invalid-field", "pat_max_lifetime"},
				{`{"pat_max_lifetime": "30d"}`, "invalid-field", "pats_enabled"},
				{`{"pats_enabled": false, "pat_max_lifetime": "-1d"}`, "invalid-field", "pat_max_lifetime"},
				{`{"pats_enabled": false, "pat_max_lifetime": "a year"}`, "invalid-field", "pat_max_lifetime"},
				{`{"pats_enabled": false, "pat_max_lifetime": 30}`, "wrong-type", "pat_max_lifetime"},
				{`{"pats_enabled": "no", "pat_max_lifetime": "0"}`, "wrong-type", "pats_enabled"},
				{`{"pats_enabled": false, "pat_max_lifetime": "36501d"}`, "max-lifetime-invalid", "pat_max_lifetime"},
				{`{"pats_enabled": true, "pat_max_lifetime": "1ns"}`, "max-lifetime-invalid", "pat_max_lifetime"},
				{`{"pats_enabled": true, "pat_max_lifetime": "59m59s"}`, "max-lifetime-invalid", "pat_max_lifetime"},
			} {
				wantProblem(t, e.call("PUT", "/api/v1/admin/settings", admin, c.body), http.StatusBadRequest, c.code, c.field)
			}
			// A maximum under an hour would block every PAT at once, the
			// admin's API token included: the problem says so.
			p := wantProblem(t, e.call("PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": "1ns"}`),
				http.StatusBadRequest, "max-lifetime-invalid", "pat_max_lifetime")
			if got := fmt.Sprint(p); !strings.Contains(got, "at least 1h") {
				t.Fatalf("got problem %s, want it to say the maximum is at least 1h", got)
			}
			got := wantStatus(t, e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusOK)
			if got["pats_enabled"] != true || got["pat_max_lifetime"] != "0" {
				t.Fatalf("refused updates changed the settings: %v", got)
			}
		})
	})
}

// mustPATCreated creates a PAT with a creation time in the store.
func mustPATCreated(e *env, org, user string, created time.Time, scopes ...string) string {
	tok, _ := e.pat(patSpec{org: org, user: user, scopes: scopes, created: created})
	return tok
}

// TestAPIAdminPATs: an admin lists the organization's PATs and revokes them
// in bulk or by value.
func TestAPIAdminPATs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		bob, carol, eve := e.user("acme", "bob"), e.user("acme", "carol"), e.user("globex", "eve")

		t.Run("list with owner and status filters", func(t *testing.T) {
			_, b1 := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
			_, b2 := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
			e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
			if _, err := e.store.RevokePAT(ctx, b2.OrgID, b2.ID, time.Now(), "owner"); err != nil {
				t.Fatal(err)
			}
			all := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/pats", admin, nil), http.StatusOK))
			for _, p := range all {
				if owner := p["owner"].(map[string]any); owner["username"] == "eve" {
					t.Fatal("an acme admin sees a globex PAT")
				}
				if _, has := p["token"]; has {
					t.Fatal("a listed PAT holds a token")
				}
			}
			got := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/pats?owner="+bob.ID, admin, nil), http.StatusOK))
			if !slices.Equal(ids(got), []string{b2.ID, b1.ID}) {
				t.Fatalf("owner=bob lists %v, want %v (newest first)", ids(got), []string{b2.ID, b1.ID})
			}
			for _, p := range got {
				owner := p["owner"].(map[string]any)
				if owner["id"] != bob.ID || owner["username"] != "bob" || p["name"] == "" || p["created_at"] == "" {
					t.Fatalf("PAT %v", p)
				}
			}
			got = items(t, wantStatus(t, e.call("GET", "/api/v1/admin/pats?owner="+bob.ID+"&status=revoked", admin, nil), http.StatusOK))
			if !slices.Equal(ids(got), []string{b2.ID}) || got[0]["status"] != "revoked" {
				t.Fatalf("owner=bob&status=revoked lists %v", got)
			}
			got = items(t, wantStatus(t, e.call("GET", "/api/v1/admin/pats?owner="+bob.ID+"&status=active", admin, nil), http.StatusOK))
			if !slices.Equal(ids(got), []string{b1.ID}) {
				t.Fatalf("owner=bob&status=active lists %v", ids(got))
			}
			wantProblem(t, e.call("GET", "/api/v1/admin/pats?owner="+eve.ID, admin, nil), http.StatusNotFound, "not-found", "")
			wantProblem(t, e.call("GET", "/api/v1/admin/pats?status=lost", admin, nil), http.StatusBadRequest, "status-invalid", "status")
		})

		t.Run("walking every page while PATs are inserted sees each existing PAT exactly once", func(t *testing.T) {
			for i := range 23 {
				e.pat(patSpec{org: "acme", user: []string{"bob", "carol"}[i%2], scopes: []string{"OR.Jobs"}})
			}
			existing, err := e.store.ListPATs(ctx, storage.PATFilter{OrgID: e.orgIDs["acme"]})
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			inserted := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				// A bounded number of inserts, spread over the walk: an
				// unbounded stream would outrun the pages forever.
				for n := range 40 {
					select {
					case <-stop:
						inserted <- nil
						return
					case <-time.After(2 * time.Millisecond):
					}
					tok, err := exchange.NewPAT("pat_", nil)
					if err != nil {
						inserted <- err
						return
					}
					p := &storage.PAT{OrgID: carol.OrgID, UserID: carol.ID, Name: fmt.Sprintf("concurrent %d", n), Scopes: []string{"OR.Jobs"},
						Hash: exchange.HashPAT(tok), Hint: exchange.PATHint(tok), CreatedAt: time.Now()}
					if err := e.store.CreatePAT(ctx, p); err != nil {
						inserted <- err
						return
					}
				}
				inserted <- nil
			})
			seen := map[string]int{}
			cursor, pages := "", 0
			for {
				q := url.Values{"limit": {"4"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				page := wantStatus(t, e.call("GET", "/api/v1/admin/pats?"+q.Encode(), admin, nil), http.StatusOK)
				list := items(t, page)
				if len(list) > 4 {
					t.Fatalf("a page of %d items, limit 4", len(list))
				}
				for _, id := range ids(list) {
					seen[id]++
				}
				pages++
				next, _ := page["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = next
				if pages > 1000 {
					t.Fatal("paging does not end")
				}
			}
			close(stop)
			wg.Wait()
			if err := <-inserted; err != nil {
				t.Fatal(err)
			}
			for _, p := range existing {
				if seen[p.ID] != 1 {
					t.Fatalf("PAT %s seen %d times, want once", p.ID, seen[p.ID])
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("PAT %s seen %d times", id, n)
				}
			}
			if pages < len(existing)/4 {
				t.Fatalf("%d pages for %d PATs", pages, len(existing))
			}
		})

		t.Run("bulk revoke by id", func(t *testing.T) {
			c1, p1 := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			c2, p2 := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
			b1, p3 := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
			ev, p4 := e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
			unknown := "00000000-0000-7000-8000-000000000000"
			body := map[string]any{"ids": []string{p1.ID, p2.ID, p3.ID, p4.ID, unknown, p1.ID, "x\x00y"}}
			got := wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke", admin, body), http.StatusOK)
			if !slices.Equal(strs(got["revoked"]), []string{p1.ID, p2.ID, p3.ID}) ||
				!slices.Equal(strs(got["not_found"]), []string{p4.ID, unknown, "x\x00y"}) {
				t.Fatalf("bulk revoke answered %v", got)
			}
			for _, tok := range []string{c1, c2, b1} {
				if e.exchangeOK(tok) {
					t.Fatal("a bulk-revoked PAT still works")
				}
			}
			if !e.exchangeOK(ev) {
				t.Fatal("another organization's PAT was revoked")
			}
			audit := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=pat.revoke&target="+p3.ID, admin, nil), http.StatusOK))
			if len(audit) != 1 || audit[0]["detail"] != "by admin" || audit[0]["actor"] != e.user("acme", "alice").ID {
				t.Fatalf("audit of the bulk revoke: %v", audit)
			}
			wantProblem(t, e.call("POST", "/api/v1/admin/pats/revoke", admin, `{"ids": []}`), http.StatusBadRequest, "ids-empty", "ids")
		})

		t.Run("revoke a leaked token by value", func(t *testing.T) {
			leaked, p := e.pat(patSpec{org: "acme", user: "carol", name: "leaked one", scopes: []string{"OR.Jobs"}})
			resp := e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]string{"token": leaked})
			got := wantStatus(t, resp, http.StatusOK)
			owner := got["owner"].(map[string]any)
			if got["id"] != p.ID || got["name"] != "leaked one" || owner["username"] != "carol" || owner["id"] != carol.ID || got["status"] != "revoked" {
				t.Fatalf("revoke by value answered %v", got)
			}
			if strings.Contains(string(resp.body), leaked) {
				t.Fatal("the answer echoes the token")
			}
			if e.exchangeOK(leaked) {
				t.Fatal("a token revoked by value still works")
			}
			wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]string{"token": leaked}), http.StatusOK)

			foreign, _ := e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}})
			nowhere, _ := exchange.NewPAT("pat_", nil)
			for _, v := range []string{foreign, nowhere, "pat_short", "ghp_" + strings.Repeat("a", 36)} {
				p := wantProblem(t, e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]string{"token": v}), http.StatusNotFound, "not-found", "")
				if strings.Contains(fmt.Sprint(p), v) {
					t.Fatal("the problem echoes the value")
				}
			}
			if !e.exchangeOK(foreign) {
				t.Fatal("another organization's PAT was revoked by value")
			}
			wantProblem(t, e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, `{"token": ""}`), http.StatusBadRequest, "invalid-field", "token")
			if strings.Contains(e.logs.String(), leaked) || strings.Contains(e.logs.String(), foreign) {
				t.Fatal("a token reached the logs")
			}
		})
	})
}

// TestAPIAdminUsersRolesAudit: users, roles, assignments and the audit log.
func TestAPIAdminUsersRolesAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		alice, bob, carol := e.user("acme", "alice"), e.user("acme", "bob"), e.user("acme", "carol")

		t.Run("list users, paginated", func(t *testing.T) {
			var names []string
			cursor := ""
			for {
				path := "/api/v1/admin/users?limit=3"
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				page := wantStatus(t, e.call("GET", path, admin, nil), http.StatusOK)
				for _, u := range items(t, page) {
					names = append(names, u["username"].(string))
					if _, has := u["password_hash"]; has {
						t.Fatal("a listed user holds a password hash")
					}
				}
				next, _ := page["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(names, []string{"alice", "bob", "carol", "dora"}) {
				t.Fatalf("users %v", names)
			}
		})

		t.Run("create users", func(t *testing.T) {
			got := wantStatus(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "frank"}`), http.StatusCreated)
			if got["username"] != "frank" || got["kind"] != "local" || got["status"] != "active" || got["admin"] != false || got["id"] == "" {
				t.Fatalf("created %v", got)
			}
			wantStatus(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "grace", "kind": "local", "admin": true, "password": "correct horse battery"}`), http.StatusCreated)
			wantStatus(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "dir-user", "kind": "directory"}`), http.StatusCreated)
			wantProblem(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "frank"}`), http.StatusConflict, "username-taken", "")
			wantProblem(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "bad\u202ename"}`), http.StatusBadRequest, "username-invalid", "username")
			wantProblem(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "robot", "kind": "robot"}`), http.StatusBadRequest, "kind-invalid", "kind")
			wantProblem(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "shorty", "password": "short"}`), http.StatusBadRequest, "password-too-short", "password")
			if strings.Contains(e.logs.String(), "correct horse battery") {
				t.Fatal("a password reached the logs")
			}
		})

		t.Run("deactivating a user stops their PATs and API tokens at once; reactivating restores them", func(t *testing.T) {
			pat := mustPAT(e, "acme", "carol", "OR.Jobs")
			tok := e.apiToken("acme", "carol")
			got := wantStatus(t, e.call("POST", "/api/v1/admin/users/"+carol.ID+"/deactivate", admin, nil), http.StatusOK)
			if got["status"] != "deactivated" || got["username"] != "carol" {
				t.Fatalf("deactivate answered %v", got)
			}
			if e.exchangeOK(pat) {
				t.Fatal("a deactivated user's PAT still works")
			}
			wantProblem(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusUnauthorized, "invalid-token", "")
			inactive := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/users?status=deactivated", admin, nil), http.StatusOK))
			if len(inactive) != 1 || inactive[0]["id"] != carol.ID {
				t.Fatalf("status=deactivated lists %v", inactive)
			}
			got = wantStatus(t, e.call("POST", "/api/v1/admin/users/"+carol.ID+"/reactivate", admin, nil), http.StatusOK)
			if got["status"] != "active" {
				t.Fatalf("reactivate answered %v", got)
			}
			if !e.exchangeOK(pat) {
				t.Fatal("reactivation does not restore the PAT")
			}
			wantStatus(t, e.call("GET", "/api/v1/me", tok, nil), http.StatusOK)
			wantProblem(t, e.call("POST", "/api/v1/admin/users/"+alice.ID+"/deactivate", admin, nil), http.StatusConflict, "self-deactivation", "")
			wantProblem(t, e.call("POST", "/api/v1/admin/users/00000000-0000-7000-8000-000000000000/deactivate", admin, nil), http.StatusNotFound, "not-found", "")
			for _, action := range []string{"user.deactivate", "user.reactivate"} {
				ev := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action="+action+"&target="+carol.ID, admin, nil), http.StatusOK))
				if len(ev) != 1 || ev[0]["actor"] != alice.ID || ev[0]["client_addr"] != "127.0.0.1" || ev[0]["outcome"] != "success" {
					t.Fatalf("audit of %s: %v", action, ev)
				}
			}
		})

		t.Run("roles and assignments decide what exchanges grant", func(t *testing.T) {
			bobPAT := mustPAT(e, "acme", "bob", "OR.Execution")
			role := wantStatus(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Runner", "permissions": ["OR.Jobs.Read"]}`), http.StatusCreated)
			roleID := role["id"].(string)
			wantProblem(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Runner", "permissions": ["OR.Execution"]}`), http.StatusConflict, "role-name-taken", "")
			wantProblem(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Bad", "permissions": ["not a scope"]}`), http.StatusBadRequest, "permission-invalid", "permissions")
			wantProblem(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Empty", "permissions": []}`), http.StatusBadRequest, "permissions-empty", "permissions")
			updated := wantStatus(t, e.call("PUT", "/api/v1/admin/roles/"+roleID, admin, `{"name": "Runner", "permissions": ["OR.Execution"]}`), http.StatusOK)
			if !slices.Equal(strs(updated["permissions"]), []string{"OR.Execution"}) {
				t.Fatalf("updated role %v", updated)
			}
			roles := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/roles", admin, nil), http.StatusOK))
			if !slices.Contains(ids(roles), roleID) {
				t.Fatal("the new role is not listed")
			}

			if resp := e.exchange(bobPAT, url.Values{"audience": {"orchestrator"}}); resp.StatusCode != http.StatusBadRequest || resp.json(t)["error"] != "invalid_scope" {
				t.Fatalf("bob without roles: %d %s", resp.StatusCode, resp.body)
			}
			as := wantStatus(t, e.call("POST", "/api/v1/admin/assignments", admin, map[string]string{"user_id": bob.ID, "role_id": roleID, "folder": "Ops"}), http.StatusCreated)
			if as["user_id"] != bob.ID || as["role_id"] != roleID || as["folder"] != "Ops" {
				t.Fatalf("assignment %v", as)
			}
			wantProblem(t, e.call("POST", "/api/v1/admin/assignments", admin, map[string]string{"user_id": bob.ID, "role_id": roleID, "folder": "Ops"}), http.StatusConflict, "assignment-exists", "")
			wantProblem(t, e.call("POST", "/api/v1/admin/assignments", admin, map[string]string{"user_id": bob.ID, "role_id": roleID, "folder": "/Ops/"}), http.StatusBadRequest, "folder-invalid", "folder")
			resp := e.exchange(bobPAT, url.Values{"audience": {"orchestrator"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("bob with Runner at Ops: %d %s", resp.StatusCode, resp.body)
			}
			list := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/assignments?user_id="+bob.ID, admin, nil), http.StatusOK))
			if !slices.Equal(ids(list), []string{as["id"].(string)}) {
				t.Fatalf("bob's assignments %v", list)
			}
			if r := e.call("DELETE", "/api/v1/admin/assignments/"+as["id"].(string), admin, nil); r.StatusCode != http.StatusNoContent || len(r.body) != 0 {
				t.Fatalf("delete assignment: %d %s", r.StatusCode, r.body)
			}
			wantProblem(t, e.call("DELETE", "/api/v1/admin/assignments/"+as["id"].(string), admin, nil), http.StatusNotFound, "not-found", "")
			if resp := e.exchange(bobPAT, url.Values{"audience": {"orchestrator"}}); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("bob after unassignment: %d %s", resp.StatusCode, resp.body)
			}
			if r := e.call("DELETE", "/api/v1/admin/roles/"+roleID, admin, nil); r.StatusCode != http.StatusNoContent {
				t.Fatalf("delete role: %d %s", r.StatusCode, r.body)
			}
			wantProblem(t, e.call("DELETE", "/api/v1/admin/roles/"+roleID, admin, nil), http.StatusNotFound, "not-found", "")
			wantProblem(t, e.call("PUT", "/api/v1/admin/roles/"+roleID, admin, `{"name": "Gone", "permissions": ["OR.Jobs"]}`), http.StatusNotFound, "not-found", "")
		})

		t.Run("the audit log records every change with actor, target, time, address and outcome, never a token", func(t *testing.T) {
			start := time.Now().Add(-time.Second).UTC()
			carolTok := e.apiToken("acme", "carol")
			created := wantStatus(t, e.call("POST", "/api/v1/me/pats", carolTok, `{"name": "audited", "scopes": ["OR.Jobs"]}`), http.StatusCreated)
			token, id := created["token"].(string), created["id"].(string)
			regen := wantStatus(t, e.call("POST", "/api/v1/me/pats/"+id+"/regenerate", carolTok, nil), http.StatusOK)
			wantStatus(t, e.call("DELETE", "/api/v1/me/pats/"+regen["id"].(string), carolTok, nil), http.StatusOK)
			if e.exchangeOK(token) { // a refused exchange, recorded by the token endpoint
				t.Fatal("a replaced token works")
			}
			want := map[string]string{"pat.create": id, "pat.regenerate": regen["id"].(string), "pat.revoke": regen["id"].(string)}
			for action, target := range want {
				ev := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action="+action+"&target="+target+"&actor="+carol.ID, admin, nil), http.StatusOK))
				if len(ev) != 1 || ev[0]["client_addr"] != "127.0.0.1" || ev[0]["outcome"] != "success" {
					t.Fatalf("audit of %s: %v", action, ev)
				}
				at, err := time.Parse(time.RFC3339, ev[0]["time"].(string))
				if err != nil || at.Before(start) || at.After(time.Now().Add(time.Second)) {
					t.Fatalf("audit time %v", ev[0]["time"])
				}
			}
			// Refused exchanges are written behind the request: wait for it.
			deadline := time.Now().Add(5 * time.Second)
			for {
				ev := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=exchange.refused&target="+id, admin, nil), http.StatusOK))
				if len(ev) == 1 && ev[0]["outcome"] == "reused" && ev[0]["actor"] == "client:cli" && ev[0]["client_addr"] == "127.0.0.1" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("refused exchange not audited: %v", ev)
				}
				time.Sleep(20 * time.Millisecond)
			}

			// So is the record of the replaced token's reuse.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				ev := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=pat.reuse&target="+id, admin, nil), http.StatusOK))
				if len(ev) == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the reuse of a replaced token not audited: %v", ev)
				}
			}

			// Time filters and paging.
			mid := time.Now().UTC()
			wantStatus(t, e.call("POST", "/api/v1/me/pats", carolTok, `{"name": "after mid", "scopes": ["OR.Jobs"]}`), http.StatusCreated)
			since := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?since="+url.QueryEscape(mid.Format(time.RFC3339Nano)), admin, nil), http.StatusOK))
			// A token's first use from a network is recorded behind the
			// request, whenever the flush comes: not what this checks.
			since = slices.DeleteFunc(since, func(ev map[string]any) bool { return ev["action"] == "pat.new_address" })
			if len(since) != 1 || since[0]["action"] != "pat.create" {
				t.Fatalf("since=%s lists %v", mid.Format(time.RFC3339Nano), since)
			}
			until := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?until="+url.QueryEscape(mid.Format(time.RFC3339Nano)), admin, nil), http.StatusOK))
			for _, ev := range until {
				if ev["detail"] == `name "after mid"` {
					t.Fatal("until lists a later event")
				}
			}
			wantProblem(t, e.call("GET", "/api/v1/admin/audit?since=yesterday", admin, nil), http.StatusBadRequest, "invalid-parameter", "since")

			var all []map[string]any
			seen := map[string]bool{}
			cursor := ""
			for {
				path := "/api/v1/admin/audit?limit=3"
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				page := wantStatus(t, e.call("GET", path, admin, nil), http.StatusOK)
				for _, ev := range items(t, page) {
					if seen[ev["id"].(string)] {
						t.Fatalf("event %v listed twice", ev["id"])
					}
					seen[ev["id"].(string)] = true
					all = append(all, ev)
				}
				next, _ := page["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(all) < 10 {
				t.Fatalf("only %d audit events", len(all))
			}
			for i := 1; i < len(all); i++ {
				prev, _ := time.Parse(time.RFC3339Nano, all[i-1]["time"].(string))
				cur, _ := time.Parse(time.RFC3339Nano, all[i]["time"].(string))
				if prev.Before(cur) {
					t.Fatal("the audit log is not newest first")
				}
			}
			raw := snapshot(t, all)
			for _, secret := range []string{token, regen["token"].(string)} {
				if strings.Contains(raw, secret) || strings.Contains(raw, secret[4:20]) {
					t.Fatal("a token value reached the audit log")
				}
			}
		})
	})
}
