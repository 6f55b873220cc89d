package authserver_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"authserver/authserver"
	"authserver/bootstrap"
	"authserver/config"
	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/signing"
	"authserver/storage"
)

// The console without a browser: net/http requests, as a browser or an
// attacker would send them.

var errorDiv = regexp.MustCompile(`<div class="error" role="alert" id="error">([^<]*)</div>`)

// signInError is the error message a sign-in page shows.
func signInError(t *testing.T, r *response) string {
	t.Helper()
	m := errorDiv.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no error on the page (%d): %s", r.StatusCode, r.body)
	}
	return string(m[1])
}

// TestConsoleSignIn: local users sign in with organization, username and
// password; every failure says the same thing; the session cookie has the
// right flags and lives in the database as the hash of its value.
func TestConsoleSignIn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})

		t.Run("the sign-in page tells directory and SAML users they sign in elsewhere", func(t *testing.T) {
			r := e.consoleClient().get("/console/login")
			wantPage(t, r, http.StatusOK, `id="organization"`, `id="username"`, `id="password"`,
				"Directory and SAML users sign in through their identity provider")
		})

		t.Run("every failure gets the one generic message", func(t *testing.T) {
			deactivated := e.user("acme", "carol")
			deactivated.Status = storage.UserDeactivated
			if err := e.store.UpdateUser(ctx, deactivated); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				deactivated.Status = storage.UserActive
				e.store.UpdateUser(ctx, deactivated)
			})
			want := htmlEscape(authserver.ConsoleSignInFailed)
			for _, c := range []struct{ name, org, user, password string }{
				{"wrong password", "acme", "alice", "bob-password"},
				{"unknown user", "acme", "mallory", "alice-password"},
				{"unknown organization", "initech", "alice", "alice-password"},
				{"user of another organization", "globex", "alice", "alice-password"},
				{"directory user", "acme", "dora", "dora-password"},
				{"deactivated user with a wrong password", "acme", "carol", "wrong"},
			} {
				c := c
				t.Run(c.name, func(t *testing.T) {
					cl := e.consoleClient()
					r := cl.tryLogin(c.org, c.user, c.password)
					if r.StatusCode != http.StatusForbidden || sessionCookieOf(r) != nil || cl.cookie() != "" {
						t.Fatalf("status %d, session cookie %v", r.StatusCode, sessionCookieOf(r))
					}
					if got := signInError(t, r); got != want {
						t.Fatalf("message %q, want %q", got, want)
					}
				})
			}
			t.Run("only the right password learns that an account is deactivated", func(t *testing.T) {
				r := e.consoleClient().tryLogin("acme", "carol", "carol-password")
				if r.StatusCode != http.StatusForbidden || sessionCookieOf(r) != nil {
					t.Fatalf("status %d", r.StatusCode)
				}
				if got := signInError(t, r); !strings.Contains(got, "deactivated") {
					t.Fatalf("message %q", got)
				}
			})
		})

		t.Run("success starts a session: a fresh random cookie, HttpOnly, SameSite=Lax, not Secure over http", func(t *testing.T) {
			before := time.Now()
			cl := e.consoleClient()
			r := cl.tryLogin("acme", "alice", "alice-password")
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/tokens" {
				t.Fatalf("status %d, location %q", r.StatusCode, r.Header.Get("Location"))
			}
			ck := sessionCookieOf(r)
			if ck == nil {
				t.Fatal("no session cookie")
			}
			if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.Domain != "" {
				t.Fatalf("cookie flags %+v", ck)
			}
			if len(ck.Value) != 43 {
				t.Fatalf("cookie value of %d characters, want 43 (32 random bytes)", len(ck.Value))
			}
			s, err := e.store.GetSession(ctx, sha256hex(ck.Value))
			if err != nil {
				t.Fatalf("the session is not stored under the hash of its cookie: %v", err)
			}
			if s.UserID != e.user("acme", "alice").ID || len(s.CSRFToken) != 43 {
				t.Fatalf("session %+v", s)
			}
			if got := s.ExpiresAt.Sub(s.CreatedAt); got != e.cfg.Console.SessionAbsoluteTimeout.D() || s.CreatedAt.Before(before.Add(-time.Second)) {
				t.Fatalf("session created %v expires %v", s.CreatedAt, s.ExpiresAt)
			}
			if _, err := e.store.GetSession(ctx, ck.Value); err == nil {
				t.Fatal("the session is stored under its cookie value")
			}
			wantPage(t, cl.get("/console/tokens"), http.StatusOK, "Signed in as <strong>alice</strong>")
		})
	})
}

