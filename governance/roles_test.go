package governance_test

import (
	"slices"
	"strings"
	"testing"

	"authserver/governance"
	"authserver/storage"
)

// TestRoleRules: a role has a name under the name rule, unique in its
// organization, and one to MaxPermissions dotted permission names; a
// malformed permission is named by position, never quoted.
func TestRoleRules(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	for _, c := range []struct {
		rule   string
		actor  governance.Actor
		req    governance.RoleRequest
		kind   governance.Kind
		code   string
		hidden string
	}{
		{"a user who is not an admin", bobA, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Jobs"}}, governance.Forbidden, "admin-required", ""},
		{"an admin of another organization", f.eveA, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Jobs"}}, governance.NotFound, "not-found", ""},
		{"an empty name", f.aliceA, governance.RoleRequest{Permissions: []string{"OR.Jobs"}}, governance.Invalid, "name-invalid", ""},
		{"no permission", f.aliceA, governance.RoleRequest{Name: "Ops"}, governance.Invalid, "permissions-empty", ""},
		{"more than MaxPermissions", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: slices.Repeat([]string{"OR.Jobs"}, governance.MaxPermissions+1)},
			governance.Invalid, "permissions-too-many", ""},
		{"an empty segment in a permission", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Jobs", "OR..Jobs"}},
			governance.Invalid, "permission-invalid", "OR..Jobs"},
		{"markup in a permission is not echoed", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: []string{"<script>"}},
			governance.Invalid, "permission-invalid", "<script>"},
		{"a permission no audience understands", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Jobs", "Nope.Read"}},
			governance.Invalid, "permission-unknown", "Nope.Read"},
		{"a permission beside the catalogue's", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Jbos"}},
			governance.Invalid, "permission-unknown", "OR.Jbos"},
		{"a management scope", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: []string{"Identity.Admin"}},
			governance.Invalid, "permission-reserved", ""},
		{"a permission covering a management scope", f.aliceA, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Jobs", "Identity"}},
			governance.Invalid, "permission-reserved", ""},
		{"a name another role of the organization has", f.aliceA, governance.RoleRequest{Name: "Dev", Permissions: []string{"OR.Jobs"}},
			governance.Conflict, "role-name-taken", ""},
	} {
		t.Run(c.rule, func(t *testing.T) {
			r, err := f.gov.CreateRole(ctx, c.actor, f.acme.ID, c.req)
			if r != nil {
				t.Fatalf("created %+v", r)
			}
			wantRefusal(t, err, c.kind, c.code)
			if c.hidden != "" && strings.Contains(err.Error(), c.hidden) {
				t.Fatalf("the message %q quotes the request", err)
			}
		})
	}
	roles, err := f.st.ListRoles(ctx, f.acme.ID)
	if err != nil || len(roles) != 1 {
		t.Fatalf("acme's roles %+v %v, want only the fixture's", roles, err)
	}

	// The same name in another organization is another role; permissions
	// are kept once each, in order.
	r, err := f.gov.CreateRole(ctx, f.eveA, f.globex.ID, governance.RoleRequest{Name: "Dev", Permissions: []string{"OR.Jobs", "OR.Folders", "OR.Jobs"}})
	if err != nil || !slices.Equal(r.Permissions, []string{"OR.Jobs", "OR.Folders"}) {
		t.Fatalf("globex Dev: %+v %v", r, err)
	}
}

