package authserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// TestAPIRoleDeleteConfirmAndUserAccess: an assigned role is deleted only
// with confirm=true; permissions come from the catalogue; a user's access
// is the dry run per audience.
func TestAPIRoleDeleteConfirmAndUserAccess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		bob := e.user("acme", "bob")

		p := wantProblem(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Bad", "permissions": ["OR.Jobs", "Nope.Read"]}`),
			http.StatusBadRequest, "permission-unknown", "permissions")
		if strings.Contains(p["detail"].(string), "Nope") || !strings.Contains(p["detail"].(string), "permission 2") {
			t.Fatalf("detail %q", p["detail"])
		}
		wantProblem(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Bad", "permissions": ["Identity.Admin"]}`),
			http.StatusBadRequest, "permission-reserved", "permissions")

		role := wantStatus(t, e.call("POST", "/api/v1/admin/roles", admin, `{"name": "Auditor", "permissions": ["OR.Folders.Read", "API.Read"]}`), http.StatusCreated)
		roleID := role["id"].(string)
		for _, folder := range []string{"Finance", "Finance/Tax"} {
			wantStatus(t, e.call("POST", "/api/v1/admin/assignments", admin, map[string]string{"user_id": bob.ID, "role_id": roleID, "folder": folder}), http.StatusCreated)
		}

		acc := wantStatus(t, e.call("GET", "/api/v1/admin/users/"+bob.ID+"/access", admin, nil), http.StatusOK)
		if acc["usable"] != true || acc["user"].(map[string]any)["username"] != "bob" || !slices.Equal(strs(acc["folders"]), []string{"Finance", "Finance/Tax"}) {
			t.Fatalf("access %v", acc)
		}
		if roles, _ := acc["roles"].([]any); len(roles) != 2 || roles[0].(map[string]any)["role"] != "Auditor" {
			t.Fatalf("roles %v", acc["roles"])
		}
		byID := map[string]map[string]any{}
		var order []string
		for _, a := range acc["audiences"].([]any) {
			m := a.(map[string]any)
			byID[m["audience"].(string)] = m
			order = append(order, m["audience"].(string))
		}
		if order[len(order)-1] != e.url {
			t.Fatalf("audiences %q: the management audience is not last", order)
		}
		or := byID["orchestrator"]
		details, _ := or["authorization_details"].([]any)
		if or["scope"] != "" || len(details) != 2 || details[0].(map[string]any)["identifier"] != "Finance" ||
			!slices.Equal(strs(details[0].(map[string]any)["actions"]), []string{"OR.Folders.Read"}) {
			t.Fatalf("orchestrator %v", or)
		}
		if byID[e.url]["scope"] != exchange.ScopePATs {
			t.Fatalf("management %v", byID[e.url])
		}
		wantProblem(t, e.call("GET", "/api/v1/admin/users/"+e.user("globex", "eve").ID+"/access", admin, nil), http.StatusNotFound, "not-found", "")
		wantProblem(t, e.call("GET", "/api/v1/admin/users/"+bob.ID+"/access", e.apiToken("acme", "bob"), nil), http.StatusForbidden, "insufficient-scope", "")

		p = wantProblem(t, e.call("DELETE", "/api/v1/admin/roles/"+roleID, admin, nil), http.StatusConflict, "role-assigned", "")
		if !strings.Contains(p["detail"].(string), "2 assignments") {
			t.Fatalf("detail %q does not say how many assignments", p["detail"])
		}
		wantProblem(t, e.call("DELETE", "/api/v1/admin/roles/"+roleID+"?confirm=false", admin, nil), http.StatusConflict, "role-assigned", "")
		wantProblem(t, e.call("DELETE", "/api/v1/admin/roles/"+roleID+"?confirm=yes%3Cb%3E", admin, nil), http.StatusBadRequest, "invalid-parameter", "confirm")
		if list := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/assignments?user_id="+bob.ID, admin, nil), http.StatusOK)); len(list) != 2 {
			t.Fatalf("a refused delete removed assignments: %v", list)
		}
		if r := e.call("DELETE", "/api/v1/admin/roles/"+roleID+"?confirm=true", admin, nil); r.StatusCode != http.StatusNoContent {
			t.Fatalf("confirmed delete: %d %s", r.StatusCode, r.body)
		}
		if list := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/assignments?user_id="+bob.ID, admin, nil), http.StatusOK)); len(list) != 0 {
			t.Fatalf("the deleted role's assignments remain: %v", list)
		}
		audit := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=role.delete", admin, nil), http.StatusOK))
		if len(audit) != 1 || audit[0]["target"] != roleID || audit[0]["detail"] != `name "Auditor" with 2 assignments` {
			t.Fatalf("audit %v", audit)
		}
	})
}
