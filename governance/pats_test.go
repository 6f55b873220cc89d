package governance_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/governance"
	"authserver/storage"
)

const day = 24 * time.Hour

// TestCreatePATRefusals: each rule that refuses a new PAT, with the kind and
// code every surface answers it with. A refused request creates nothing and
// audits nothing.
func TestCreatePATRefusals(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, dirA := f.member(t, f.acme, storage.User{Username: "dora", Kind: storage.UserDirectory})
	_, samlA := f.member(t, f.acme, storage.User{Username: "sam", Kind: storage.UserSAML})
	_, goneA := f.member(t, f.acme, storage.User{Username: "dan", Status: storage.UserDeactivated})
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	ok := func() governance.PATRequest { return governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"}} }
	now := f.clock.Now()

	for _, c := range []struct {
		rule   string
		org    func() // sets the organization's policy; nil: enabled, no maximum
		actor  governance.Actor
		owner  string // default: the actor
		inOrg  *storage.Organization
		req    func(*governance.PATRequest)
		kind   governance.Kind
		code   string
		hidden string // must not appear in the message
	}{
		{rule: "PATs disabled in the organization", org: func() { f.setOrg(t, f.acme, false, 0) }, actor: bobA,
			kind: governance.Forbidden, code: "pats-disabled"},
		{rule: "a directory user owns no PAT", actor: dirA, kind: governance.Forbidden, code: "non-local-user"},
		{rule: "a SAML user owns no PAT", actor: samlA, kind: governance.Forbidden, code: "non-local-user"},
		{rule: "a deactivated user owns no PAT", actor: goneA, kind: governance.Forbidden, code: "user-deactivated"},
		{rule: "a user creates only their own PATs", actor: f.aliceA, owner: bob.ID, kind: governance.NotFound},
		{rule: "a user creates only in their own organization", actor: bobA, inOrg: f.globex, kind: governance.NotFound},
		{rule: "a scope outside the catalogue is named by position, never quoted", actor: bobA,
			req:  func(r *governance.PATRequest) { r.Scopes = []string{"OR.Jobs", "pat_Secret123"} },
			kind: governance.Invalid, code: "scope-unknown", hidden: "pat_Secret123"},
		{rule: "at least one scope", actor: bobA, req: func(r *governance.PATRequest) { r.Scopes = nil },
			kind: governance.Invalid, code: "scopes-empty"},
		{rule: "at most 100 scopes", actor: bobA,
			req:  func(r *governance.PATRequest) { r.Scopes = slices.Repeat([]string{"OR.Jobs"}, 101) },
			kind: governance.Invalid, code: "scopes-too-many"},
		{rule: "an expiry in the past", actor: bobA, req: func(r *governance.PATRequest) { r.ExpiresAt = ptr(now.Add(-time.Minute)) },
			kind: governance.Invalid, code: "expiry-in-past"},
		{rule: "an expiry of now is not in the future", actor: bobA, req: func(r *governance.PATRequest) { r.ExpiresAt = ptr(now) },
			kind: governance.Invalid, code: "expiry-in-past"},
		{rule: "an expiry beyond the maximum lifetime", org: func() { f.setOrg(t, f.acme, true, 30*day) }, actor: bobA,
			req:  func(r *governance.PATRequest) { r.ExpiresAt = ptr(now.Add(30*day + time.Second)) },
			kind: governance.Invalid, code: "expiry-beyond-maximum"},
		{rule: "never expiring while a maximum is set", org: func() { f.setOrg(t, f.acme, true, 30*day) }, actor: bobA,
			req: func(r *governance.PATRequest) { r.NoExpiry = true }, kind: governance.Invalid, code: "expiry-required"},
		{rule: "an empty name", actor: bobA, req: func(r *governance.PATRequest) { r.Name = "" },
			kind: governance.Invalid, code: "name-invalid"},
		{rule: "a name over 100 characters", actor: bobA, req: func(r *governance.PATRequest) { r.Name = strings.Repeat("é", 101) },
			kind: governance.Invalid, code: "name-invalid"},
		{rule: "a name with a bidirectional override", actor: bobA, req: func(r *governance.PATRequest) { r.Name = "ci\u202egnp" },
			kind: governance.Invalid, code: "name-invalid"},
		{rule: "a name with a surrounding space", actor: bobA, req: func(r *governance.PATRequest) { r.Name = "ci " },
			kind: governance.Invalid, code: "name-invalid"},
		{rule: "a name the owner's active PAT has", actor: f.aliceA, req: func(r *governance.PATRequest) { r.Name = "a" },
			kind: governance.Conflict, code: "name-taken"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			f.setOrg(t, f.acme, true, 0)
			if c.org != nil {
				c.org()
			}
			req := ok()
			if c.req != nil {
				c.req(&req)
			}
			owner, org := c.owner, c.inOrg
			if owner == "" {
				owner = c.actor.UserID
			}
			if org == nil {
				org = f.acme
			}
			before := len(f.audit(t, f.acme.ID))
			nt, err := f.gov.CreatePAT(ctx, c.actor, org.ID, owner, req)
			if nt != nil {
				t.Fatalf("created %+v", nt.PATView)
			}
			wantRefusal(t, err, c.kind, c.code)
			if c.hidden != "" && strings.Contains(err.Error(), c.hidden) {
				t.Fatalf("the message %q quotes the request", err)
			}
			if after := len(f.audit(t, f.acme.ID)); after != before {
				t.Fatalf("a refusal wrote %d audit events", after-before)
			}
		})
	}
	if got := f.events.take(); len(got) != 2 { // the fixture's two PATs
		t.Fatalf("events %q, want only the fixture's two creations", got)
	}
}

