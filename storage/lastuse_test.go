package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authserver/internal/storetest"
	"authserver/storage"
)

// TestTouchPATsIsHeapOnlyUpdate: on PostgreSQL the last-use write changes
// no indexed column and finds room on the row's own page, so it is a
// heap-only (HOT) update that writes no index entry, also for PATs used
// for the first time (rows written once, as a large table's mostly are).
// One flush writes a few PATs of each page, as the uses of a large table
// fall (a page's free space holds several row versions, not all of its
// rows: a flush that writes every row of a page in one statement fills it,
// and PostgreSQL reclaims the old versions only after it ends).
func TestTouchPATsIsHeapOnlyUpdate(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storage.DriverPostgres)
	o := &storage.Organization{Name: "acme", PATsEnabled: true}
	mustT(t, st.CreateOrganization(ctx, o))
	u := &storage.User{OrgID: o.ID, Username: "alice"}
	mustT(t, st.CreateUser(ctx, u))
	db := st.DB()
	const n = 3000
	_, err := db.ExecContext(ctx, `INSERT INTO pats (id, org_id, user_id, name, scopes, token_hash, hint, created_at, revoked_reason)
		SELECT 'p' || g, $1, $2, 'n' || g, 'OR.Jobs', sha256(('h' || g)::bytea), 'h', now() - interval '1 day', ''
		FROM generate_series(1, $3::int) g`, o.ID, u.ID, n)
	mustT(t, err)
	used := make(map[string]storage.PATUse, n/10)
	at := time.Now()
	for i := 1; i <= n; i += 10 {
		used[fmt.Sprintf("p%d", i)] = storage.PATUse{At: at, Addr: "203.0.113.7", Client: "cli"}
	}
	mustT(t, st.TouchPATs(ctx, used))
	// A backend reports its table statistics when it ends: close the
	// pool's idle connections, then wait for the counts to arrive.
	db.SetMaxIdleConns(0)
	db.SetMaxIdleConns(2)
	var upd, hot int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		mustT(t, db.QueryRowContext(ctx, `SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'pats'`).Scan(&upd, &hot))
		if upd >= n/10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if upd != n/10 {
		t.Fatalf("%d updates of pats counted, want %d", upd, n/10)
	}
	if hot < upd*95/100 {
		t.Fatalf("%d of %d last-use writes were heap-only updates, want at least 95 %%", hot, upd)
	}
	t.Logf("%d of %d last-use writes were heap-only updates", hot, upd)
}
