package governance_test

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/internal/testenv"
	"authserver/storage"
)

// replicas are n governance services, each on its own store handle on the
// fixture's database and on the fixture's clock: n replicas of the server.
func (f *fixture) replicas(t *testing.T, n int) []*governance.Service {
	t.Helper()
	out := make([]*governance.Service, n)
	for i := range out {
		st := storetest.OpenAt(t, f.driver, f.dsn)
		out[i] = governance.New(governance.Options{Store: storage.Narrow[governance.Tx](st),
			Catalog: governance.NewCatalog(st, "https://issuer.example", f.clock.Now), Now: f.clock.Now,
			PATPrefix: "pat_", PasswordParams: testenv.CheapPasswords, Events: f.events})
	}
	return out
}

// runAll runs the hygiene jobs on every replica at the same time and
// returns the sum of what they did.
func runAll(t *testing.T, govs []*governance.Service) governance.HygieneResult {
	t.Helper()
	var (
		mu    sync.Mutex
		total governance.HygieneResult
		wg    sync.WaitGroup
	)
	for _, g := range govs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := g.RunHygiene(ctx)
			if err != nil {
				t.Errorf("RunHygiene: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			total.Notices += res.Notices
			total.Expired += res.Expired
			total.IdleRevoked += res.IdleRevoked
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return total
}

// hygieneEvents lists the organization's expiry notices and expired
// events as "name type days" lines, sorted.
func hygieneEvents(t *testing.T, f *fixture, orgID string) []string {
	t.Helper()
	var out []string
	for _, e := range eventsSince(t, f, orgID, time.Time{}) {
		switch e.Type {
		case storage.EventPATExpiryNotice:
			out = append(out, e.Data["name"]+" "+e.Type+" "+e.Data["days"])
		case storage.EventPATExpired:
			out = append(out, e.Data["name"]+" "+e.Type)
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) patExpiring(t *testing.T, name string, in time.Duration) *governance.NewToken {
	t.Helper()
	req := governance.PATRequest{Name: name, Scopes: []string{"OR.Jobs"}}
	if in > 0 {
		at := f.clock.Now().Add(in)
		req.ExpiresAt = &at
	} else {
		req.NoExpiry = true
	}
	nt, err := f.gov.CreatePAT(ctx, f.aliceA, f.acme.ID, f.alice.ID, req)
	if err != nil {
		t.Fatal(err)
	}
	return nt
}

func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestExpiryNoticesAreWrittenOnceAcrossReplicas: three replicas running
// the jobs at the same time, run after run and after a restart, write each
// expiry notice and each expired event exactly once; a PAT within several
// notice days at once gets the notice of the smallest only.
func TestExpiryNoticesAreWrittenOnceAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		govs := f.replicas(t, 3)
		long := f.patExpiring(t, "long", 20*day) // within 30: notice 30
		five := f.patExpiring(t, "five", 5*day)  // within 30 and 7: notice 7 only
		f.patExpiring(t, "half", 12*time.Hour)   // within 30, 7 and 1: notice 1 only
		f.patExpiring(t, "far", 100*day)         // none
		f.patExpiring(t, "never", 0)             // none
		f.events.take()

		if res := runAll(t, govs); res.Notices != 3 || res.Expired != 0 {
			t.Fatalf("first run: %+v", res)
		}
		wantLines(t, "first run", hygieneEvents(t, f, f.acme.ID),
			"long pat.expiry_notice 30", "five pat.expiry_notice 7", "half pat.expiry_notice 1")
		if got := f.events.take(); len(got) != 3 || got[0] != "expiry_notice" {
			t.Fatalf("metric events %q", got)
		}
		// The notice names the PAT's owner and its end.
		for _, e := range eventsSince(t, f, f.acme.ID, time.Time{}) {
			if e.Type == storage.EventPATExpiryNotice && e.PATID == five.ID {
				want := five.ExpiresAt.UTC().Format(time.RFC3339)
				if e.UserID != f.alice.ID || e.Data["expires_at"] != want || e.Data["days"] != "7" {
					t.Fatalf("notice %+v, want user %s expires_at %s", e, f.alice.ID, want)
				}
			}
		}
		// Again, and after a restart (new store handles): nothing new.
		if res := runAll(t, govs); res != (governance.HygieneResult{}) {
			t.Fatalf("second run: %+v", res)
		}
		govs = f.replicas(t, 3)
		if res := runAll(t, govs); res != (governance.HygieneResult{}) {
			t.Fatalf("after a restart: %+v", res)
		}

		// Time passes: each PAT moves down the days and then expires,
		// each step written once.
		f.clock.Advance(2 * day) // half ended 1.5 days ago
		runAll(t, govs)
		f.clock.Advance(3 * day) // five ends now; long has 15 days left
		runAll(t, govs)
		f.clock.Advance(9 * day) // long: 6 days left
		runAll(t, govs)
		f.clock.Advance(5*day + 12*time.Hour) // long: half a day left
		runAll(t, govs)
		f.clock.Advance(day) // long ended
		runAll(t, govs)
		runAll(t, f.replicas(t, 3))
		wantLines(t, "after the PATs expired", hygieneEvents(t, f, f.acme.ID),
			"long pat.expiry_notice 30", "long pat.expiry_notice 7", "long pat.expiry_notice 1", "long pat.expired",
			"five pat.expiry_notice 7", "five pat.expired",
			"half pat.expiry_notice 1", "half pat.expired")
		kinds, err := f.st.(*storage.SQLStore).PATNotices(ctx, long.ID)
		if err != nil || strings.Join(kinds, ",") != "expired,expiry:1,expiry:30,expiry:7" {
			t.Fatalf("long's notices %q %v", kinds, err)
		}
	})
}

// TestExpiryNoticesFollowTheOrganization: the days are the organization's
// (none when it sets none); the end is the earlier of the PAT's expiry and
// the one its maximum lifetime implies; an expiry passed more than
// ExpiredLookback before the job saw it writes no expired event; revoked
// PATs get nothing; a regenerated PAT starts over.
func TestExpiryNoticesFollowTheOrganization(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true,
			ExpiryNoticeDays: []int{14}}); err != nil {
			t.Fatal(err)
		}
		f.patExpiring(t, "ten", 10*day)
		f.patExpiring(t, "twenty", 20*day)
		gone := f.patExpiring(t, "gone", 3*day)
		if _, err := f.gov.RevokeMyPAT(ctx, f.aliceA, gone.ID); err != nil {
			t.Fatal(err)
		}
		old := f.patExpiring(t, "old", 3*day)
		// Globex notifies at none of the days.
		if _, err := f.gov.UpdateSettings(ctx, f.eveA, f.globex.ID, governance.Settings{PATsEnabled: true,
			ExpiryNoticeDays: []int{}}); err != nil {
			t.Fatal(err)
		}
		at := f.clock.Now().Add(2 * day)
		if _, err := f.gov.CreatePAT(ctx, f.eveA, f.globex.ID, f.eve.ID, governance.PATRequest{Name: "g", Scopes: []string{"OR.Jobs"}, ExpiresAt: &at}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.gov.RunHygiene(ctx); err != nil {
			t.Fatal(err)
		}
		wantLines(t, "days 14", hygieneEvents(t, f, f.acme.ID), "ten pat.expiry_notice 14", "old pat.expiry_notice 14")
		wantLines(t, "no days", hygieneEvents(t, f, f.globex.ID))

		// Regenerated, old is a new PAT: its notice is written again.
		if _, err := f.gov.RegenerateMyPAT(ctx, f.aliceA, old.ID, governance.PATRequest{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.gov.RunHygiene(ctx); err != nil {
			t.Fatal(err)
		}
		wantLines(t, "regenerated", hygieneEvents(t, f, f.acme.ID),
			"ten pat.expiry_notice 14", "old pat.expiry_notice 14", "old pat.expiry_notice 14")

		// A maximum lifetime of 12 days ends "twenty" (and the fixture's
		// PAT without expiry) 12 days after creation.
		f.setOrg(t, f.acme, true, 12*day)
		if _, err := f.gov.RunHygiene(ctx); err != nil {
			t.Fatal(err)
		}
		var twentyEnd string
		for _, e := range eventsSince(t, f, f.acme.ID, time.Time{}) {
			if e.Type == storage.EventPATExpiryNotice && e.Data["name"] == "twenty" {
				twentyEnd = e.Data["expires_at"]
			}
		}
		if want := f.acmePAT.CreatedAt.Add(12 * day).Format(time.RFC3339); twentyEnd[:10] != want[:10] {
			t.Fatalf("twenty's notice says it ends %q, want about %q", twentyEnd, want)
		}
		wantLines(t, "maximum lifetime", hygieneEvents(t, f, f.acme.ID),
			"ten pat.expiry_notice 14", "old pat.expiry_notice 14", "old pat.expiry_notice 14",
			"twenty pat.expiry_notice 14", "a pat.expiry_notice 14")

		// Past the lookback, an end writes no expired event.
		f.clock.Advance(ExpiredLookbackAndADay())
		if _, err := f.gov.RunHygiene(ctx); err != nil {
			t.Fatal(err)
		}
		for _, l := range hygieneEvents(t, f, f.acme.ID) {
			if strings.HasSuffix(l, storage.EventPATExpired) {
				t.Fatalf("an expired event for an end past the lookback: %q", l)
			}
		}
	})
}