// TestCreatePATExpiry: the expiry is the caller's, an explicit "never", or
// by default now plus the organization's maximum (never without one).
func TestCreatePATExpiry(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	now := f.clock.Now()
	for i, c := range []struct {
		rule string
		max  time.Duration
		req  governance.PATRequest
		want *time.Time
	}{
		{"by default, now plus the maximum", 30 * day, governance.PATRequest{}, ptr(now.Add(30 * day))},
		{"by default, never without a maximum", 0, governance.PATRequest{}, nil},
		{"never, asked for explicitly without a maximum", 0, governance.PATRequest{NoExpiry: true}, nil},
		{"the caller's, within the maximum", 30 * day, governance.PATRequest{ExpiresAt: ptr(now.Add(day))}, ptr(now.Add(day))},
		{"the caller's, exactly at the maximum", 30 * day, governance.PATRequest{ExpiresAt: ptr(now.Add(30 * day))}, ptr(now.Add(30 * day))},
		{"the caller's, far off without a maximum", 0, governance.PATRequest{ExpiresAt: ptr(now.Add(3650 * day))}, ptr(now.Add(3650 * day))},
	} {
		t.Run(c.rule, func(t *testing.T) {
			f.setOrg(t, f.acme, true, c.max)
			c.req.Name, c.req.Scopes = "pat "+string(rune('a'+i)), []string{"OR.Jobs"}
			nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bobA.UserID, c.req)
			if err != nil {
				t.Fatal(err)
			}
			got := f.pat(t, f.acme.ID, nt.ID).ExpiresAt
			if (got == nil) != (c.want == nil) || got != nil && !got.Equal(*c.want) {
				t.Fatalf("expires at %v, want %v", got, c.want)
			}
			if nt.Status != storage.PATActive {
				t.Fatalf("status %s, want active", nt.Status)
			}
		})
	}
}