// TestConsoleSignInFailuresAreAudited: each refused sign-in writes exactly
// one audit event to the organization named, with its cause as outcome and
// the client address, readable through the audit API; the user is named
// only when one matched, and the password never reaches the audit log or
// the server log. An unknown organization and a rate-limited attempt are
// only logged. The page says the same for every credential failure,
// whatever the cause.
func TestConsoleSignInFailuresAreAudited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		admins := map[string]string{
			"acme":   e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin),
			"globex": e.apiToken("globex", "eve", exchange.ScopePATs, exchange.ScopeAdmin),
		}
		refused := func(org string) []map[string]any {
			t.Helper()
			return items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=console.login.refused", admins[org], nil), http.StatusOK))
		}
		counts := map[string]int{}
		// waitFor waits until org's audit log holds want refused sign-ins
		// (they are written behind the request) and returns the newest.
		waitFor := func(org string, want int) map[string]any {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for {
				ev := refused(org)
				if len(ev) > want {
					t.Fatalf("got %d refused sign-ins in %s, want %d: %v", len(ev), org, want, ev)
				}
				if len(ev) == want {
					if want == 0 {
						return nil
					}
					return ev[0]
				}
				if time.Now().After(deadline) {
					t.Fatalf("got %d refused sign-ins in %s, want %d", len(ev), org, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		carol := e.user("acme", "carol")
		carol.Status = storage.UserDeactivated
		if err := e.store.UpdateUser(ctx, carol); err != nil {
			t.Fatal(err)
		}

		generic := htmlEscape(authserver.ConsoleSignInFailed)
		var passwords []string
		for _, c := range []struct {
			rule, org, user, password string
			cause, actor              string // cause "": no audit event (unknown organization)
			message                   string
		}{
			{"an unknown organization is only logged", "initech", "alice", "pw-unknown-org", "", "", generic},
			{"a wrong password names the user", "acme", "bob", "pw-wrong-bob", "wrong-password", e.user("acme", "bob").ID, generic},
			{"an unknown user is not named", "acme", "pw-in-username", "pw-unknown-user", "unknown-user", "unknown-user", generic},
			{"a user of another organization is unknown there", "globex", "alice", "pw-alice-at-globex", "unknown-user", "unknown-user", generic},
			{"a directory user cannot sign in here", "acme", "dora", "pw-dora", "non-local", e.user("acme", "dora").ID, generic},
			{"a deactivated user with a wrong password", "acme", "carol", "pw-wrong-carol", "wrong-password", carol.ID, generic},
			{"a deactivated user with the right password is told so", "acme", "carol", "carol-password", "user-deactivated", carol.ID, ""},
		} {
			t.Run(c.rule, func(t *testing.T) {
				passwords = append(passwords, c.password)
				r := e.consoleClient().tryLogin(c.org, c.user, c.password)
				if r.StatusCode != http.StatusForbidden || sessionCookieOf(r) != nil {
					t.Fatalf("got status %d, want %d without a session", r.StatusCode, http.StatusForbidden)
				}
				got := signInError(t, r)
				if c.message != "" && got != c.message {
					t.Fatalf("got message %q, want %q", got, c.message)
				}
				if c.message == "" && !strings.Contains(got, "deactivated") {
					t.Fatalf("got message %q, want it to say the account is deactivated", got)
				}
				if c.cause == "" {
					// A later event of the same queue proves this one
					// was not written: see the next case.
					return
				}
				counts[c.org]++
				ev := waitFor(c.org, counts[c.org])
				if ev["outcome"] != c.cause || ev["actor"] != c.actor || ev["client_addr"] != "127.0.0.1" {
					t.Fatalf("got event %v, want outcome %s, actor %s, client address 127.0.0.1", ev, c.cause, c.actor)
				}
				if c.actor == "unknown-user" && (ev["target"] != "" || ev["detail"] != "") {
					t.Fatalf("got event %v, want nothing typed for an unknown user", ev)
				}
			})
		}

		t.Run("a rate-limited attempt is logged, not audited", func(t *testing.T) {
			for range 4 { // bob has five attempts; the first was spent above
				counts["acme"]++
				if r := e.consoleClient().tryLogin("acme", "bob", "pw-wrong-bob"); r.StatusCode != http.StatusForbidden {
					t.Fatalf("got status %d, want %d", r.StatusCode, http.StatusForbidden)
				}
			}
			ev := waitFor("acme", counts["acme"])
			if ev["outcome"] != "wrong-password" || ev["actor"] != e.user("acme", "bob").ID {
				t.Fatalf("got event %v, want bob's wrong password", ev)
			}
			r := e.consoleClient().tryLogin("acme", "bob", "bob-password")
			if r.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("got status %d, want %d", r.StatusCode, http.StatusTooManyRequests)
			}
			if !strings.Contains(e.logs.String(), `"cause":"rate-limited"`) {
				t.Fatal("the rate-limited sign-in is not logged with its cause")
			}
			passwords = append(passwords, "bob-password")
			// Events are written in order: once a later refusal is in the
			// log, a rate-limited event would have been too.
			counts["acme"]++
			if r := e.consoleClient().tryLogin("acme", "nobody", "pw-after-limit"); r.StatusCode != http.StatusForbidden {
				t.Fatalf("got status %d, want %d", r.StatusCode, http.StatusForbidden)
			}
			passwords = append(passwords, "pw-after-limit")
			if ev := waitFor("acme", counts["acme"]); ev["outcome"] != "unknown-user" {
				t.Fatalf("got event %v, want the unknown user after the rate-limited attempt", ev)
			}
		})

		t.Run("nothing more is written, and no password anywhere", func(t *testing.T) {
			time.Sleep(100 * time.Millisecond)
			for org, n := range counts {
				waitFor(org, n)
			}
			for org, admin := range admins {
				body := string(e.call("GET", "/api/v1/admin/audit", admin, nil).body)
				for _, pw := range passwords {
					if strings.Contains(body, pw) {
						t.Fatalf("the audit log of %s holds the password %q: %s", org, pw, body)
					}
				}
				if strings.Contains(body, "pw-in-username") || strings.Contains(body, "initech") {
					t.Fatalf("the audit log of %s holds text as typed: %s", org, body)
				}
			}
			logs := e.logs.String()
			for _, pw := range passwords {
				if strings.Contains(logs, pw) {
					t.Fatalf("the log holds the password %q", pw)
				}
			}
			if !strings.Contains(logs, `"cause":"unknown-organization"`) {
				t.Fatal("the refused sign-in of an unknown organization is not logged with its cause")
			}
		})
	})
}

// htmlEscape escapes s as the templates do.
func htmlEscape(s string) string {
	return strings.NewReplacer(`'`, "&#39;", `"`, "&#34;", "&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestConsoleSessionFixation: a cookie value that exists before sign-in is
// never the session after it.
func TestConsoleSessionFixation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		u, _ := url.Parse(e.url)

		t.Run("a cookie planted before sign-in is replaced and never becomes a session", func(t *testing.T) {
			cl := e.consoleClient()
			planted := newCookieValue()
			cl.http.Jar.SetCookies(u, []*http.Cookie{{Name: authserver.ConsoleSessionCookie, Value: planted, Path: "/"}})
			r := cl.tryLogin("acme", "alice", "alice-password")
			ck := sessionCookieOf(r)
			if r.StatusCode != http.StatusSeeOther || ck == nil || ck.Value == planted {
				t.Fatalf("status %d, cookie %v: the planted value was kept", r.StatusCode, ck)
			}
			if _, err := e.store.GetSession(ctx, sha256hex(planted)); err == nil {
				t.Fatal("the planted value is a session")
			}
			attacker := e.consoleClient()
			attacker.http.Jar.SetCookies(u, []*http.Cookie{{Name: authserver.ConsoleSessionCookie, Value: planted, Path: "/"}})
			if r := attacker.get("/console/tokens"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("the planted cookie opens My tokens: %d", r.StatusCode)
			}
		})

		t.Run("signing in again ends the session the browser held", func(t *testing.T) {
			cl := e.consoleClient().signIn("acme", "bob")
			old := cl.cookie()
			cl.signIn("acme", "alice")
			if cl.cookie() == old {
				t.Fatal("the session id did not change at sign-in")
			}
			if _, err := e.store.GetSession(ctx, sha256hex(old)); err == nil {
				t.Fatal("the previous session still exists")
			}
			wantPage(t, cl.get("/console/tokens"), http.StatusOK, "Signed in as <strong>alice</strong>")
		})
	})
}

