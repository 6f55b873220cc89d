package governance_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/governance"
	"authserver/internal/password"
	"authserver/internal/storetest"
	"authserver/storage"
)

// TestCheckPassword: the one password rule: 12 characters or more, 1024
// bytes at most, valid UTF-8, and not the username nor containing it
// (ignoring case). A refusal never quotes the password or the username.
func TestCheckPassword(t *testing.T) {
	for _, c := range []struct {
		rule, username, pw, code string
	}{
		{"twelve characters are enough", "alice", "abcdefghijkl", ""},
		{"eleven are not", "alice", "abcdefghijk", "password-too-short"},
		{"characters, not bytes, are counted", "alice", strings.Repeat("é", 11), "password-too-short"},
		{"twelve multi-byte characters are enough", "alice", strings.Repeat("é", 12), ""},
		{"1024 bytes are allowed", "alice", strings.Repeat("x", governance.MaxPasswordLen), ""},
		{"1025 are not", "alice", strings.Repeat("x", governance.MaxPasswordLen+1), "password-too-long"},
		{"invalid UTF-8 is refused", "alice", "abcdefghijkl\xff", "password-invalid"},
		{"the username itself", "correcthorse", "CorrectHorse", "password-contains-username"},
		{"the username inside, in another case", "alice", "my-ALICE-password", "password-contains-username"},
		{"a non-ASCII username inside, in another case", "Émile", "le mot de passe d'émile", "password-contains-username"},
		{"a two-letter username may appear inside", "jo", "jolly good fellow", ""},
		{"a three-letter username may not", "bob", "a bobsleigh ride", "password-contains-username"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			err := governance.CheckPassword(c.username, c.pw)
			if c.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefusal(t, err, governance.Invalid, c.code)
			var ge *governance.Error
			errors.As(err, &ge)
			if ge.Field != "password" {
				t.Fatalf("field %q, want password", ge.Field)
			}
			if strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.username)) || strings.Contains(err.Error(), c.pw) {
				t.Fatalf("the refusal quotes a value: %q", err)
			}
		})
	}
}

