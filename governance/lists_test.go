package governance_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"authserver/governance"
	"authserver/storage"
)

// TestListPATsFilters: newest first, by name (any case, wildcards
// literal), by audience, by "expiring soon" counting the maximum
// lifetime, and refusals of bad filters named by field.
func TestListPATsFilters(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	if err := f.st.CreateAudience(ctx, &storage.Audience{ID: "api", Name: "API", Scopes: []string{"API.Read"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAudience(ctx, &storage.Audience{ID: "empty", Name: "Empty"}); err != nil {
		t.Fatal(err)
	}
	bob, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	f.clock.Advance(governance.CatalogTTL + time.Second) // the catalogue reads the new audiences
	now := f.clock.Now()
	create := func(name string, scopes []string, exp time.Time) string {
		t.Helper()
		nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bob.ID,
			governance.PATRequest{Name: name, Scopes: scopes, ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Millisecond)
		return nt.ID
	}
	soon := create("Deploy soon", []string{"OR.Jobs"}, now.Add(3*day))
	later := create("deploy_later", []string{"API.Read"}, now.Add(20*day))
	other := create("nightly 100%", []string{"OR.Folders", "API.Read"}, now.Add(40*day))
	ids := func(p *governance.PATPage) []string {
		out := []string{}
		for _, v := range p.Items {
			out = append(out, v.ID)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    governance.PATFilter
		want []string
	}{
		{"newest first", governance.PATFilter{}, []string{other, later, soon}},
		{"name, any case", governance.PATFilter{Name: "DEPLOY"}, []string{later, soon}},
		{"an underscore is no wildcard", governance.PATFilter{Name: "_"}, []string{later}},
		{"a percent sign is no wildcard", governance.PATFilter{Name: "%"}, []string{other}},
		{"audience", governance.PATFilter{Audience: "api"}, []string{other, later}},
		{"audience without scopes", governance.PATFilter{Audience: "empty"}, []string{}},
		{"expiring within 7 days", governance.PATFilter{Expiring: true}, []string{soon}},
		{"expiring and a status", governance.PATFilter{Expiring: true, Status: storage.PATExpired}, []string{}},
	} {
		page, err := f.gov.ListMyPATs(ctx, bobA, c.f)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ids(page); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	// Paging keeps the order across pages.
	first, err := f.gov.ListPATs(ctx, f.aliceA, f.acme.ID, governance.PATFilter{OwnerID: bob.ID, Limit: 2})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %v, next %q", err, first.Next)
	}
	second, err := f.gov.ListPATs(ctx, f.aliceA, f.acme.ID, governance.PATFilter{OwnerID: bob.ID, Limit: 2, Cursor: first.Next})
	if err != nil {
		t.Fatal(err)
	}
	if got := append(ids(first), ids(second)...); !slices.Equal(got, []string{other, later, soon}) || second.Next != "" {
		t.Errorf("pages: got %v (next %q)", got, second.Next)
	}

	// Under a maximum of 10 days, the 20- and 40-day PATs end within a
	// week once 4 days have passed; the 3-day one has expired.
	f.setOrg(t, f.acme, true, 10*day)
	f.clock.Advance(4 * day)
	page, err := f.gov.ListPATs(ctx, f.aliceA, f.acme.ID, governance.PATFilter{OwnerID: bob.ID, Expiring: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(page); !slices.Equal(got, []string{other, later}) {
		t.Errorf("expiring under the maximum: got %v", got)
	}
	for _, v := range page.Items {
		if v.EndsAt == nil || !v.EndsAt.Equal(v.CreatedAt.Add(10*day)) {
			t.Errorf("%s ends at %v, want created + 10 days", v.Name, v.EndsAt)
		}
		if n := v.ExpiresInDays(f.clock.Now()); n != 6 {
			t.Errorf("%s expires in %d days, want 6", v.Name, n)
		}
	}

	for _, c := range []struct {
		f     governance.PATFilter
		field string
	}{
		{governance.PATFilter{Audience: "nope"}, "audience"},
		{governance.PATFilter{Name: "a\x00b"}, "name"},
		{governance.PATFilter{Audience: "a\x01"}, "audience"},
	} {
		_, err := f.gov.ListMyPATs(ctx, f.aliceA, c.f)
		var ge *governance.Error
		if !errors.As(err, &ge) || ge.Kind != governance.Invalid || ge.Field != c.field {
			t.Errorf("filter %+v: got %v, want an invalid %s", c.f, err, c.field)
		}
	}
}

func TestExpiresInDays(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		status storage.PATStatus
		ends   *time.Time
		want   int
	}{
		{storage.PATActive, ptr(now.Add(time.Hour)), 1},
		{storage.PATActive, ptr(now.Add(24 * time.Hour)), 1},
		{storage.PATActive, ptr(now.Add(24*time.Hour + time.Second)), 2},
		{storage.PATActive, ptr(now.Add(7 * day)), 7},
		{storage.PATActive, ptr(now.Add(7*day + time.Second)), -1},
		{storage.PATActive, nil, -1},
		{storage.PATRevoked, ptr(now.Add(time.Hour)), -1},
		{storage.PATActive, ptr(now.Add(-time.Hour)), -1},
	} {
		v := governance.PATView{Status: c.status, EndsAt: c.ends}
		if got := v.ExpiresInDays(now); got != c.want {
			t.Errorf("%s ending %v: %d days, want %d", c.status, c.ends, got, c.want)
		}
	}
}

// TestAuditNames: actors and targets as names, by what the action
// names, falling back to "" (the id) for what is gone or not a thing.
func TestAuditNames(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	events := []storage.AuditEvent{
		{Actor: f.alice.ID, Action: "pat.create", Target: nt.ID},
		{Actor: "cli", Action: "user.deactivate", Target: f.alice.ID},
		{Actor: "client:ci", Action: "exchange.refused", Target: "gone-pat"},
		{Actor: f.eve.ID, Action: "role.update", Target: f.acmeRole.ID},
		{Actor: f.alice.ID, Action: "role.assign", Target: f.acmeRole.ID},
		{Actor: f.alice.ID, Action: "org.settings", Target: f.acme.ID},
	}
	got, err := f.gov.AuditNames(ctx, f.aliceA, f.acme.ID, events)
	if err != nil {
		t.Fatal(err)
	}
	want := []governance.EventNames{
		{Actor: "alice", Target: "ci"},
		{Target: "alice"},
		{},
		{Target: "Dev"}, // eve is another organization's user
		{Actor: "alice"},
		{Actor: "alice", Target: "acme"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if _, err := f.gov.AuditNames(ctx, f.eveA, f.acme.ID, events); governance.KindOf(err) != governance.NotFound {
		t.Errorf("another organization's admin: got %v", err)
	}
}

// TestRegeneratePATByOperator: only the CLI regenerates another user's
// PAT; the rules of RegenerateMyPAT apply; AtMaximum asks for the
// organization's maximum and is refused without one.
func TestRegeneratePATByOperator(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
	nt, err := f.gov.CreatePAT(ctx, bobA, f.acme.ID, bobA.UserID, governance.PATRequest{Name: "ci", Scopes: []string{"OR.Jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []governance.Actor{f.aliceA, bobA} {
		if _, err := f.gov.RegeneratePAT(ctx, a, f.acme.ID, nt.ID, governance.PATRequest{}); governance.KindOf(err) != governance.Forbidden {
			t.Errorf("%s regenerating as the operator: got %v, want forbidden", a.Kind, err)
		}
	}
	for _, id := range []string{"no-such-id", f.evePAT.ID} {
		if _, err := f.gov.RegeneratePAT(ctx, governance.CLI(), f.acme.ID, id, governance.PATRequest{}); governance.KindOf(err) != governance.NotFound {
			t.Errorf("regenerating %s: got %v, want not found", id, err)
		}
	}
	if _, err := f.gov.RegeneratePAT(ctx, governance.CLI(), f.acme.ID, nt.ID, governance.PATRequest{AtMaximum: true}); governance.KindOf(err) != governance.Invalid {
		t.Errorf("the maximum without one: got %v, want invalid", err)
	}
	f.setOrg(t, f.acme, true, 20*day)
	again, err := f.gov.RegeneratePAT(ctx, governance.CLI(), f.acme.ID, nt.ID, governance.PATRequest{AtMaximum: true})
	if err != nil {
		t.Fatal(err)
	}
	if again.ExpiresAt == nil || !again.ExpiresAt.Equal(f.clock.Now().Add(20*day)) || again.Owner != "bob" || again.Token == "" {
		t.Fatalf("regenerated: %+v", again.PATView)
	}
	if _, err := f.gov.RegeneratePAT(ctx, governance.CLI(), f.acme.ID, nt.ID, governance.PATRequest{}); governance.KindOf(err) != governance.Conflict {
		t.Errorf("regenerating the replaced PAT: got %v, want conflict", err)
	}
	events, err := f.st.ListAudit(ctx, storage.AuditFilter{OrgID: f.acme.ID, Action: "pat.regenerate"})
	if err != nil || len(events) != 1 || events[0].Actor != "cli" || events[0].Target != again.ID {
		t.Fatalf("audit: %+v %v", events, err)
	}
}