// TestCreatePATKeepsScopesInRequestOrderOnce: duplicates are dropped,
// order is the caller's, and the token is shown once with its hint.
func TestCreatePATKeepsScopesInRequestOrderOnce(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID,
		governance.PATRequest{Name: "ci", Scopes: []string{"OR.Folders", "OR.Jobs", "OR.Folders"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nt.Scopes, []string{"OR.Folders", "OR.Jobs"}) {
		t.Fatalf("scopes %q", nt.Scopes)
	}
	if !strings.HasPrefix(nt.Token, "pat_") || nt.Hint == "" || nt.Hint == nt.Token {
		t.Fatalf("token %q with hint %q", nt.Token, nt.Hint)
	}
	if nt.Owner != "alice" || nt.OwnerID != f.alice.ID {
		t.Fatalf("owner %q (%s)", nt.Owner, nt.OwnerID)
	}
}

// TestPATNameIsFreedByRevocation: a name is unique among the owner's PATs
// that are not revoked, so a revoked PAT's name can be used again, and
// another owner may use it at any time.
func TestPATNameIsFreedByRevocation(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	req := governance.PATRequest{Name: "a", Scopes: []string{"OR.Jobs"}}
	if _, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bobA.UserID, req); err != nil {
		t.Fatalf("another owner's name: %v", err)
	}
	if _, err := f.gov.RevokeMyPAT(ctx, f.aliceA, f.acmePAT.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req); err != nil {
		t.Fatalf("the name of a revoked PAT: %v", err)
	}
}

// TestRegenerateRefusals: only a PAT that is neither revoked nor expired,
// of its owner, under a policy that still allows it, is regenerated.
func TestRegenerateRefusals(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	create := func(t *testing.T, a governance.Actor, req governance.PATRequest) string {
		t.Helper()
		req.Scopes = []string{"OR.Jobs"}
		nt, err := f.gov.CreatePAT(ctx, a, a.OrgID, a.UserID, req)
		if err != nil {
			t.Fatal(err)
		}
		return nt.ID
	}
	for _, c := range []struct {
		rule  string
		setup func(t *testing.T) (governance.Actor, string)
		kind  governance.Kind
		code  string
	}{
		{"a revoked PAT", func(t *testing.T) (governance.Actor, string) {
			id := create(t, bobA, governance.PATRequest{Name: "revoked"})
			if _, err := f.gov.RevokeMyPAT(ctx, bobA, id); err != nil {
				t.Fatal(err)
			}
			return bobA, id
		}, governance.Conflict, "pat-revoked"},
		{"a PAT past its expiry", func(t *testing.T) (governance.Actor, string) {
			id := create(t, bobA, governance.PATRequest{Name: "expired", ExpiresAt: ptr(f.clock.Now().Add(time.Hour))})
			f.clock.Advance(time.Hour)
			return bobA, id
		}, governance.Conflict, "pat-expired"},
		{"a PAT older than a maximum lowered since", func(t *testing.T) (governance.Actor, string) {
			id := create(t, bobA, governance.PATRequest{Name: "old"})
			f.clock.Advance(2 * day)
			f.setOrg(t, f.acme, true, day)
			return bobA, id
		}, governance.Conflict, "pat-expired"},
		{"another user's PAT", func(t *testing.T) (governance.Actor, string) {
			return f.aliceA, create(t, bobA, governance.PATRequest{Name: "bobs"})
		}, governance.NotFound, ""},
		{"another organization's PAT", func(t *testing.T) (governance.Actor, string) {
			return f.aliceA, f.evePAT.ID
		}, governance.NotFound, ""},
		{"a PAT of an organization that disabled PATs", func(t *testing.T) (governance.Actor, string) {
			id := create(t, bobA, governance.PATRequest{Name: "disabled"})
			f.setOrg(t, f.acme, false, 0)
			return bobA, id
		}, governance.Forbidden, "pats-disabled"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			f.setOrg(t, f.acme, true, 0)
			a, id := c.setup(t)
			nt, err := f.gov.RegenerateMyPAT(ctx, a, id, governance.PATRequest{})
			if nt != nil {
				t.Fatalf("regenerated %+v", nt.PATView)
			}
			wantRefusal(t, err, c.kind, c.code)
		})
	}
	if p := f.pat(t, f.globex.ID, f.evePAT.ID); p.RevokedAt != nil {
		t.Fatal("another organization's PAT was revoked")
	}
}

