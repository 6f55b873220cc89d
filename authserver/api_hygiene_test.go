package authserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// TestAPIHygieneSettings: an admin reads and changes the expiry notice days
// and the idle revocation time; absent members keep their values; bad
// values are refused by field name; every change is audited.
func TestAPIHygieneSettings(t *testing.T) {
	e := newEnv(t, envOptions{})
	admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
	got := wantStatus(t, e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusOK)
	if days, _ := got["expiry_notice_days"].([]any); len(days) != 3 || days[0] != float64(30) || days[2] != float64(1) || got["pat_idle_revoke_after"] != "0" {
		t.Fatalf("defaults %v", got)
	}
	got = wantStatus(t, e.call("PUT", "/api/v1/admin/settings", admin,
		`{"pats_enabled": true, "pat_max_lifetime": "0", "expiry_notice_days": [3, 14], "pat_idle_revoke_after": "90d"}`), http.StatusOK)
	if days, _ := got["expiry_notice_days"].([]any); len(days) != 2 || days[0] != float64(14) || got["pat_idle_revoke_after"] != "90d" {
		t.Fatalf("after the change %v", got)
	}
	// A client that does not know the hygiene settings changes none.
	got = wantStatus(t, e.call("PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": "30d"}`), http.StatusOK)
	if days, _ := got["expiry_notice_days"].([]any); len(days) != 2 || got["pat_idle_revoke_after"] != "90d" || got["pat_max_lifetime"] != "30d" {
		t.Fatalf("absent members changed the settings %v", got)
	}
	for _, c := range []struct{ body, code, field string }{
		{`{"pats_enabled": true, "pat_max_lifetime": "0", "expiry_notice_days": [0]}`, "expiry-notice-days-invalid", "expiry_notice_days"},
		{`{"pats_enabled": true, "pat_max_lifetime": "0", "expiry_notice_days": [1, 2, 3, 4, 5, 6]}`, "expiry-notice-days-invalid", "expiry_notice_days"},
		{`{"pats_enabled": true, "pat_max_lifetime": "0", "expiry_notice_days": [9, 9]}`, "expiry-notice-days-invalid", "expiry_notice_days"},
		{`{"pats_enabled": true, "pat_max_lifetime": "0", "expiry_notice_days": ["seven"]}`, "", "expiry_notice_days"},
		{`{"pats_enabled": true, "pat_max_lifetime": "0", "pat_idle_revoke_after": "1h"}`, "idle-revoke-after-invalid", "pat_idle_revoke_after"},
		{`{"pats_enabled": true, "pat_max_lifetime": "0", "pat_idle_revoke_after": "whenever"}`, "invalid-field", "pat_idle_revoke_after"},
	} {
		r := e.call("PUT", "/api/v1/admin/settings", admin, c.body)
		if c.code == "" {
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), "expiry_notice_days") || strings.Contains(string(r.body), "seven") {
				t.Fatalf("%s: %d %s", c.body, r.StatusCode, r.body)
			}
			continue
		}
		p := wantProblem(t, r, http.StatusBadRequest, c.code, c.field)
		if strings.Contains(p["detail"].(string), "whenever") {
			t.Fatalf("the refusal repeats the value: %v", p)
		}
	}
	audit := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=org.settings", admin, nil), http.StatusOK))
	if len(audit) != 2 || audit[1]["detail"] != "expiry_notice_days 30,7,1→14,3, pat_idle_revoke_after 0→90d" ||
		audit[0]["detail"] != "pat_max_lifetime 0→30d" {
		t.Fatalf("settings audit %v", audit)
	}
}

// TestAPIUserEmail: admins give users an e-mail address at creation and
// change it; users set their own; the address shows in the user JSON; a
// bad address is refused by field name without repeating it; the audit
// log says what happened, never the address.
func TestAPIUserEmail(t *testing.T) {
	e := newEnv(t, envOptions{})
	admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
	frank := wantStatus(t, e.call("POST", "/api/v1/admin/users", admin,
		map[string]any{"username": "frank", "email": "frank@example.com"}), http.StatusCreated)
	if frank["email"] != "frank@example.com" {
		t.Fatalf("created %v", frank)
	}
	id := frank["id"].(string)
	got := wantStatus(t, e.call("PUT", "/api/v1/admin/users/"+id+"/email", admin, map[string]any{"email": "f.rank@example.org"}), http.StatusOK)
	if got["email"] != "f.rank@example.org" {
		t.Fatalf("changed %v", got)
	}
	bob := e.apiToken("acme", "bob")
	got = wantStatus(t, e.call("PUT", "/api/v1/me/email", bob, map[string]any{"email": "bob@example.com"}), http.StatusOK)
	if got["email"] != "bob@example.com" {
		t.Fatalf("own address %v", got)
	}
	me := wantStatus(t, e.call("GET", "/api/v1/me", bob, nil), http.StatusOK)
	if me["user"].(map[string]any)["email"] != "bob@example.com" {
		t.Fatalf("me %v", me)
	}
	list := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/users?q=bob", admin, nil), http.StatusOK))
	if len(list) != 1 || list[0]["email"] != "bob@example.com" {
		t.Fatalf("list %v", list)
	}
	wantStatus(t, e.call("PUT", "/api/v1/me/email", bob, map[string]any{"email": ""}), http.StatusOK)
	if u := e.user("acme", "bob"); u.Email != "" {
		t.Fatalf("removed address still stored: %q", u.Email)
	}

	bad := []string{"Zed <zed@corp.test>", "<zed@corp.test>", "zed@corp.test, eve@corp.test", "zed", "zed@corp.test (home)",
		"zed@co\nrp.test", strings.Repeat("z", 250) + "@corp.test"}
	for _, v := range bad {
		for _, r := range []*response{
			e.call("PUT", "/api/v1/me/email", bob, map[string]any{"email": v}),
			e.call("PUT", "/api/v1/admin/users/"+id+"/email", admin, map[string]any{"email": v}),
			e.call("POST", "/api/v1/admin/users", admin, map[string]any{"username": "gina", "email": v}),
		} {
			p := wantProblem(t, r, http.StatusBadRequest, "email-invalid", "email")
			if strings.Contains(string(r.body), "zed") || strings.Contains(string(r.body), "corp") {
				t.Fatalf("the refusal repeats the address: %v", p)
			}
		}
	}
	wantProblem(t, e.call("PUT", "/api/v1/me/email", bob, map[string]any{}), http.StatusBadRequest, "invalid-field", "email")
	if _, err := e.store.GetUserByUsername(ctx, e.orgIDs["acme"], "gina"); err == nil {
		t.Fatal("a user with a bad address was created")
	}
	// Another organization's user is not found.
	eve := e.user("globex", "eve")
	wantProblem(t, e.call("PUT", "/api/v1/admin/users/"+eve.ID+"/email", admin, map[string]any{"email": "x@example.com"}), http.StatusNotFound, "not-found", "")

	audit := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit?action=user.email", admin, nil), http.StatusOK))
	var details []string
	for _, a := range audit {
		details = append(details, a["detail"].(string))
	}
	slices.Sort(details)
	if !slices.Equal(details, []string{"e-mail address changed", "e-mail address removed", "e-mail address set"}) {
		t.Fatalf("audit %v", details)
	}
	all := items(t, wantStatus(t, e.call("GET", "/api/v1/admin/audit", admin, nil), http.StatusOK))
	for _, a := range all {
		if strings.Contains(a["detail"].(string), "@") {
			t.Fatalf("an audit detail holds an address: %v", a)
		}
	}
}

// TestHygieneJobsRunInTheServer: the server runs the hygiene jobs: a PAT
// five days from its end gets the 7-day notice, a PAT unused for longer
// than the organization's idle time is revoked; both are counted in the
// metrics.
func TestHygieneJobsRunInTheServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, hygiene: 50 * time.Millisecond})
		o, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
		if err != nil {
			t.Fatal(err)
		}
		o.PATIdleRevokeAfter = 24 * time.Hour
		if err := e.store.UpdateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		end := time.Now().Add(5 * 24 * time.Hour)
		_, soon := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}, expires: &end})
		_, idle := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}, created: time.Now().Add(-48 * time.Hour)})
		deadline := time.Now().Add(10 * time.Second)
		for {
			p, err := e.store.GetPAT(ctx, o.ID, idle.ID)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := e.store.ListEvents(ctx, o.ID, time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			notices := 0
			for _, ev := range evs {
				if ev.Type == storage.EventPATExpiryNotice && ev.PATID == soon.ID && ev.Data["days"] == "7" {
					notices++
				}
			}
			if notices == 1 && p.RevokedReason == "idle" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: %d notices, idle PAT revoked %q", notices, p.RevokedReason)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if v := metricValue(t, e, `authserver_pat_events_total{event="expiry_notice"}`); v != 1 {
			t.Fatalf("expiry_notice metric %v", v)
		}
		if v := metricValue(t, e, `authserver_pat_events_total{event="revoked_idle"}`); v != 1 {
			t.Fatalf("revoked_idle metric %v", v)
		}
	})
}

// TestHygieneJobsAcrossReplicas: three servers on one database run the
// hygiene jobs every 50 ms; each notice and each idle revocation is still
// written once.
func TestHygieneJobsAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver, hygiene: 50 * time.Millisecond})
		e.replica(t)
		e.replica(t)
		o, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
		if err != nil {
			t.Fatal(err)
		}
		o.PATIdleRevokeAfter = 24 * time.Hour
		if err := e.store.UpdateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		var soon []*storage.PAT
		for i := range 5 {
			// An hour clear of the 1-day band's edge: a run that read its
			// clock just before the PAT was made would see it a little
			// further away, and a later run cross into the next band (a
			// second notice, rightly).
			end := time.Now().Add(time.Duration(i+1)*24*time.Hour + time.Hour)
			_, p := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}, expires: &end})
			soon = append(soon, p)
			e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}, created: time.Now().Add(-48 * time.Hour)})
		}
		count := func() (notices, revoked int) {
			evs, err := e.store.ListEvents(ctx, o.ID, time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				switch {
				case ev.Type == storage.EventPATExpiryNotice:
					notices++
				case ev.Type == storage.EventPATRevoked && ev.Data["reason"] == "idle":
					revoked++
				}
			}
			return notices, revoked
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			if n, r := count(); n >= len(soon) && r >= 5 {
				break
			}
			if time.Now().After(deadline) {
				n, r := count()
				t.Fatalf("after 10s: %d notices, %d idle revocations", n, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // several more runs of each replica
		if n, r := count(); n != len(soon) || r != 5 {
			t.Fatalf("%d notices for %d PATs, %d idle revocations of 5", n, len(soon), r)
		}
		for _, p := range soon {
			kinds, err := e.store.PATNotices(ctx, p.ID)
			if err != nil || len(kinds) != 1 {
				t.Fatalf("notices of a PAT: %v %v", kinds, err)
			}
		}
	})
}
