package exchange

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/internal/rfc8693"
	"authserver/storage"
)

// A subject JWT as the verifier would read it: never parsed here, only told
// from a PAT by its form.
const subjectJWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2ln"

// chainWorld is newWorld's PAT exchanged one hop further: the gateway
// client gw, a delegate of the PAT, acting for the audience mcp, presents
// carol's token for mcp (itself issued from the PAT, so no act yet) and
// asks for orchestrator.
func chainWorld(t *testing.T) *exchangeWorld {
	t.Helper()
	w := newWorld(t)
	w.rules.MaxDelegationDepth = 2
	w.client = Client{ID: "gw", Grant: true, Audiences: []string{"orchestrator", "reports"}, OnBehalfOf: []string{"mcp"}}
	w.params.SubjectToken = subjectJWT
	w.grant.PAT.Delegates = []string{"gw"}
	w.audiences["mcp"] = &storage.Audience{ID: "mcp", Scopes: []string{"MCP.Tools"}}
	w.subject = &Subject{Audience: []string{"mcp"}, UserID: "u1", OrgID: "o1", PATID: "p1", Expiry: w.now.Add(10 * time.Minute)}
	w.actsFor = map[string][]string{"gw": {"mcp"}}
	return w
}

func TestChainRefusals(t *testing.T) {
	type want struct {
		kind        Kind
		description string
		cause       Cause
		step        string
	}
	unauthorized := want{UnauthorizedClient, "The client is not allowed to present an access token as subject_token.", CauseClient, "parse"}
	subject := want{InvalidRequest, SubjectDescription, CauseSubject, "chain"}
	tests := []struct {
		rule   string
		change func(w *exchangeWorld)
		want   want
		depth  int
	}{
		{"a public client presenting a JWT is unauthorized_client", func(w *exchangeWorld) { w.client.Public = true }, unauthorized, 0},
		{"a client without on_behalf_of presenting a JWT is unauthorized_client", func(w *exchangeWorld) { w.client.OnBehalfOf = nil }, unauthorized, 0},
		{"actor_token stays refused in a chained exchange", func(w *exchangeWorld) { w.params.ActorToken = subjectJWT },
			want{InvalidRequest, ActorTokenDescription, CauseNone, "parse"}, 0},
		{"a chained exchange is for the client's audiences, not the management API", func(w *exchangeWorld) { w.params.Audience = []string{testIssuer} },
			want{InvalidTarget, "The client is not allowed to request this target.", CauseTarget, "admit"}, 0},
		{"never the management API, even among the client's audiences", func(w *exchangeWorld) {
			w.client.Audiences, w.params.Audience = append(w.client.Audiences, testIssuer), []string{testIssuer}
		}, want{InvalidTarget, "The client is not allowed to request this target.", CauseTarget, "admit"}, 0},
		{"a target outside the client's audiences is invalid_target", func(w *exchangeWorld) { w.params.Audience = []string{"mcp"} },
			want{InvalidTarget, "The client is not allowed to request this target.", CauseTarget, "admit"}, 0},
		{"a subject the verifier refused (invalid, expired, another issuer)", func(w *exchangeWorld) { w.subject = nil }, subject, 0},
		{"a subject for an audience the client does not act for", func(w *exchangeWorld) { w.subject.Audience = []string{"orchestrator"} }, subject, 0},
		{"a subject with an empty audience", func(w *exchangeWorld) { w.subject.Audience = []string{""} }, subject, 0},
		{"a hop beyond the maximum depth", func(w *exchangeWorld) {
			w.subject.Act = &Actor{Subject: "gw", Act: &Actor{Subject: "gw0"}}
		}, want{InvalidRequest, DepthDescription, CauseDepth, "chain"}, 3},
		{"depth 0 turns chained exchange off", func(w *exchangeWorld) { w.rules.MaxDelegationDepth = 0 },
			want{InvalidRequest, DepthDescription, CauseDepth, "chain"}, 1},
		{"a client that is not a delegate of the PAT", func(w *exchangeWorld) { w.grant.PAT.Delegates = []string{"other"} },
			want{InvalidRequest, NotDelegateDescription, CauseNotDelegate, "decide"}, 1},
		{"a PAT without delegates allows no chain", func(w *exchangeWorld) { w.grant.PAT.Delegates = nil },
			want{InvalidRequest, NotDelegateDescription, CauseNotDelegate, "decide"}, 1},
		{"a revoked PAT ends the chain with the one unusable description", func(w *exchangeWorld) { w.grant.PAT.RevokedAt = ptr(t0) },
			want{InvalidRequest, UnusableDescription, CauseRevoked, "decide"}, 1},
		{"usability is decided before the delegates", func(w *exchangeWorld) {
			w.grant.Owner.Status, w.grant.PAT.Delegates = storage.UserDeactivated, nil
		}, want{InvalidRequest, UnusableDescription, CauseUserDeactivated, "decide"}, 1},
		{"a PAT no longer in the database", func(w *exchangeWorld) { w.grant = nil },
			want{InvalidRequest, UnusableDescription, CauseUnknown, "decide"}, 1},
		{"a subject whose owner is not the PAT's", func(w *exchangeWorld) { w.subject.UserID = "u2" },
			want{InvalidRequest, UnusableDescription, CauseSubject, "decide"}, 1},
		{"a subject that expired between its verification and the decision", func(w *exchangeWorld) { w.subject.Expiry = w.now },
			want{InvalidRequest, SubjectDescription, CauseSubject, "decide"}, 1},
		{"scope beyond the PAT is invalid_scope", func(w *exchangeWorld) { w.params.Scope = "OR.Folders" },
			want{InvalidScope, "A requested scope is not covered by the personal access token.", CauseScope, "decide"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			w := chainWorld(t)
			tt.change(w)
			d, ref, step := w.exchange()
			if ref == nil {
				t.Fatalf("granted %+v, want a refusal", d)
			}
			got := want{ref.Kind, ref.Description, ref.Cause, step}
			if got != tt.want {
				t.Fatalf("refused %+v, want %+v", got, tt.want)
			}
			if ref.Depth != tt.depth {
				t.Errorf("refusal records depth %d, want %d", ref.Depth, tt.depth)
			}
			if ref.Cause != CauseNone && (!ref.Chained || ref.ClientID != "gw") {
				t.Errorf("refusal records client %q chained %v, want gw and a chained exchange", ref.ClientID, ref.Chained)
			}
			if ref.Cause != CauseNone && !slices.Contains(Causes(), ref.Cause) {
				t.Errorf("cause %q is not in Causes()", ref.Cause)
			}
		})
	}
}