// newCookieValue is a well-formed value the server never issued.
func newCookieValue() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// consoleState is what the state-changing console routes could change.
func consoleState(t *testing.T, e *env) string {
	t.Helper()
	pats, err := e.store.ListPATs(ctx, storage.PATFilter{OrgID: e.orgIDs["acme"]})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range pats {
		b.WriteString(p.ID + " " + p.Name + " " + strconv.FormatBool(p.RevokedAt != nil) + "\n")
	}
	o, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(strconv.FormatBool(o.PATsEnabled) + " " + o.PATMaxLifetime.String() + "\n")
	for _, d := range o.ExpiryNoticeDays {
		b.WriteString(strconv.Itoa(d) + " ")
	}
	b.WriteString(o.PATIdleRevokeAfter.String() + "\n")
	users, err := e.store.ListUsers(ctx, storage.UserFilter{OrgID: e.orgIDs["acme"]})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		b.WriteString(u.Username + " " + string(u.Status) + " " + u.PasswordHash + " " + u.Email + "\n")
	}
	roles, err := e.store.ListRoles(ctx, e.orgIDs["acme"])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		b.WriteString("role " + r.ID + " " + r.Name + " " + strings.Join(r.Permissions, " ") + "\n")
	}
	as, err := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		b.WriteString("assignment " + a.ID + " " + a.UserID + " " + a.RoleID + " " + a.Folder + "\n")
	}
	ws, err := e.store.ListWebhooks(ctx, e.orgIDs["acme"])
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		b.WriteString("webhook " + w.ID + " " + w.URL + "\n")
	}
	return b.String()
}

