package governance_test

import (
	"slices"
	"testing"

	"authserver/exchange"
	"authserver/governance"
	"authserver/storage"
)

// TestUserAccess: per audience, what a PAT with every scope of the
// audience would get now, by the exchange's own computation, for admins
// of the user's organization only.
func TestUserAccess(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	if err := f.st.CreateAudience(ctx, &storage.Audience{ID: "api", Name: "API", Scopes: []string{"API.Read", "API.Write"}}); err != nil {
		t.Fatal(err)
	}
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	reader, err := f.gov.CreateRole(ctx, f.aliceA, f.acme.ID, governance.RoleRequest{Name: "Reader", Permissions: []string{"OR.Folders.Read"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []governance.AssignmentRequest{
		{UserID: bob.ID, RoleID: f.acmeRole.ID},                             // OR.Jobs everywhere
		{UserID: bob.ID, RoleID: reader.ID, Folder: "Finance"},              // OR.Folders.Read in Finance
		{UserID: bob.ID, RoleID: reader.ID, Folder: "Finance/Invoices"},     // nothing more below
		{UserID: f.alice.ID, RoleID: reader.ID, Folder: "Somewhere/Else/X"}, // not bob's
	} {
		if _, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, req); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(governance.CatalogTTL + 1) // the new audience is read

	acc, err := f.gov.UserAccess(ctx, f.aliceA, f.acme.ID, bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Usable || acc.Reason != exchange.CauseNone || acc.User.Username != "bob" || acc.User.PasswordHash != "" {
		t.Fatalf("access %+v", acc)
	}
	if len(acc.Roles) != 3 || !slices.Equal(acc.Folders, []string{"Finance", "Finance/Invoices"}) {
		t.Fatalf("roles %+v folders %q", acc.Roles, acc.Folders)
	}
	var ids []string
	for _, a := range acc.Audiences {
		ids = append(ids, a.Audience.ID)
	}
	if !slices.Equal(ids, []string{"api", "orchestrator", "https://issuer.example"}) {
		t.Fatalf("audiences %q, want the management audience last", ids)
	}
	api, or, mgmt := acc.Audiences[0], acc.Audiences[1], acc.Audiences[2]
	if !api.Rights.Empty() || len(api.Dropped) != 2 || api.Dropped[0].Reason != exchange.DropNoRole {
		t.Fatalf("api: %+v", api)
	}
	if !slices.Equal(or.Scope, []string{"OR.Jobs"}) || len(or.Folders) != 2 || or.Folders[0].Folder != "Finance" ||
		!slices.Equal(or.Folders[0].Actions, []string{"OR.Folders.Read", "OR.Jobs"}) || or.Folders[1].Folder != "Finance/Invoices" {
		t.Fatalf("orchestrator: %+v", or)
	}
	if !slices.Equal(mgmt.Scope, []string{exchange.ScopePATs}) {
		t.Fatalf("management: %+v", mgmt)
	}
	// The same as the dry run of a real PAT with those scopes.
	nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "all", Scopes: []string{"OR.Jobs", "OR.Folders"}})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := f.gov.Explain(ctx, bobA, nt.ID, "orchestrator")
	if err != nil || !slices.Equal(ex.Scope, or.Scope) || len(ex.Folders) != len(or.Folders) {
		t.Fatalf("explain %+v %v, access %+v", ex, err, or.Rights)
	}

	// Deactivated: not usable, and says why.
	if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, bob.ID, storage.UserDeactivated); err != nil {
		t.Fatal(err)
	}
	acc, err = f.gov.UserAccess(ctx, f.aliceA, f.acme.ID, bob.ID)
	if err != nil || acc.Usable || acc.Reason != exchange.CauseUserDeactivated {
		t.Fatalf("deactivated: %+v %v", acc, err)
	}

	_, err = f.gov.UserAccess(ctx, bobA, f.acme.ID, bob.ID)
	wantRefusal(t, err, governance.Forbidden, "admin-required")
	_, err = f.gov.UserAccess(ctx, f.eveA, f.globex.ID, bob.ID)
	wantRefusal(t, err, governance.NotFound, "not-found")
	_, err = f.gov.UserAccess(ctx, f.aliceA, f.acme.ID, "a\x00b")
	wantRefusal(t, err, governance.NotFound, "not-found")
}

// TestOrganizations: the operator lists every organization with its
// number of users; a user, admin or not, lists none.
func TestOrganizations(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	f.member(t, f.acme, storage.User{Username: "bob"})
	list, err := f.gov.Organizations(ctx, governance.CLI())
	if err != nil || len(list) != 2 || list[0].Name != "acme" || list[0].Users != 2 || list[1].Name != "globex" || list[1].Users != 1 {
		t.Fatalf("organizations %+v %v", list, err)
	}
	_, err = f.gov.Organizations(ctx, f.aliceA)
	wantRefusal(t, err, governance.Forbidden, "operator-required")
}
