package governance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/governance"
	"authserver/internal/password"
	"authserver/storage"
)

// TestSettingsAreForTheOrganizationsAdmins: only an admin of the
// organization (or the CLI) reads or changes its policy; another
// organization's admin is told it does not exist.
func TestSettingsAreForTheOrganizationsAdmins(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	want := governance.Settings{PATsEnabled: false, PATMaxLifetime: 30 * day}
	for _, c := range []struct {
		rule  string
		actor governance.Actor
		kind  governance.Kind // 0: allowed
	}{
		{"a user who is not an admin", bobA, governance.Forbidden},
		{"an admin of another organization", f.eveA, governance.NotFound},
		{"an anonymous actor", governance.Actor{Kind: governance.ActorAnon}, governance.Forbidden},
		{"a client", governance.Actor{Kind: governance.ActorClient, ClientID: "c"}, governance.Forbidden},
		{"the organization's admin", f.aliceA, 0},
		{"the CLI", governance.CLI(), 0},
	} {
		t.Run(c.rule, func(t *testing.T) {
			f.setOrg(t, f.acme, true, 0)
			_, rerr := f.gov.Settings(ctx, c.actor, f.acme.ID)
			_, uerr := f.gov.UpdateSettings(ctx, c.actor, f.acme.ID, want)
			o, err := f.st.GetOrganization(ctx, f.acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c.kind == 0 {
				if rerr != nil || uerr != nil || o.PATsEnabled != want.PATsEnabled || o.PATMaxLifetime != want.PATMaxLifetime {
					t.Fatalf("read %v, update %v, stored %+v", rerr, uerr, o)
				}
				return
			}
			wantKind(t, rerr, c.kind)
			wantKind(t, uerr, c.kind)
			if !o.PATsEnabled || o.PATMaxLifetime != 0 {
				t.Fatalf("a refused update changed the policy: %+v", o)
			}
		})
	}
}

// TestSettingsChangeIsAuditedOnlyWhenSomethingChanges: the event says what
// changed, from what to what, in duration syntax; saving the same policy
// again writes nothing.
func TestSettingsChangeIsAuditedOnlyWhenSomethingChanges(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	before := len(f.audit(t, f.acme.ID))
	in := governance.Settings{PATsEnabled: false, PATMaxLifetime: 36 * time.Hour}
	for range 2 {
		if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	added := f.audit(t, f.acme.ID)[before:]
	if len(added) != 1 || added[0].Action != "org.settings" || added[0].Detail != "pats_enabled true→false, pat_max_lifetime 0→1d12h" {
		t.Fatalf("audit %+v", added)
	}
}

// TestDisablingPATsStopsCreationAndRegeneration: the kill switch holds for
// new PATs and for regenerating existing ones, and lifting it restores
// both.
func TestDisablingPATsStopsCreationAndRegeneration(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: false}); err != nil {
		t.Fatal(err)
	}
	req := governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"}}
	_, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req)
	wantRefusal(t, err, governance.Forbidden, "pats-disabled")
	_, err = f.gov.RegenerateMyPAT(ctx, f.aliceA, f.acmePAT.ID, governance.PATRequest{})
	wantRefusal(t, err, governance.Forbidden, "pats-disabled")
	// Another organization is not affected.
	if _, err := f.gov.CreatePAT(ctx, f.eveA, f.globex.ID, f.eve.ID, req); err != nil {
		t.Fatalf("globex: %v", err)
	}
	if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req); err != nil {
		t.Fatalf("after re-enabling: %v", err)
	}
}