// linkHash is what storage keeps of a link's secret.
func linkHash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// session starts a console session of u directly in the store.
func (f *fixture) session(t *testing.T, u *storage.User, id string) {
	t.Helper()
	now := f.clock.Now()
	if err := f.st.CreateSession(ctx, &storage.Session{ID: id, UserID: u.ID, OrgID: u.OrgID, CSRFToken: "c",
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// hasSession reports whether a session is still there.
func (f *fixture) hasSession(t *testing.T, id string) bool {
	t.Helper()
	_, err := f.st.GetSession(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// verifies reports whether pw is the stored password of a user.
func (f *fixture) verifies(t *testing.T, u *storage.User, pw string) bool {
	t.Helper()
	stored, err := f.st.GetUser(ctx, u.OrgID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.PasswordHash == "" {
		return false
	}
	ok, err := password.Verify(pw, stored.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// noSecretInAudit fails when an audit event of the organization holds one
// of the secrets.
func (f *fixture) noSecretInAudit(t *testing.T, orgID string, secrets ...string) {
	t.Helper()
	for _, e := range f.audit(t, orgID) {
		for _, s := range secrets {
			if strings.Contains(e.Detail, s) || strings.Contains(e.Target, s) || strings.Contains(e.Outcome, s) {
				t.Fatalf("audit event %s holds a secret: %+v", e.Action, e)
			}
		}
	}
}

// TestCreateUserWithLink: a local user can be created with a one-time
// set-password link instead of a password. The secret is returned once;
// only its SHA-256 is stored, valid for PasswordLinkLifetime; the audit
// event says a link was issued without holding it.
func TestCreateUserWithLink(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	u, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, governance.UserRequest{Username: "carol", Link: true})
	if err != nil {
		t.Fatal(err)
	}
	if u.Link == nil || len(u.Link.Secret) < 40 {
		t.Fatalf("link %+v, want a secret of 32 random bytes", u.Link)
	}
	if want := f.clock.Now().Add(governance.PasswordLinkLifetime); !u.Link.ExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v", u.Link.ExpiresAt, want)
	}
	l, err := f.st.GetPasswordLink(ctx, linkHash(u.Link.Secret))
	if err != nil || l.UserID != u.ID || l.OrgID != f.acme.ID {
		t.Fatalf("stored link %+v (%v)", l, err)
	}
	if f.verifies(t, &u.User, "") {
		t.Fatal("a user created with a link has a password")
	}
	events := f.audit(t, f.acme.ID)
	last := events[len(events)-1]
	if last.Action != "user.create" || !strings.Contains(last.Detail, "set-password link") {
		t.Fatalf("audit %+v", last)
	}
	f.noSecretInAudit(t, f.acme.ID, u.Link.Secret)
	if got := governance.PasswordLinkURL("https://auth.example/", u.Link.Secret); got != "https://auth.example/console/set-password#"+u.Link.Secret {
		t.Fatalf("link URL %q", got)
	}
}

// TestResetPassword: an admin resets a local user's password to a new one
// or to a set-password link. Either way the old password stops working,
// every console session of the user ends, an earlier link stops working,
// and the audit event holds neither the password nor the link.
func TestResetPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
		dora, _ := f.member(t, f.acme, storage.User{Username: "dora", Kind: storage.UserDirectory})
		nu, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, governance.UserRequest{Username: "carol", Password: "first password"})
		if err != nil {
			t.Fatal(err)
		}
		carol := &nu.User
		for _, c := range []struct {
			rule   string
			actor  governance.Actor
			userID string
			r      governance.PasswordReset
			kind   governance.Kind
			code   string
		}{
			{"a user who is not an admin", bobA, carol.ID, governance.PasswordReset{Link: true}, governance.Forbidden, "admin-required"},
			{"an admin of another organization", f.eveA, carol.ID, governance.PasswordReset{Link: true}, governance.NotFound, "not-found"},
			{"an unknown user", f.aliceA, "0000", governance.PasswordReset{Link: true}, governance.NotFound, "not-found"},
			{"a directory user", f.aliceA, dora.ID, governance.PasswordReset{Link: true}, governance.Conflict, "password-not-local"},
			{"neither password nor link", f.aliceA, carol.ID, governance.PasswordReset{}, governance.Invalid, "password-or-link"},
			{"both password and link", f.aliceA, carol.ID, governance.PasswordReset{Password: "second password", Link: true}, governance.Invalid, "password-or-link"},
			{"a short password", f.aliceA, carol.ID, governance.PasswordReset{Password: "short"}, governance.Invalid, "password-too-short"},
			{"a password with the username", f.aliceA, carol.ID, governance.PasswordReset{Password: "hello CAROL 2026"}, governance.Invalid, "password-contains-username"},
		} {
			t.Run(c.rule, func(t *testing.T) {
				_, err := f.gov.ResetPassword(ctx, c.actor, f.acme.ID, c.userID, c.r)
				wantRefusal(t, err, c.kind, c.code)
			})
		}
		if !f.verifies(t, carol, "first password") {
			t.Fatal("a refused reset changed the password")
		}

		// A new link: the password stops working, sessions end.
		f.session(t, carol, "carol-1")
		link, err := f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Link: true})
		if err != nil || link == nil {
			t.Fatalf("link reset: %v", err)
		}
		if f.verifies(t, carol, "first password") || f.hasSession(t, "carol-1") {
			t.Fatal("after a link reset the old password or session still works")
		}
		// A second link replaces the first.
		link2, err := f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Link: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.GetPasswordLink(ctx, linkHash(link.Secret)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the first link survived the second: %v", err)
		}

		// A new password: it works, the link and the sessions do not.
		f.session(t, carol, "carol-2")
		if l, err := f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Password: "second password"}); err != nil || l != nil {
			t.Fatalf("password reset: %v %v", l, err)
		}
		if !f.verifies(t, carol, "second password") || f.hasSession(t, "carol-2") {
			t.Fatal("after a password reset the new password does not work or the session lives on")
		}
		if _, err := f.st.GetPasswordLink(ctx, linkHash(link2.Secret)); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the link survived a password reset: %v", err)
		}
		var resets int
		for _, e := range f.audit(t, f.acme.ID) {
			if e.Action == "user.password.reset" && e.Target == carol.ID && e.Actor == f.alice.ID {
				resets++
			}
		}
		if resets != 3 {
			t.Fatalf("%d reset events, want 3", resets)
		}
		f.noSecretInAudit(t, f.acme.ID, "second password", link.Secret, link2.Secret)

		// The operator's CLI resets too.
		if _, err := f.gov.ResetPassword(ctx, governance.CLI(), f.acme.ID, carol.ID, governance.PasswordReset{Password: "third password"}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestChangePassword: users change their own password by giving the
// current one. Their other console sessions end, the one they changed it
// in stays; an outstanding set-password link stops working.
func TestChangePassword(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	nu, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, governance.UserRequest{Username: "carol", Password: "first password"})
	if err != nil {
		t.Fatal(err)
	}
	carol := &nu.User
	carolA := governance.UserActor(f.acme.ID, carol.ID, false, "192.0.2.1")
	dora, _ := f.member(t, f.acme, storage.User{Username: "dora", Kind: storage.UserDirectory})
	for _, c := range []struct {
		rule          string
		actor         governance.Actor
		current, next string
		kind          governance.Kind
		code          string
	}{
		{"the operator has no password", governance.CLI(), "first password", "second password", governance.Forbidden, "user-required"},
		{"a directory user has none here", governance.UserActor(f.acme.ID, dora.ID, false, ""), "first password", "second password", governance.Conflict, "password-not-local"},
		{"no current password", carolA, "", "second password", governance.Invalid, "current-password-required"},
		{"a wrong current password", carolA, "first passwore", "second password", governance.Invalid, "current-password-wrong"},
		{"an oversized current password", carolA, strings.Repeat("x", governance.MaxPasswordLen+1), "second password", governance.Invalid, "current-password-wrong"},
		{"the same password again", carolA, "first password", "first password", governance.Invalid, "password-unchanged"},
		{"a short new password", carolA, "first password", "short", governance.Invalid, "password-too-short"},
		{"a new password with the username", carolA, "first password", "carol's new one", governance.Invalid, "password-contains-username"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			wantRefusal(t, f.gov.ChangePassword(ctx, c.actor, c.current, c.next, ""), c.kind, c.code)
		})
	}
	link, err := f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Password: "first password again"})
	if err != nil || link != nil {
		t.Fatal(err)
	}
	if _, err := f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Password: "first password"}); err != nil {
		t.Fatal(err)
	}
	f.session(t, carol, "here")
	f.session(t, carol, "elsewhere")
	if err := f.gov.ChangePassword(ctx, carolA, "first password", "second password", "here"); err != nil {
		t.Fatal(err)
	}
	if !f.verifies(t, carol, "second password") || f.verifies(t, carol, "first password") {
		t.Fatal("the change did not land")
	}
	if !f.hasSession(t, "here") || f.hasSession(t, "elsewhere") {
		t.Fatal("want the session of the change kept and the other one ended")
	}
	// Without a session to keep (the API with a bearer token), all end.
	if err := f.gov.ChangePassword(ctx, carolA, "second password", "third password", ""); err != nil {
		t.Fatal(err)
	}
	if f.hasSession(t, "here") {
		t.Fatal("a change without a kept session left a session")
	}
	events := f.audit(t, f.acme.ID)
	last := events[len(events)-1]
	if last.Action != "user.password.change" || last.Actor != carol.ID || last.Target != carol.ID || last.ClientAddr != "192.0.2.1" {
		t.Fatalf("audit %+v", last)
	}
	f.noSecretInAudit(t, f.acme.ID, "first password", "second password", "third password")
}

