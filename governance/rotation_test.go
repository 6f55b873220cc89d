package governance_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/storage"
)

// TestRegenerateWithOverlap: the old PAT is revoked at once (reason
// regenerated), names its successor and keeps its secret working until
// the overlap ends; an overlap beyond seven days or negative is refused
// by field; revoking the old PAT again ends the overlap.
func TestRegenerateWithOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
		nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"},
			AllowedCIDRs: []string{"192.0.2.7/24", "2001:DB8::/32", "192.0.2.0/24"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"192.0.2.0/24", "2001:db8::/32"}; !slices.Equal(nt.AllowedCIDRs, want) {
			t.Fatalf("allowed networks %v, want %v (canonical, without duplicates)", nt.AllowedCIDRs, want)
		}
		for _, d := range []time.Duration{-time.Second, 7*24*time.Hour + time.Second} {
			_, err := f.gov.RegenerateMyPAT(ctx, bobA, nt.ID, governance.PATRequest{Overlap: d})
			wantRefusal(t, err, governance.Invalid, "")
			if ge := err.(*governance.Error); ge.Field != "overlap" {
				t.Errorf("overlap %v refused on field %q", d, ge.Field)
			}
		}
		f.clock.Advance(time.Second)
		start := f.clock.Now()
		rt, err := f.gov.RegenerateMyPAT(ctx, bobA, nt.ID, governance.PATRequest{Overlap: 7 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rt.AllowedCIDRs, nt.AllowedCIDRs) {
			t.Errorf("successor's networks %v, want the old ones", rt.AllowedCIDRs)
		}
		old, err := f.gov.GetMyPAT(ctx, bobA, nt.ID)
		if err != nil {
			t.Fatal(err)
		}
		end := start.Add(7 * 24 * time.Hour)
		if old.Status != storage.PATRevoked || old.ReplacedBy != rt.ID || old.OverlapUntil == nil || !old.OverlapUntil.Equal(end) || !old.InOverlap {
			t.Fatalf("old PAT: status %s, replaced by %q, overlap until %v (in overlap %v); want revoked, %s, %v",
				old.Status, old.ReplacedBy, old.OverlapUntil, old.InOverlap, rt.ID, end)
		}
		evs := eventsSince(t, f, f.acme.ID, start)
		if len(evs) != 2 || evs[1].Type != storage.EventPATRegenerated || evs[1].Data["overlap_until"] != end.Format(time.RFC3339) {
			t.Errorf("events %+v, want revoked then regenerated with overlap_until", evs)
		}
		// Revoking the old PAT again ends its overlap, audited.
		f.clock.Advance(time.Minute)
		ended, err := f.gov.RevokeMyPAT(ctx, bobA, nt.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ended.InOverlap || ended.OverlapUntil == nil || !ended.OverlapUntil.Equal(f.clock.Now()) {
			t.Errorf("after a second revocation: in overlap %v until %v", ended.InOverlap, ended.OverlapUntil)
		}
		last := f.audit(t, f.acme.ID)
		if e := last[len(last)-1]; e.Action != "pat.revoke" || e.Target != nt.ID {
			t.Errorf("last audit %+v, want the overlap's end", e)
		}
		// Without an overlap, none is recorded.
		rt2, err := f.gov.RegenerateMyPAT(ctx, bobA, rt.ID, governance.PATRequest{})
		if err != nil {
			t.Fatal(err)
		}
		p := f.pat(t, f.acme.ID, rt.ID)
		if p.OverlapUntil != nil || p.ReplacedBy != rt2.ID || p.InOverlap(f.clock.Now()) {
			t.Errorf("regenerated without overlap: %+v", p)
		}
	})
}

// TestAllowedCIDRsRefusedByPosition: bad networks are refused naming the
// entry's position only, and more than sixteen are refused.
func TestAllowedCIDRsRefusedByPosition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		secret := "pat_secret_value_in_wrong_field"
		_, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, governance.PATRequest{Name: "n", Scopes: []string{"OR.Jobs"},
			AllowedCIDRs: []string{"10.0.0.0/8", secret}})
		wantRefusal(t, err, governance.Invalid, "cidr-invalid")
		ge := err.(*governance.Error)
		if ge.Field != "allowed_cidrs" || !containsAll(ge.Message, "entry 2") || containsAll(ge.Message, secret) {
			t.Errorf("refusal %+v", ge)
		}
		many := make([]string, 17)
		for i := range many {
			many[i] = fmt.Sprintf("10.0.%d.0/24", i)
		}
		_, err = f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, governance.PATRequest{Name: "n", Scopes: []string{"OR.Jobs"}, AllowedCIDRs: many})
		wantRefusal(t, err, governance.Invalid, "cidrs-too-many")
	})
}

func containsAll(s, sub string) bool { return strings.Contains(s, sub) }

// TestRecordReuse: the reuse of a rotated secret is audited (actor the
// client, with its address) and written as pat.reused naming the
// successor; a PAT not replaced by regeneration records nothing.
func TestRecordReuse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		rt, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, f.acmePAT.ID, governance.PATRequest{})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		start := f.clock.Now()
		client := governance.ClientActor("cli", "192.0.2.9")
		if err := f.gov.RecordReuse(ctx, client, f.acme.ID, rt.ID); err != nil { // not replaced: nothing
			t.Fatal(err)
		}
		if err := f.gov.RecordReuse(ctx, client, f.acme.ID, f.acmePAT.ID); err != nil {
			t.Fatal(err)
		}
		a := f.audit(t, f.acme.ID)
		e := a[len(a)-1]
		if e.Action != "pat.reuse" || e.Actor != "client:cli" || e.ClientAddr != "192.0.2.9" || e.Target != f.acmePAT.ID {
			t.Errorf("audit %+v", e)
		}
		evs := eventsSince(t, f, f.acme.ID, start)
		if len(evs) != 1 || evs[0].Type != storage.EventPATReused || evs[0].PATID != f.acmePAT.ID ||
			evs[0].Data["successor"] != rt.ID || evs[0].Data["name"] != "a" {
			t.Errorf("events %+v", evs)
		}
		// The successor is not revoked.
		if p := f.pat(t, f.acme.ID, rt.ID); p.RevokedAt != nil {
			t.Error("the successor was revoked")
		}
	})
}

