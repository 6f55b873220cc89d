package governance_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"authserver/governance"
	"authserver/storage"
)

// signInUsers adds to acme the users sign-in tests need: bob (local, with a
// password), dora (directory), sam (SAML), nopass (local, no password) and
// gone (deactivated, with a password).
func signInUsers(t *testing.T, f *fixture) {
	t.Helper()
	for _, u := range []governance.UserRequest{
		{Username: "bob", Password: "b-o-b-password"},
		{Username: "dora", Kind: storage.UserDirectory},
		{Username: "sam", Kind: storage.UserSAML},
		{Username: "nopass"},
		{Username: "gone", Password: "g-o-n-e-password"},
	} {
		if _, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, u); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := f.st.GetUserByUsername(ctx, f.acme.ID, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, gone.ID, storage.UserDeactivated); err != nil {
		t.Fatal(err)
	}
}

// TestSignIn: only an active local user with the right password signs in;
// every other failure is the one generic refusal, and only a verified
// password learns that the account is deactivated.
func TestSignIn(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	signInUsers(t, f)

	u, err := f.gov.SignIn(ctx, "acme", "bob", "b-o-b-password")
	if err != nil || u.Username != "bob" || u.OrgID != f.acme.ID || u.PasswordHash != "" {
		t.Fatalf("bob signs in: %+v %v", u, err)
	}
	for _, c := range []struct{ name, org, user, pw string }{
		{"wrong password", "acme", "bob", "b-o-b-passwore"},
		{"unknown user", "acme", "nobody", "b-o-b-password"},
		{"unknown organization", "nowhere", "bob", "b-o-b-password"},
		{"user of another organization", "globex", "bob", "b-o-b-password"},
		{"directory user", "acme", "dora", "anything"},
		{"SAML user", "acme", "sam", "anything"},
		{"local user without a password", "acme", "nopass", ""},
		{"deactivated user with a wrong password", "acme", "gone", "wrong"},
		{"control characters", "acme\x00", "bob", "b-o-b-password"},
		{"an oversized password", "acme", "bob", strings.Repeat("x", governance.MaxPasswordLen+1)},
	} {
		t.Run(c.name+" gets the generic refusal", func(t *testing.T) {
			u, err := f.gov.SignIn(ctx, c.org, c.user, c.pw)
			if u != nil || !governance.IsSignInFailed(err) {
				t.Fatalf("got %+v %v, want the generic refusal", u, err)
			}
		})
	}
	_, err = f.gov.SignIn(ctx, "acme", "gone", "g-o-n-e-password")
	var ge *governance.Error
	if !errors.As(err, &ge) || ge.Code != "user-deactivated" || governance.IsSignInFailed(err) {
		t.Fatalf("deactivated user with the right password: %v", err)
	}
}

// TestSignInRefusalIsAudited: every refused sign-in says why, for the log
// and the audit log; its audit event belongs to the organization named,
// names the user only by the stored id and username (or "unknown-user"),
// and never holds the password or text as typed. A refusal that names no
// organization has no audit event: no organization's log can hold it.
func TestSignInRefusalIsAudited(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	signInUsers(t, f)
	id := func(name string) string {
		u, err := f.st.GetUserByUsername(ctx, f.acme.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		return u.ID
	}
	const unknown = "unknown-user"
	for _, c := range []struct {
		rule          string
		org, user, pw string
		cause         governance.SignInCause
		orgID, actor  string
		username      string
	}{
		{"a wrong password names the user", "acme", "bob", "b-o-b-passwore", governance.SignInWrongPassword, f.acme.ID, id("bob"), "bob"},
		{"an unknown user is not named", "acme", "b-o-b-password", "x", governance.SignInUnknownUser, f.acme.ID, unknown, ""},
		{"a name no user can have is unknown", "acme", "bob\x00", "b-o-b-password", governance.SignInUnknownUser, f.acme.ID, unknown, ""},
		{"a user of another organization is unknown there", "globex", "bob", "b-o-b-password", governance.SignInUnknownUser, f.globex.ID, unknown, ""},
		{"an unknown organization has no audit event", "nowhere", "bob", "b-o-b-password", governance.SignInUnknownOrganization, "", "", ""},
		{"a name no organization can have is unknown", "acme\x00", "bob", "b-o-b-password", governance.SignInUnknownOrganization, "", "", ""},
		{"a directory user has no password here", "acme", "dora", "dora-password", governance.SignInNonLocal, f.acme.ID, id("dora"), "dora"},
		{"a SAML user has no password here", "acme", "sam", "sam-password", governance.SignInNonLocal, f.acme.ID, id("sam"), "sam"},
		{"a local user without a password", "acme", "nopass", "nopass-password", governance.SignInNoPassword, f.acme.ID, id("nopass"), "nopass"},
		{"an oversized password is not checked", "acme", "bob", strings.Repeat("x", governance.MaxPasswordLen+1), governance.SignInPasswordTooLong, f.acme.ID, id("bob"), "bob"},
		{"a deactivated user with a wrong password", "acme", "gone", "g-o-n-e-passwore", governance.SignInWrongPassword, f.acme.ID, id("gone"), "gone"},
		{"a deactivated user with the right password", "acme", "gone", "g-o-n-e-password", governance.SignInDeactivated, f.acme.ID, id("gone"), "gone"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			_, err := f.gov.SignIn(ctx, c.org, c.user, c.pw)
			var ref *governance.SignInRefusal
			if !errors.As(err, &ref) {
				t.Fatalf("got %v, want a *SignInRefusal", err)
			}
			if ref.Cause != c.cause || ref.OrgID != c.orgID {
				t.Fatalf("got cause %q in %q, want %q in %q", ref.Cause, ref.OrgID, c.cause, c.orgID)
			}
			at := time.Now().UTC()
			e, ok := ref.AuditEvent(at, "192.0.2.7")
			if ok != (c.orgID != "") {
				t.Fatalf("got an audit event %t, want %t", ok, c.orgID != "")
			}
			if !ok {
				return
			}
			if e.OrgID != c.orgID || e.Action != governance.SignInRefusedAction || e.Outcome != string(c.cause) ||
				e.Actor != c.actor || e.ClientAddr != "192.0.2.7" || !e.Time.Equal(at) {
				t.Fatalf("got event %+v, want org %s, actor %s, outcome %s", e, c.orgID, c.actor, c.cause)
			}
			if c.username != "" && (e.Target != c.actor || e.Detail != `username "`+c.username+`"`) {
				t.Fatalf("got target %q detail %q, want the user %s", e.Target, e.Detail, c.username)
			}
			if c.username == "" && (e.Target != "" || e.Detail != "") {
				t.Fatalf("got target %q detail %q for an unknown user, want nothing typed", e.Target, e.Detail)
			}
			if row := e.Actor + e.Target + e.Detail + e.Outcome; c.pw != "" && strings.Contains(row, c.pw) {
				t.Fatalf("the audit event %+v holds the password", e)
			}
		})
	}

}
