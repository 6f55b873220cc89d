package authserver_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"authserver/storage"
)

// TestConsoleHygieneSettings: the settings page shows and changes the
// expiry notice days and the idle revocation time; bad values are refused
// by label without being shown again; a form without the fields keeps
// them.
func TestConsoleHygieneSettings(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.consoleClient().signIn("acme", "alice")
	wantPage(t, alice.get("/console/org/settings"), http.StatusOK, `id="expiry_notice_days"`, `value="30, 7, 1"`,
		`id="pat_idle_revoke_after"`, `value="0"`)
	wantPage(t, alice.post("/console/org/settings", url.Values{"pats_enabled": {"on"}, "pat_max_lifetime": {"0"},
		"expiry_notice_days": {"1, 14,3"}, "pat_idle_revoke_after": {"60d"}}), http.StatusOK, "Settings saved.", `value="14, 3, 1"`, `value="60d"`)
	o, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
	if err != nil || !slices.Equal(o.ExpiryNoticeDays, []int{14, 3, 1}) || o.PATIdleRevokeAfter != 60*24*time.Hour {
		t.Fatalf("stored %+v %v", o, err)
	}
	for _, c := range []struct {
		days, idle, want, hidden string
	}{
		{"7, soon-ish", "0", "Expiry notices: must be whole days separated by commas", "soon-ish"},
		{"400", "0", "Expiry notices: each day must be a whole number from 1 to 365.", ""},
		{"1,2,3,4,5,6", "0", "Expiry notices: must list at most 5 days.", ""},
		{"7", "eventually", "Revoke unused tokens after: must be a duration", ""},
		{"7", "3h", "Revoke unused tokens after: must be 0 (never) or at least 1d.", ""},
	} {
		r := alice.post("/console/org/settings", url.Values{"pats_enabled": {"on"}, "pat_max_lifetime": {"0"},
			"expiry_notice_days": {c.days}, "pat_idle_revoke_after": {c.idle}})
		wantPage(t, r, http.StatusBadRequest, c.want, `aria-invalid="true"`)
		if c.hidden != "" && strings.Contains(string(r.body), c.hidden) {
			t.Fatalf("the refused value is shown again: %s", c.hidden)
		}
	}
	// Empty days turn the notices off; a form without the fields keeps them.
	wantPage(t, alice.post("/console/org/settings", url.Values{"pats_enabled": {"on"}, "pat_max_lifetime": {"0"},
		"expiry_notice_days": {""}, "pat_idle_revoke_after": {"0"}}), http.StatusOK, "Settings saved.")
	wantPage(t, alice.post("/console/org/settings", url.Values{"pats_enabled": {"on"}, "pat_max_lifetime": {"0"}}), http.StatusOK, "Settings saved.")
	o, _ = e.store.GetOrganization(ctx, e.orgIDs["acme"])
	if len(o.ExpiryNoticeDays) != 0 || o.PATIdleRevokeAfter != 0 {
		t.Fatalf("stored %+v", o)
	}
}