// TestRegenerateDefaultExpiry: without an expiry in the request, the new
// PAT lives as long as the old one was meant to, counted from now, and
// never beyond the organization's maximum.
func TestRegenerateDefaultExpiry(t *testing.T) {
	for _, c := range []struct {
		rule     string
		lifetime time.Duration // of the original; 0: never expires
		maxLater time.Duration // the maximum set after creation; 0: none
		want     time.Duration // from the regeneration; 0: never
	}{
		{"the original lifetime, from now", 10 * day, 0, 10 * day},
		{"the original lifetime, under the maximum", 10 * day, 30 * day, 10 * day},
		{"capped by a maximum below the original lifetime", 10 * day, 7 * day, 7 * day},
		{"never, for a PAT that never expired, without a maximum", 0, 0, 0},
		{"the maximum, for a PAT that never expired", 0, 30 * day, 30 * day},
	} {
		t.Run(c.rule, func(t *testing.T) {
			f := newFixture(t, storage.DriverSQLite)
			req := governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs", "OR.Folders"}}
			if c.lifetime > 0 {
				req.ExpiresAt = ptr(f.clock.Now().Add(c.lifetime))
			}
			old, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req)
			if err != nil {
				t.Fatal(err)
			}
			f.setOrg(t, f.acme, true, c.maxLater)
			f.clock.Advance(3 * day)
			f.events.take()
			nt, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, old.ID, governance.PATRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got := f.pat(t, f.acme.ID, nt.ID)
			switch {
			case c.want == 0 && got.ExpiresAt != nil:
				t.Fatalf("expires at %v, want never", got.ExpiresAt)
			case c.want != 0 && (got.ExpiresAt == nil || !got.ExpiresAt.Equal(f.clock.Now().Add(c.want))):
				t.Fatalf("expires at %v, want %v", got.ExpiresAt, f.clock.Now().Add(c.want))
			}
			// Same name and scopes, new id and secret; the old one revoked
			// as regenerated, in the same transaction.
			if nt.ID == old.ID || nt.Token == old.Token || nt.Name != "ci" || !slices.Equal(nt.Scopes, old.Scopes) {
				t.Fatalf("regenerated %+v from %+v", nt.PATView, old.PATView)
			}
			if o := f.pat(t, f.acme.ID, old.ID); o.RevokedAt == nil || o.RevokedReason != "regenerated" {
				t.Fatalf("the old PAT: revoked %v, reason %q", o.RevokedAt, o.RevokedReason)
			}
			if got := f.events.take(); !slices.Equal(got, []string{"regenerated"}) {
				t.Fatalf("events %q", got)
			}
		})
	}
}

// TestRegenerateTakesTheCallersExpiryUnderTheMaximum: an explicit expiry
// is checked as at creation.
func TestRegenerateTakesTheCallersExpiryUnderTheMaximum(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	f.setOrg(t, f.acme, true, 30*day)
	now := f.clock.Now()
	_, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, f.acmePAT.ID, governance.PATRequest{ExpiresAt: ptr(now.Add(31 * day))})
	wantRefusal(t, err, governance.Invalid, "expiry-beyond-maximum")
	if p := f.pat(t, f.acme.ID, f.acmePAT.ID); p.RevokedAt != nil {
		t.Fatal("a refused regeneration revoked the old PAT")
	}
	nt, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, f.acmePAT.ID, governance.PATRequest{ExpiresAt: ptr(now.Add(day))})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.pat(t, f.acme.ID, nt.ID).ExpiresAt; got == nil || !got.Equal(now.Add(day)) {
		t.Fatalf("expires at %v, want %v", got, now.Add(day))
	}
}