// TestCreateUserRules: usernames follow the name rule and are unique in
// their organization; only local users have a password, of at least
// MinPasswordLen characters (CheckPassword), stored as argon2id and never returned.
func TestCreateUserRules(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	for _, c := range []struct {
		rule  string
		actor governance.Actor
		req   governance.UserRequest
		kind  governance.Kind
		code  string
	}{
		{"a user who is not an admin", bobA, governance.UserRequest{Username: "x"}, governance.Forbidden, "admin-required"},
		{"an admin of another organization", f.eveA, governance.UserRequest{Username: "x"}, governance.NotFound, "not-found"},
		{"an empty username", f.aliceA, governance.UserRequest{}, governance.Invalid, "username-invalid"},
		{"a username with a zero-width space", f.aliceA, governance.UserRequest{Username: "al\u200bice"}, governance.Invalid, "username-invalid"},
		{"an unknown kind", f.aliceA, governance.UserRequest{Username: "x", Kind: "ldap"}, governance.Invalid, "kind-invalid"},
		{"a password for a directory user", f.aliceA, governance.UserRequest{Username: "x", Kind: storage.UserDirectory, Password: "long enough"},
			governance.Invalid, "password-not-local"},
		{"a password under twelve characters", f.aliceA, governance.UserRequest{Username: "x", Password: "eleven-char"},
			governance.Invalid, "password-too-short"},
		{"a password that contains the username", f.aliceA, governance.UserRequest{Username: "Carol", Password: "my name is carol!"},
			governance.Invalid, "password-contains-username"},
		{"a password and a link", f.aliceA, governance.UserRequest{Username: "x", Password: "long enough pass", Link: true},
			governance.Invalid, "password-or-link"},
		{"a link for a SAML user", f.aliceA, governance.UserRequest{Username: "x", Kind: storage.UserSAML, Link: true},
			governance.Invalid, "password-not-local"},
		{"a username taken in the organization", f.aliceA, governance.UserRequest{Username: "bob"}, governance.Conflict, "username-taken"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			u, err := f.gov.CreateUser(ctx, c.actor, f.acme.ID, c.req)
			if u != nil {
				t.Fatalf("created %+v", u)
			}
			wantRefusal(t, err, c.kind, c.code)
		})
	}

	// The same username in another organization is another user.
	if _, err := f.gov.CreateUser(ctx, f.eveA, f.globex.ID, governance.UserRequest{Username: "bob"}); err != nil {
		t.Fatalf("bob in globex: %v", err)
	}
	u, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, governance.UserRequest{Username: "carol", Password: "twelve-chars"})
	if err != nil || u.PasswordHash != "" || u.Kind != storage.UserLocal || u.Status != storage.UserActive {
		t.Fatalf("carol: %+v %v", u, err)
	}
	stored, err := f.st.GetUser(ctx, f.acme.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify("twelve-chars", stored.PasswordHash); !ok || err != nil || strings.Contains(stored.PasswordHash, "twelve-chars") {
		t.Fatalf("stored hash %q does not verify (%v)", stored.PasswordHash, err)
	}
	if got := actions(f.audit(t, f.acme.ID)); got[len(got)-1] != "user.create" {
		t.Fatalf("audit %q", got)
	}
}

// TestSetUserStatusRules: admins deactivate and reactivate users of their
// organization. Deactivation ends the user's console sessions; an admin
// cannot deactivate themselves; the same status again changes and audits
// nothing.
func TestSetUserStatusRules(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob", PasswordHash: "x"})
	now := f.clock.Now()
	sess := &storage.Session{ID: "s1", UserID: bob.ID, OrgID: f.acme.ID, CSRFToken: "c", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := f.st.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule   string
		actor  governance.Actor
		user   string
		status storage.UserStatus
		kind   governance.Kind
		code   string
	}{
		{"an admin cannot deactivate themselves", f.aliceA, f.alice.ID, storage.UserDeactivated, governance.Conflict, "self-deactivation"},
		{"a user who is not an admin", bobA, f.alice.ID, storage.UserDeactivated, governance.Forbidden, "admin-required"},
		{"a status other than active or deactivated", f.aliceA, bob.ID, "suspended", governance.Invalid, "status-invalid"},
		{"another organization's user", f.aliceA, f.eve.ID, storage.UserDeactivated, governance.NotFound, "not-found"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			_, err := f.gov.SetUserStatus(ctx, c.actor, f.acme.ID, c.user, c.status)
			wantRefusal(t, err, c.kind, c.code)
		})
	}
	if u, _ := f.st.GetUser(ctx, f.globex.ID, f.eve.ID); u.Status != storage.UserActive {
		t.Fatal("another organization's user was deactivated")
	}

	before := len(f.audit(t, f.acme.ID))
	for range 2 {
		u, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, bob.ID, storage.UserDeactivated)
		if err != nil || u.Status != storage.UserDeactivated || u.PasswordHash != "" {
			t.Fatalf("deactivate: %+v %v", u, err)
		}
	}
	if _, err := f.st.GetSession(ctx, sess.ID); err == nil {
		t.Fatal("the deactivated user's console session survived")
	}
	// A deactivated user creates no PAT; reactivated, they can again.
	nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "b", Scopes: []string{"OR.Jobs"}})
	wantRefusal(t, err, governance.Forbidden, "user-deactivated")
	if nt != nil {
		t.Fatal("a deactivated user created a PAT")
	}
	if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, bob.ID, storage.UserActive); err != nil {
		t.Fatal(err)
	}
	if got := actions(f.audit(t, f.acme.ID)[before:]); !slices.Equal(got, []string{"user.deactivate", "user.reactivate"}) {
		t.Fatalf("audit %q, want one deactivation and one reactivation", got)
	}
	if _, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "b", Scopes: []string{"OR.Jobs"}}); err != nil {
		t.Fatalf("after reactivation: %v", err)
	}
}
