package authserver_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"authserver/internal/storetest"
	"authserver/storage"
)

// linkRE finds a set-password link on a page.
var linkRE = regexp.MustCompile(`/console/set-password#([A-Za-z0-9_-]{43})`)

// redeemLink opens the set-password page as a browser would (the code is
// in the fragment, which is never sent), and submits the form with the
// code, as console.js fills it in.
func (e *env) redeemLink(secret, pw, confirm string) *response {
	e.t.Helper()
	cl := e.consoleClient()
	page := cl.get("/console/set-password")
	m := csrfInput.FindSubmatch(page.body)
	if page.StatusCode != http.StatusOK || m == nil {
		e.t.Fatalf("set-password page: %d %s", page.StatusCode, page.body)
	}
	return cl.post("/console/set-password", url.Values{"csrf_token": {string(m[1])}, "code": {secret},
		"password": {pw}, "password_confirm": {confirm}})
}

// TestConsoleUsersPage: admins search and filter users, every username
// links to its detail page, and users are created with a password (they
// sign in with it) or a set-password link (shown once).
func TestConsoleUsersPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice := e.consoleClient().signIn("acme", "alice")

		t.Run("search and filters", func(t *testing.T) {
			page := alice.get("/console/org/users?q=AR&kind=local")
			wantPage(t, page, http.StatusOK, `data-username="carol"`, `href="/console/org/users/`+e.user("acme", "carol").ID+`"`,
				`value="AR"`, `<option value="local" selected>`)
			for _, other := range []string{"alice", "bob", "dora"} {
				if strings.Contains(string(page.body), `data-username="`+other+`"`) {
					t.Fatalf("%s listed for q=AR", other)
				}
			}
			page = alice.get("/console/org/users?kind=directory")
			wantPage(t, page, http.StatusOK, `data-username="dora"`)
			if strings.Contains(string(page.body), `data-username="alice"`) || strings.Contains(string(page.body), "/console/org/users/"+e.user("acme", "dora").ID+"/password") {
				t.Fatal("kind=directory lists a local user, or offers a directory user a password reset")
			}
			wantPage(t, alice.get("/console/org/users?q=zzz"), http.StatusOK, "No user matches this search.")
			wantPage(t, alice.get("/console/org/users?kind=robot"), http.StatusBadRequest, "Kind: must be local, directory or saml.")
			wantPage(t, e.consoleClient().signIn("acme", "bob").get("/console/org/users"), http.StatusForbidden)
		})

		t.Run("create a user with a password; they sign in", func(t *testing.T) {
			for _, c := range []struct {
				form   url.Values
				status int
				want   string
			}{
				{url.Values{"username": {"frank"}, "password_mode": {"password"}, "password": {"too short"}, "password_confirm": {"too short"}},
					http.StatusBadRequest, "Password: must have at least 12 characters."},
				{url.Values{"username": {"frank"}, "password_mode": {"password"}, "password": {"FRANK and password"}, "password_confirm": {"FRANK and password"}},
					http.StatusBadRequest, "Password: must not contain the username."},
				{url.Values{"username": {"frank"}, "password_mode": {"password"}, "password": {"correct horse battery"}, "password_confirm": {"correct horse batterx"}},
					http.StatusBadRequest, "the two passwords differ"},
				{url.Values{"username": {"frank"}, "password_mode": {"password"}}, http.StatusBadRequest, "Initial password: enter a password"},
				{url.Values{"username": {"frank"}, "password_mode": {"sometimes"}}, http.StatusBadRequest, "Password: choose"},
				{url.Values{"username": {"bob"}, "password_mode": {"none"}}, http.StatusConflict, "A user with this username exists"},
			} {
				r := alice.post("/console/org/users", c.form)
				wantPage(t, r, c.status, c.want, `value="`+c.form.Get("username")+`"`)
				for _, pw := range c.form["password"] {
					if strings.Contains(string(r.body), pw) {
						t.Fatal("a refused form shows the password again")
					}
				}
			}
			r := alice.post("/console/org/users", url.Values{"username": {"frank"}, "kind": {"local"}, "password_mode": {"password"},
				"password": {"correct horse battery"}, "password_confirm": {"correct horse battery"}})
			wantPage(t, r, http.StatusOK, "User frank is created.", `data-username="frank"`)
			if !e.signsIn("acme", "frank", "correct horse battery") {
				t.Fatal("the new user does not sign in")
			}
			r = alice.post("/console/org/users", url.Values{"username": {"sam"}, "kind": {"saml"}, "admin": {"on"}, "password_mode": {"password"}})
			wantPage(t, r, http.StatusOK, "User sam is created.")
			if u := e.user("acme", "sam"); !u.Admin || u.PasswordHash != "" || u.Kind != "saml" {
				t.Fatalf("sam: %+v", u)
			}
		})

		t.Run("create a user with a set-password link, shown once", func(t *testing.T) {
			old := alice.csrf
			r := alice.post("/console/org/users", url.Values{"username": {"grace"}, "kind": {"local"}, "password_mode": {"link"}})
			wantPage(t, r, http.StatusOK, "User grace added", "This link will not be shown again.", `id="copy-link"`)
			m := linkRE.FindSubmatch(r.body)
			if m == nil || !strings.Contains(string(r.body), `value="`+e.url+`/console/set-password#`) {
				t.Fatalf("no link on the page: %s", r.body)
			}
			// The form cannot be submitted again: the session rotated.
			wantPage(t, alice.post("/console/org/users", url.Values{"username": {"grace2"}, "password_mode": {"link"}, "csrf_token": {old}}),
				http.StatusForbidden, "This form has expired")
			if page := alice.get("/console/org/users"); strings.Contains(string(page.body), string(m[1])) {
				t.Fatal("the users page shows the link again")
			}
			wantPage(t, e.redeemLink(string(m[1]), "grace's new password", "grace's new password"), http.StatusBadRequest, "Password: must not contain the username.")
			if r := e.redeemLink(string(m[1]), "a password of her own", "a password of her own"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/login?password_set=1" {
				t.Fatalf("redeem: %d %s", r.StatusCode, r.body)
			}
			if !e.signsIn("acme", "grace", "a password of her own") {
				t.Fatal("the password set with the link does not sign in")
			}
		})
	})
}

