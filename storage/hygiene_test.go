package storage_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/internal/storetest"
	"authserver/storage"
)

// TestHygieneScans: ListPATsEnding selects the PATs whose end — the
// earlier of expires_at and created_at + the maximum lifetime — lies in
// its window, not revoked and without the notice; ListIdlePATs the active
// PATs last used (or created) at or before a time; AddPATNotice records a
// notice once.
func TestHygieneScans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		st := storetest.Open(t, driver)
		o := &storage.Organization{Name: "acme", PATsEnabled: true}
		mustT(t, st.CreateOrganization(ctx, o))
		if !slices.Equal(o.ExpiryNoticeDays, []int{30, 7, 1}) {
			t.Fatalf("default days %v", o.ExpiryNoticeDays)
		}
		u := &storage.User{OrgID: o.ID, Username: "alice"}
		mustT(t, st.CreateUser(ctx, u))
		now := time.Now().UTC().Truncate(time.Microsecond)
		day := 24 * time.Hour
		at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
		pat := func(name string, created time.Duration, expires, used *time.Time, revoked bool) *storage.PAT {
			h := sha256.Sum256([]byte(name))
			p := &storage.PAT{OrgID: o.ID, UserID: u.ID, Name: name, Scopes: []string{"OR.Jobs"}, Hash: h[:], Hint: "h",
				CreatedAt: now.Add(created), ExpiresAt: expires, LastUsedAt: used}
			if revoked {
				p.RevokedAt, p.RevokedReason = at(0), "owner"
			}
			mustT(t, st.CreatePAT(ctx, p))
			return p
		}
		in3 := pat("in3", -day, at(3*day), nil, false)
		pat("in10", -45*day, at(10*day), at(-40*day), false)
		pat("revoked", -day, at(3*day), nil, true)
		pat("never", -20*day, nil, at(-day), false)
		pat("gone", -50*day, at(-2*day), nil, false)

		names := func(list []storage.PAT) []string {
			var out []string
			for _, p := range list {
				out = append(out, p.Name)
			}
			slices.Sort(out)
			return out
		}
		ending := func(after, until time.Duration, max time.Duration, kind string) []string {
			t.Helper()
			list, err := st.ListPATsEnding(ctx, storage.EndingFilter{OrgID: o.ID, MaxLifetime: max, After: now.Add(after),
				Until: now.Add(until), WithoutNotice: kind, Limit: 100})
			mustT(t, err)
			return names(list)
		}
		if got := ending(0, 7*day, 0, "expiry:7"); !slices.Equal(got, []string{"in3"}) {
			t.Fatalf("(0, 7d]: %v", got)
		}
		if got := ending(7*day, 30*day, 0, "expiry:30"); !slices.Equal(got, []string{"in10"}) {
			t.Fatalf("(7d, 30d]: %v", got)
		}
		// A maximum of 25 days ends "never" (created 20 days ago) in 5.
		if got := ending(0, 7*day, 25*day, "expiry:7"); !slices.Equal(got, []string{"in3", "never"}) {
			t.Fatalf("(0, 7d] under a maximum: %v", got)
		}
		if got := ending(-7*day, 0, 0, "expired"); !slices.Equal(got, []string{"gone"}) {
			t.Fatalf("expired: %v", got)
		}
		// A notice recorded takes the PAT out, once.
		first, err := st.AddPATNotice(ctx, in3.ID, "expiry:7", now)
		mustT(t, err)
		again, err := st.AddPATNotice(ctx, in3.ID, "expiry:7", now)
		mustT(t, err)
		if !first || again {
			t.Fatalf("AddPATNotice: first %t, again %t", first, again)
		}
		if got := ending(0, 7*day, 0, "expiry:7"); len(got) != 0 {
			t.Fatalf("after the notice: %v", got)
		}
		if kinds, err := st.PATNotices(ctx, in3.ID); err != nil || !slices.Equal(kinds, []string{"expiry:7"}) {
			t.Fatalf("notices %v %v", kinds, err)
		}

		idle := func(since time.Duration, max time.Duration) []string {
			t.Helper()
			list, err := st.ListIdlePATs(ctx, storage.IdleFilter{OrgID: o.ID, MaxLifetime: max, Now: now, IdleSince: now.Add(since), Limit: 100})
			mustT(t, err)
			return names(list)
		}
		// in10 was created 45 days ago and last used 40 days ago; in3
		// never, created a day ago;
		// never used yesterday; gone has expired; revoked is revoked.
		if got := idle(-30*day, 0); !slices.Equal(got, []string{"in10"}) {
			t.Fatalf("idle 30d: %v", got)
		}
		if got := idle(-12*time.Hour, 0); !slices.Equal(got, []string{"in10", "in3", "never"}) {
			t.Fatalf("idle 12h: %v", got)
		}
		// Under a maximum of 10 days, "never" (20 days old) and in10 (45)
		// have expired.
		if got := idle(-12*time.Hour, 10*day); !slices.Equal(got, []string{"in3"}) {
			t.Fatalf("idle 12h under a maximum: %v", got)
		}
	})
}

