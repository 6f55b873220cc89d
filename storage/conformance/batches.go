package conformance

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"authserver/storage"
)

// The writes of many rows at once (storage/batchwrites.go).

func testGetPATsByID(t *testing.T, s storage.Store) {
	a, b := org(t, s, "acme"), org(t, s, "globex")
	alice, eve := user(t, s, a, "alice"), user(t, s, b, "eve")
	p1 := pat(t, s, alice, "one", "pat_byid_0001", base, nil)
	p2 := pat(t, s, alice, "two", "pat_byid_0002", base, ptr(base.Add(time.Hour)))
	p3 := pat(t, s, eve, "three", "pat_byid_0003", base, nil)
	ok, err := s.SetPATRecentNetworks(ctx, a.ID, p2.ID, nil, []string{"192.0.2.0/24"})
	must(t, err)
	if !ok {
		t.Fatal("set networks failed")
	}
	// More ids than one statement reads, most of them naming nothing, and
	// one twice.
	ids := []string{p3.ID, p1.ID, "no-such-pat", p2.ID, p1.ID}
	for i := range 600 {
		ids = append(ids, fmt.Sprintf("unknown-%04d", i))
	}
	got, err := s.GetPATsByID(ctx, ids)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("got %d PATs, want the 3 that exist, of both organizations", len(got))
	}
	for _, want := range []*storage.PAT{p1, p2, p3} {
		one, err := s.GetPAT(ctx, want.OrgID, want.ID)
		must(t, err)
		if g := got[want.ID]; g == nil || g.OrgID != want.OrgID || g.Name != want.Name ||
			!slices.Equal(g.RecentNetworks, one.RecentNetworks) || !slices.Equal(g.Scopes, one.Scopes) ||
			!g.CreatedAt.Equal(one.CreatedAt) || (g.ExpiresAt == nil) != (one.ExpiresAt == nil) {
			t.Errorf("PAT %s: got %+v, want %+v", want.Name, g, one)
		}
	}
	none, err := s.GetPATsByID(ctx, nil)
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("no ids: got %v", none)
	}
}

// testGetPATsByIDLocks: PATs read inside a transaction are kept from
// another writer's transaction until it ends, which then reads what the
// first wrote.
func testGetPATsByIDLocks(t *testing.T, s storage.Store) {
	a := org(t, s, "acme")
	alice := user(t, s, a, "alice")
	p := pat(t, s, alice, "one", "pat_locked_0001", base, nil)
	next := []string{"192.0.2.0/24"}
	held, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- s.WithTx(ctx, func(tx storage.Store) error {
			if _, err := tx.GetPATsByID(ctx, []string{p.ID}); err != nil {
				close(held)
				return err
			}
			close(held)
			<-release
			n, err := tx.SetPATsRecentNetworks(ctx, []storage.RecentNetworksChange{{OrgID: a.ID, ID: p.ID, Next: next}})
			if err == nil && n != 1 {
				err = fmt.Errorf("changed %d, want 1", n)
			}
			return err
		})
	}()
	<-held
	read := make(chan []string, 1)
	second := make(chan error, 1)
	go func() {
		second <- s.WithTx(ctx, func(tx storage.Store) error {
			got, err := tx.GetPATsByID(ctx, []string{p.ID})
			if err != nil {
				return err
			}
			if got[p.ID] == nil {
				return errors.New("the PAT is missing")
			}
			read <- got[p.ID].RecentNetworks
			return nil
		})
	}()
	select {
	case l := <-read:
		t.Fatalf("a second transaction read the PAT (%v) while the first held it", l)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	must(t, <-first)
	must(t, <-second)
	if l := <-read; !slices.Equal(l, next) {
		t.Fatalf("the second transaction read %v, want what the first wrote, %v", l, next)
	}
}

func testSetPATsRecentNetworks(t *testing.T, s storage.Store) {
	a, b := org(t, s, "acme"), org(t, s, "globex")
	alice, eve := user(t, s, a, "alice"), user(t, s, b, "eve")
	p1 := pat(t, s, alice, "one", "pat_nets_0001", base, nil)
	p2 := pat(t, s, alice, "two", "pat_nets_0002", base, nil)
	p3 := pat(t, s, eve, "three", "pat_nets_0003", base, nil)
	first := []string{"192.0.2.0/24"}
	second := []string{"2001:db8::/64", "192.0.2.0/24"}
	n, err := s.SetPATsRecentNetworks(ctx, []storage.RecentNetworksChange{
		{OrgID: a.ID, ID: p1.ID, Old: nil, Next: first},
		{OrgID: a.ID, ID: p2.ID, Old: nil, Next: second},
		{OrgID: a.ID, ID: p3.ID, Old: nil, Next: first}, // another organization's
		{OrgID: a.ID, ID: "no-such-pat", Old: nil, Next: first},
	})
	must(t, err)
	if n != 2 {
		t.Fatalf("changed %d, want 2", n)
	}
	// A stale old list changes nothing; a current one does.
	n, err = s.SetPATsRecentNetworks(ctx, []storage.RecentNetworksChange{
		{OrgID: a.ID, ID: p1.ID, Old: nil, Next: second},
		{OrgID: a.ID, ID: p2.ID, Old: second, Next: first},
	})
	must(t, err)
	if n != 1 {
		t.Fatalf("changed %d, want 1 (the stale one left)", n)
	}
	for _, c := range []struct {
		p    *storage.PAT
		want []string
	}{{p1, first}, {p2, first}, {p3, nil}} {
		got, err := s.GetPAT(ctx, c.p.OrgID, c.p.ID)
		must(t, err)
		if !slices.Equal(got.RecentNetworks, c.want) && !(len(c.want) == 0 && len(got.RecentNetworks) == 0) {
			t.Errorf("PAT %s: networks %v, want %v", c.p.Name, got.RecentNetworks, c.want)
		}
	}
	if n, err = s.SetPATsRecentNetworks(ctx, nil); err != nil || n != 0 {
		t.Fatalf("no changes: %d %v", n, err)
	}
	// More changes than one statement writes, in a transaction that fails:
	// none lands.
	many := []storage.RecentNetworksChange{{OrgID: a.ID, ID: p1.ID, Old: first, Next: second}}
	for i := range 600 {
		many = append(many, storage.RecentNetworksChange{OrgID: a.ID, ID: fmt.Sprintf("unknown-%04d", i), Next: first})
	}
	n, err = s.SetPATsRecentNetworks(ctx, many)
	must(t, err)
	if n != 1 {
		t.Fatalf("changed %d of many, want 1", n)
	}
	got, err := s.GetPAT(ctx, a.ID, p1.ID)
	must(t, err)
	if !slices.Equal(got.RecentNetworks, second) {
		t.Fatalf("networks %v, want %v", got.RecentNetworks, second)
	}
}

