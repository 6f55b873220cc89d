package authserver_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"authserver/internal/storetest"
)

// TestConsoleRolesPages: the roles pages and a user's page, by plain
// forms: what they create, assign and delete is governance's, refusals are
// shown on the page without echoing the refused value, and members cannot
// reach them.
func TestConsoleRolesPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice := e.consoleClient().signIn("acme", "alice")
		bob := e.user("acme", "bob")

		// The list: every role with its permissions and assignments; the
		// picker offers the catalogue by audience, never a management scope.
		r := alice.get("/console/org/roles")
		wantPage(t, r, http.StatusOK, `data-role="Dev"`, "<code>OR.Execution</code>", `value="API.Write"`, "Example API")
		if strings.Contains(string(r.body), `value="Identity.`) {
			t.Fatal("the picker offers a management scope")
		}

		// Create: refusals keep the form and name the permission by position.
		r = alice.post("/console/org/roles", url.Values{"name": {"Auditors"}, "permissions": {"OR.Jobs", "Evil.<b>"}})
		wantPage(t, r, http.StatusBadRequest, "Permissions: permission 2 (counting from 1) is not a dotted permission name", `value="Auditors"`)
		if strings.Contains(string(r.body), "Evil") {
			t.Fatal("a refused permission is echoed")
		}
		r = alice.post("/console/org/roles", url.Values{"name": {"Auditors"}})
		wantPage(t, r, http.StatusBadRequest, "Permissions: must name at least one permission", `aria-invalid="true"`)
		r = alice.post("/console/org/roles", url.Values{"name": {"Dev"}, "permissions": {"OR.Jobs"}})
		wantPage(t, r, http.StatusConflict, "A role with this name exists")
		r = alice.post("/console/org/roles", url.Values{"name": {"Auditors"}, "permissions": {"OR.Folders", "API.Read"}})
		wantPage(t, r, http.StatusOK, "Role “Auditors” is created.", `data-role="Auditors"`)
		auditors, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "Auditors")
		if err != nil {
			t.Fatal(err)
		}

		// A role holding a permission beyond the catalogue's scopes keeps it.
		folderReader, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "FolderReader")
		if err != nil {
			t.Fatal(err)
		}
		wantPage(t, alice.get("/console/org/roles/"+folderReader.ID), http.StatusOK, `id="other-permissions"`, `value="OR.Folders.Read" id="perm-other-0" checked`)

		// The user's page: assign at a folder, refusals on the page.
		r = alice.get("/console/org/users/" + bob.ID)
		wantPage(t, r, http.StatusOK, "User bob", "holds no role", `href="/console/org/users/`+bob.ID+`/password"`, `data-audience="orchestrator"`)
		r = alice.post("/console/org/users/"+bob.ID+"/assignments", url.Values{"role_id": {auditors.ID}, "folder": {"Fin\x1bance"}})
		wantPage(t, r, http.StatusBadRequest, "Folder: must be")
		if strings.Contains(string(r.body), "\x1b") {
			t.Fatal("a refused folder is echoed with its control character")
		}
		r = alice.post("/console/org/users/"+bob.ID+"/assignments", url.Values{"role_id": {""}})
		wantPage(t, r, http.StatusBadRequest, "Role: choose a role to assign.")
		r = alice.post("/console/org/users/"+bob.ID+"/assignments", url.Values{"role_id": {"0190a5c4-0000-7000-8000-000000000000"}})
		wantPage(t, r, http.StatusNotFound, "Role: the role was not found")
		r = alice.post("/console/org/users/"+bob.ID+"/assignments", url.Values{"role_id": {auditors.ID}, "folder": {"Finance/Tax"}})
		wantPage(t, r, http.StatusOK, "The role is assigned at Finance/Tax and below.", `data-role="Auditors" data-folder="Finance/Tax"`,
			"<code>Finance/Tax</code>: <code>OR.Folders</code>")
		r = alice.post("/console/org/users/"+bob.ID+"/assignments", url.Values{"role_id": {auditors.ID}, "folder": {"Finance/Tax"}})
		wantPage(t, r, http.StatusConflict, "The user already holds this role at this folder")
		r = alice.post("/console/org/users/"+bob.ID+"/assignments", url.Values{"role_id": {auditors.ID}})
		wantPage(t, r, http.StatusOK, "The role is assigned organization-wide.")
		wantPage(t, alice.get("/console/org/roles"), http.StatusOK, `<td data-label="Assignments" class="count">2</td>`)

		// Deleting an assigned role needs the confirmation the dialog gives.
		r = alice.post("/console/org/roles/"+auditors.ID+"/delete", nil)
		wantPage(t, r, http.StatusConflict, "The role has 2 assignments; deleting it removes them too")
		wantPage(t, alice.get("/console/org/roles/"+auditors.ID), http.StatusOK, "Its 2 assignments go with it.",
			`<a href="/console/org/users/`+bob.ID+`">bob</a>, organization-wide`, `<a href="/console/org/users/`+bob.ID+`">bob</a>, at <code>Finance/Tax</code> and below`)
		// Unassign one; then delete with confirmation.
		as, err := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], bob.ID)
		if err != nil || len(as) != 2 {
			t.Fatalf("bob's assignments %v %v", as, err)
		}
		r = alice.post("/console/org/users/"+bob.ID+"/assignments/"+as[0].ID+"/delete", nil)
		wantPage(t, r, http.StatusOK, "is unassigned.")
		r = alice.post("/console/org/users/"+bob.ID+"/assignments/"+as[0].ID+"/delete", nil)
		wantPage(t, r, http.StatusNotFound, "does not hold this assignment any more")
		r = alice.post("/console/org/roles/"+auditors.ID+"/delete", url.Values{"confirm": {"yes"}})
		wantPage(t, r, http.StatusOK, "Role “Auditors” and its 1 assignment are deleted.")
		if as, _ := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], bob.ID); len(as) != 0 {
			t.Fatalf("the deleted role's assignments remain: %v", as)
		}

		// Rename and re-permission a role.
		r = alice.post("/console/org/roles/"+folderReader.ID, url.Values{"name": {"Readers"}, "permissions": {"OR.Folders.Read", "Nope.Read"}})
		wantPage(t, r, http.StatusBadRequest, "Permissions: no audience understands permission 2 (counting from 1)")
		r = alice.post("/console/org/roles/"+folderReader.ID, url.Values{"name": {"Readers"}, "permissions": {"OR.Folders.Read", "OR.Jobs"}})
		wantPage(t, r, http.StatusOK, "Role “Readers” is saved")

		// Another organization's things and members: not reachable.
		eve := e.user("globex", "eve")
		wantPage(t, alice.get("/console/org/users/"+eve.ID), http.StatusNotFound)
		wantPage(t, alice.get("/console/org/roles/0190a5c4-0000-7000-8000-000000000000"), http.StatusNotFound)
		carol := e.consoleClient().signIn("acme", "carol")
		wantPage(t, carol.get("/console/org/roles"), http.StatusForbidden)
		wantPage(t, carol.post("/console/org/roles", url.Values{"name": {"X"}, "permissions": {"OR.Jobs"}}), http.StatusForbidden)
		if _, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "X"); err == nil {
			t.Fatal("a member created a role")
		}

		// Every change is in the audit log.
		page := string(alice.get("/console/org/audit").body)
		for _, action := range []string{"role.create", "role.assign", "role.unassign", "role.delete", "role.update"} {
			if !regexp.MustCompile(regexp.QuoteMeta(action)).MatchString(page) {
				t.Errorf("the audit log lacks %s", action)
			}
		}
	})
}