// TestConsoleCSRF: every state-changing console route refuses a
// cross-origin request and a request without the session's CSRF token,
// and changes nothing.
func TestConsoleCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice := e.consoleClient().signIn("acme", "alice")
		otherSession := e.consoleClient().signIn("acme", "alice")
		_, alicePAT := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		carolToken, carolPAT := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
		dora := e.user("acme", "dora")
		dora.Status = storage.UserDeactivated
		if err := e.store.UpdateUser(ctx, dora); err != nil {
			t.Fatal(err)
		}

		dev, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "Dev")
		if err != nil {
			t.Fatal(err)
		}
		carolRoles, err := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], e.user("acme", "carol").ID)
		if err != nil || len(carolRoles) == 0 {
			t.Fatalf("carol's roles: %v %v", carolRoles, err)
		}
		bobID := e.user("acme", "bob").ID
		hook := &storage.Webhook{OrgID: e.orgIDs["acme"], URL: "https://hooks.example/in", Secret: []byte{1}}
		if err := e.store.CreateWebhook(ctx, hook); err != nil {
			t.Fatal(err)
		}

		// One valid form for every state-changing route, by pattern.
		routes := map[string]struct {
			path string
			form url.Values
		}{
			"/console/tokens":                     {"/console/tokens", url.Values{"name": {"forged"}, "scopes": {"OR.Jobs"}, "expiry": {"never"}}},
			"/console/tokens/{id}/revoke":         {"/console/tokens/" + alicePAT.ID + "/revoke", nil},
			"/console/tokens/{id}/regenerate":     {"/console/tokens/" + alicePAT.ID + "/regenerate", nil},
			"/console/logout":                     {"/console/logout", nil},
			"/console/org/tokens/revoke":          {"/console/org/tokens/revoke", url.Values{"ids": {carolPAT.ID}}},
			"/console/org/tokens/revoke-by-value": {"/console/org/tokens/revoke-by-value", url.Values{"token": {carolToken}}},
			"/console/org/users/{id}/deactivate":  {"/console/org/users/" + e.user("acme", "bob").ID + "/deactivate", nil},
			"/console/org/users/{id}/reactivate":  {"/console/org/users/" + dora.ID + "/reactivate", nil},
			"/console/org/settings": {"/console/org/settings", url.Values{"pat_max_lifetime": {"30d"},
				"expiry_notice_days": {"5"}, "pat_idle_revoke_after": {"90d"}}},
			"/console/email":                      {"/console/email", url.Values{"email": {"forged@example.com"}}},
			"/console/org/users/{id}/email":       {"/console/org/users/" + bobID + "/email", url.Values{"email": {"forged@example.com"}}},
			"/console/org/roles":                  {"/console/org/roles", url.Values{"name": {"Forged"}, "permissions": {"OR.Jobs"}}},
			"/console/org/webhooks":               {"/console/org/webhooks", url.Values{"url": {"https://evil.example/in"}}},
			"/console/org/webhooks/{id}/delete":   {"/console/org/webhooks/" + hook.ID + "/delete", nil},
			"/console/org/roles/{id}":             {"/console/org/roles/" + dev.ID, url.Values{"name": {"Forged"}, "permissions": {"OR.Jobs"}}},
			"/console/org/roles/{id}/delete":      {"/console/org/roles/" + dev.ID + "/delete", url.Values{"confirm": {"yes"}}},
			"/console/org/users/{id}/assignments": {"/console/org/users/" + bobID + "/assignments", url.Values{"role_id": {dev.ID}}},
			"/console/org/users/{id}/assignments/{assignment}/delete": {
				"/console/org/users/" + carolRoles[0].UserID + "/assignments/" + carolRoles[0].ID + "/delete", nil},
			"/console/password": {"/console/password", url.Values{"current_password": {"alice-password"},
				"password": {"forged password 1"}, "password_confirm": {"forged password 1"}}},
			"/console/org/users": {"/console/org/users", url.Values{"username": {"forged"}, "kind": {"local"},
				"password_mode": {"password"}, "password": {"forged password 1"}, "password_confirm": {"forged password 1"}}},
			"/console/org/users/{id}/password": {"/console/org/users/" + e.user("acme", "bob").ID + "/password",
				url.Values{"password_mode": {"password"}, "password": {"forged password 1"}, "password_confirm": {"forged password 1"}}},
		}
		for _, rt := range authserver.ConsoleRoutes() {
			if _, ok := routes[rt.Path]; rt.Method == http.MethodPost && !ok {
				t.Fatalf("the CSRF test does not cover POST %s", rt.Path)
			}
		}

		attacks := []struct {
			name   string
			form   func(url.Values)
			header []string
		}{
			{"a cross-origin Origin header", nil, []string{"Origin", "http://evil.example", "Sec-Fetch-Site", ""}},
			{"cross-site fetch metadata", nil, []string{"Origin", "", "Sec-Fetch-Site", "cross-site"}},
			{"a same-site sibling origin", nil, []string{"Origin", "http://sibling.127.0.0.1.nip.io", "Sec-Fetch-Site", "same-site"}},
			{"no CSRF token", func(f url.Values) { f["csrf_token"] = []string{} }, nil},
			{"an empty CSRF token", func(f url.Values) { f.Set("csrf_token", "") }, nil},
			{"another session's CSRF token", func(f url.Values) { f.Set("csrf_token", otherSession.csrf) }, nil},
			{"a CSRF token in the query only", func(f url.Values) { f["csrf_token"] = []string{} }, nil},
		}
		before := consoleState(t, e)
		for pattern, rt := range routes {
			for _, a := range attacks {
				t.Run("POST "+pattern+" with "+a.name+" is refused", func(t *testing.T) {
					form := url.Values{}
					for k, v := range rt.form {
						form[k] = slices.Clone(v)
					}
					if a.form != nil {
						a.form(form)
					}
					path := rt.path
					if a.name == "a CSRF token in the query only" {
						path += "?csrf_token=" + url.QueryEscape(alice.csrf)
					}
					r := alice.post(path, form, a.header...)
					if r.StatusCode != http.StatusForbidden {
						t.Fatalf("status %d, want 403: %s", r.StatusCode, r.body)
					}
					if patRE.Match(r.body) {
						t.Fatal("a refused request revealed a token")
					}
					if after := consoleState(t, e); after != before {
						t.Fatalf("a refused request changed the state:\n%s\nwant\n%s", after, before)
					}
				})
			}
		}
		if r := alice.get("/console/tokens"); r.StatusCode != http.StatusOK {
			t.Fatalf("the forged sign-out ended the session: %d", r.StatusCode)
		}

		t.Run("the same requests with the token and from the same origin succeed", func(t *testing.T) {
			r := alice.post(routes["/console/org/tokens/revoke"].path, routes["/console/org/tokens/revoke"].form)
			wantPage(t, r, http.StatusOK, "1 token is revoked.")
			if consoleState(t, e) == before {
				t.Fatal("nothing changed")
			}
		})

		t.Run("the set-password form needs its own token and the same origin", func(t *testing.T) {
			secret := e.passwordLink("acme", "bob")
			before := consoleState(t, e)
			for _, c := range []struct {
				name   string
				token  func(cl *consoleClient) string
				header []string
			}{
				{"cross-origin", nil, []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}},
				{"no token", func(*consoleClient) string { return "" }, nil},
				{"a token not matching the cookie", func(*consoleClient) string { return newCookieValue() }, nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					cl := e.consoleClient()
					page := cl.get("/console/set-password")
					token := string(csrfInput.FindSubmatch(page.body)[1])
					if c.token != nil {
						token = c.token(cl)
					}
					r := cl.post("/console/set-password", url.Values{"csrf_token": {token}, "code": {secret},
						"password": {"forged password 1"}, "password_confirm": {"forged password 1"}}, c.header...)
					if r.StatusCode != http.StatusForbidden {
						t.Fatalf("status %d, want 403: %s", r.StatusCode, r.body)
					}
					if after := consoleState(t, e); after != before {
						t.Fatalf("a refused request changed the state:\n%s\nwant\n%s", after, before)
					}
				})
			}
		})

		t.Run("the sign-in form needs its own token and the same origin", func(t *testing.T) {
			for _, c := range []struct {
				name   string
				token  func(cl *consoleClient) string
				header []string
			}{
				{"cross-origin", nil, []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}},
				{"no token", func(*consoleClient) string { return "" }, nil},
				{"a token not matching the cookie", func(*consoleClient) string { return newCookieValue() }, nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					cl := e.consoleClient()
					page := cl.get("/console/login")
					token := string(csrfInput.FindSubmatch(page.body)[1])
					if c.token != nil {
						token = c.token(cl)
					}
					r := cl.post("/console/login", url.Values{"csrf_token": {token}, "organization": {"acme"},
						"username": {"alice"}, "password": {"alice-password"}}, c.header...)
					if r.StatusCode != http.StatusForbidden || sessionCookieOf(r) != nil {
						t.Fatalf("status %d, session cookie %v", r.StatusCode, sessionCookieOf(r))
					}
				})
			}
		})
	})
}

