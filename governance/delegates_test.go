package governance_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"authserver/governance"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/storage"
)

// delegateClients adds a gateway that acts for the audience mcp, a public
// client and a confidential client that acts for no one.
func delegateClients(t *testing.T, f *fixture) {
	t.Helper()
	grant := []string{rfc8693.GrantType}
	for _, c := range []*storage.Client{
		{ID: "gw", SecretHash: make([]byte, 32), Audiences: []string{"orchestrator"}, GrantTypes: grant, OnBehalfOf: []string{"mcp"}},
		{ID: "cli", Public: true, Audiences: []string{"orchestrator"}, GrantTypes: grant},
		{ID: "svc", SecretHash: make([]byte, 32), Audiences: []string{"orchestrator"}, GrantTypes: grant},
	} {
		if err := f.st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPATDelegates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		delegateClients(t, f)
		req := func(name string, delegates ...string) governance.PATRequest {
			return governance.PATRequest{Name: name, Scopes: []string{"OR.Jobs"}, Delegates: delegates}
		}

		t.Run("the eligible clients are the confidential ones with on_behalf_of", func(t *testing.T) {
			got, err := f.gov.DelegateClients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != "gw" || !slices.Equal(got[0].OnBehalfOf, []string{"mcp"}) ||
				!slices.Equal(got[0].Audiences, []string{"orchestrator"}) {
				t.Fatalf("got %+v, want gw alone", got)
			}
		})

		t.Run("created with a delegate, shown, stored and audited", func(t *testing.T) {
			nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req("agent", "gw"))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(nt.Delegates, []string{"gw"}) {
				t.Fatalf("view delegates %q", nt.Delegates)
			}
			v, err := f.gov.GetMyPAT(ctx, f.aliceA, nt.ID)
			if err != nil || !slices.Equal(v.Delegates, []string{"gw"}) {
				t.Fatalf("read back: %+v, %v", v, err)
			}
			g, err := f.st.GetPATGrantByID(ctx, nt.ID)
			if err != nil || !slices.Equal(g.PAT.Delegates, []string{"gw"}) {
				t.Fatalf("grant: %+v, %v", g, err)
			}
			events, err := f.st.ListAudit(ctx, storage.AuditFilter{OrgID: f.acme.ID, Action: "pat.create", Target: nt.ID})
			if err != nil || len(events) != 1 || events[0].Detail != `name "agent"; delegates gw` {
				t.Fatalf("audit: %+v, %v", events, err)
			}

			again, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, nt.ID, governance.PATRequest{})
			if err != nil || !slices.Equal(again.Delegates, []string{"gw"}) {
				t.Fatalf("regenerated: %+v, %v: want the delegates kept", again, err)
			}
		})

		t.Run("no delegates by default", func(t *testing.T) {
			nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req("plain"))
			if err != nil {
				t.Fatal(err)
			}
			if nt.Delegates == nil || len(nt.Delegates) != 0 {
				t.Fatalf("delegates %#v, want an empty list", nt.Delegates)
			}
			page, err := f.gov.ListMyPATs(ctx, f.aliceA, governance.PATFilter{Name: "plain"})
			if err != nil || len(page.Items) != 1 || page.Items[0].Delegates == nil || len(page.Items[0].Delegates) != 0 {
				t.Fatalf("list: %+v, %v", page, err)
			}
		})

		canary := "pat_" + strings.Repeat("Z", 36)
		many := make([]string, governance.MaxDelegates+1)
		for i := range many {
			many[i] = "gw"
		}
		for _, c := range []struct {
			name, code, message string
			delegates           []string
		}{
			{"an unknown client", "delegate-unknown", "not a client of this server: delegate 2 (counting from 1)", []string{"gw", canary}},
			{"a public client", "delegate-not-eligible",
				"not a client that acts on behalf of users (a confidential client with on_behalf_of): delegate 1 (counting from 1)", []string{"cli"}},
			{"a client without on_behalf_of", "delegate-not-eligible",
				"not a client that acts on behalf of users (a confidential client with on_behalf_of): delegate 1 (counting from 1)", []string{"svc"}},
			{"a client twice", "delegate-duplicate", "names a client twice: delegate 2 (counting from 1)", []string{"gw", "gw"}},
			{"too many", "delegates-too-many", "may name at most 10 clients", many},
		} {
			t.Run("refused: "+c.name, func(t *testing.T) {
				_, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req("refused", c.delegates...))
				var ge *governance.Error
				if !errors.As(err, &ge) || ge.Kind != governance.Invalid || ge.Field != "delegates" || ge.Code != c.code || ge.Message != c.message {
					t.Fatalf("got %#v, want delegates %s %q", err, c.code, c.message)
				}
				if strings.Contains(err.Error(), canary) {
					t.Fatal("the refusal repeats the value sent")
				}
				page, _ := f.gov.ListMyPATs(ctx, f.aliceA, governance.PATFilter{Name: "refused"})
				if len(page.Items) != 0 {
					t.Fatal("a refused PAT was created")
				}
			})
		}
	})
}
