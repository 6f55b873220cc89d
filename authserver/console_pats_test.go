package authserver_test

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestConsoleRegenerateExpiry: the regenerate form takes the expiry
// presets; a choice beyond the maximum shows the form again with
// governance's message and changes nothing; no choice keeps governance's
// default.
func TestConsoleRegenerateExpiry(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := e.consoleClient().signIn("acme", "carol")
	_, p := e.pat(patSpec{org: "acme", user: "carol", name: "agent", scopes: []string{"OR.Jobs"}, expires: ptr(time.Now().Add(24 * time.Hour))})

	wantPage(t, cl.get("/console/tokens/"+p.ID+"/regenerate"), http.StatusOK,
		`Regenerate “agent”`, `value="30" id="expiry-30" checked`, `id="expiry-never"`, `action="/console/tokens/`+p.ID+`/regenerate"`)
	wantPage(t, cl.get("/console/tokens/"+p.ID), http.StatusOK, `id="regenerate-dialog"`, `data-dialog="regenerate-dialog"`)

	e.setSettings("acme", true, "30d")
	before := snapshot(t, e.patsOf("acme", "carol"))
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"expiry": {"60"}}, "beyond the organization&#39;s maximum lifetime"},
		{url.Values{"expiry": {"never"}}, "must be set"},
		{url.Values{"expiry": {"date"}, "expires_on": {"soon"}}, "Expiry date: choose a date."},
		{url.Values{"expiry": {"12"}}, "Expiry: choose one of the options."},
	} {
		r := cl.post("/console/tokens/"+p.ID+"/regenerate", c.form)
		wantPage(t, r, http.StatusBadRequest, c.want, `Regenerate “agent”`)
		if patRE.Match(r.body) {
			t.Fatal("a refused regeneration revealed a token")
		}
	}
	if snapshot(t, e.patsOf("acme", "carol")) != before {
		t.Fatal("a refused regeneration changed the store")
	}

	r := cl.post("/console/tokens/"+p.ID+"/regenerate", url.Values{"expiry": {"7"}})
	wantPage(t, r, http.StatusOK, "Token regenerated", time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02"))
	var fresh string
	for _, q := range e.patsOf("acme", "carol") {
		if q.RevokedAt == nil {
			fresh = q.ID
			if q.ExpiresAt == nil || q.ExpiresAt.Sub(q.CreatedAt).Round(time.Minute) != 7*24*time.Hour {
				t.Fatalf("regenerated with 7 days: expires %v, created %v", q.ExpiresAt, q.CreatedAt)
			}
		}
	}
	// Without a choice: governance's default, the old lifetime (7 days).
	wantPage(t, cl.post("/console/tokens/"+fresh+"/regenerate", nil), http.StatusOK, "Token regenerated",
		time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02"))
	// A revoked token: the list, with the refusal.
	wantPage(t, cl.post("/console/tokens/"+p.ID+"/regenerate", url.Values{"expiry": {"7"}}), http.StatusConflict,
		"A revoked personal access token cannot be regenerated")
}

// TestConsoleTokenListFilters: my tokens and the organization's filter by
// name and audience, and the pager keeps the filters.
func TestConsoleTokenListFilters(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 51 {
		e.pat(patSpec{org: "acme", user: "alice", name: "Deploy " + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)), scopes: []string{"OR.Jobs"}})
	}
	e.pat(patSpec{org: "acme", user: "alice", name: "reader", scopes: []string{"API.Read"}})
	alice := e.consoleClient().signIn("acme", "alice")
	rows := regexp.MustCompile(`<tr data-name="([^"]*)"`)
	names := func(r *response) []string {
		var out []string
		for _, m := range rows.FindAllSubmatch(r.body, -1) {
			out = append(out, string(m[1]))
		}
		return out
	}
	for _, path := range []string{"/console/tokens", "/console/org/tokens"} {
		got := names(alice.get(path + "?audience=" + url.QueryEscape("https://api.example.com")))
		if len(got) != 1 || got[0] != "reader" {
			t.Fatalf("%s by audience: %v", path, got)
		}
		first := alice.get(path + "?name=deploy")
		if got := names(first); len(got) != 50 || slices.Contains(got, "reader") {
			t.Fatalf("%s by name: %d rows", path, len(got))
		}
		next := regexp.MustCompile(`href="([^"]*cursor=[^"]+)" rel="next"`).FindSubmatch(first.body)
		if next == nil || !strings.Contains(string(next[1]), "name=deploy") {
			t.Fatalf("%s: the next page link does not keep the filter: %q", path, next)
		}
		if got := names(alice.get(strings.ReplaceAll(string(next[1]), "&amp;", "&"))); len(got) != 1 || !strings.HasPrefix(got[0], "Deploy") {
			t.Fatalf("%s second page: %v", path, got)
		}
		wantPage(t, alice.get(path+"?audience=nope"), http.StatusBadRequest, "Audience: is not an audience of this server")
		wantPage(t, alice.get(path+"?name=zzz"), http.StatusOK, "No token matches these filters.")
	}
}