// TestConsoleSecurityHeaders: every console answer forbids framing,
// sniffing, referrers, caching and inline script.
func TestConsoleSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.consoleClient().signIn("acme", "alice")
	carol := e.consoleClient().signIn("acme", "carol")
	_, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	pages := []struct {
		who    *consoleClient
		path   string
		status int
	}{
		{e.consoleClient(), "/console/login", http.StatusOK},
		{e.consoleClient(), "/console/tokens", http.StatusSeeOther},
		{alice, "/console/tokens", http.StatusOK},
		{alice, "/console/tokens/new", http.StatusOK},
		{alice, "/console/tokens/" + p.ID + "?audience=orchestrator", http.StatusOK},
		{alice, "/console/tokens/not-a-token", http.StatusNotFound},
		{alice, "/console/org/tokens", http.StatusOK},
		{alice, "/console/org/users", http.StatusOK},
		{alice, "/console/org/settings", http.StatusOK},
		{alice, "/console/org/audit", http.StatusOK},
		{alice, "/console/nowhere", http.StatusNotFound},
		{carol, "/console/org/tokens", http.StatusForbidden},
	}
	for _, pg := range pages {
		t.Run(pg.path, func(t *testing.T) {
			r := pg.who.get(pg.path)
			if r.StatusCode != pg.status {
				t.Fatalf("status %d, want %d", r.StatusCode, pg.status)
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if r.StatusCode == http.StatusOK && regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+="|style="`).Match(r.body) {
				t.Errorf("the page has inline script or style: %s", r.body)
			}
		})
	}
	t.Run("static files are typed and not sniffed", func(t *testing.T) {
		page := alice.get("/console/tokens")
		for _, c := range []struct{ re, ct string }{
			{`href="(/console/static/console\.css\?v=[0-9a-f]+)"`, "text/css; charset=utf-8"},
			{`src="(/console/static/console\.js\?v=[0-9a-f]+)"`, "text/javascript; charset=utf-8"},
		} {
			m := regexp.MustCompile(c.re).FindSubmatch(page.body)
			if m == nil {
				t.Fatalf("the page does not link %s", c.re)
			}
			r := alice.get(string(m[1]))
			if r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != c.ct ||
				r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
				t.Fatalf("%s: %d %v", m[1], r.StatusCode, r.Header)
			}
		}
	})
	t.Run("a non-admin cannot change the organization's settings", func(t *testing.T) {
		before := consoleState(t, e)
		r := carol.post("/console/org/settings", url.Values{"pat_max_lifetime": {"1d"}})
		if r.StatusCode != http.StatusForbidden || consoleState(t, e) != before {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
}

// TestConsoleSessionTimeouts: a session ends after the idle timeout
// without a request, and after the absolute timeout however busy — for
// the console and the API alike.
func TestConsoleSessionTimeouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{driver: driver, now: clock.now,
			config: "console:\n  session_idle_timeout: 10m\n  session_absolute_timeout: 1h\n"})

		t.Run("idle timeout", func(t *testing.T) {
			cl := e.consoleClient().signIn("acme", "alice")
			for range 3 {
				clock.advance(9 * time.Minute)
				wantPage(t, cl.get("/console/tokens"), http.StatusOK)
			}
			clock.advance(10*time.Minute + time.Second)
			r := cl.get("/console/tokens")
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/login?expired=1" {
				t.Fatalf("after 10m idle: %d %q", r.StatusCode, r.Header.Get("Location"))
			}
			if _, err := e.store.GetSession(ctx, sha256hex(cl.cookie())); err == nil {
				t.Fatal("the expired session was not deleted")
			}
			wantPage(t, cl.get("/console/login?expired=1"), http.StatusOK, "Your session has ended")
		})

		t.Run("absolute timeout", func(t *testing.T) {
			cl := e.consoleClient().signIn("acme", "alice")
			login := &consoleLogin{cookie: cl.cookie(), csrf: cl.csrf}
			for range 6 {
				clock.advance(9 * time.Minute)
				wantPage(t, cl.get("/console/tokens"), http.StatusOK)
			}
			wantStatus(t, e.callSession("GET", "/api/v1/me", login, nil), http.StatusOK)
			clock.advance(6*time.Minute + time.Second) // 60m1s after sign-in
			wantProblem(t, e.callSession("GET", "/api/v1/me", login, nil), http.StatusUnauthorized, "invalid-token", "")
			if r := cl.get("/console/tokens"); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("after the absolute timeout: %d", r.StatusCode)
			}
		})
	})
}

// TestConsoleRateLimit: sign-in attempts are limited per account and per
// client address, with 429 and Retry-After.
func TestConsoleRateLimit(t *testing.T) {
	t.Run("per account: five attempts, then one a minute, even with the right password", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		for i := range 5 {
			if r := e.consoleClient().tryLogin("acme", "bob", "wrong"); r.StatusCode != http.StatusForbidden {
				t.Fatalf("attempt %d: %d", i+1, r.StatusCode)
			}
		}
		r := e.consoleClient().tryLogin("acme", "bob", "bob-password")
		if r.StatusCode != http.StatusTooManyRequests || sessionCookieOf(r) != nil {
			t.Fatalf("sixth attempt: %d", r.StatusCode)
		}
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 60 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		if got := signInError(t, r); !strings.Contains(got, "Too many sign-in attempts") || !strings.Contains(got, strconv.Itoa(retry)+" seconds") {
			t.Fatalf("message %q", got)
		}
		// Case does not make another account.
		if r := e.consoleClient().tryLogin("ACME", "Bob", "bob-password"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("another spelling of the account: %d", r.StatusCode)
		}
		// Another account from the same address is not held up.
		e.consoleClient().signIn("acme", "carol")
		clock.advance(time.Duration(retry) * time.Second)
		e.consoleClient().signIn("acme", "bob")
	})

	t.Run("a wrong current password in the API spends the same budget as a sign-in", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		bob := e.apiToken("acme", "bob", exchange.ScopePATs)
		change := func(current string) *response {
			return e.call("PUT", "/api/v1/me/password", bob, map[string]string{"current_password": current, "password": "a long new passphrase"})
		}
		// Two wrong guesses in the console, three in the API: five in all.
		for i := range 2 {
			if r := e.consoleClient().tryLogin("acme", "bob", "wrong"); r.StatusCode != http.StatusForbidden {
				t.Fatalf("sign-in %d: %d", i+1, r.StatusCode)
			}
		}
		for range 3 {
			wantProblem(t, change("wrong"), http.StatusBadRequest, "current-password-wrong", "current_password")
		}
		r := change("bob-password")
		p := wantProblem(t, r, http.StatusTooManyRequests, "rate-limited", "")
		retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || retry < 1 || retry > 60 {
			t.Fatalf("Retry-After %q (%v)", r.Header.Get("Retry-After"), p)
		}
		if r := e.consoleClient().tryLogin("acme", "bob", "bob-password"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a sign-in after the API's guesses: %d", r.StatusCode)
		}
		// A right password gives its guess back: after the wait, the change
		// goes through and the budget is as it was.
		clock.advance(time.Duration(retry) * time.Second)
		if r := change("bob-password"); r.StatusCode != http.StatusNoContent {
			t.Fatalf("after the wait: %d %s", r.StatusCode, r.body)
		}
	})

	t.Run("per address: twenty attempts, then one every six seconds, whichever accounts", func(t *testing.T) {
		clock := &fakeClock{t: time.Now()}
		e := newEnv(t, envOptions{now: clock.now})
		for i := range 20 {
			if r := e.consoleClient().tryLogin("acme", "user"+strconv.Itoa(i), "x"); r.StatusCode != http.StatusForbidden {
				t.Fatalf("attempt %d: %d", i+1, r.StatusCode)
			}
		}
		r := e.consoleClient().tryLogin("acme", "alice", "alice-password")
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("21st attempt: %d %v", r.StatusCode, r.Header)
		}
		if retry, _ := strconv.Atoi(r.Header.Get("Retry-After")); retry < 1 || retry > 6 {
			t.Fatalf("Retry-After %d", retry)
		}
		clock.advance(6 * time.Second)
		e.consoleClient().signIn("acme", "alice")
	})
}

// TestConsoleTemplatesParsedAtStartUp: New refuses to start with a missing
// or broken template or static file.
func TestConsoleTemplatesParsedAtStartUp(t *testing.T) {
	e := newEnv(t, envOptions{})
	embedded := fstest.MapFS{}
	if err := fs.WalkDir(authserver.ConsoleFiles(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(authserver.ConsoleFiles(), p)
		embedded[p] = &fstest.MapFile{Data: b}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	newServer := func(files fs.FS) error {
		o := serverOptions(e.cfg, e.store, e.keys, slog.New(slog.DiscardHandler))
		o.ConsoleFiles = files
		_, err := authserver.New(o)
		return err
	}
	if err := newServer(embedded); err != nil {
		t.Fatalf("the embedded files: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(fstest.MapFS)
		want   string
	}{
		{"a missing page", func(m fstest.MapFS) { delete(m, "templates/token_reveal.html") }, "token_reveal"},
		{"a missing layout", func(m fstest.MapFS) { delete(m, "templates/layout.html") }, "layout"},
		{"a page that does not parse", func(m fstest.MapFS) {
			m["templates/tokens.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{.Data.Items`)}
		}, "tokens"},
		{"a page that cannot be escaped", func(m fstest.MapFS) {
			m["templates/org_audit.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}<a href="{{.Data}}{{end}}`)}
		}, "org_audit"},
		{"a page without content", func(m fstest.MapFS) {
			m["templates/org_users.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}`)}
		}, "org_users"},
		{"a missing static file", func(m fstest.MapFS) { delete(m, "static/console.js") }, "console.js"},
	} {
		t.Run(c.name+" stops New", func(t *testing.T) {
			m := fstest.MapFS{}
			for k, v := range embedded {
				m[k] = v
			}
			c.change(m)
			err := newServer(m)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error naming %s", err, c.want)
			}
		})
	}
}

