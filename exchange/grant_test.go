package exchange

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/internal/rfc8693"
	"authserver/storage"
)

const testIssuer = "https://auth.example.com"

// exchangeWorld is everything an exchange is decided from: the settings,
// the authenticated client, the request, the audiences and the PAT's grant
// as the database holds them (nil: no PAT has the token's hash).
type exchangeWorld struct {
	rules     Rules
	client    Client
	params    Params
	audiences map[string]*storage.Audience
	grant     *storage.PATGrant
	now       time.Time
	// subject is what the verifier read from a subject JWT (nil: it
	// refused it); actsFor is every client's on_behalf_of.
	subject *Subject
	actsFor map[string][]string
}

// newWorld is a usable PAT of carol (OR.Jobs and Identity.PATs) whose
// roles grant OR.Jobs.Read everywhere and OR.Jobs in Finance, exchanged by
// the client cli for the audience orchestrator at t0 + 1h.
func newWorld(t *testing.T) *exchangeWorld {
	t.Helper()
	token, err := NewPAT("pat_", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := usableGrant()
	g.PAT.Scopes = []string{"OR.Jobs", ScopePATs}
	g.Grants = []storage.Grant{
		{Permissions: []string{"OR.Jobs.Read"}},
		{Folder: "Finance", Permissions: []string{"OR.Jobs"}},
	}
	return &exchangeWorld{
		rules:  Rules{Issuer: testIssuer, PATPrefix: "pat_", AccessTokenTTL: 15 * time.Minute},
		client: Client{ID: "cli", Grant: true, Audiences: []string{"orchestrator", "https://api.example.com/orch"}},
		params: Params{SubjectToken: token, SubjectTokenType: rfc8693.TokenTypeAccessToken, Audience: []string{"orchestrator"}},
		audiences: map[string]*storage.Audience{
			"orchestrator":                 {ID: "orchestrator", Scopes: []string{"OR.Jobs", "OR.Folders"}},
			"https://api.example.com/orch": {ID: "https://api.example.com/orch", Scopes: []string{"OR.Jobs"}},
			"reports":                      {ID: "reports", Scopes: []string{"RP.Read"}, AccessTokenTTL: 5 * time.Minute},
			testIssuer:                     {ID: testIssuer, Scopes: []string{ScopeAdmin, ScopePATs}},
		},
		grant: g,
		now:   t0.Add(time.Hour),
	}
}

// exchange runs the three steps as the token endpoint does, reading the
// audience and the grant between them, and says at which step it stopped:
// "parse" (nothing read), "admit" (the PAT not read) or "decide".
func (w *exchangeWorld) exchange() (d *Decision, ref *Refusal, step string) {
	req, ref := w.rules.Parse(w.client, w.params)
	if ref != nil {
		return nil, ref, "parse"
	}
	admitted, ref := w.rules.Admit(req, w.audiences[req.Target])
	if ref != nil {
		return nil, ref, "admit"
	}
	if admitted.Chained() {
		if ref := w.rules.Chain(admitted, w.subject); ref != nil {
			return nil, ref, "chain"
		}
	}
	d, ref = w.rules.Decide(admitted, w.grant, func(id string) []string { return w.actsFor[id] }, w.now)
	return d, ref, "decide"
}

func TestExchangeRefusals(t *testing.T) {
	type want struct {
		kind        Kind
		description string
		cause       Cause
		step        string
	}
	unusable := func(cause Cause) want { return want{InvalidRequest, UnusableDescription, cause, "decide"} }
	tests := []struct {
		rule   string
		change func(w *exchangeWorld)
		want   want
	}{
		{"a client not allowed the grant is unauthorized_client", func(w *exchangeWorld) { w.client.Grant = false },
			want{UnauthorizedClient, "The client is not allowed the token-exchange grant.", CauseClient, "parse"}},
		{"the client's right to the grant is checked before the parameters", func(w *exchangeWorld) {
			w.client.Grant, w.params.SubjectToken = false, ""
		}, want{UnauthorizedClient, "The client is not allowed the token-exchange grant.", CauseClient, "parse"}},
		{"actor_token is not supported", func(w *exchangeWorld) { w.params.ActorToken = "x" },
			want{InvalidRequest, "actor_token is not supported: the actor is the authenticated client.", CauseNone, "parse"}},
		{"actor_token_type alone is not supported", func(w *exchangeWorld) { w.params.ActorTokenType = rfc8693.TokenTypeAccessToken },
			want{InvalidRequest, "actor_token is not supported: the actor is the authenticated client.", CauseNone, "parse"}},
		{"subject_token is required", func(w *exchangeWorld) { w.params.SubjectToken = "" },
			want{InvalidRequest, "The subject_token parameter is required.", CauseNone, "parse"}},
		{"subject_token_type is required", func(w *exchangeWorld) { w.params.SubjectTokenType = "" },
			want{InvalidRequest, "The subject_token_type parameter is required.", CauseNone, "parse"}},
		{"a subject_token_type other than access_token or jwt is invalid_request", func(w *exchangeWorld) { w.params.SubjectTokenType = rfc8693.TokenTypeJWT + "x" },
			want{InvalidRequest, "The subject_token_type is not supported: use urn:ietf:params:oauth:token-type:access_token " +
				"(or urn:ietf:params:oauth:token-type:jwt for an access token of this server).", CauseNone, "parse"}},
		{"a PAT presented as a jwt is invalid_request", func(w *exchangeWorld) { w.params.SubjectTokenType = rfc8693.TokenTypeJWT },
			want{InvalidRequest, "The subject_token_type of a personal access token is urn:ietf:params:oauth:token-type:access_token.", CauseNone, "parse"}},
		{"an unknown requested_token_type is invalid_request", func(w *exchangeWorld) { w.params.RequestedTokenType = "urn:example:saml" },
			want{InvalidRequest, "The requested_token_type is not supported.", CauseNone, "parse"}},
		{"several audiences are invalid_target", func(w *exchangeWorld) { w.params.Audience = []string{"orchestrator", "reports"} },
			want{InvalidTarget, "Exactly one audience or resource may be requested.", CauseTarget, "parse"}},
		{"an audience and a resource are invalid_target", func(w *exchangeWorld) { w.params.Resource = []string{"https://api.example.com/orch"} },
			want{InvalidTarget, "Exactly one audience or resource may be requested.", CauseTarget, "parse"}},
		{"a relative resource is invalid_target", func(w *exchangeWorld) { w.params.Audience, w.params.Resource = nil, []string{"orch"} },
			want{InvalidTarget, "The resource must be an absolute URI without a fragment.", CauseTarget, "parse"}},
		{"a resource with a fragment is invalid_target", func(w *exchangeWorld) {
			w.params.Audience, w.params.Resource = nil, []string{"https://api.example.com/orch#x"}
		}, want{InvalidTarget, "The resource must be an absolute URI without a fragment.", CauseTarget, "parse"}},
		{"without a target or a default audience the audience is required", func(w *exchangeWorld) { w.params.Audience = []string{""} },
			want{InvalidRequest, "An audience or resource parameter is required.", CauseTarget, "parse"}},
		{"an unknown audience is invalid_target", func(w *exchangeWorld) { w.params.Audience = []string{"nope"} },
			want{InvalidTarget, "The requested target is unknown.", CauseTarget, "admit"}},
		{"an audience the client is not allowed is invalid_target", func(w *exchangeWorld) { w.params.Audience = []string{"reports"} },
			want{InvalidTarget, "The client is not allowed to request this target.", CauseTarget, "admit"}},
		{"a scope parameter with a character RFC 6749 forbids is invalid_scope", func(w *exchangeWorld) { w.params.Scope = `OR.Jobs "x"` },
			want{InvalidScope, "The scope parameter holds a character RFC 6749 does not allow.", CauseScope, "admit"}},
		{"more than 100 requested scopes are invalid_scope", func(w *exchangeWorld) { w.params.Scope = strings.Repeat("OR.Jobs ", 100) + "OR.Jobs" },
			want{InvalidScope, "At most 100 scopes may be requested.", CauseScope, "admit"}},
		{"the target is checked before the scope", func(w *exchangeWorld) { w.params.Audience, w.params.Scope = []string{"nope"}, `"` },
			want{InvalidTarget, "The requested target is unknown.", CauseTarget, "admit"}},
		{"a malformed PAT is refused before the database is asked, like an unknown one", func(w *exchangeWorld) {
			tok := w.params.SubjectToken
			last := "x"
			if tok[len(tok)-1] == 'x' {
				last = "y" // never the real checksum character
			}
			w.params.SubjectToken = tok[:len(tok)-1] + last
		}, want{InvalidRequest, UnusableDescription, CauseMalformed, "admit"}},
		{"a PAT with another prefix is malformed", func(w *exchangeWorld) { w.params.SubjectToken = "ghp_" + w.params.SubjectToken[4:] },
			want{InvalidRequest, UnusableDescription, CauseMalformed, "admit"}},
		{"the scope is checked before the token's format", func(w *exchangeWorld) { w.params.SubjectToken, w.params.Scope = "pat_x", `"` },
			want{InvalidScope, "The scope parameter holds a character RFC 6749 does not allow.", CauseScope, "admit"}},
		{"an unknown PAT is refused with the one description", func(w *exchangeWorld) { w.grant = nil }, unusable(CauseUnknown)},
		{"revoked PAT cannot be exchanged", func(w *exchangeWorld) { w.grant.PAT.RevokedAt = ptr(t0) }, unusable(CauseRevoked)},
		{"expired PAT cannot be exchanged", func(w *exchangeWorld) { w.grant.PAT.ExpiresAt = ptr(w.now) }, unusable(CauseExpired)},
		{"a PAT past a lowered maximum lifetime cannot be exchanged", func(w *exchangeWorld) { w.grant.Org.PATMaxLifetime = time.Hour },
			unusable(CauseMaxLifetime)},
		{"a PAT of an organization with PATs disabled cannot be exchanged", func(w *exchangeWorld) { w.grant.Org.PATsEnabled = false },
			unusable(CauseOrgDisabled)},
		{"a PAT of a deactivated owner cannot be exchanged", func(w *exchangeWorld) { w.grant.Owner.Status = storage.UserDeactivated },
			unusable(CauseUserDeactivated)},
		{"a PAT of a directory owner cannot be exchanged", func(w *exchangeWorld) { w.grant.Owner.Kind = storage.UserDirectory },
			unusable(CauseNonLocal)},
		{"usability is decided before the scope", func(w *exchangeWorld) { w.grant.PAT.RevokedAt, w.params.Scope = ptr(t0), "OR.Folders" },
			unusable(CauseRevoked)},
		{"scope the PAT does not cover is invalid_scope", func(w *exchangeWorld) { w.params.Scope = "OR.Folders" },
			want{InvalidScope, "A requested scope is not covered by the personal access token.", CauseScope, "decide"}},
		{"scope the audience does not understand is invalid_scope", func(w *exchangeWorld) { w.params.Scope = ScopePATs },
			want{InvalidScope, "A requested scope is not understood by the audience.", CauseScope, "decide"}},
		{"a PAT with no rights at the audience is invalid_scope", func(w *exchangeWorld) { w.grant.PAT.Scopes = []string{"RP.Read"} },
			want{InvalidScope, "The personal access token grants no rights at this audience.", CauseScope, "decide"}},
		{"a PAT whose owner's roles grant nothing at the audience is invalid_scope", func(w *exchangeWorld) { w.grant.Grants = nil },
			want{InvalidScope, "The personal access token grants no rights at this audience.", CauseScope, "decide"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			w := newWorld(t)
			tt.change(w)
			d, ref, step := w.exchange()
			if ref == nil {
				t.Fatalf("granted %+v, want a refusal", d)
			}
			if d != nil {
				t.Fatalf("a refusal came with a decision: %+v", d)
			}
			got := want{ref.Kind, ref.Description, ref.Cause, step}
			if got != tt.want {
				t.Fatalf("refused %+v, want %+v", got, tt.want)
			}
			switch {
			case ref.Cause == CauseNone:
				if ref.ClientID != "" || ref.PATID != "" {
					t.Fatalf("a malformed request records who sent it: %+v", ref)
				}
			case !slices.Contains(Causes(), ref.Cause):
				t.Fatalf("cause %q is not in Causes(): its metric series would not exist", ref.Cause)
			case ref.ClientID != "cli":
				t.Fatalf("refusal records client %q, want cli", ref.ClientID)
			}
			// Who the PAT belongs to is known, and recorded, once it is read.
			if read := step == "decide" && w.grant != nil; read != (ref.PATID == "p1" && ref.UserID == "u1" && ref.OrgID == "o1") {
				t.Fatalf("refusal at %s records PAT %q, user %q, organization %q", step, ref.PATID, ref.UserID, ref.OrgID)
			}
		})
	}
}

// TestUnusablePATsAreIndistinguishable is the no-oracle rule: every reason a
// PAT is unusable gets the same answer; only the cause tells them apart.
func TestUnusablePATsAreIndistinguishable(t *testing.T) {
	changes := map[Cause]func(w *exchangeWorld){
		CauseMalformed:       func(w *exchangeWorld) { w.params.SubjectToken = "pat_" + strings.Repeat("0", 36) },
		CauseUnknown:         func(w *exchangeWorld) { w.grant = nil },
		CauseRevoked:         func(w *exchangeWorld) { w.grant.PAT.RevokedAt = ptr(t0) },
		CauseExpired:         func(w *exchangeWorld) { w.grant.PAT.ExpiresAt = ptr(t0) },
		CauseMaxLifetime:     func(w *exchangeWorld) { w.grant.Org.PATMaxLifetime = time.Hour },
		CauseOrgDisabled:     func(w *exchangeWorld) { w.grant.Org.PATsEnabled = false },
		CauseUserDeactivated: func(w *exchangeWorld) { w.grant.Owner.Status = storage.UserDeactivated },
		CauseNonLocal:        func(w *exchangeWorld) { w.grant.Owner.Kind = storage.UserSAML },
	}
	for cause, change := range changes {
		w := newWorld(t)
		change(w)
		_, ref, _ := w.exchange()
		if ref == nil || ref.Cause != cause {
			t.Fatalf("%s: refused %+v, want cause %s", cause, ref, cause)
		}
		if ref.Kind != InvalidRequest || ref.Description != UnusableDescription {
			t.Errorf("%s is answered %d %q, not like every other unusable PAT", cause, ref.Kind, ref.Description)
		}
	}
}

func TestExchangeDecision(t *testing.T) {
	folder := func(name string, actions ...string) AuthorizationDetail {
		return AuthorizationDetail{Type: AuthorizationDetailTypeFolder, Identifier: name, Actions: actions, Locations: []string{"orchestrator"}}
	}
	tests := []struct {
		rule     string
		change   func(w *exchangeWorld)
		audience string
		scope    []string
		details  []AuthorizationDetail
		issued   string
		expiry   time.Time
	}{
		{"the scope holds in every folder; a folder with more rights is an authorization detail", func(*exchangeWorld) {},
			"orchestrator", []string{"OR.Jobs.Read"}, []AuthorizationDetail{folder("Finance", "OR.Jobs")},
			rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"a requested scope narrows every folder", func(w *exchangeWorld) { w.params.Scope = "OR.Jobs.Read" },
			"orchestrator", []string{"OR.Jobs.Read"}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"doubled spaces in the scope parameter are tolerated", func(w *exchangeWorld) { w.params.Scope = "OR.Jobs.Read  OR.Jobs.Read" },
			"orchestrator", []string{"OR.Jobs.Read"}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"scopes the roles no longer grant are dropped silently", func(w *exchangeWorld) { w.grant.Grants = w.grant.Grants[:1] },
			"orchestrator", []string{"OR.Jobs.Read"}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"a jwt may be asked for", func(w *exchangeWorld) { w.params.RequestedTokenType = rfc8693.TokenTypeJWT },
			"orchestrator", []string{"OR.Jobs.Read"}, []AuthorizationDetail{folder("Finance", "OR.Jobs")},
			rfc8693.TokenTypeJWT, t0.Add(time.Hour + 15*time.Minute)},
		{"the access token never outlives its PAT", func(w *exchangeWorld) { w.grant.PAT.ExpiresAt = ptr(w.now.Add(5*time.Minute + 500*time.Millisecond)) },
			"orchestrator", []string{"OR.Jobs.Read"}, []AuthorizationDetail{folder("Finance", "OR.Jobs")},
			rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 5*time.Minute)},
		{"the maximum lifetime caps the access token like an expiry", func(w *exchangeWorld) {
			w.grant.PAT.ExpiresAt, w.grant.Org.PATMaxLifetime = nil, time.Hour+time.Minute
		}, "orchestrator", []string{"OR.Jobs.Read"}, []AuthorizationDetail{folder("Finance", "OR.Jobs")},
			rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + time.Minute)},
		{"the expiry is rounded down to whole seconds", func(w *exchangeWorld) { w.now = w.now.Add(999 * time.Millisecond) },
			"orchestrator", []string{"OR.Jobs.Read"}, []AuthorizationDetail{folder("Finance", "OR.Jobs")},
			rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"an audience's own lifetime applies", func(w *exchangeWorld) {
			w.params.Audience, w.client.Audiences, w.grant.PAT.Scopes = []string{"reports"}, []string{"reports"}, []string{"RP.Read"}
			w.grant.Grants = []storage.Grant{{Permissions: []string{"RP"}}}
		}, "reports", []string{"RP.Read"}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 5*time.Minute)},
		{"a resource equal to an audience id is that audience", func(w *exchangeWorld) {
			w.params.Audience, w.params.Resource = nil, []string{"https://api.example.com/orch"}
		}, "https://api.example.com/orch", []string{"OR.Jobs.Read"}, []AuthorizationDetail{{Type: AuthorizationDetailTypeFolder,
			Identifier: "Finance", Actions: []string{"OR.Jobs"}, Locations: []string{"https://api.example.com/orch"}}},
			rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"the default audience applies when none is asked for", func(w *exchangeWorld) {
			w.params.Audience, w.rules.DefaultAudience = nil, "orchestrator"
		}, "orchestrator", []string{"OR.Jobs.Read"}, []AuthorizationDetail{folder("Finance", "OR.Jobs")},
			rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"every client allowed the grant may ask for the management audience", func(w *exchangeWorld) {
			w.params.Audience = []string{testIssuer}
		}, testIssuer, []string{ScopePATs}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"Identity.Admin is granted to admins only", func(w *exchangeWorld) {
			w.params.Audience, w.grant.PAT.Scopes = []string{testIssuer}, []string{ScopePATs, ScopeAdmin}
		}, testIssuer, []string{ScopePATs}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
		{"an admin's PAT for Identity.Admin grants it", func(w *exchangeWorld) {
			w.params.Audience, w.grant.PAT.Scopes, w.grant.Owner.Admin = []string{testIssuer}, []string{ScopePATs, ScopeAdmin}, true
		}, testIssuer, []string{ScopeAdmin, ScopePATs}, nil, rfc8693.TokenTypeAccessToken, t0.Add(time.Hour + 15*time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			w := newWorld(t)
			tt.change(w)
			d, ref, _ := w.exchange()
			if ref != nil {
				t.Fatalf("refused %+v", ref)
			}
			if d.Claims.Audience != tt.audience || !slices.Equal(d.Scope, tt.scope) || d.IssuedTokenType != tt.issued {
				t.Fatalf("granted audience %q scope %q type %q, want %q %q %q",
					d.Claims.Audience, d.Scope, d.IssuedTokenType, tt.audience, tt.scope, tt.issued)
			}
			if !slices.EqualFunc(d.AuthorizationDetails, tt.details, detailEqual) {
				t.Fatalf("authorization_details %+v, want %+v", d.AuthorizationDetails, tt.details)
			}
			if !d.Expiry.Equal(tt.expiry) || d.ExpiresIn != tt.expiry.Sub(w.now) {
				t.Fatalf("expiry %v in %v, want %v in %v", d.Expiry, d.ExpiresIn, tt.expiry, tt.expiry.Sub(w.now))
			}
		})
	}
}