// TestHygieneScansUseIndexes: the scans read the partial indexes of the
// PATs that are not revoked, never the whole pats table.
func TestHygieneScansUseIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		st := storetest.Open(t, driver)
		o := &storage.Organization{Name: "acme", PATsEnabled: true}
		mustT(t, st.CreateOrganization(ctx, o))
		other := &storage.Organization{Name: "other", PATsEnabled: true}
		mustT(t, st.CreateOrganization(ctx, other))
		u := &storage.User{OrgID: o.ID, Username: "alice"}
		mustT(t, st.CreateUser(ctx, u))
		db := st.DB()
		if driver == storage.DriverPostgres {
			// 60 000 PATs, half revoked, expiring over three years, used
			// over a year: the shape under which a scan would be slow.
			_, err := db.ExecContext(ctx, `INSERT INTO pats (id, org_id, user_id, name, scopes, token_hash, hint, created_at,
				expires_at, last_used_at, revoked_at, revoked_reason)
				SELECT 'p' || g, $1, $2, 'n' || g, 'OR.Jobs', sha256(('h' || g)::bytea), 'h', now() - (g % 400) * interval '1 day',
				  now() + (g % 1000) * interval '1 day',
				  CASE WHEN g % 3 = 0 THEN NULL ELSE now() - (g % 365) * interval '1 day' END,
				  CASE WHEN g % 2 = 0 THEN now() ELSE NULL END, ''
				FROM generate_series(1, 60000) g`, o.ID, u.ID)
			mustT(t, err)
			_, err = db.ExecContext(ctx, `ANALYZE`)
			mustT(t, err)
		}
		now := time.Now()
		for _, max := range []time.Duration{0, 90 * 24 * time.Hour} {
			endingQ, endingArgs, idleQ, idleArgs := storage.HygieneQueries(st,
				storage.EndingFilter{OrgID: o.ID, MaxLifetime: max, After: now, Until: now.Add(7 * 24 * time.Hour), WithoutNotice: "expiry:7", Limit: 100},
				storage.IdleFilter{OrgID: o.ID, MaxLifetime: max, Now: now, IdleSince: now.Add(-90 * 24 * time.Hour), Limit: 100})
			for _, c := range []struct {
				name, query string
				args        []any
			}{{"ending", endingQ, endingArgs}, {"idle", idleQ, idleArgs}} {
				explain := "EXPLAIN QUERY PLAN "
				if driver == storage.DriverPostgres {
					explain = "EXPLAIN "
				}
				rows, err := db.QueryContext(ctx, explain+c.query, c.args...)
				mustT(t, err)
				var plan []string
				for rows.Next() {
					cols, err := rows.Columns()
					mustT(t, err)
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					mustT(t, rows.Scan(ptrs...))
					plan = append(plan, fmt.Sprint(vals...))
				}
				mustT(t, rows.Err())
				rows.Close()
				text := strings.Join(plan, "\n")
				if !strings.Contains(text, "pats_live_") || strings.Contains(text, "Seq Scan on pats") ||
					strings.Contains(text, "SCAN p\n") || strings.HasSuffix(text, "SCAN p") || strings.Contains(text, "SCAN pats\n") || strings.HasSuffix(text, "SCAN pats") {
					t.Fatalf("%s (maximum %v) does not read the pats_live_ indexes:\n%s", c.name, max, text)
				}
				t.Logf("%s (maximum %v):\n%s", c.name, max, text)
			}
		}
	})
}
