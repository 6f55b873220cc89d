package governance_test

import (
	"errors"
	"strings"
	"testing"

	"authserver/governance"
	"authserver/storage"
)

// TestSignIn: only an active local user with the right password signs in;
// every other failure is the one generic refusal, and only a verified
// password learns that the account is deactivated.
func TestSignIn(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	for _, u := range []governance.UserRequest{
		{Username: "bob", Password: "bob-password"},
		{Username: "dora", Kind: storage.UserDirectory},
		{Username: "sam", Kind: storage.UserSAML},
		{Username: "nopass"},
		{Username: "gone", Password: "gone-password"},
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

	u, err := f.gov.SignIn(ctx, "acme", "bob", "bob-password")
	if err != nil || u.Username != "bob" || u.OrgID != f.acme.ID || u.PasswordHash != "" {
		t.Fatalf("bob signs in: %+v %v", u, err)
	}
	for _, c := range []struct{ name, org, user, pw string }{
		{"wrong password", "acme", "bob", "bob-passwore"},
		{"unknown user", "acme", "nobody", "bob-password"},
		{"unknown organization", "nowhere", "bob", "bob-password"},
		{"user of another organization", "globex", "bob", "bob-password"},
		{"directory user", "acme", "dora", "anything"},
		{"SAML user", "acme", "sam", "anything"},
		{"local user without a password", "acme", "nopass", ""},
		{"deactivated user with a wrong password", "acme", "gone", "wrong"},
		{"control characters", "acme\x00", "bob", "bob-password"},
		{"an oversized password", "acme", "bob", strings.Repeat("x", governance.MaxPasswordLen+1)},
	} {
		t.Run(c.name+" gets the generic refusal", func(t *testing.T) {
			u, err := f.gov.SignIn(ctx, c.org, c.user, c.pw)
			if u != nil || !governance.IsSignInFailed(err) {
				t.Fatalf("got %+v %v, want the generic refusal", u, err)
			}
		})
	}
	_, err = f.gov.SignIn(ctx, "acme", "gone", "gone-password")
	var ge *governance.Error
	if !errors.As(err, &ge) || ge.Code != "user-deactivated" || governance.IsSignInFailed(err) {
		t.Fatalf("deactivated user with the right password: %v", err)
	}
}
