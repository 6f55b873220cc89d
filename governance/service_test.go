package governance_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/pgtest"
	"authserver/internal/storetest"
	"authserver/internal/testenv"
	"authserver/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// fixture is two organizations, each with an admin, on one database, under
// a clock the test moves.
type fixture struct {
	gov             *governance.Service
	st              storage.Store
	clock           *clock
	events          *eventLog
	acme, globex    *storage.Organization
	alice, eve      *storage.User
	aliceA, eveA    governance.Actor
	acmeRole        *storage.Role
	acmePAT, evePAT *storage.PAT

	// driver and dsn name the database, for more stores on it (replicas).
	driver, dsn string
}

func newFixture(t *testing.T, driver string) *fixture {
	t.Helper()
	dsn := storetest.DSN(t, driver)
	st := storetest.OpenAt(t, driver, dsn)
	f := &fixture{st: st, clock: newClock(), events: &eventLog{}, driver: driver, dsn: dsn}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateAudience(ctx, &storage.Audience{ID: "orchestrator", Name: "Orchestrator", Scopes: []string{"OR.Jobs", "OR.Folders"}}))
	f.acme = &storage.Organization{Name: "acme", PATsEnabled: true}
	f.globex = &storage.Organization{Name: "globex", PATsEnabled: true}
	must(st.CreateOrganization(ctx, f.acme))
	must(st.CreateOrganization(ctx, f.globex))
	f.alice = &storage.User{OrgID: f.acme.ID, Username: "alice", Admin: true}
	f.eve = &storage.User{OrgID: f.globex.ID, Username: "eve", Admin: true}
	must(st.CreateUser(ctx, f.alice))
	must(st.CreateUser(ctx, f.eve))
	f.acmeRole = &storage.Role{OrgID: f.acme.ID, Name: "Dev", Permissions: []string{"OR.Jobs"}}
	must(st.CreateRole(ctx, f.acmeRole))
	f.aliceA = governance.Actor{Kind: governance.ActorUser, UserID: f.alice.ID, OrgID: f.acme.ID, Admin: true}
	f.eveA = governance.Actor{Kind: governance.ActorUser, UserID: f.eve.ID, OrgID: f.globex.ID, Admin: true}
	f.gov = governance.New(governance.Options{Store: storage.Narrow[governance.Tx](st),
		Catalog: governance.NewCatalog(st, "https://issuer.example", f.clock.Now), Now: f.clock.Now,
		PATPrefix: "pat_", PasswordParams: testenv.CheapPasswords, Events: f.events})
	nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, governance.PATRequest{Name: "a", Scopes: []string{"OR.Jobs"}})
	must(err)
	f.acmePAT, err = st.GetPAT(ctx, f.acme.ID, nt.ID)
	must(err)
	nt, err = f.gov.CreatePAT(ctx, f.eveA, f.globex.ID, f.eve.ID, governance.PATRequest{Name: "e", Scopes: []string{"OR.Jobs"}})
	must(err)
	f.evePAT, err = st.GetPAT(ctx, f.globex.ID, nt.ID)
	must(err)
	return f
}

func wantKind(t *testing.T, err error, kind governance.Kind) {
	t.Helper()
	if got := governance.KindOf(err); got != kind {
		t.Fatalf("got %v (kind %d), want kind %d", err, got, kind)
	}
}

// TestIDsTheDatabaseCannotHoldAreNotFound: ids with NUL, control
// characters or invalid UTF-8 — which PostgreSQL refuses with an error —
// are "not found", never an unexpected failure.
func TestIDsTheDatabaseCannotHoldAreNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		for _, id := range []string{"a\x00b", "\xff\xfe", "a\nb", strings.Repeat("x", 65)} {
			_, err := f.gov.GetMyPAT(ctx, f.aliceA, id)
			wantKind(t, err, governance.NotFound)
			_, err = f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, id, storage.UserDeactivated)
			wantKind(t, err, governance.NotFound)
			_, err = f.gov.UpdateRole(ctx, f.aliceA, f.acme.ID, id, governance.RoleRequest{Name: "x", Permissions: []string{"OR.Jobs"}})
			wantKind(t, err, governance.NotFound)
			wantKind(t, f.gov.DeleteRole(ctx, f.aliceA, f.acme.ID, id, true), governance.NotFound)
			wantKind(t, f.gov.DeleteAssignment(ctx, f.aliceA, f.acme.ID, id), governance.NotFound)
			_, err = f.gov.ListPATs(ctx, f.aliceA, f.acme.ID, governance.PATFilter{OwnerID: id})
			wantKind(t, err, governance.NotFound)
			res, err := f.gov.RevokePATs(ctx, f.aliceA, f.acme.ID, []string{id, f.acmePAT.ID})
			if err != nil || len(res.NotFound) != 1 || res.NotFound[0] != id {
				t.Fatalf("bulk revoke with %q: %+v %v", id, res, err)
			}
		}
		_, err := f.gov.ListAudit(ctx, f.aliceA, f.acme.ID, governance.AuditFilter{Actor: "a\x00b"})
		wantKind(t, err, governance.Invalid)
	})
}