// TestUpdateAndDeleteRole: renaming onto another role's name is a
// conflict; another organization's role is "not found" and untouched;
// deleting a role removes its assignments.
func TestUpdateAndDeleteRole(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	ops, err := f.gov.CreateRole(ctx, f.aliceA, f.acme.ID, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Folders"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, ops.ID, governance.RoleRequest{Name: "Dev", Permissions: []string{"OR.Folders"}})
	wantRefusal(t, err, governance.Conflict, "role-name-taken")

	globexRole, err := f.gov.CreateRole(ctx, f.eveA, f.globex.ID, governance.RoleRequest{Name: "G", Permissions: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, globexRole.ID, governance.RoleRequest{Name: "Mine", Permissions: []string{"OR"}})
	wantRefusal(t, err, governance.NotFound, "not-found")
	wantRefusal(t, f.gov.DeleteRole(ctx, f.aliceA, f.acme.ID, globexRole.ID, true), governance.NotFound, "not-found")
	if r, err := f.st.GetRole(ctx, f.globex.ID, globexRole.ID); err != nil || r.Name != "G" {
		t.Fatalf("globex's role: %+v %v", r, err)
	}

	up, err := f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, ops.ID, governance.RoleRequest{Name: "Operators", Permissions: []string{"OR.Jobs.Read", "OR.Jobs.Read"}})
	if err != nil || up.Name != "Operators" || !slices.Equal(up.Permissions, []string{"OR.Jobs.Read"}) {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, governance.AssignmentRequest{UserID: f.alice.ID, RoleID: ops.ID, Folder: "Finance"}); err != nil {
		t.Fatal(err)
	}
	err = f.gov.DeleteRole(ctx, f.aliceA, f.acme.ID, ops.ID, false)
	wantRefusal(t, err, governance.Conflict, "role-assigned")
	if !strings.Contains(err.Error(), "1 assignment") {
		t.Fatalf("the refusal does not say how many assignments go: %v", err)
	}
	if as, err := f.st.ListRoleAssignments(ctx, f.acme.ID, f.alice.ID); err != nil || len(as) != 1 {
		t.Fatalf("an unconfirmed delete removed assignments: %+v %v", as, err)
	}
	if err := f.gov.DeleteRole(ctx, f.aliceA, f.acme.ID, ops.ID, true); err != nil {
		t.Fatal(err)
	}
	if as, err := f.st.ListRoleAssignments(ctx, f.acme.ID, f.alice.ID); err != nil || len(as) != 0 {
		t.Fatalf("the deleted role's assignments remain: %+v %v", as, err)
	}
	events := f.audit(t, f.acme.ID)
	if got := actions(events); !slices.Equal(got[len(got)-4:], []string{"role.create", "role.update", "role.assign", "role.delete"}) {
		t.Fatalf("audit %q", got)
	}
	if d := events[len(events)-1].Detail; d != `name "Operators" with 1 assignment` {
		t.Fatalf("role.delete detail %q", d)
	}

	// A role nobody holds goes without confirmation.
	idle, err := f.gov.CreateRole(ctx, f.aliceA, f.acme.ID, governance.RoleRequest{Name: "Idle", Permissions: []string{"OR"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gov.DeleteRole(ctx, f.aliceA, f.acme.ID, idle.ID, false); err != nil {
		t.Fatal(err)
	}
	if d := f.audit(t, f.acme.ID); d[len(d)-1].Action != "role.delete" || d[len(d)-1].Detail != `name "Idle"` {
		t.Fatalf("audit %+v", d[len(d)-1])
	}
}

// TestAssignmentRules: an assignment binds a user and a role of the
// organization at a well-formed folder, once.
func TestAssignmentRules(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	ok := func(mod func(*governance.AssignmentRequest)) governance.AssignmentRequest {
		r := governance.AssignmentRequest{UserID: f.alice.ID, RoleID: f.acmeRole.ID, Folder: "Finance/Invoices"}
		mod(&r)
		return r
	}
	if _, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, ok(func(*governance.AssignmentRequest) {})); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule  string
		actor governance.Actor
		req   governance.AssignmentRequest
		kind  governance.Kind
		code  string
	}{
		{"a user who is not an admin", bobA, ok(func(r *governance.AssignmentRequest) { r.Folder = "" }), governance.Forbidden, "admin-required"},
		{"a folder with a leading slash", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.Folder = "/Finance" }), governance.Invalid, "folder-invalid"},
		{"a folder with an empty segment", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.Folder = "Finance//Invoices" }), governance.Invalid, "folder-invalid"},
		{"a folder with a bidirectional override", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.Folder = "Fin\u202eance" }), governance.Invalid, "folder-invalid"},
		{"no user", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.UserID = "" }), governance.Invalid, "user-required"},
		{"no role", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.RoleID = "" }), governance.Invalid, "role-required"},
		{"another organization's user", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.UserID = f.eve.ID }), governance.NotFound, "not-found"},
		{"an unknown role", f.aliceA, ok(func(r *governance.AssignmentRequest) { r.RoleID = "0190a5c4-0000-7000-8000-000000000000" }), governance.NotFound, "not-found"},
		{"the same role at the same folder again", f.aliceA, ok(func(*governance.AssignmentRequest) {}), governance.Conflict, "assignment-exists"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			ra, err := f.gov.CreateAssignment(ctx, c.actor, f.acme.ID, c.req)
			if ra != nil {
				t.Fatalf("assigned %+v", ra)
			}
			wantRefusal(t, err, c.kind, c.code)
		})
	}
	// The same role at another folder, and organization-wide, are other
	// assignments.
	for _, folder := range []string{"Finance", ""} {
		if _, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, ok(func(r *governance.AssignmentRequest) { r.Folder = folder })); err != nil {
			t.Fatalf("folder %q: %v", folder, err)
		}
	}
	list, err := f.gov.ListAssignments(ctx, f.aliceA, f.acme.ID, f.alice.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("alice's assignments: %+v %v", list, err)
	}
	// Deleting another organization's assignment is "not found".
	wantRefusal(t, f.gov.DeleteAssignment(ctx, f.eveA, f.globex.ID, list[0].ID), governance.NotFound, "not-found")
	if err := f.gov.DeleteAssignment(ctx, f.aliceA, f.acme.ID, list[0].ID); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, f.gov.DeleteAssignment(ctx, f.aliceA, f.acme.ID, list[0].ID), governance.NotFound, "not-found")
}

