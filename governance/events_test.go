package governance_test

import (
	"testing"
	"time"

	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/storage"
)

// eventsSince reads the organization's outbox from since on, as
// "type user pat key=value…" lines for comparison.
func eventsSince(t *testing.T, f *fixture, orgID string, since time.Time) []storage.Event {
	t.Helper()
	evs, err := f.st.ListEvents(ctx, orgID, since, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestLifecycleChangesWriteTheirEvents: every lifecycle change writes its
// event to the outbox with the change, naming the user and PAT it is
// about; a refused change writes none.
func TestLifecycleChangesWriteTheirEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		f.clock.Advance(time.Second)
		start := f.clock.Now()
		bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})

		nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"}})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		rt, err := f.gov.RegenerateMyPAT(ctx, bobA, nt.ID, governance.PATRequest{})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := f.gov.RevokePATs(ctx, f.aliceA, f.acme.ID, []string{rt.ID}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		// Refused: regenerating a revoked PAT writes nothing.
		if _, err := f.gov.RegenerateMyPAT(ctx, bobA, rt.ID, governance.PATRequest{}); err == nil {
			t.Fatal("regenerated a revoked PAT")
		}
		ra, err := f.gov.CreateAssignment(ctx, f.aliceA, f.acme.ID, governance.AssignmentRequest{UserID: bob.ID, RoleID: f.acmeRole.ID, Folder: "Finance"})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if err := f.gov.DeleteAssignment(ctx, f.aliceA, f.acme.ID, ra.ID); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, bob.ID, storage.UserDeactivated); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := f.gov.SetUserStatus(ctx, f.aliceA, f.acme.ID, bob.ID, storage.UserActive); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: false}); err != nil {
			t.Fatal(err)
		}

		type want struct{ typ, user, pat, key, value string }
		wants := []want{
			{storage.EventPATCreated, bob.ID, nt.ID, "name", "ci"},
			{storage.EventPATRevoked, bob.ID, nt.ID, "reason", "regenerated"},
			{storage.EventPATRegenerated, bob.ID, rt.ID, "replaces", nt.ID},
			{storage.EventPATRevoked, bob.ID, rt.ID, "reason", "admin"},
			{storage.EventRoleChanged, bob.ID, "", "change", "assigned"},
			{storage.EventRoleChanged, bob.ID, "", "change", "unassigned"},
			{storage.EventUserDeactivated, bob.ID, "", "username", "bob"},
			{storage.EventUserReactivated, bob.ID, "", "username", "bob"},
			{storage.EventOrgPATsDisabled, "", "", "", ""},
		}
		got := eventsSince(t, f, f.acme.ID, start)
		if len(got) != len(wants) {
			t.Fatalf("got %d events, want %d: %+v", len(got), len(wants), got)
		}
		seen := map[string]bool{}
		for i, w := range wants {
			g := got[i]
			if g.Type != w.typ || g.UserID != w.user || g.PATID != w.pat || (w.key != "" && g.Data[w.key] != w.value) {
				t.Errorf("event %d: got %+v, want %+v", i, g, w)
			}
			if g.ID == "" || seen[g.ID] || g.OrgID != f.acme.ID {
				t.Errorf("event %d: id %q org %q", i, g.ID, g.OrgID)
			}
			seen[g.ID] = true
		}
		if evs := eventsSince(t, f, f.globex.ID, start); len(evs) != 0 {
			t.Fatalf("another organization got events: %+v", evs)
		}
	})
}