// TestRecordNewNetwork: a new network goes first in the list with one
// audit event (network only, no address) and one pat.new_address event;
// the same network again records nothing; a sixth drops the oldest; of
// concurrent writers that saw the same new network, one records it.
func TestRecordNewNetwork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		f.clock.Advance(time.Second)
		start := f.clock.Now()
		client := governance.ClientActor("cli", "192.0.2.9")
		id := f.acmePAT.ID
		ok, err := f.gov.RecordNewNetwork(ctx, client, f.acme.ID, id, "192.0.2.0/24")
		if err != nil || !ok {
			t.Fatalf("first record: %v %v", ok, err)
		}
		ok, err = f.gov.RecordNewNetwork(ctx, client, f.acme.ID, id, "192.0.2.0/24")
		if err != nil || ok {
			t.Fatalf("the same network again: %v %v", ok, err)
		}
		a := f.audit(t, f.acme.ID)
		e := a[len(a)-1]
		if e.Action != "pat.new_address" || e.ClientAddr != "" || e.Detail != "network 192.0.2.0/24" || e.Actor != "client:cli" {
			t.Errorf("audit %+v", e)
		}
		for i := 1; i <= 5; i++ {
			if _, err := f.gov.RecordNewNetwork(ctx, client, f.acme.ID, id, fmt.Sprintf("2001:db8:0:%d::/64", i)); err != nil {
				t.Fatal(err)
			}
		}
		p := f.pat(t, f.acme.ID, id)
		want := []string{"2001:db8:0:5::/64", "2001:db8:0:4::/64", "2001:db8:0:3::/64", "2001:db8:0:2::/64", "2001:db8:0:1::/64"}
		if !slices.Equal(p.RecentNetworks, want) {
			t.Errorf("recent networks %v, want %v (the oldest dropped)", p.RecentNetworks, want)
		}
		evs := eventsSince(t, f, f.acme.ID, start)
		if len(evs) != 6 || evs[0].Type != storage.EventPATNewAddress || evs[0].Data["network"] != "192.0.2.0/24" || evs[0].Data["name"] != "a" {
			t.Errorf("events %+v", evs)
		}
		// Concurrent writers: one records.
		var wg sync.WaitGroup
		var mu sync.Mutex
		n := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := f.gov.RecordNewNetwork(ctx, client, f.acme.ID, id, "198.51.100.0/24")
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if n != 1 {
			t.Errorf("%d writers recorded the same new network, want 1", n)
		}
		if _, err := f.gov.RecordNewNetwork(ctx, client, f.acme.ID, id, "192.0.2.7/24"); governance.KindOf(err) != governance.Invalid {
			t.Errorf("a non-canonical network: %v", err)
		}
	})
}

// TestRevokingEndsTheOverlap: an admin's bulk revocation and the holder's
// revocation of a regenerated PAT in its overlap end the overlap, audited;
// once ended, revoking again changes nothing.
func TestRevokingEndsTheOverlap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
		first, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "one", Scopes: []string{"OR.Jobs"}})
		if err != nil {
			t.Fatal(err)
		}
		second, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID, governance.PATRequest{Name: "two", Scopes: []string{"OR.Jobs"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{first.ID, second.ID} {
			if _, err := f.gov.RegenerateMyPAT(ctx, bobA, id, governance.PATRequest{Overlap: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(time.Minute)
		res, err := f.gov.RevokePATs(ctx, f.aliceA, f.acme.ID, []string{first.ID})
		if err != nil || len(res.AlreadyRevoked) != 1 {
			t.Fatalf("bulk revoke: %+v %v", res, err)
		}
		if p := f.pat(t, f.acme.ID, first.ID); p.InOverlap(f.clock.Now()) {
			t.Error("an admin's revocation left the overlap running")
		}
		hr, err := f.gov.RevokeByHolder(ctx, governance.ClientActor("cli", "192.0.2.1"), second.Token)
		if err != nil || hr.Outcome != governance.HolderRevoked {
			t.Fatalf("holder revocation in the overlap: %+v %v", hr, err)
		}
		if p := f.pat(t, f.acme.ID, second.ID); p.InOverlap(f.clock.Now()) {
			t.Error("the holder's revocation left the overlap running")
		}
		if hr, err = f.gov.RevokeByHolder(ctx, governance.ClientActor("cli", "192.0.2.1"), second.Token); err != nil || hr.Outcome != governance.HolderAlreadyRevoked {
			t.Fatalf("holder revocation after the overlap: %+v %v", hr, err)
		}
		ends := 0
		for _, e := range f.audit(t, f.acme.ID) {
			if e.Action == "pat.revoke" && strings.Contains(e.Detail, "ends the old secret's overlap") {
				ends++
			}
		}
		if ends != 2 {
			t.Errorf("%d audited ends of an overlap, want 2", ends)
		}
	})
}