// TestAnotherOrganizationsIDsAreNotFound: every operation an admin of acme
// can name an id in answers "not found" for globex's ids — never
// "forbidden", which would confirm they exist — and changes nothing there.
func TestAnotherOrganizationsIDsAreNotFound(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	gRole, err := f.gov.CreateRole(ctx, f.eveA, f.globex.ID, governance.RoleRequest{Name: "G", Permissions: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	gAssign, err := f.gov.CreateAssignment(ctx, f.eveA, f.globex.ID, governance.AssignmentRequest{UserID: f.eve.ID, RoleID: gRole.ID})
	if err != nil {
		t.Fatal(err)
	}
	before := len(f.audit(t, f.globex.ID))
	for _, c := range []struct {
		rule string
		call func() error
	}{
		{"reading a PAT", func() error { _, err := f.gov.GetMyPAT(ctx, f.aliceA, f.evePAT.ID); return err }},
		{"revoking a PAT as its owner", func() error { _, err := f.gov.RevokeMyPAT(ctx, f.aliceA, f.evePAT.ID); return err }},
		{"regenerating a PAT", func() error {
			_, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, f.evePAT.ID, governance.PATRequest{})
			return err
		}},
		{"listing a user's PATs", func() error {
			_, err := f.gov.ListPATs(ctx, f.aliceA, f.acme.ID, governance.PATFilter{OwnerID: f.eve.ID})
			return err
		}},
		{"deactivating a user", func() error {
			_, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, f.eve.ID, storage.UserDeactivated)
			return err
		}},
		{"finding a user by name", func() error { _, err := f.gov.UserByName(ctx, f.aliceA, f.acme.ID, "eve"); return err }},
		{"renaming a role", func() error {
			_, err := f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, gRole.ID, governance.RoleRequest{Name: "X", Permissions: []string{"OR"}})
			return err
		}},
		{"deleting a role", func() error { return f.gov.DeleteRole(ctx, f.aliceA, f.acme.ID, gRole.ID, true) }},
		{"assigning a role", func() error {
			_, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, governance.AssignmentRequest{UserID: f.alice.ID, RoleID: gRole.ID})
			return err
		}},
		{"deleting an assignment", func() error { return f.gov.DeleteAssignment(ctx, f.aliceA, f.acme.ID, gAssign.ID) }},
		{"listing a user's assignments", func() error {
			_, err := f.gov.ListAssignments(ctx, f.aliceA, f.acme.ID, f.eve.ID)
			return err
		}},
		{"the organization's settings, by its id", func() error { _, err := f.gov.Settings(ctx, f.aliceA, f.globex.ID); return err }},
		{"the organization's audit log, by its id", func() error {
			_, err := f.gov.ListAudit(ctx, f.aliceA, f.globex.ID, governance.AuditFilter{})
			return err
		}},
		{"the organization's users, by its id", func() error {
			_, err := f.gov.ListUsers(ctx, f.aliceA, f.globex.ID, governance.UserFilter{})
			return err
		}},
	} {
		t.Run(c.rule, func(t *testing.T) { wantRefusal(t, c.call(), governance.NotFound, "not-found") })
	}
	if after := len(f.audit(t, f.globex.ID)); after != before {
		t.Fatalf("globex's audit log grew by %d", after-before)
	}
	if p := f.pat(t, f.globex.ID, f.evePAT.ID); p.RevokedAt != nil {
		t.Fatal("globex's PAT was revoked")
	}
	if u, err := f.st.GetUser(ctx, f.globex.ID, f.eve.ID); err != nil || u.Status != storage.UserActive {
		t.Fatalf("globex's admin: %+v %v", u, err)
	}
}

