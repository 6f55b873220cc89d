package authserver_test

import (
	"net/http"
	"strings"
	"testing"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// TestAPIIsolation: an admin of another organization (globex/eve) reaches
// nothing of acme. Every route that names an acme thing answers 404 — never
// 403, which would confirm it exists — and leaves it untouched; every list
// shows only globex.
func TestAPIIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		eve := e.apiToken("globex", "eve", exchange.ScopePATs, exchange.ScopeAdmin)
		carol := e.user("acme", "carol")
		carolToken, carolPAT := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
		dev, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "Dev")
		if err != nil {
			t.Fatal(err)
		}
		globexDev, err := e.store.GetRoleByName(ctx, e.orgIDs["globex"], "Dev")
		if err != nil {
			t.Fatal(err)
		}
		as, err := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], carol.ID)
		if err != nil || len(as) == 0 {
			t.Fatalf("carol's assignments: %v %v", as, err)
		}
		eveUser := e.user("globex", "eve")

		// acmeState is everything of acme the requests below could touch.
		acmeState := func() string {
			users, err := e.store.ListUsers(ctx, storage.UserFilter{OrgID: e.orgIDs["acme"]})
			if err != nil {
				t.Fatal(err)
			}
			roles, err := e.store.ListRoles(ctx, e.orgIDs["acme"])
			if err != nil {
				t.Fatal(err)
			}
			assignments, err := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], "")
			if err != nil {
				t.Fatal(err)
			}
			org, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
			if err != nil {
				t.Fatal(err)
			}
			return snapshot(t, []any{users, roles, assignments, org, e.patsOf("acme", "carol"), e.patsOf("acme", "alice")})
		}
		before := acmeState()

		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/admin/pats?owner=" + carol.ID, nil},
			{"POST", "/api/v1/admin/pats/revoke-by-value", map[string]string{"token": carolToken}},
			{"POST", "/api/v1/admin/users/" + carol.ID + "/deactivate", nil},
			{"POST", "/api/v1/admin/users/" + carol.ID + "/reactivate", nil},
			{"PUT", "/api/v1/admin/roles/" + dev.ID, map[string]any{"name": "Hijacked", "permissions": []string{"OR"}}},
			{"DELETE", "/api/v1/admin/roles/" + dev.ID, nil},
			{"GET", "/api/v1/admin/assignments?user_id=" + carol.ID, nil},
			{"POST", "/api/v1/admin/assignments", map[string]string{"user_id": carol.ID, "role_id": globexDev.ID}},
			{"POST", "/api/v1/admin/assignments", map[string]string{"user_id": eveUser.ID, "role_id": dev.ID}},
			{"POST", "/api/v1/admin/assignments", map[string]string{"user_id": carol.ID, "role_id": dev.ID, "folder": "Elsewhere"}},
			{"DELETE", "/api/v1/admin/assignments/" + as[0].ID, nil},
			{"GET", "/api/v1/me/pats/" + carolPAT.ID, nil},
			{"DELETE", "/api/v1/me/pats/" + carolPAT.ID, nil},
			{"POST", "/api/v1/me/pats/" + carolPAT.ID + "/regenerate", nil},
			{"GET", "/api/v1/me/pats/" + carolPAT.ID + "/effective?audience=orchestrator", nil},
		} {
			t.Run(c.method+" "+c.path, func(t *testing.T) {
				wantProblem(t, e.call(c.method, c.path, eve, c.body), http.StatusNotFound, "not-found", "")
				if after := acmeState(); after != before {
					t.Fatal("a request of another organization's admin changed acme")
				}
			})
		}

		t.Run("bulk revoke of another organization's PATs finds none", func(t *testing.T) {
			got := wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke", eve, map[string]any{"ids": []string{carolPAT.ID}}), http.StatusOK)
			if len(strs(got["revoked"])) != 0 || len(strs(got["not_found"])) != 1 {
				t.Fatalf("bulk revoke answered %v", got)
			}
			if after := acmeState(); after != before {
				t.Fatal("acme changed")
			}
			if !e.exchangeOK(carolToken) {
				t.Fatal("carol's PAT was revoked")
			}
		})

		t.Run("lists show only the admin's organization", func(t *testing.T) {
			for _, path := range []string{"/api/v1/admin/pats", "/api/v1/admin/users", "/api/v1/admin/roles", "/api/v1/admin/assignments", "/api/v1/admin/audit"} {
				for _, it := range items(t, wantStatus(t, e.call("GET", path, eve, nil), http.StatusOK)) {
					raw := snapshot(t, it)
					for _, acme := range []string{carol.ID, carolPAT.ID, dev.ID, as[0].ID, e.user("acme", "alice").ID, "acme"} {
						if strings.Contains(raw, acme) {
							t.Fatalf("%s lists an acme thing: %s", path, raw)
						}
					}
				}
			}
		})

		t.Run("settings change only the admin's organization", func(t *testing.T) {
			t.Cleanup(func() { e.setSettings("globex", true, "0") })
			wantStatus(t, e.call("PUT", "/api/v1/admin/settings", eve, `{"pats_enabled": false, "pat_max_lifetime": "1d"}`), http.StatusOK)
			if after := acmeState(); after != before {
				t.Fatal("globex's settings changed acme")
			}
			if !e.exchangeOK(carolToken) {
				t.Fatal("disabling PATs in globex disabled them in acme")
			}
		})
	})
}