// TestConsoleResetPassword: an admin resets a local user's password to a
// new one or to a set-password link; either way the user's sessions end
// and the old password stops working.
func TestConsoleResetPassword(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.consoleClient().signIn("acme", "alice")
	carol := e.user("acme", "carol")
	path := "/console/org/users/" + carol.ID + "/password"

	wantPage(t, alice.get(path), http.StatusOK, "Reset the password of carol", `id="reset-form"`)
	wantPage(t, alice.get("/console/org/users/"+e.user("acme", "dora").ID+"/password"), http.StatusConflict, "only local users have a password here")
	wantPage(t, alice.get("/console/org/users/00000000-0000-7000-8000-000000000000/password"), http.StatusNotFound, "User not found")
	wantPage(t, alice.get("/console/org/users/"+e.user("globex", "eve").ID+"/password"), http.StatusNotFound)
	bob := e.consoleClient().signIn("acme", "bob")
	wantPage(t, bob.get(path), http.StatusForbidden)
	wantPage(t, bob.post(path, url.Values{"password_mode": {"link"}}), http.StatusForbidden)

	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"password_mode": {"password"}, "password": {"short"}, "password_confirm": {"short"}}, "Password: must have at least 12 characters."},
		{url.Values{"password_mode": {"password"}, "password": {"my name is Carol"}, "password_confirm": {"my name is Carol"}}, "Password: must not contain the username."},
		{url.Values{"password_mode": {"password"}, "password": {"a brand new secret"}, "password_confirm": {"a brand new secrex"}}, "the two passwords differ"},
		{url.Values{}, "Choose a new password or a set-password link."},
	} {
		r := alice.post(path, c.form)
		wantPage(t, r, http.StatusBadRequest, c.want)
		if pw := c.form.Get("password"); pw != "" && strings.Contains(string(r.body), pw) {
			t.Fatal("a refused form shows the password again")
		}
	}

	session := e.consoleClient().signIn("acme", "carol")
	wantPage(t, alice.post(path, url.Values{"password_mode": {"password"}, "password": {"a brand new secret"}, "password_confirm": {"a brand new secret"}}),
		http.StatusOK, "The password of carol is reset")
	if session.signedIn() {
		t.Fatal("carol's session survived the reset")
	}
	if e.signsIn("acme", "carol", "carol-password") || !e.signsIn("acme", "carol", "a brand new secret") {
		t.Fatal("after the reset the old password works or the new one does not")
	}

	session = e.consoleClient().signInWith("acme", "carol", "a brand new secret")
	r := alice.post(path, url.Values{"password_mode": {"link"}})
	wantPage(t, r, http.StatusOK, "New set-password link for carol", "Their old password no longer works")
	m := linkRE.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no link on the page: %s", r.body)
	}
	if session.signedIn() || e.signsIn("acme", "carol", "a brand new secret") {
		t.Fatal("a link reset left a session or the password working")
	}
	if r := e.redeemLink(string(m[1]), "chosen by me again", "chosen by me again"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("redeem: %d %s", r.StatusCode, r.body)
	}
	if !e.signsIn("acme", "carol", "chosen by me again") {
		t.Fatal("the password set with the link does not sign in")
	}

	// An admin who resets their own password is signed out with everyone.
	r = alice.post("/console/org/users/"+e.user("acme", "alice").ID+"/password",
		url.Values{"password_mode": {"password"}, "password": {"a new admin secret"}, "password_confirm": {"a new admin secret"}})
	if r.StatusCode != http.StatusSeeOther || alice.signedIn() {
		t.Fatalf("own reset: %d, still signed in %t", r.StatusCode, alice.signedIn())
	}
}