// TestAnotherOrganizationsThingsAreNotFound: references to another
// organization's users and roles are "not found", as everywhere else.
func TestAnotherOrganizationsThingsAreNotFound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		_, err := f.gov.CreateAssignment(ctx, f.eveA, f.globex.ID, governance.AssignmentRequest{UserID: f.eve.ID, RoleID: f.acmeRole.ID})
		wantKind(t, err, governance.NotFound)
		_, err = f.gov.CreateAssignment(ctx, f.eveA, f.globex.ID, governance.AssignmentRequest{UserID: f.alice.ID, RoleID: f.acmeRole.ID})
		wantKind(t, err, governance.NotFound)
		_, err = f.gov.ListPATs(ctx, f.eveA, f.globex.ID, governance.PATFilter{OwnerID: f.alice.ID})
		wantKind(t, err, governance.NotFound)
		_, err = f.gov.ListAssignments(ctx, f.eveA, f.globex.ID, f.alice.ID)
		wantKind(t, err, governance.NotFound)
		as, err := f.st.ListRoleAssignments(ctx, f.acme.ID, "")
		if err != nil || len(as) != 0 {
			t.Fatalf("acme's assignments changed: %v %v", as, err)
		}
		// The owner's own organization lists fine.
		page, err := f.gov.ListPATs(ctx, f.aliceA, f.acme.ID, governance.PATFilter{OwnerID: f.alice.ID})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("alice's PATs: %+v %v", page, err)
		}
	})
}

// TestUserPagingPastLongNames: a page may end on a username of 100
// four-byte characters; its cursor must still be accepted.
func TestUserPagingPastLongNames(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	long := strings.Repeat("😀", 100)
	for _, name := range []string{long, "zed"} {
		if _, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, governance.UserRequest{Username: name}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	cursor := ""
	for {
		page, err := f.gov.ListUsers(ctx, f.aliceA, f.acme.ID, governance.UserFilter{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatalf("after %d users: %v", len(names), err)
		}
		for _, u := range page.Items {
			names = append(names, u.Username)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(names) != 3 || names[0] != "alice" || names[1] != "zed" || names[2] != long {
		t.Fatalf("users %q", names)
	}
}

// TestExplainRequestedScopes: the dry run takes the exchange's requested
// scope and refuses, as the exchange does, what the PAT or the audience
// cannot honour — as a refusal of the request, not a failure.
func TestExplainRequestedScopes(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	if err := f.st.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: f.acme.ID, UserID: f.alice.ID, RoleID: f.acmeRole.ID}); err != nil {
		t.Fatal(err)
	}
	ex, err := f.gov.Explain(ctx, f.aliceA, f.acmePAT.ID, "orchestrator", "OR.Jobs.Read")
	if err != nil || !ex.Usable || len(ex.Scope) != 1 || ex.Scope[0] != "OR.Jobs.Read" {
		t.Fatalf("explain: %+v %v", ex, err)
	}
	for _, requested := range []string{"OR.Folders", "API.Read"} {
		_, err = f.gov.Explain(ctx, f.aliceA, f.acmePAT.ID, "orchestrator", requested)
		var ge *governance.Error
		if !errors.As(err, &ge) || ge.Kind != governance.Invalid || ge.Field != "scope" {
			t.Fatalf("explain requesting %s: %v, want an Invalid scope", requested, err)
		}
	}
	ex, err = f.gov.Explain(ctx, f.aliceA, f.acmePAT.ID, "https://issuer.example")
	if err != nil || len(ex.Dropped) != 1 || ex.Dropped[0].Reason != exchange.DropNotInAudience {
		t.Fatalf("explain for the management audience: %+v %v", ex, err)
	}
}

// TestMaxPATLifetimeBounds: the maximum PAT lifetime is 0 (no limit) or
// from an hour to 36500d. Anything shorter would block every PAT of the
// organization at once, the admin's own API token included; a refused value
// changes nothing.
func TestMaxPATLifetimeBounds(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	const day = 24 * time.Hour
	for _, c := range []struct {
		rule string
		max  time.Duration
		ok   bool
	}{
		{"0 is no limit", 0, true},
		{"1ns would block every PAT at once", time.Nanosecond, false},
		{"59m59s is under an hour", time.Hour - time.Second, false},
		{"an hour is the smallest maximum", time.Hour, true},
		{"36500d is the largest maximum", 36500 * day, true},
		{"36500d and a nanosecond overflows", 36500*day + time.Nanosecond, false},
	} {
		t.Run(c.rule, func(t *testing.T) {
			const before = 90 * day
			if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true, PATMaxLifetime: before}); err != nil {
				t.Fatal(err)
			}
			_, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true, PATMaxLifetime: c.max})
			want := before
			if c.ok {
				want = c.max
				if err != nil {
					t.Fatalf("got %v, want %v accepted", err, c.max)
				}
			} else {
				wantKind(t, err, governance.Invalid)
				var ge *governance.Error
				if !errors.As(err, &ge) || ge.Field != "pat_max_lifetime" || ge.Code != "max-lifetime-invalid" {
					t.Fatalf("got %#v, want field pat_max_lifetime, code max-lifetime-invalid", err)
				}
			}
			s, err := f.gov.Settings(ctx, f.aliceA, f.acme.ID)
			if err != nil || s.PATMaxLifetime != want {
				t.Fatalf("got maximum %v (%v), want %v", s.PATMaxLifetime, err, want)
			}
		})
	}
}
