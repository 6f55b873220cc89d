package authserver_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"authserver/internal/storetest"
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