// TestRolePermissionsFromTheCatalogue: a permission must share something
// with a scope of the catalogue; the ones a role holds already (from the
// configuration file, say) survive a rename even when no audience
// understands them any more.
func TestRolePermissionsFromTheCatalogue(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	for _, perms := range [][]string{{"OR.Jobs"}, {"OR.Jobs.Read"}, {"OR"}, {"OR.Folders", "OR.Jobs.Run"}} {
		if _, err := f.gov.CreateRole(ctx, f.aliceA, f.acme.ID, governance.RoleRequest{Name: "R-" + strings.Join(perms, "-"), Permissions: perms}); err != nil {
			t.Fatalf("%v: %v", perms, err)
		}
	}
	legacy := &storage.Role{OrgID: f.acme.ID, Name: "Legacy", Permissions: []string{"Gone.Read", "OR.Jobs"}}
	if err := f.st.CreateRole(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	up, err := f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, legacy.ID, governance.RoleRequest{Name: "Old", Permissions: []string{"Gone.Read", "OR.Folders"}})
	if err != nil || !slices.Equal(up.Permissions, []string{"Gone.Read", "OR.Folders"}) {
		t.Fatalf("renaming a role with a permission outside the catalogue: %+v %v", up, err)
	}
	_, err = f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, legacy.ID, governance.RoleRequest{Name: "Old", Permissions: []string{"Gone.Read", "Gone.Write", "Also.Gone"}})
	wantRefusal(t, err, governance.Invalid, "permission-unknown")
	if !strings.Contains(err.Error(), "permissions 2, 3 (counting from 1)") || strings.Contains(err.Error(), "Gone.Write") {
		t.Fatalf("the refusal does not name the permissions by position: %v", err)
	}
}

// TestRoleSummaries counts each role's assignments and finds roles by name.
func TestRoleSummaries(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	ops, err := f.gov.CreateRole(ctx, f.aliceA, f.acme.ID, governance.RoleRequest{Name: "Ops", Permissions: []string{"OR.Folders"}})
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := f.member(t, f.acme, storage.User{Username: "bob"})
	for _, req := range []governance.AssignmentRequest{
		{UserID: f.alice.ID, RoleID: ops.ID}, {UserID: bob.ID, RoleID: ops.ID, Folder: "A"}, {UserID: bob.ID, RoleID: f.acmeRole.ID},
	} {
		if _, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, req); err != nil {
			t.Fatal(err)
		}
	}
	list, err := f.gov.RoleSummaries(ctx, f.aliceA, f.acme.ID)
	if err != nil || len(list) != 2 || list[0].Name != "Dev" || list[0].Assignments != 1 || list[1].Name != "Ops" || list[1].Assignments != 2 {
		t.Fatalf("summaries %+v %v", list, err)
	}
	r, err := f.gov.RoleByName(ctx, f.aliceA, f.acme.ID, "Ops")
	if err != nil || r.ID != ops.ID || r.Assignments != 2 {
		t.Fatalf("by name: %+v %v", r, err)
	}
	_, err = f.gov.RoleByName(ctx, f.aliceA, f.acme.ID, "Nope")
	wantRefusal(t, err, governance.NotFound, "not-found")
	_, err = f.gov.RoleByName(ctx, f.eveA, f.globex.ID, "Ops")
	wantRefusal(t, err, governance.NotFound, "not-found")
	_, err = f.gov.Role(ctx, f.eveA, f.globex.ID, ops.ID)
	wantRefusal(t, err, governance.NotFound, "not-found")
	_, err = f.gov.RoleSummaries(ctx, f.aliceA, f.globex.ID)
	wantRefusal(t, err, governance.NotFound, "not-found")
}