func TestChainDecision(t *testing.T) {
	t.Run("one hop: act names the client, client_id is the client", func(t *testing.T) {
		w := chainWorld(t)
		d, ref, _ := w.exchange()
		if ref != nil {
			t.Fatalf("refused %+v", ref)
		}
		c := d.Claims
		if c.Subject != "u1" || c.PATID != "p1" || c.OrgID != "o1" || c.ClientID != "gw" || c.Audience != "orchestrator" {
			t.Fatalf("claims %+v", c)
		}
		if !reflect.DeepEqual(c.Act, &Actor{Subject: "gw"}) {
			t.Fatalf("act %+v, want {sub: gw}", c.Act)
		}
		if c.MayAct != nil {
			t.Fatalf("may_act %+v for an audience no delegate acts for", c.MayAct)
		}
		// Expiry: the subject's exp (10 minutes) is before the audience's
		// lifetime (15 minutes).
		if !d.Expiry.Equal(w.subject.Expiry) || d.ExpiresIn != 10*time.Minute {
			t.Fatalf("expiry %v in %v, want the subject's %v", d.Expiry, d.ExpiresIn, w.subject.Expiry)
		}
	})
	t.Run("a second hop nests the first actor", func(t *testing.T) {
		w := chainWorld(t)
		w.subject.Act = &Actor{Subject: "gw0"}
		w.params.SubjectTokenType = rfc8693.TokenTypeJWT
		d, ref, _ := w.exchange()
		if ref != nil {
			t.Fatalf("refused %+v", ref)
		}
		if want := (&Actor{Subject: "gw", Act: &Actor{Subject: "gw0"}}); !reflect.DeepEqual(d.Claims.Act, want) || Depth(d.Claims.Act) != 2 {
			t.Fatalf("act %+v, want %+v", d.Claims.Act, want)
		}
	})
	t.Run("the PAT's end and the audience's lifetime cap the chain too", func(t *testing.T) {
		w := chainWorld(t)
		w.subject.Expiry = w.now.Add(time.Hour)
		if d, _, _ := w.exchange(); d == nil || !d.Expiry.Equal(w.now.Add(15*time.Minute)) {
			t.Fatalf("granted %+v, want the audience's 15 minutes", d)
		}
		w.grant.PAT.ExpiresAt = ptr(w.now.Add(2 * time.Minute))
		if d, _, _ := w.exchange(); d == nil || !d.Expiry.Equal(w.now.Add(2*time.Minute)) {
			t.Fatalf("granted %+v, want the PAT's end", d)
		}
	})
	t.Run("may_act names the one delegate acting for the token's audience", func(t *testing.T) {
		w := newWorld(t)
		w.grant.PAT.Delegates = []string{"gw", "other"}
		w.actsFor = map[string][]string{"gw": {"orchestrator"}, "other": {"reports"}}
		d, ref, _ := w.exchange()
		if ref != nil {
			t.Fatalf("refused %+v", ref)
		}
		if !reflect.DeepEqual(d.Claims.MayAct, &Actor{Subject: "gw"}) || d.Claims.Act != nil {
			t.Fatalf("may_act %+v act %+v, want may_act gw and no act", d.Claims.MayAct, d.Claims.Act)
		}
		w.actsFor["other"] = []string{"orchestrator"}
		if d, _, _ := w.exchange(); d.Claims.MayAct != nil {
			t.Fatalf("two delegates act for the audience, yet may_act names %+v", d.Claims.MayAct)
		}
		w.grant.PAT.Delegates = nil
		if d, _, _ := w.exchange(); d.Claims.MayAct != nil {
			t.Fatalf("a PAT without delegates gets may_act %+v", d.Claims.MayAct)
		}
	})
}

