package authserver_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/storage"
)

// TestConsoleRotationAndNetworks: the generate page takes allowed
// networks (a bad one refused by position, the form kept); the
// regenerate form takes an overlap, beyond which nothing changes; the
// old token's page says until when its old value works and lets its
// owner stop it; the token page shows the allowed and recent networks.
func TestConsoleRotationAndNetworks(t *testing.T) {
	e := newEnv(t, envOptions{noRateLimits: true})
	cl := e.consoleClient().signIn("acme", "carol")
	wantPage(t, cl.get("/console/tokens/new"), http.StatusOK, `id="allowed_cidrs"`, `name="allowed_cidrs"`)

	form := url.Values{"name": {"office"}, "scopes": {"OR.Jobs"}, "expiry": {"30"}, "allowed_cidrs": {"127.0.0.0/8\r\nnot-a-network"}}
	r := cl.post("/console/tokens", form)
	wantPage(t, r, http.StatusBadRequest, "entry 2 (counting from 1)", `aria-invalid="true">127.0.0.0/8`)
	if patRE.Match(r.body) {
		t.Fatal("a refused generation revealed a token")
	}
	form.Set("allowed_cidrs", "127.0.0.1/8, 2001:db8::/32")
	wantPage(t, cl.post("/console/tokens", form), http.StatusOK, "Token generated")
	p := e.patByName("acme", "carol", "office")
	if !slices.Equal(p.AllowedCIDRs, []string{"127.0.0.0/8", "2001:db8::/32"}) {
		t.Fatalf("allowed networks %v", p.AllowedCIDRs)
	}
	page := cl.get("/console/tokens/" + p.ID)
	wantPage(t, page, http.StatusOK, `<code class="addr">127.0.0.0/8</code>, <code class="addr">2001:db8::/32</code>`,
		`id="recent-networks">None yet`, `<select id="overlap" name="overlap">`, `<option value="7d">In 7 days</option>`)

	// An overlap the form does not offer, and one beyond seven days.
	before := snapshot(t, e.patsOf("acme", "carol"))
	wantPage(t, cl.post("/console/tokens/"+p.ID+"/regenerate", url.Values{"overlap": {"soon"}}), http.StatusBadRequest,
		"Current value stops: choose one of the options.")
	wantPage(t, cl.post("/console/tokens/"+p.ID+"/regenerate", url.Values{"overlap": {"8d"}}), http.StatusBadRequest,
		"may be at most 7d", `<option value="7d">In 7 days</option>`)
	if snapshot(t, e.patsOf("acme", "carol")) != before {
		t.Fatal("a refused regeneration changed the store")
	}
	wantPage(t, cl.post("/console/tokens/"+p.ID+"/regenerate", url.Values{"overlap": {"1d"}}), http.StatusOK, "Token regenerated")
	old := e.pat1(p.ID)
	if old.OverlapUntil == nil || old.ReplacedBy == "" || old.RevokedReason != storage.RegeneratedReason {
		t.Fatalf("old token after a regeneration with overlap: %+v", old)
	}
	wantPage(t, cl.get("/console/tokens/"+p.ID), http.StatusOK, `id="overlap-until"`, "old secret works until",
		`href="/console/tokens/`+old.ReplacedBy+`" id="replaced-by"`, `id="end-overlap"`)
	wantPage(t, cl.get("/console/tokens"), http.StatusOK, `<span class="help overlap-note">old secret works until`)
	// Stopping the old value now ends the overlap.
	wantPage(t, cl.post("/console/tokens/"+p.ID+"/revoke", nil), http.StatusOK, "The old value of token “office” stops working now.")
	if o := e.pat1(p.ID); o.InOverlap(time.Now()) {
		t.Fatalf("still in overlap until %v", o.OverlapUntil)
	}
	wantPage(t, cl.get("/console/tokens/"+p.ID), http.StatusOK, `id="replaced-by"`)
	if r := cl.get("/console/tokens/" + p.ID); containsAny(r.body, "old secret works until", `id="end-overlap"`) {
		t.Error("the page still offers the overlap after it ended")
	}
	if r := cl.get("/console/tokens"); containsAny(r.body, "old secret works until") {
		t.Error("the list still shows the overlap after it ended")
	}
}

// pat1 reads a PAT of acme as stored.
func (e *env) pat1(id string) *storage.PAT {
	e.t.Helper()
	p, err := e.store.GetPAT(ctx, e.orgIDs["acme"], id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func containsAny(body []byte, subs ...string) bool {
	for _, s := range subs {
		if strings.Contains(string(body), s) {
			return true
		}
	}
	return false
}

// TestConsoleOrgTokensOverlap: the organization's list says until when a
// regenerated token's old value works and lets an admin select it: the
// revocation stops the old value now.
func TestConsoleOrgTokensOverlap(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, p := e.pat(patSpec{org: "acme", user: "carol", name: "rolling", scopes: []string{"OR.Jobs"}})
	carol := e.consoleClient().signIn("acme", "carol")
	wantPage(t, carol.post("/console/tokens/"+p.ID+"/regenerate", url.Values{"overlap": {"3d"}}), http.StatusOK, "Token regenerated")
	admin := e.consoleClient().signIn("acme", "alice")
	wantPage(t, admin.get("/console/org/tokens"), http.StatusOK,
		`<input type="checkbox" name="ids" value="`+p.ID+`"`, `<span class="help overlap-note">old secret works until`)
	wantPage(t, admin.post("/console/org/tokens/revoke", url.Values{"ids": {p.ID}}), http.StatusOK, "1 token is revoked.")
	if o := e.pat1(p.ID); o.InOverlap(time.Now()) {
		t.Fatalf("still in overlap until %v", o.OverlapUntil)
	}
	if r := admin.get("/console/org/tokens"); containsAny(r.body, `value="`+p.ID+`"`, "old secret works until") {
		t.Error("the list still offers the ended overlap")
	}
}