// TestConsoleUserEmail: admins set a user's address on the user page and
// at creation; every user sets their own on the password page; a bad
// address is refused by label and not shown again; each change is
// audited without the address.
func TestConsoleUserEmail(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := e.consoleClient().signIn("acme", "alice")
	bob := e.user("acme", "bob")
	wantPage(t, alice.get("/console/org/users/"+bob.ID), http.StatusOK, `id="user-email">None`, `action="/console/org/users/`+bob.ID+`/email"`)
	wantPage(t, alice.post("/console/org/users/"+bob.ID+"/email", url.Values{"email": {"bob@example.com"}}), http.StatusOK,
		"The e-mail address is saved.", `id="user-email">bob@example.com`)
	r := alice.post("/console/org/users/"+bob.ID+"/email", url.Values{"email": {"Zed <zed@corp.test>"}})
	wantPage(t, r, http.StatusBadRequest, "E-mail address: must be a single e-mail address", `aria-invalid="true"`)
	if strings.Contains(string(r.body), "zed@corp.test") {
		t.Fatal("a refused address is shown again")
	}
	if u := e.user("acme", "bob"); u.Email != "bob@example.com" {
		t.Fatalf("a refused address changed it to %q", u.Email)
	}
	wantPage(t, alice.post("/console/org/users", url.Values{"username": {"frank"}, "kind": {"local"}, "password_mode": {"none"},
		"email": {"frank@example.com"}}), http.StatusOK, "User frank is created.")
	if u := e.user("acme", "frank"); u.Email != "frank@example.com" {
		t.Fatalf("frank's address %q", u.Email)
	}
	r = alice.post("/console/org/users", url.Values{"username": {"gina"}, "kind": {"local"}, "password_mode": {"none"}, "email": {"zed@"}})
	wantPage(t, r, http.StatusBadRequest, "E-mail address: must be a single e-mail address")
	if strings.Contains(string(r.body), `value="zed@"`) {
		t.Fatal("a refused address is shown again")
	}

	carol := e.consoleClient().signIn("acme", "carol")
	wantPage(t, carol.get("/console/password"), http.StatusOK, "Your e-mail address", `id="email-form"`)
	wantPage(t, carol.post("/console/email", url.Values{"email": {"carol@example.com"}}), http.StatusOK,
		"Your e-mail address is saved", `value="carol@example.com"`)
	wantPage(t, carol.post("/console/email", url.Values{"email": {"carol@example.com, eve@example.com"}}), http.StatusBadRequest,
		"E-mail address: must be a single e-mail address")
	wantPage(t, carol.post("/console/email", url.Values{"email": {""}}), http.StatusOK, "Your e-mail address is removed")
	if u := e.user("acme", "carol"); u.Email != "" {
		t.Fatalf("carol's address %q", u.Email)
	}
	audit, err := e.store.ListAudit(ctx, storage.AuditFilter{OrgID: e.orgIDs["acme"], Action: "user.email"})
	if err != nil || len(audit) != 3 {
		t.Fatalf("audit %v %v", audit, err)
	}
	all, err := e.store.ListAudit(ctx, storage.AuditFilter{OrgID: e.orgIDs["acme"]})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if strings.Contains(a.Detail, "@") {
			t.Fatalf("the audit log holds an address: %+v", a)
		}
	}
}

// TestConsoleBrowserHygiene: in a real browser, at desktop and phone
// width, the admin changes the hygiene settings and a user's e-mail
// address, and sets their own; every page fits the screen.
func TestConsoleBrowserHygiene(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	for _, s := range screens {
		t.Run(s.name, func(t *testing.T) {
			b := e.browser(t)
			b.emulate(s)
			b.signIn("acme", "alice", "alice-password")
			b.open("/console/org/settings")
			b.wantFits("the settings page")
			b.do("fill the hygiene settings",
				chromedp.SetValue(chromedp.ID("expiry_notice_days"), "14, 2"),
				chromedp.SetValue(chromedp.ID("pat_idle_revoke_after"), "120d"))
			b.submit("#save-settings")
			b.wantText("#notice", "Settings saved.")
			if got := b.value("#expiry_notice_days"); got != "14, 2" {
				t.Fatalf("days shown %q", got)
			}
			b.wantFits("the saved settings page")
			if s.phone {
				b.docsScreenshot("console-settings-phone")
			}
			b.do("refuse a day", chromedp.SetValue(chromedp.ID("expiry_notice_days"), "0"))
			b.submit("#save-settings")
			b.wantText("#error", "Expiry notices: each day must be a whole number from 1 to 365.")
			b.wantFits("the refused settings page")

			b.open("/console/org/users/" + e.user("acme", "bob").ID)
			b.wantFits("a user's page with the e-mail form")
			b.do("fill bob's address", chromedp.SetValue(chromedp.ID("email"), "bob-"+s.name+"@example.com"))
			b.submit("#save-email")
			b.wantText("#user-email", "bob-"+s.name+"@example.com")
			b.wantFits("a user's page after saving the address")

			b.open("/console/password")
			b.wantFits("the password and e-mail page")
			b.do("fill the address", chromedp.SetValue(chromedp.ID("email"), "alice-"+s.name+"@example.com"))
			b.submit("#save-email")
			b.wantText("#notice", "Your e-mail address is saved")
			if u := e.user("acme", "alice"); u.Email != "alice-"+s.name+"@example.com" {
				t.Fatalf("stored %q", u.Email)
			}
		})
	}
}