// TestConsoleSignOut: signing out ends the session for the console and
// for the API.
func TestConsoleSignOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		cl := e.consoleClient().signIn("acme", "alice")
		login := &consoleLogin{cookie: cl.cookie(), csrf: cl.csrf}
		wantStatus(t, e.callSession("GET", "/api/v1/me", login, nil), http.StatusOK)
		r := cl.post("/console/logout", nil)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/login?signed_out=1" {
			t.Fatalf("sign-out: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if ck := sessionCookieOf(r); ck == nil || ck.MaxAge >= 0 {
			t.Fatalf("the cookie is not cleared: %v", ck)
		}
		if _, err := e.store.GetSession(ctx, sha256hex(login.cookie)); err == nil {
			t.Fatal("the session still exists")
		}
		// The old cookie, replayed, opens nothing.
		replay := e.consoleClient()
		u, _ := url.Parse(e.url)
		replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: authserver.ConsoleSessionCookie, Value: login.cookie, Path: "/"}})
		if r := replay.get("/console/tokens"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("the old cookie opens My tokens: %d", r.StatusCode)
		}
		wantProblem(t, e.callSession("GET", "/api/v1/me", login, nil), http.StatusUnauthorized, "invalid-token", "")
		wantPage(t, cl.get("/console/login?signed_out=1"), http.StatusOK, "You have signed out.")
	})
}

// TestConsoleSessionInTheAPI: the API accepts the console cookie, and
// for state changes also wants the session's CSRF token and the same
// origin.
func TestConsoleSessionInTheAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		carol := e.consoleSignIn("acme", "carol")
		body := map[string]any{"name": "from a page script", "scopes": []string{"OR.Jobs"}}
		for _, c := range []struct {
			name   string
			header map[string]string
		}{
			{"without the CSRF header", map[string]string{authserver.ConsoleCSRFHeader: ""}},
			{"with a wrong CSRF header", map[string]string{authserver.ConsoleCSRFHeader: newCookieValue()}},
			{"from another origin", map[string]string{"Origin": "http://evil.example"}},
			{"from another site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		} {
			t.Run("a state change "+c.name+" is refused", func(t *testing.T) {
				req := sessionRequest(t, e, "POST", "/api/v1/me/pats", carol, body)
				for k, v := range c.header {
					if v == "" {
						req.Header.Del(k)
					} else {
						req.Header.Set(k, v)
					}
				}
				wantProblem(t, e.do(req), http.StatusUnauthorized, "invalid-token", "")
				if n := len(e.patsOf("acme", "carol")); n != 0 {
					t.Fatalf("carol has %d PATs", n)
				}
			})
		}
		t.Run("with the token from the same origin it works", func(t *testing.T) {
			got := wantStatus(t, e.do(sessionRequest(t, e, "POST", "/api/v1/me/pats", carol, body)), http.StatusCreated)
			if !patRE.MatchString(got["token"].(string)) {
				t.Fatalf("created %v", got)
			}
			wantStatus(t, e.callSession("GET", "/api/v1/me/pats", carol, nil), http.StatusOK)
		})
	})
}

// sessionRequest is callSession's request, to be changed before sending.
func sessionRequest(t *testing.T, e *env, method, path string, s *consoleLogin, body any) *http.Request {
	t.Helper()
	raw := snapshot(t, body)
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", e.url)
	req.AddCookie(&http.Cookie{Name: authserver.ConsoleSessionCookie, Value: s.cookie})
	req.Header.Set(authserver.ConsoleCSRFHeader, s.csrf)
	return req
}