// decidedRights reads a decision back as Rights: the scope and a folder
// entry per authorization detail.
func decidedRights(d *Decision) *Rights {
	r := &Rights{Scope: d.Scope}
	for _, ad := range d.AuthorizationDetails {
		r.Folders = append(r.Folders, FolderRights{Folder: ad.Identifier, Actions: ad.Actions})
	}
	return r
}

// TestChainNeverGrantsMoreThanTheDirectExchange is the rights algebra over
// chains: whatever the PAT, the audience, the roles, the request and the
// depth, a chained token's rights in every folder are never more than what
// the PAT's own exchange for the same audience would give now — they are
// exactly that — and it never outlives the subject. Removing a role between
// the hops narrows the next hop as it narrows a direct exchange.
func TestChainNeverGrantsMoreThanTheDirectExchange(t *testing.T) {
	rng := rand.New(rand.NewPCG(8693, 44))
	granted := 0
	for range 3000 {
		c := randomEffectiveCase(rng)
		if rng.IntN(4) == 0 && len(c.grants) > 0 {
			i := rng.IntN(len(c.grants))
			c.grants = slices.Delete(slices.Clone(c.grants), i, i+1) // a role removed mid-chain
		}
		w := chainWorld(t)
		w.audiences["target"] = &storage.Audience{ID: "target", Scopes: c.aud}
		w.client.Audiences = []string{"target"}
		w.params.Audience = []string{"target"}
		w.params.Scope = strings.Join(c.req, " ")
		w.grant.PAT.Scopes, w.grant.Grants = c.pat, c.grants
		for range rng.IntN(2) {
			w.subject.Act = &Actor{Subject: "gw", Act: w.subject.Act}
		}
		w.subject.Expiry = w.now.Add(time.Duration(1+rng.IntN(30)) * time.Minute)

		chained, cref, _ := w.exchange()

		direct := *w
		direct.client = Client{ID: "cli", Grant: true, Audiences: []string{"target"}}
		direct.params.SubjectToken, _ = NewPAT("pat_", nil)
		plain, dref, _ := direct.exchange()

		if (cref == nil) != (dref == nil) || cref != nil && (cref.Kind != dref.Kind || cref.Description != dref.Description) {
			t.Fatalf("%+v: chained %+v, direct %+v: the chain decided differently", c, cref, dref)
		}
		if cref != nil {
			if cref.Cause != dref.Cause {
				t.Fatalf("%+v: chained refused for %q, direct for %q", c, cref.Cause, dref.Cause)
			}
			continue
		}
		granted++
		cr, dr := decidedRights(chained), decidedRights(plain)
		for _, folder := range propProbeFolders {
			for _, x := range c.probes() {
				if inSet(x, rightsAt(cr, folder)) && !inSet(x, rightsAt(dr, folder)) {
					t.Fatalf("%+v: the chained token grants %q in %q, the direct exchange does not", c, x, folder)
				}
			}
		}
		if !slices.Equal(chained.Scope, plain.Scope) || !slices.EqualFunc(chained.AuthorizationDetails, plain.AuthorizationDetails, detailEqual) {
			t.Fatalf("%+v: chained %q %+v, direct %q %+v", c, chained.Scope, chained.AuthorizationDetails, plain.Scope, plain.AuthorizationDetails)
		}
		if chained.Expiry.After(w.subject.Expiry) || chained.Expiry.After(plain.Expiry) {
			t.Fatalf("%+v: chained expiry %v outlives the subject's %v or the direct token's %v", c, chained.Expiry, w.subject.Expiry, plain.Expiry)
		}
	}
	if granted < 300 {
		t.Fatalf("only %d of 3000 cases granted: the property is barely exercised", granted)
	}
}