// ExpiredLookbackAndADay is far enough past every PAT's end in
// TestExpiryNoticesFollowTheOrganization for none to get an expired event.
func ExpiredLookbackAndADay() time.Duration { return 12*day + governance.ExpiredLookback + day }

// TestIdlePATsAreRevoked: under pat_idle_revoke_after, a PAT never used
// since its creation that long ago, or last used that long ago, is revoked
// with reason idle, once, audited by the system and reported as a
// revocation; a PAT used since is kept, and so are expired PATs (they are
// expired, not idle) and every PAT of an organization without the setting.
func TestIdlePATsAreRevoked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		govs := f.replicas(t, 3)
		if _, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true,
			PATIdleRevokeAfter: 30 * day}); err != nil {
			t.Fatal(err)
		}
		used := f.patExpiring(t, "used", 0)
		stale := f.patExpiring(t, "stale", 0)
		ending := f.patExpiring(t, "ending", 20*day)
		start := f.clock.Now()
		// used was used yesterday (day 30), stale on day 0.
		if err := f.st.TouchPATs(ctx, map[string]storage.PATUse{
			used.ID:  {At: start.Add(29 * day), Addr: "192.0.2.1", Client: "cli"},
			stale.ID: {At: start, Addr: "192.0.2.1", Client: "cli"},
		}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(29 * day)
		if res := runAll(t, govs); res.IdleRevoked != 0 {
			t.Fatalf("revoked before the idle time: %+v", res)
		}
		f.clock.Advance(day + time.Minute)
		f.events.take()
		if res := runAll(t, govs); res.IdleRevoked != 2 {
			t.Fatalf("run: %+v, want the never used fixture PAT and stale revoked", res)
		}
		if res := runAll(t, f.replicas(t, 3)); res.IdleRevoked != 0 {
			t.Fatalf("again: %+v", res)
		}
		for _, c := range []struct {
			id      string
			revoked bool
		}{{f.acmePAT.ID, true}, {stale.ID, true}, {used.ID, false}, {ending.ID, false}, {f.evePAT.ID, false}} {
			p, err := f.st.GetPAT(ctx, f.acme.ID, c.id)
			if c.id == f.evePAT.ID {
				p, err = f.st.GetPAT(ctx, f.globex.ID, c.id)
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.RevokedAt != nil) != c.revoked || (c.revoked && p.RevokedReason != governance.IdleReason) {
				t.Fatalf("PAT %s: revoked %v reason %q, want revoked %t", p.Name, p.RevokedAt, p.RevokedReason, c.revoked)
			}
		}
		if got := f.events.take(); !slices.Equal(got, []string{"revoked_idle", "revoked_idle"}) {
			t.Fatalf("metric events %q", got)
		}
		var revokes []string
		for _, e := range f.audit(t, f.acme.ID) {
			if e.Action == "pat.revoke" {
				revokes = append(revokes, e.Target+" "+e.Actor+" "+e.Detail)
			}
		}
		wantLines(t, "audit", revokes, f.acmePAT.ID+" system idle", stale.ID+" system idle")
		var revoked []string
		for _, e := range eventsSince(t, f, f.acme.ID, time.Time{}) {
			if e.Type == storage.EventPATRevoked {
				revoked = append(revoked, e.PATID+" "+e.UserID+" "+e.Data["reason"])
			}
		}
		wantLines(t, "events", revoked, f.acmePAT.ID+" "+f.alice.ID+" idle", stale.ID+" "+f.alice.ID+" idle")
	})
}