// TestConsoleReveal: a generated token is in the answer to the POST only:
// not cacheable, not in a URL, not in the log, not on any later page, and
// submitting the form again is refused.
func TestConsoleReveal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		cl := e.consoleClient().signIn("acme", "carol")
		before := cl.cookie()
		form := url.Values{"name": {"deploy"}, "scopes": {"OR.Jobs"}, "expiry": {"never"}, "csrf_token": {cl.csrf}}
		r := cl.post("/console/tokens", form)
		wantPage(t, r, http.StatusOK, "This token will not be shown again")
		token := string(patRE.Find(r.body))
		if token == "" {
			t.Fatalf("no token revealed: %s", r.body)
		}
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Location") != "" {
			t.Fatalf("headers %v", r.Header)
		}
		if !e.exchangeOK(token) {
			t.Fatal("the revealed token does not work")
		}
		if cl.cookie() == before {
			t.Fatal("the session was not rotated by the reveal")
		}

		resubmit := cl.post("/console/tokens", form)
		wantPage(t, resubmit, http.StatusForbidden, "already submitted")
		if patRE.Match(resubmit.body) {
			t.Fatal("submitting again revealed a token")
		}
		if n := len(e.patsOf("acme", "carol")); n != 1 {
			t.Fatalf("carol has %d PATs after submitting twice", n)
		}
		for _, path := range []string{"/console/tokens", "/console/tokens/" + e.patsOf("acme", "carol")[0].ID} {
			if page := cl.get(path); strings.Contains(string(page.body), token) {
				t.Fatalf("%s shows the token", path)
			}
		}

		// Regenerating reveals once too.
		id := e.patsOf("acme", "carol")[0].ID
		regen := cl.post("/console/tokens/"+id+"/regenerate", nil)
		wantPage(t, regen, http.StatusOK, "Token regenerated")
		fresh := string(patRE.Find(regen.body))
		if fresh == "" || fresh == token || e.exchangeOK(token) || !e.exchangeOK(fresh) {
			t.Fatal("regeneration did not replace the value")
		}
		if r := cl.post("/console/tokens/"+id+"/regenerate", url.Values{"csrf_token": form["csrf_token"]}); r.StatusCode != http.StatusForbidden || patRE.Match(r.body) {
			t.Fatalf("regenerating again with the old form: %d", r.StatusCode)
		}

		if logs := e.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, fresh) {
			t.Fatal("a token reached the log")
		}
	})
}

// TestConsoleGenerateForm: the expiry picker follows the organization's
// maximum lifetime, and governance refuses what it does not allow.
func TestConsoleGenerateForm(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := e.consoleClient().signIn("acme", "carol")
	today := time.Now().UTC()
	date := func(days int) string { return today.AddDate(0, 0, days).Format("2006-01-02") }

	t.Run("without a maximum: no upper bound, and no expiry is offered", func(t *testing.T) {
		r := cl.get("/console/tokens/new")
		wantPage(t, r, http.StatusOK, `min="`+date(1)+`"`, `id="expiry-never"`, "Orchestrator", `value="OR.Jobs"`)
		if strings.Contains(string(r.body), ` max="`) || strings.Contains(string(r.body), `id="expiry-max"`) {
			t.Fatal("a bound is offered without a maximum")
		}
	})

	t.Run("presets of 7, 30, 60 and 90 days, 30 by default", func(t *testing.T) {
		r := cl.get("/console/tokens/new")
		wantPage(t, r, http.StatusOK, `id="expiry-7"`, `id="expiry-60"`, `id="expiry-90"`,
			`value="30" id="expiry-30" checked`, "(until "+date(7)+")")
	})

	e.setSettings("acme", true, "10d")
	t.Run("under a maximum shorter than 30 days: the maximum is the default", func(t *testing.T) {
		r := cl.get("/console/tokens/new")
		wantPage(t, r, http.StatusOK, `id="expiry-7"`, `value="max" id="expiry-max" checked`, `max="`+date(10)+`"`, "at most 10d")
		for _, absent := range []string{`id="expiry-30"`, `id="expiry-60"`, `id="expiry-90"`, `id="expiry-never"`} {
			if strings.Contains(string(r.body), absent) {
				t.Fatalf("%s is offered under a 10-day maximum", absent)
			}
		}
	})

	e.setSettings("acme", true, "30d")
	t.Run("with a maximum: the picker stops there and no expiry is not offered", func(t *testing.T) {
		r := cl.get("/console/tokens/new")
		wantPage(t, r, http.StatusOK, `min="`+date(1)+`"`, `max="`+date(30)+`"`, `value="30" id="expiry-30" checked`, "at most 30d")
		for _, absent := range []string{`id="expiry-never"`, `id="expiry-max"`, `id="expiry-60"`} {
			if strings.Contains(string(r.body), absent) {
				t.Fatalf("%s is offered under a 30-day maximum (30 days is a preset)", absent)
			}
		}
	})
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"a date beyond the maximum", url.Values{"expiry": {"date"}, "expires_on": {date(31)}}, "beyond the organization&#39;s maximum lifetime"},
		{"a date in the past", url.Values{"expiry": {"date"}, "expires_on": {date(-1)}}, "must be in the future"},
		{"no date", url.Values{"expiry": {"date"}}, "choose a date"},
		{"no expiry", url.Values{"expiry": {"never"}}, "must be set"},
		{"a preset beyond the maximum", url.Values{"expiry": {"60"}}, "beyond the organization&#39;s maximum lifetime"},
		{"a number of days that is no preset", url.Values{"expiry": {"45"}}, "Expiry: choose one of the options."},
		{"no scope", url.Values{"expiry": {"max"}, "scopes": {}}, "must name at least one scope"},
		{"a scope outside the catalogue", url.Values{"expiry": {"max"}, "scopes": {"Nope.Read"}}, "not in the scope catalogue"},
	} {
		t.Run(c.name+" is refused with governance's message", func(t *testing.T) {
			form := url.Values{"name": {"bounded"}, "scopes": {"OR.Jobs"}}
			for k, v := range c.form {
				form[k] = v
			}
			r := cl.post("/console/tokens", form)
			wantPage(t, r, http.StatusBadRequest, c.want, `value="bounded"`)
			if patRE.Match(r.body) {
				t.Fatal("a refused form revealed a token")
			}
		})
	}
	t.Run("the maximum itself is accepted", func(t *testing.T) {
		wantPage(t, cl.post("/console/tokens", url.Values{"name": {"bounded"}, "scopes": {"OR.Jobs"}, "expiry": {"max"}}),
			http.StatusOK, "This token will not be shown again")
		p := e.patsOf("acme", "carol")[0]
		if p.ExpiresAt == nil || p.ExpiresAt.Sub(p.CreatedAt) != 30*24*time.Hour {
			t.Fatalf("expires %v", p.ExpiresAt)
		}
	})
	t.Run("a preset sets the expiry that many days ahead", func(t *testing.T) {
		wantPage(t, cl.post("/console/tokens", url.Values{"name": {"week"}, "scopes": {"OR.Jobs"}, "expiry": {"7"}}),
			http.StatusOK, "This token will not be shown again")
		for _, p := range e.patsOf("acme", "carol") {
			if p.Name == "week" && (p.ExpiresAt == nil || p.ExpiresAt.Sub(p.CreatedAt).Round(time.Minute) != 7*24*time.Hour) {
				t.Fatalf("expires %v, created %v", p.ExpiresAt, p.CreatedAt)
			}
		}
	})
	t.Run("the last date of the picker is accepted", func(t *testing.T) {
		wantPage(t, cl.post("/console/tokens", url.Values{"name": {"last day"}, "scopes": {"OR.Jobs"}, "expiry": {"date"}, "expires_on": {date(30)}}),
			http.StatusOK, "This token will not be shown again", date(30)+" 00:00 UTC")
	})
}