// TestRevokeMyPAT: owners revoke their own PATs, at once and for good; a
// second revocation changes nothing; anyone else's PAT is "not found",
// even for an admin of the same organization.
func TestRevokeMyPAT(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	f.events.take()
	v, err := f.gov.RevokeMyPAT(ctx, f.aliceA, f.acmePAT.ID)
	if err != nil || v.Status != storage.PATRevoked || v.RevokedAt == nil {
		t.Fatalf("revoke: %+v %v", v, err)
	}
	first := *v.RevokedAt
	f.clock.Advance(time.Hour)
	v, err = f.gov.RevokeMyPAT(ctx, f.aliceA, f.acmePAT.ID)
	if err != nil || !v.RevokedAt.Equal(first) {
		t.Fatalf("revoking again: %+v %v, want the first revocation kept", v, err)
	}
	if p := f.pat(t, f.acme.ID, f.acmePAT.ID); p.RevokedReason != "owner" {
		t.Fatalf("reason %q, want owner", p.RevokedReason)
	}
	if got := actions(f.audit(t, f.acme.ID)); slices.Index(got, "pat.revoke") != len(got)-1 {
		t.Fatalf("audit %q, want one pat.revoke, last", got)
	}
	if got := f.events.take(); !slices.Equal(got, []string{"revoked_owner"}) {
		t.Fatalf("events %q", got)
	}

	nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "b", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rule  string
		actor governance.Actor
		id    string
	}{
		{"an admin revokes another user's PAT only as admin", f.aliceA, nt.ID},
		{"another organization's admin", f.eveA, nt.ID},
		{"the CLI has no PATs of its own", governance.CLI(), nt.ID},
		{"an unknown id", bobA, "0190a5c4-0000-7000-8000-000000000000"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			_, err := f.gov.RevokeMyPAT(ctx, c.actor, c.id)
			wantRefusal(t, err, governance.NotFound, "not-found")
		})
	}
	if p := f.pat(t, f.acme.ID, nt.ID); p.RevokedAt != nil {
		t.Fatal("bob's PAT was revoked")
	}
}

// TestRevokePATsInBulk: an admin revokes PATs of the organization by id.
// Ids that are not its PATs — unknown, malformed, another organization's —
// are reported not found and left alone; a PAT already revoked is reported
// revoked without a second audit event; an id named twice counts once.
func TestRevokePATsInBulk(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "b", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gov.RevokeMyPAT(ctx, f.aliceA, f.acmePAT.ID); err != nil {
		t.Fatal(err)
	}
	f.events.take()
	before := len(f.audit(t, f.acme.ID))
	const unknown = "0190a5c4-0000-7000-8000-000000000000"
	res, err := f.gov.RevokePATs(ctx, f.aliceA, f.acme.ID, []string{nt.ID, f.evePAT.ID, unknown, nt.ID, f.acmePAT.ID, "not an id\x00"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Revoked, []string{nt.ID, f.acmePAT.ID}) || !slices.Equal(res.NotFound, []string{f.evePAT.ID, unknown, "not an id\x00"}) {
		t.Fatalf("revoked %q, not found %q", res.Revoked, res.NotFound)
	}
	if p := f.pat(t, f.acme.ID, nt.ID); p.RevokedReason != "admin" {
		t.Fatalf("bob's PAT: reason %q, want admin", p.RevokedReason)
	}
	if p := f.pat(t, f.globex.ID, f.evePAT.ID); p.RevokedAt != nil {
		t.Fatal("another organization's PAT was revoked")
	}
	if added := f.audit(t, f.acme.ID)[before:]; len(added) != 1 || added[0].Target != nt.ID || added[0].Actor != f.alice.ID {
		t.Fatalf("audit added %+v, want one pat.revoke of bob's PAT by alice", added)
	}
	if got := f.events.take(); !slices.Equal(got, []string{"revoked_admin"}) {
		t.Fatalf("events %q", got)
	}

	for _, c := range []struct {
		rule  string
		actor governance.Actor
		ids   []string
		kind  governance.Kind
		code  string
	}{
		{"a user who is not an admin", bobA, []string{nt.ID}, governance.Forbidden, "admin-required"},
		{"an admin of another organization", f.eveA, []string{nt.ID}, governance.NotFound, "not-found"},
		{"no id", f.aliceA, nil, governance.Invalid, "ids-empty"},
		{"more than the bulk limit", f.aliceA, slices.Repeat([]string{nt.ID}, governance.MaxBulkRevoke+1), governance.Invalid, "ids-too-many"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			_, err := f.gov.RevokePATs(ctx, c.actor, f.acme.ID, c.ids)
			wantRefusal(t, err, c.kind, c.code)
		})
	}
}

