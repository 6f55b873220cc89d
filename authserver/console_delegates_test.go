package authserver_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"authserver/storage"
)

// TestConsoleTokenDelegates: the generate form offers the clients that may
// act for the owner (confidential, with on_behalf_of) and no other; the
// chosen ones are stored and shown on the token's page; a client that may
// not be a delegate is refused by position, and nothing the form sent comes
// back in the answer.
func TestConsoleTokenDelegates(t *testing.T) {
	e := newChainEnv(t, "sqlite", envOptions{})
	carol := e.consoleClient().signIn("acme", "carol")

	form := carol.get("/console/tokens/new")
	wantPage(t, form, http.StatusOK, "Delegates (optional)",
		`value="mcp-gateway"`, `value="orch-relay"`, `value="bystander"`)
	for _, notEligible := range []string{`value="gateway"`, `value="agent"`, `value="cli"`} {
		if strings.Contains(string(form.body), notEligible) {
			t.Fatalf("the form offers a client that may not act for users: %s", notEligible)
		}
	}

	created := carol.post("/console/tokens", url.Values{"name": {"mcp"}, "scopes": {"OR.Jobs"}, "expiry": {"7"},
		"delegates": {"mcp-gateway", "orch-relay"}})
	wantPage(t, created, http.StatusOK, "Copy it now")
	p := e.patByName("acme", "carol", "mcp")
	if !slices.Equal(p.Delegates, []string{"mcp-gateway", "orch-relay"}) {
		t.Fatalf("stored delegates %q", p.Delegates)
	}
	wantPage(t, carol.get("/console/tokens/"+p.ID), http.StatusOK,
		`<dd id="delegates"><code>mcp-gateway</code>, <code>orch-relay</code></dd>`)

	// Without delegates, the page says what that means.
	carol.post("/console/tokens", url.Values{"name": {"plain"}, "scopes": {"OR.Jobs"}, "expiry": {"7"}})
	wantPage(t, carol.get("/console/tokens/"+e.patByName("acme", "carol", "plain").ID), http.StatusOK,
		"None: no service may act for you with this token")

	const pasted = "pat_PASTEDxSECRETxVALUE0123456789"
	for _, c := range []struct {
		name      string
		delegates []string
		message   string
	}{
		{"a client without on_behalf_of", []string{"mcp-gateway", "gateway"}, "delegate 2 (counting from 1)"},
		{"a value that names no client", []string{pasted}, "delegate 1 (counting from 1)"},
		{"a client twice", []string{"bystander", "bystander"}, "delegate 2 (counting from 1)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := carol.post("/console/tokens", url.Values{"name": {"refused"}, "scopes": {"OR.Jobs"}, "expiry": {"7"},
				"delegates": c.delegates})
			wantPage(t, r, http.StatusBadRequest, c.message, `class="delegates-picker" aria-invalid="true"`)
			if strings.Contains(string(r.body), pasted) || strings.Contains(string(r.body), `value="gateway"`) {
				t.Fatalf("the answer repeats what the form sent: %s", r.body)
			}
		})
	}
}

// patByName is the PAT of org's user with this exact name.
func (e *env) patByName(org, user, name string) *storage.PAT {
	e.t.Helper()
	pats, err := e.store.ListPATs(ctx, storage.PATFilter{OrgID: e.orgIDs[org], UserID: e.user(org, user).ID, Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range pats {
		if pats[i].Name == name {
			return &pats[i]
		}
	}
	e.t.Fatalf("%s has no PAT named %q", user, name)
	return nil
}
