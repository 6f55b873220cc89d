package authserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/storage"
)

// signInWith signs org/user in through the console with a password and
// reads My tokens, for its CSRF token; it fails the test when sign-in is
// refused.
func (c *consoleClient) signInWith(org, user, pw string) *consoleClient {
	c.e.t.Helper()
	resp := c.tryLogin(org, user, pw)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/tokens" {
		c.e.t.Fatalf("sign-in of %s/%s: %d %s", org, user, resp.StatusCode, resp.body)
	}
	if page := c.get("/console/tokens"); page.StatusCode != http.StatusOK || c.csrf == "" {
		c.e.t.Fatalf("my tokens after sign-in: %d %s", page.StatusCode, page.body)
	}
	return c
}

// signsIn reports whether org/user signs in with pw.
func (e *env) signsIn(org, user, pw string) bool {
	e.t.Helper()
	resp := e.consoleClient().tryLogin(org, user, pw)
	return resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == "/console/tokens"
}

// signedIn reports whether a console client's session still works.
func (c *consoleClient) signedIn() bool {
	c.e.t.Helper()
	return c.get("/console/tokens").StatusCode == http.StatusOK
}

// passwordLink issues a set-password link for org/user, as the operator's
// command line does, and returns its secret.
func (e *env) passwordLink(org, user string) string {
	e.t.Helper()
	gov := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](e.store)})
	l, err := gov.ResetPassword(ctx, governance.CLI(), e.orgIDs[org], e.user(org, user).ID, governance.PasswordReset{Link: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Secret
}

// linkSecret checks that an answer's set-password link is a link to this
// server's redeeming page and returns its secret.
func linkSecret(t *testing.T, e *env, body map[string]any) string {
	t.Helper()
	l, ok := body["set_password_link"].(map[string]any)
	if !ok {
		t.Fatalf("no set_password_link in %v", body)
	}
	u, _ := l["url"].(string)
	prefix := e.url + "/console/set-password#"
	if !strings.HasPrefix(u, prefix) || len(u) < len(prefix)+40 || l["expires_at"] == "" {
		t.Fatalf("set_password_link %v", l)
	}
	return strings.TrimPrefix(u, prefix)
}

// TestAPIUsersAndPasswords: admins search and filter users, create them
// with a password or a set-password link, and reset passwords; users
// change their own. Refusals are problems that never echo a password, and
// no password or link reaches the logs or the audit log.
func TestAPIUsersAndPasswords(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		var secrets []string

		t.Run("search by username, filter by kind and status", func(t *testing.T) {
			names := func(query string) []string {
				t.Helper()
				var out []string
				for _, u := range items(t, wantStatus(t, e.call("GET", "/api/v1/admin/users"+query, admin, nil), http.StatusOK)) {
					out = append(out, u["username"].(string))
				}
				return out
			}
			for query, want := range map[string][]string{
				"?q=O":                           {"bob", "carol", "dora"},
				"?q=AR":                          {"carol"},
				"?q=%25":                         nil,
				"?q=_":                           nil,
				"?kind=directory":                {"dora"},
				"?kind=local&q=o":                {"bob", "carol"},
				"?kind=local&status=active":      {"alice", "bob", "carol"},
				"?q=o&limit=1&kind=local":        {"bob"},
				"?kind=saml":                     nil,
				"?q=" + url.QueryEscape("ÄLICE"): nil,
			} {
				if got := names(query); !slices.Equal(got, want) {
					t.Errorf("%s: got %v, want %v", query, got, want)
				}
			}
			wantProblem(t, e.call("GET", "/api/v1/admin/users?kind=robot", admin, nil), http.StatusBadRequest, "kind-invalid", "kind")
			wantProblem(t, e.call("GET", "/api/v1/admin/users?q=a%00b", admin, nil), http.StatusBadRequest, "invalid-parameter", "q")
			wantProblem(t, e.call("GET", "/api/v1/admin/users?q="+strings.Repeat("o", 101), admin, nil), http.StatusBadRequest, "q-invalid", "q")
			wantProblem(t, e.call("GET", "/api/v1/admin/users?q=", e.apiToken("acme", "bob", exchange.ScopePATs), nil), http.StatusForbidden, "insufficient-scope", "")
		})

		t.Run("create users with a password or a link, per the password rule", func(t *testing.T) {
			for _, c := range []struct {
				body        string
				code, field string
			}{
				{`{"username": "frank", "password": "eleven-char"}`, "password-too-short", "password"},
				{`{"username": "frank", "password": "I am FRANK, hello"}`, "password-contains-username", "password"},
				{`{"username": "frank", "password": "` + strings.Repeat("p", 1025) + `"}`, "password-too-long", "password"},
				{`{"username": "frank", "password": "twelve chars", "set_password_link": true}`, "password-or-link", "password"},
				{`{"username": "frank", "kind": "directory", "set_password_link": true}`, "password-not-local", "password"},
				{`{"username": "frank", "set_password_link": "yes"}`, "wrong-type", "set_password_link"},
			} {
				p := wantProblem(t, e.call("POST", "/api/v1/admin/users", admin, c.body), http.StatusBadRequest, c.code, c.field)
				if s := fmt.Sprint(p); strings.Contains(s, "eleven-char") || strings.Contains(s, "I am FRANK") || strings.Contains(s, "twelve chars") {
					t.Fatalf("the problem echoes the password: %s", s)
				}
			}
			got := wantStatus(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "frank", "password": "correct horse battery"}`), http.StatusCreated)
			if got["username"] != "frank" || got["set_password_link"] != nil {
				t.Fatalf("created %v", got)
			}
			if !e.signsIn("acme", "frank", "correct horse battery") {
				t.Fatal("the new user does not sign in with their password")
			}
			got = wantStatus(t, e.call("POST", "/api/v1/admin/users", admin, `{"username": "grace", "set_password_link": true}`), http.StatusCreated)
			secret := linkSecret(t, e, got)
			secrets = append(secrets, secret)
			if got["username"] != "grace" || got["kind"] != "local" {
				t.Fatalf("created %v", got)
			}
			if e.signsIn("acme", "grace", secret) {
				t.Fatal("the link's secret is a password")
			}
			ev := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=user.create&target="+got["id"].(string), admin, nil), http.StatusOK))
			if len(ev) != 1 || !strings.Contains(ev[0]["detail"].(string), "set-password link until") {
				t.Fatalf("audit %v", ev)
			}
		})

		t.Run("reset a password: the old one and every session end", func(t *testing.T) {
			carol := e.user("acme", "carol")
			session := e.consoleClient().signIn("acme", "carol")
			got := wantStatus(t, e.call("POST", "/api/v1/admin/users/"+carol.ID+"/password", admin, `{"password": "a brand new secret"}`), http.StatusOK)
			if got["user_id"] != carol.ID || got["set_password_link"] != nil {
				t.Fatalf("reset answered %v", got)
			}
			if session.signedIn() {
				t.Fatal("the user's console session survived the reset")
			}
			if e.signsIn("acme", "carol", "carol-password") || !e.signsIn("acme", "carol", "a brand new secret") {
				t.Fatal("after the reset the old password works or the new one does not")
			}
			got = wantStatus(t, e.call("POST", "/api/v1/admin/users/"+carol.ID+"/password", admin, `{"set_password_link": true}`), http.StatusOK)
			secrets = append(secrets, linkSecret(t, e, got))
			if e.signsIn("acme", "carol", "a brand new secret") {
				t.Fatal("a link reset left the password working")
			}
			dora := e.user("acme", "dora")
			for _, c := range []struct {
				path, body  string
				status      int
				code, field string
			}{
				{carol.ID, `{}`, http.StatusBadRequest, "password-or-link", "password"},
				{carol.ID, `{"password": "a brand new secret", "set_password_link": true}`, http.StatusBadRequest, "password-or-link", "password"},
				{carol.ID, `{"password": "Carol-Carol-Carol"}`, http.StatusBadRequest, "password-contains-username", "password"},
				{carol.ID, `{"passwd": "x"}`, http.StatusBadRequest, "unknown-field", ""},
				{dora.ID, `{"set_password_link": true}`, http.StatusConflict, "password-not-local", ""},
				{"00000000-0000-7000-8000-000000000000", `{"set_password_link": true}`, http.StatusNotFound, "not-found", ""},
				{e.user("globex", "eve").ID, `{"set_password_link": true}`, http.StatusNotFound, "not-found", ""},
			} {
				p := wantProblem(t, e.call("POST", "/api/v1/admin/users/"+c.path+"/password", admin, c.body), c.status, c.code, c.field)
				if strings.Contains(fmt.Sprint(p), "Carol-Carol") {
					t.Fatal("the problem echoes the password")
				}
			}
			wantProblem(t, e.call("POST", "/api/v1/admin/users/"+carol.ID+"/password", e.apiToken("acme", "bob", exchange.ScopePATs), `{"set_password_link": true}`),
				http.StatusForbidden, "insufficient-scope", "")
			ev := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=user.password.reset&target="+carol.ID, admin, nil), http.StatusOK))
			if len(ev) != 2 || ev[0]["actor"] != e.user("acme", "alice").ID {
				t.Fatalf("audit %v", ev)
			}
		})

		t.Run("users change their own password", func(t *testing.T) {
			bob := e.apiToken("acme", "bob", exchange.ScopePATs)
			for _, c := range []struct {
				body        string
				code, field string
			}{
				{`{"current_password": "not bob's", "password": "a new secret, first"}`, "current-password-wrong", "current_password"},
				{`{"current_password": "", "password": "a new secret, first"}`, "current-password-required", "current_password"},
				{`{"current_password": "bob-password", "password": "short"}`, "password-too-short", "password"},
				{`{"current_password": "bob-password", "password": "bob-password"}`, "password-unchanged", "password"},
				{`{"current_password": "bob-password", "password": "bob and his secret"}`, "password-contains-username", "password"},
			} {
				p := wantProblem(t, e.call("PUT", "/api/v1/me/password", bob, c.body), http.StatusBadRequest, c.code, c.field)
				if s := fmt.Sprint(p); strings.Contains(s, "not bob's") || strings.Contains(s, "bob-password") || strings.Contains(s, "his secret") {
					t.Fatalf("the problem echoes a password: %s", s)
				}
			}
			// With a bearer token: every console session ends.
			other := e.consoleClient().signIn("acme", "bob")
			if r := e.call("PUT", "/api/v1/me/password", bob, `{"current_password": "bob-password", "password": "a new secret, first"}`); r.StatusCode != http.StatusNoContent {
				t.Fatalf("change answered %d %s", r.StatusCode, r.body)
			}
			if other.signedIn() {
				t.Fatal("a console session survived the change")
			}
			// With the console's cookie: that session stays, others end.
			here := e.consoleClient().signInWith("acme", "bob", "a new secret, first")
			elsewhere := e.consoleClient().signInWith("acme", "bob", "a new secret, first")
			s := &consoleLogin{cookie: here.cookie(), csrf: here.csrf}
			if r := e.callSession("PUT", "/api/v1/me/password", s, map[string]string{"current_password": "a new secret, first", "password": "a newer secret, second"}); r.StatusCode != http.StatusNoContent {
				t.Fatalf("change answered %d %s", r.StatusCode, r.body)
			}
			if !here.signedIn() || elsewhere.signedIn() {
				t.Fatal("want the session of the change kept and the other one ended")
			}
			if !e.signsIn("acme", "bob", "a newer secret, second") {
				t.Fatal("the new password does not sign in")
			}
			// The old password no longer counts as the current one.
			wantProblem(t, e.call("PUT", "/api/v1/me/password", bob, `{"current_password": "x"}`), http.StatusBadRequest, "current-password-wrong", "current_password")
		})

		t.Run("no password or link in the logs or the audit log", func(t *testing.T) {
			audit := fmt.Sprint(wantStatus(t, e.call("GET", "/api/v1/admin/audit?limit=200", admin, nil), http.StatusOK))
			for _, s := range append(secrets, "correct horse battery", "a brand new secret", "a new secret, first", "a newer secret, second") {
				if strings.Contains(e.logs.String(), s) || strings.Contains(audit, s) {
					t.Fatalf("a password or link reached the logs or the audit log")
				}
			}
		})
	})
}