// TestRevokeByValue: an admin revokes a PAT by its token, answered with
// its owner and name. A value that is no PAT of the organization —
// malformed, unknown, another organization's — is "not found", and the
// other organization's PAT stays usable.
func TestRevokeByValue(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	mine, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "leaked", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := f.gov.CreatePAT(ctx, f.eveA, f.globex.ID, f.eve.ID, governance.PATRequest{Name: "eves", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	f.events.take()
	for _, c := range []struct {
		rule  string
		actor governance.Actor
		value string
		kind  governance.Kind
		code  string
	}{
		{"another organization's token", f.aliceA, theirs.Token, governance.NotFound, "not-found"},
		{"a malformed token", f.aliceA, "pat_nope", governance.NotFound, "not-found"},
		{"a token with a wrong checksum", f.aliceA, wrongChecksum(mine.Token), governance.NotFound, "not-found"},
		{"a user who is not an admin", bobA, mine.Token, governance.Forbidden, "admin-required"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			_, err := f.gov.RevokeByValue(ctx, c.actor, f.acme.ID, c.value)
			wantRefusal(t, err, c.kind, c.code)
		})
	}
	if p := f.pat(t, f.globex.ID, theirs.ID); p.RevokedAt != nil {
		t.Fatal("another organization's PAT was revoked")
	}
	v, err := f.gov.RevokeByValue(ctx, f.aliceA, f.acme.ID, "  "+mine.Token+"\n")
	if err != nil || v.ID != mine.ID || v.Owner != "bob" || v.Name != "leaked" || v.Status != storage.PATRevoked {
		t.Fatalf("revoke by value (pasted with spaces): %+v %v", v, err)
	}
	if p := f.pat(t, f.acme.ID, mine.ID); p.RevokedReason != "value" {
		t.Fatalf("reason %q, want value", p.RevokedReason)
	}
	if got := f.events.take(); !slices.Equal(got, []string{"revoked_value"}) {
		t.Fatalf("events %q", got)
	}
}

// TestEveryPATChangeIsAudited: create, regenerate and revoke each write
// one event naming the actor and the PAT, never the token.
func TestEveryPATChangeIsAudited(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	before := len(f.audit(t, f.acme.ID))
	nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	rg, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, nt.ID, governance.PATRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.gov.RevokeMyPAT(ctx, f.aliceA, rg.ID); err != nil {
		t.Fatal(err)
	}
	events := f.audit(t, f.acme.ID)[before:]
	if got := actions(events); !slices.Equal(got, []string{"pat.create", "pat.regenerate", "pat.revoke"}) {
		t.Fatalf("audit %q", got)
	}
	for i, want := range []string{nt.ID, rg.ID, rg.ID} {
		e := events[i]
		if e.Actor != f.alice.ID || e.Target != want || e.OrgID != f.acme.ID {
			t.Errorf("%s: actor %q target %q org %q", e.Action, e.Actor, e.Target, e.OrgID)
		}
		for _, tok := range []string{nt.Token, rg.Token} {
			if strings.Contains(e.Detail, tok) {
				t.Errorf("%s: the detail holds a token", e.Action)
			}
		}
	}
}

// wrongChecksum changes the last checksum character of tok to another
// base62 character, so the result is never tok itself.
func wrongChecksum(tok string) string {
	last := byte('x')
	if tok[len(tok)-1] == last {
		last = 'y'
	}
	return tok[:len(tok)-1] + string(last)
}