// TestRedeemPasswordLink: a set-password link sets the password once. An
// unknown, malformed, expired or used link, and the link of a user since
// deactivated, all get the one refusal; a password the rules refuse
// leaves the link usable. Redeeming ends the user's sessions.
func TestRedeemPasswordLink(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		nu, err := f.gov.CreateUser(ctx, f.aliceA, f.acme.ID, governance.UserRequest{Username: "carol", Link: true})
		if err != nil {
			t.Fatal(err)
		}
		carol, secret := &nu.User, nu.Link.Secret
		invalidLink := func(t *testing.T, err error) {
			t.Helper()
			if !governance.IsPasswordLinkInvalid(err) || governance.KindOf(err) != governance.Invalid {
				t.Fatalf("got %v, want the invalid-link refusal", err)
			}
		}
		for _, c := range []struct{ rule, secret string }{
			{"an empty secret", ""},
			{"a malformed secret", "not a secret"},
			{"an unknown secret of the right length", strings.Repeat("A", len(secret))},
			{"the secret with one character changed", secret[:len(secret)-1] + map[bool]string{true: "B", false: "A"}[secret[len(secret)-1] == 'A']},
		} {
			t.Run(c.rule, func(t *testing.T) {
				_, err := f.gov.RedeemPasswordLink(ctx, c.secret, "a good password", "")
				invalidLink(t, err)
			})
		}
		_, err = f.gov.RedeemPasswordLink(ctx, secret, "too short", "")
		wantRefusal(t, err, governance.Invalid, "password-too-short")
		_, err = f.gov.RedeemPasswordLink(ctx, secret, "Carol's password", "")
		wantRefusal(t, err, governance.Invalid, "password-contains-username")

		f.session(t, carol, "carol-1")
		u, err := f.gov.RedeemPasswordLink(ctx, secret, "a good password", "192.0.2.7")
		if err != nil || u.ID != carol.ID || u.PasswordHash != "" {
			t.Fatalf("redeem: %+v %v", u, err)
		}
		if !f.verifies(t, carol, "a good password") || f.hasSession(t, "carol-1") {
			t.Fatal("the password did not land or a session lives on")
		}
		_, err = f.gov.RedeemPasswordLink(ctx, secret, "another good one", "")
		invalidLink(t, err)
		if !f.verifies(t, carol, "a good password") {
			t.Fatal("a used link changed the password")
		}
		events := f.audit(t, f.acme.ID)
		last := events[len(events)-1]
		if last.Action != "user.password.link" || last.Actor != carol.ID || last.ClientAddr != "192.0.2.7" {
			t.Fatalf("audit %+v", last)
		}
		f.noSecretInAudit(t, f.acme.ID, secret, "a good password")

		// Expired: the link works until PasswordLinkLifetime has passed.
		link, err := f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Link: true})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(governance.PasswordLinkLifetime)
		_, err = f.gov.RedeemPasswordLink(ctx, link.Secret, "a good password", "")
		invalidLink(t, err)

		// Deactivation makes a link stop working, for good.
		link, err = f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Link: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, carol.ID, storage.UserDeactivated); err != nil {
			t.Fatal(err)
		}
		_, err = f.gov.RedeemPasswordLink(ctx, link.Secret, "a good password", "")
		invalidLink(t, err)
		if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, carol.ID, storage.UserActive); err != nil {
			t.Fatal(err)
		}
		_, err = f.gov.RedeemPasswordLink(ctx, link.Secret, "a good password", "")
		invalidLink(t, err)

		// Two redemptions of one link at once: exactly one sets its password.
		link, err = f.gov.ResetPassword(ctx, f.aliceA, f.acme.ID, carol.ID, governance.PasswordReset{Link: true})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = f.gov.RedeemPasswordLink(ctx, link.Secret, []string{"racer one password", "racer two password"}[i], "")
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !governance.IsPasswordLinkInvalid(err):
				t.Fatalf("a racing redemption failed otherwise: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d redemptions of one link succeeded, want 1", won)
		}
	})
}