// TestConsoleChangePassword: every signed-in user changes their own
// password from the header's link; the current password is required, the
// session stays (with a new CSRF token) and their other sessions end.
func TestConsoleChangePassword(t *testing.T) {
	e := newEnv(t, envOptions{})
	bob := e.consoleClient().signIn("acme", "bob")
	elsewhere := e.consoleClient().signIn("acme", "bob")
	wantPage(t, bob.get("/console/tokens"), http.StatusOK, `href="/console/password"`)
	wantPage(t, bob.get("/console/password"), http.StatusOK, "Change your password", `autocomplete="current-password"`)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"current_password": {"not bobs pw"}, "password": {"a new secret, one"}, "password_confirm": {"a new secret, one"}}, "Current password: is not your current password."},
		{url.Values{"current_password": {"bob-password"}, "password": {"a new secret, one"}, "password_confirm": {"a new secret, two"}}, "the two passwords differ"},
		{url.Values{"current_password": {"bob-password"}, "password": {"short"}, "password_confirm": {"short"}}, "Password: must have at least 12 characters."},
		{url.Values{"current_password": {"bob-password"}, "password": {"BOB forever and ever"}, "password_confirm": {"BOB forever and ever"}}, "Password: must not contain the username."},
	} {
		r := bob.post("/console/password", c.form)
		wantPage(t, r, http.StatusBadRequest, c.want)
		for _, pw := range append(c.form["current_password"], c.form["password"]...) {
			if strings.Contains(string(r.body), `value="`+pw) {
				t.Fatal("a refused form shows a password again")
			}
		}
	}
	old := bob.csrf
	wantPage(t, bob.post("/console/password", url.Values{"current_password": {"bob-password"}, "password": {"a new secret, one"}, "password_confirm": {"a new secret, one"}}),
		http.StatusOK, "Your password is changed.")
	if bob.csrf == old || !bob.signedIn() || elsewhere.signedIn() {
		t.Fatalf("want this session kept with a new CSRF token and the other one ended")
	}
	if e.signsIn("acme", "bob", "bob-password") || !e.signsIn("acme", "bob", "a new secret, one") {
		t.Fatal("after the change the old password works or the new one does not")
	}

	// Guessing the current password spends the account's sign-in budget.
	var r *response
	for range 10 {
		if r = bob.post("/console/password", url.Values{"current_password": {"a guess"}, "password": {"a new secret, two"}, "password_confirm": {"a new secret, two"}}); r.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	wantPage(t, r, http.StatusTooManyRequests, "Too many attempts.")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	if e.signsIn("acme", "bob", "a new secret, one") {
		t.Fatal("sign-in is not limited after the guesses")
	}
}

// TestConsoleSetPasswordLink: the public page that redeems a link gives
// one answer to an unknown, used or expired link; a link works once. The
// link's code never reaches the logs: not as the browser sends the page's
// request (the code is in the fragment, never sent), nor when a client
// puts it in the query or the path, nor from the form's body.
func TestConsoleSetPasswordLink(t *testing.T) {
	e := newEnv(t, envOptions{})
	page := e.consoleClient().get("/console/set-password")
	wantPage(t, page, http.StatusOK, "Set your password", `data-link-code`, `autocomplete="new-password"`)

	secret := e.passwordLink("acme", "bob")
	const invalid = "This set-password link does not work: it may have expired or been used already; ask an administrator for a new one."
	wantPage(t, e.redeemLink(strings.Repeat("A", 43), "a good new password", "a good new password"), http.StatusBadRequest, invalid)
	wantPage(t, e.redeemLink("", "a good new password", "a good new password"), http.StatusBadRequest, "Code: paste the part of your set-password link")
	r := e.redeemLink(secret, "short", "short")
	wantPage(t, r, http.StatusBadRequest, "Password: must have at least 12 characters.", `value="`+secret+`"`)
	r = e.redeemLink(secret, "a good new password", "a good new password")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/login?password_set=1" {
		t.Fatalf("redeem: %d %s", r.StatusCode, r.body)
	}
	wantPage(t, e.consoleClient().get("/console/login?password_set=1"), http.StatusOK, "Your password is set. Sign in with it.")
	if !e.signsIn("acme", "bob", "a good new password") {
		t.Fatal("the password set with the link does not sign in")
	}
	r = e.redeemLink(secret, "another good password", "another good password")
	wantPage(t, r, http.StatusBadRequest, invalid)
	if strings.Contains(string(r.body), secret) {
		t.Fatal("the refusal of a used link shows it again")
	}

	// Clients that send the code in the query or the path.
	for i, path := range []string{"/console/set-password?code=" + secret, "/console/set-password/" + secret, "/console/set-password#" + secret} {
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		e.withID(req, "link-"+string(rune('a'+i)))
	}
	for _, id := range []string{"link-a", "link-b", "link-c"} {
		lines := e.linesOf(id)
		if len(lines) != 1 || lines[0]["msg"] != "http request" || lines[0]["route"] != "console" {
			t.Fatalf("request %s logged %v, want one access line with route console", id, lines)
		}
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("a set-password link reached the logs")
	}
	audit, err := e.store.ListAudit(ctx, storage.AuditFilter{OrgID: e.orgIDs["acme"]})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range audit {
		if strings.Contains(ev.Detail, secret) || strings.Contains(ev.Detail, "a good new password") {
			t.Fatalf("the audit log holds a secret: %+v", ev)
		}
	}
}