// TestHygieneSettingsRules: the days and the idle time follow their rules
// (refused by field name), are shown largest day first, audited from what
// to what, and a nil list of days keeps the current ones.
func TestHygieneSettingsRules(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	s, err := f.gov.Settings(ctx, f.aliceA, f.acme.ID)
	if err != nil || !slices.Equal(s.ExpiryNoticeDays, []int{30, 7, 1}) || s.PATIdleRevokeAfter != 0 {
		t.Fatalf("defaults %+v %v", s, err)
	}
	for _, c := range []struct {
		in    governance.Settings
		field string
	}{
		{governance.Settings{PATsEnabled: true, ExpiryNoticeDays: []int{0}}, "expiry_notice_days"},
		{governance.Settings{PATsEnabled: true, ExpiryNoticeDays: []int{366}}, "expiry_notice_days"},
		{governance.Settings{PATsEnabled: true, ExpiryNoticeDays: []int{1, 2, 3, 4, 5, 6}}, "expiry_notice_days"},
		{governance.Settings{PATsEnabled: true, ExpiryNoticeDays: []int{7, 7}}, "expiry_notice_days"},
		{governance.Settings{PATsEnabled: true, PATIdleRevokeAfter: time.Hour}, "pat_idle_revoke_after"},
		{governance.Settings{PATsEnabled: true, PATIdleRevokeAfter: -day}, "pat_idle_revoke_after"},
	} {
		_, err := f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, c.in)
		wantKind(t, err, governance.Invalid)
		if ge := err.(*governance.Error); ge.Field != c.field {
			t.Fatalf("%+v refused on %q, want %q", c.in, ge.Field, c.field)
		}
	}
	before := len(f.audit(t, f.acme.ID))
	s, err = f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true,
		ExpiryNoticeDays: []int{3, 60}, PATIdleRevokeAfter: 90 * day})
	if err != nil || !slices.Equal(s.ExpiryNoticeDays, []int{60, 3}) || s.PATIdleRevokeAfter != 90*day {
		t.Fatalf("update %+v %v", s, err)
	}
	// nil keeps the days.
	s, err = f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true, PATIdleRevokeAfter: 90 * day})
	if err != nil || !slices.Equal(s.ExpiryNoticeDays, []int{60, 3}) {
		t.Fatalf("nil days %+v %v", s, err)
	}
	s, err = f.gov.UpdateSettings(ctx, f.aliceA, f.acme.ID, governance.Settings{PATsEnabled: true, ExpiryNoticeDays: []int{}})
	if err != nil || len(s.ExpiryNoticeDays) != 0 || s.ExpiryNoticeDays == nil || s.PATIdleRevokeAfter != 0 {
		t.Fatalf("off %+v %v", s, err)
	}
	added := f.audit(t, f.acme.ID)[before:]
	if got := actions(added); len(got) != 2 || added[0].Detail != "expiry_notice_days 30,7,1→60,3, pat_idle_revoke_after 0→90d" ||
		added[1].Detail != "expiry_notice_days 60,3→none, pat_idle_revoke_after 90d→0" {
		t.Fatalf("audit %+v", added)
	}
}