func testAppendAudits(t *testing.T, s storage.Store) {
	a, b := org(t, s, "acme"), org(t, s, "globex")
	in := []*storage.AuditEvent{
		{Time: base, OrgID: a.ID, Actor: "client:cli", Action: "pat.new_address", Target: "p1", Outcome: "success", Detail: "network 192.0.2.0/24"},
		{OrgID: a.ID, Actor: "u1", Action: "pat.create", Target: "p2", ClientAddr: "192.0.2.1", Outcome: "success"},
		{Time: base.Add(time.Minute), OrgID: b.ID, Actor: "cli", Action: "pat.revoke", Target: "p3", Outcome: "success", Detail: "by admin"},
	}
	must(t, s.AppendAudits(ctx, in))
	if in[1].Time.IsZero() {
		t.Fatal("the zero time was not filled in")
	}
	for _, e := range in {
		list, err := s.ListAudit(ctx, storage.AuditFilter{OrgID: e.OrgID, Target: e.Target})
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("target %s: %d events, want 1", e.Target, len(list))
		}
		got := list[0]
		sameTime(t, "time", got.Time, e.Time)
		got.ID, got.Time = 0, time.Time{}
		want := *e
		want.Time = time.Time{}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	must(t, s.AppendAudits(ctx, nil))
	// More than one statement writes, all or none.
	many := make([]*storage.AuditEvent, 1100)
	for i := range many {
		many[i] = &storage.AuditEvent{Time: base, OrgID: b.ID, Actor: "cli", Action: "many", Target: fmt.Sprint(i), Outcome: "success"}
	}
	errStop := errors.New("stop")
	if err := s.WithTx(ctx, func(tx storage.Store) error {
		if err := tx.AppendAudits(ctx, many); err != nil {
			return err
		}
		return errStop
	}); !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	if list, err := s.ListAudit(ctx, storage.AuditFilter{OrgID: b.ID, Action: "many"}); err != nil || len(list) != 0 {
		t.Fatalf("a rolled-back batch left %d events (%v)", len(list), err)
	}
	must(t, s.AppendAudits(ctx, many))
	list, err := s.ListAudit(ctx, storage.AuditFilter{OrgID: b.ID, Action: "many"})
	must(t, err)
	if len(list) != len(many) {
		t.Fatalf("%d events, want %d", len(list), len(many))
	}
	// One statement's rows are numbered in their order.
	if list[0].Target != "1099" || list[len(list)-1].Target != "0" {
		t.Errorf("newest first: %s … %s, want 1099 … 0", list[0].Target, list[len(list)-1].Target)
	}
}

func testAppendEvents(t *testing.T, s storage.Store) {
	a, b := org(t, s, "acme"), org(t, s, "globex")
	in := []*storage.Event{
		{Type: storage.EventPATNewAddress, Time: base, OrgID: a.ID, UserID: "u1", PATID: "p1",
			Data: map[string]string{"name": "ci", "network": "192.0.2.0/24"}},
		{Type: storage.EventPATNewAddress, OrgID: a.ID, UserID: "u1", PATID: "p2"},
	}
	must(t, s.AppendEvents(ctx, in))
	if in[0].ID == "" || in[1].ID == "" || in[0].ID == in[1].ID || in[1].Time.IsZero() {
		t.Fatalf("ids and times not filled in: %+v %+v", in[0], in[1])
	}
	for _, e := range in {
		got, err := s.GetEvent(ctx, e.ID)
		must(t, err)
		sameTime(t, "time", got.Time, e.Time)
		if got.Type != e.Type || got.OrgID != e.OrgID || got.UserID != e.UserID || got.PATID != e.PATID ||
			len(got.Data) != len(e.Data) || got.Data["network"] != e.Data["network"] || got.Data["name"] != e.Data["name"] {
			t.Errorf("got %+v, want %+v", got, e)
		}
	}
	must(t, s.AppendEvents(ctx, nil))
	many := make([]*storage.Event, 1100)
	for i := range many {
		many[i] = &storage.Event{Type: storage.EventPATNewAddress, Time: base, OrgID: b.ID, PATID: fmt.Sprint(i)}
	}
	must(t, s.AppendEvents(ctx, many))
	list, err := s.ListEvents(ctx, b.ID, base, 0)
	must(t, err)
	if len(list) != len(many) {
		t.Fatalf("%d events, want %d", len(list), len(many))
	}
	for i, e := range list {
		if e.PATID != fmt.Sprint(i) {
			t.Fatalf("event %d names PAT %s: the batch's order is lost", i, e.PATID)
		}
	}
}