// TestConsoleCookiesUnderHTTPS: with an https issuer the cookies are
// Secure and take the __Host- prefix.
func TestConsoleCookiesUnderHTTPS(t *testing.T) {
	const issuer = "https://auth.example.test"
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, config.MapEnv{"AUTHSERVER_ISSUER": issuer})
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.Open(t, storage.DriverSQLite)
	if _, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), cfg.Bootstrap, bootstrap.Options{PasswordParams: &cheapPasswords}); err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	keys, err := signing.New(ctx, storage.Narrow[signing.KeyTx](st), signing.Options{Algorithm: "ES256", RotationPeriod: cfg.Keys.RotationPeriod.D(),
		PublishAhead: cfg.Keys.PublishAhead.D(), MaxTokenTTL: 5 * time.Minute, KEK: kek, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(serverOptions(cfg, st, keys, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	serve := func(req *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Result()
	}
	page := serve(httptest.NewRequest("GET", issuer+"/console/login", nil))
	var login *http.Cookie
	for _, ck := range page.Cookies() {
		login = ck
	}
	if login == nil || login.Name != "__Host-"+authserver.ConsoleLoginCookie || !login.Secure || !login.HttpOnly || login.Path != "/" {
		t.Fatalf("sign-in form cookie %+v", login)
	}
	form := url.Values{"csrf_token": {login.Value}, "organization": {"acme"}, "username": {"alice"}, "password": {"alice-password"}}
	req := httptest.NewRequest("POST", issuer+"/console/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(login)
	resp := serve(req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-"+authserver.ConsoleSessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Domain != "" {
		t.Fatalf("session cookie %+v (all: %v)", sess, resp.Cookies())
	}
	h := sha256.Sum256([]byte(sess.Value))
	if _, err := st.GetSession(ctx, hex.EncodeToString(h[:])); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleOrgTokensFiltersAndPages: the organization's tokens filter by
// owner and status and page through governance's cursors.
func TestConsoleOrgTokensFiltersAndPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.consoleClient().signIn("acme", "alice")
	for range 50 {
		mustPAT(e, "acme", "carol", "OR.Jobs")
	}
	_, revoked := e.pat(patSpec{org: "acme", user: "bob", name: "old one", scopes: []string{"OR.Jobs"}})
	if _, err := e.store.RevokePAT(ctx, revoked.OrgID, revoked.ID, time.Now(), "admin"); err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`<tr data-name="[^"]*" data-owner="([^"]*)"`)
	owners := func(r *response) []string {
		var out []string
		for _, m := range rows.FindAllSubmatch(r.body, -1) {
			out = append(out, string(m[1]))
		}
		return out
	}

	first := alice.get("/console/org/tokens")
	wantPage(t, first, http.StatusOK, `rel="next"`)
	if got := owners(first); len(got) != 50 || got[0] != "bob" {
		t.Fatalf("first page: %d rows starting with %v, want 50 newest first (bob's)", len(got), got[:min(1, len(got))])
	}
	next := regexp.MustCompile(`href="(/console/org/tokens\?[^"]*cursor=[^"]+)" rel="next"`).FindSubmatch(first.body)
	if next == nil {
		t.Fatal("no next page link")
	}
	second := alice.get(strings.ReplaceAll(string(next[1]), "&amp;", "&"))
	if got := owners(second); len(got) != 1 || got[0] != "carol" || strings.Contains(string(second.body), `rel="next"`) {
		t.Fatalf("second page: %v", got)
	}

	if got := owners(alice.get("/console/org/tokens?owner=bob")); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("owner bob: %v", got)
	}
	if got := owners(alice.get("/console/org/tokens?status=revoked")); len(got) != 1 || got[0] != "bob" {
		t.Fatalf("revoked: %v", got)
	}
	wantPage(t, alice.get("/console/org/tokens?owner=eve"), http.StatusNotFound, "Owner: there is no user with this username in this organization.")
	wantPage(t, alice.get("/console/org/tokens?status=lost"), http.StatusBadRequest, "must be active, expired or revoked")
	wantPage(t, alice.get("/console/org/tokens?owner=carol&status=revoked"), http.StatusOK, "No token matches these filters.")

	t.Run("a dry run asking for what the token does not cover says so", func(t *testing.T) {
		_, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
		wantPage(t, alice.get("/console/tokens/"+p.ID+"?audience=orchestrator&scope=OR.Folders"), http.StatusBadRequest,
			"asks for a scope the personal access token does not cover")
		wantPage(t, alice.get("/console/tokens/"+p.ID+"?audience=orchestrator&scope=OR.Jobs.Read"), http.StatusOK,
			`id="explanation"`, "OR.Jobs.Read")
	})
}

// TestConsoleRefillsNoCredential: a refused form is shown again with what
// was typed, except a value that looks like a token pasted into the wrong
// field, which the page must not hold.
func TestConsoleRefillsNoCredential(t *testing.T) {
	e := newEnv(t, envOptions{noRateLimits: true})
	pat, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
	jwt := e.apiToken("acme", "carol")
	for _, c := range []struct {
		name, username string
		refilled       bool
	}{
		{"a PAT typed as the username is not shown again", pat, false},
		{"a PAT with text around it is not shown again", "my " + pat + " here", false},
		{"a JWT typed as the username is not shown again", jwt, false},
		{"a plain username is shown again", "carol.smith", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.consoleClient().tryLogin("acme", c.username, "wrong-password")
			if got := strings.Contains(string(r.body), html.EscapeString(c.username)); got != c.refilled {
				t.Fatalf("got the username on the page %v, want %v: %s", got, c.refilled, r.body)
			}
		})
	}
}