// TestListUsersSearch: admins search users by username and filter them by
// kind; a search is literal text, and text no username can hold is
// refused.
func TestListUsersSearch(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	f.member(t, f.acme, storage.User{Username: "Bob"})
	f.member(t, f.acme, storage.User{Username: "bobby", Kind: storage.UserSAML})
	f.member(t, f.acme, storage.User{Username: "b%b"})
	f.member(t, f.globex, storage.User{Username: "bob"})
	for _, c := range []struct {
		rule string
		f    governance.UserFilter
		want string
	}{
		{"a substring in any case", governance.UserFilter{Search: "BOB"}, "Bob bobby"},
		{"a percent sign is literal", governance.UserFilter{Search: "%"}, "b%b"},
		{"by kind", governance.UserFilter{Kind: storage.UserSAML}, "bobby"},
		{"by kind and search", governance.UserFilter{Kind: storage.UserLocal, Search: "b"}, "Bob b%b"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			page, err := f.gov.ListUsers(ctx, f.aliceA, f.acme.ID, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range page.Items {
				got = append(got, u.Username)
			}
			if strings.Join(got, " ") != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	_, err := f.gov.ListUsers(ctx, f.aliceA, f.acme.ID, governance.UserFilter{Kind: "robot"})
	wantRefusal(t, err, governance.Invalid, "kind-invalid")
	_, err = f.gov.ListUsers(ctx, f.aliceA, f.acme.ID, governance.UserFilter{Search: "a\x00b"})
	wantRefusal(t, err, governance.Invalid, "q-invalid")
	_, err = f.gov.ListUsers(ctx, f.aliceA, f.acme.ID, governance.UserFilter{Search: strings.Repeat("b", 101)})
	wantRefusal(t, err, governance.Invalid, "q-invalid")
}