func detailEqual(a, b AuthorizationDetail) bool {
	return a.Type == b.Type && a.Identifier == b.Identifier && slices.Equal(a.Actions, b.Actions) && slices.Equal(a.Locations, b.Locations)
}

// TestExchangeClaims: the claims name who and what the token is for, and
// agree with the answer, so a resource server reading either sees the same
// grant.
func TestExchangeClaims(t *testing.T) {
	w := newWorld(t)
	d, ref, _ := w.exchange()
	if ref != nil {
		t.Fatalf("refused %+v", ref)
	}
	c := d.Claims
	want := Claims{Issuer: testIssuer, Subject: "u1", Audience: "orchestrator", Expiry: d.Expiry.Unix(),
		IssuedAt: w.now.Unix(), NotBefore: w.now.Unix(), ID: c.ID, ClientID: "cli", Scope: "OR.Jobs.Read",
		OrgID: "o1", PATID: "p1", AuthorizationDetails: c.AuthorizationDetails}
	if c.ID == "" || !slices.EqualFunc(c.AuthorizationDetails, d.AuthorizationDetails, detailEqual) {
		t.Fatalf("claims %+v: want a jti and the answer's authorization_details", c)
	}
	c.AuthorizationDetails, want.AuthorizationDetails = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
	again, _, _ := w.exchange()
	if again.Claims.ID == c.ID {
		t.Fatalf("two exchanges share the jti %q", c.ID)
	}
}
