package storage_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"

	"authserver/internal/storetest"
	"authserver/storage"
)

// batchFixture opens a store on driver that batches PAT reads with at most
// one query in flight, so that a test can hold that query and make the
// next reads wait, and fills it with n PATs of one user; it returns the
// store, the hashes and the organization id.
func batchFixture(t *testing.T, driver string, n, maxBatch int) (*storage.SQLStore, [][]byte, string) {
	t.Helper()
	ctx := context.Background()
	st := openMigrated(t, storage.Options{Driver: driver, DSN: storetest.DSN(t, driver), PATGrantBatch: maxBatch, PATGrantQueries: 1})
	o := &storage.Organization{Name: "acme", PATsEnabled: true}
	mustT(t, st.CreateOrganization(ctx, o))
	u := &storage.User{OrgID: o.ID, Username: "alice"}
	mustT(t, st.CreateUser(ctx, u))
	r := &storage.Role{OrgID: o.ID, Name: "dev", Permissions: []string{"OR.Jobs"}}
	mustT(t, st.CreateRole(ctx, r))
	mustT(t, st.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: o.ID, UserID: u.ID, RoleID: r.ID, Folder: "Finance"}))
	hashes := make([][]byte, n)
	for i := range n {
		h := sha256.Sum256(fmt.Appendf(nil, "batch-token-%d", i))
		hashes[i] = h[:]
		mustT(t, st.CreatePAT(ctx, &storage.PAT{OrgID: o.ID, UserID: u.ID, Name: fmt.Sprint(i), Scopes: []string{"OR.Jobs"},
			Hash: hashes[i], Hint: "h"}))
	}
	return st, hashes, o.ID
}

func mustT(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// gates holds queries in their slot: the i-th query to return waits until
// the test opens gate i (queries beyond the gates pass). entered tells
// which query reached its gate.
type gates struct {
	n       atomic.Int32
	open    []chan struct{}
	entered chan int
}

func newGates(n int) *gates {
	g := &gates{entered: make(chan int, 16)}
	for range n {
		g.open = append(g.open, make(chan struct{}))
	}
	return g
}

func (g *gates) hook() {
	i := int(g.n.Add(1)) - 1
	if i < len(g.open) {
		g.entered <- i
		<-g.open[i]
	}
}

// waitFor waits for cond, polling, or fails the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type readResult struct {
	g   *storage.PATGrant
	err error
}

// readAsync reads hash in a goroutine.
func readAsync(ctx context.Context, st *storage.SQLStore, hash []byte) chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		g, err := st.GetPATGrant(ctx, hash)
		ch <- readResult{g, err}
	}()
	return ch
}

func TestPATReadsShareQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st, hashes, _ := batchFixture(t, driver, 30, 8)
		g := newGates(1)
		storage.SetPATGrantHooks(st, g.hook, nil)
		ctx := context.Background()
		first := readAsync(ctx, st, hashes[0])
		<-g.entered
		// 20 reads arrive while the first is in flight: they wait, then
		// go in batches of at most 8 (with one repeated hash).
		var waiting []chan readResult
		want := append(hashes[1:20:20], hashes[1])
		for _, h := range want {
			waiting = append(waiting, readAsync(ctx, st, h))
		}
		waitFor(t, "20 waiting reads", func() bool { return storage.PendingPATGrantReads(st) == 20 })
		close(g.open[0])
		if r := <-first; r.err != nil || string(r.g.PAT.Hash) != string(hashes[0]) {
			t.Fatalf("first read: %+v, %v", r.g, r.err)
		}
		for i, ch := range waiting {
			r := <-ch
			if r.err != nil || string(r.g.PAT.Hash) != string(want[i]) || len(r.g.Grants) != 1 || r.g.Grants[0].Folder != "Finance" {
				t.Fatalf("read %d: %+v, %v", i, r.g, r.err)
			}
		}
		reads, queries := st.PATGrantReads()
		if reads != 21 || queries != 1+3 {
			t.Fatalf("%d reads in %d queries, want 21 in 4 (one alone, then 8 + 8 + 4)", reads, queries)
		}
		// Nothing in flight: a lone read goes at once, alone.
		if _, err := st.GetPATGrant(ctx, hashes[25]); err != nil {
			t.Fatal(err)
		}
		if _, q := st.PATGrantReads(); q != 5 {
			t.Fatalf("a lone read: %d queries in all, want 5", q)
		}
	})
}

// TestPATReadStartsAfterItsExchangeArrived: a read that arrives while
// another read of the same PAT is in flight never takes that read's
// answer. The PAT is revoked (committed) after the first read was answered
// by the database and before the second arrives: the second must see it
// revoked. Both when the read in flight is a caller's own and when it is a
// batch.
func TestPATReadStartsAfterItsExchangeArrived(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		for _, inFlight := range []string{"direct", "batch"} {
			t.Run(inFlight, func(t *testing.T) {
				st, hashes, orgID := batchFixture(t, driver, 3, 8)
				ctx := context.Background()
				target := hashes[1]
				p, err := st.GetPATByHash(ctx, target)
				mustT(t, err)
				g := newGates(2)
				storage.SetPATGrantHooks(st, g.hook, nil)
				var before chan readResult
				if inFlight == "direct" {
					before = readAsync(ctx, st, target)
					<-g.entered // answered by the database, not yet by the store
				} else {
					other := readAsync(ctx, st, hashes[0])
					<-g.entered
					before = readAsync(ctx, st, target)
					waitFor(t, "a waiting read", func() bool { return storage.PendingPATGrantReads(st) == 1 })
					close(g.open[0])
					if r := <-other; r.err != nil {
						t.Fatal(r.err)
					}
					<-g.entered // the batch holding the target, answered by the database
				}
				if _, err := st.RevokePAT(ctx, orgID, p.ID, time.Now(), "admin"); err != nil {
					t.Fatal(err)
				}
				after := readAsync(ctx, st, target)
				waitFor(t, "the read after the revocation to wait", func() bool { return storage.PendingPATGrantReads(st) == 1 })
				close(g.open[len(g.open)-1])
				if inFlight == "direct" {
					close(g.open[0])
				}
				if r := <-before; r.err != nil || r.g.PAT.RevokedAt != nil {
					t.Fatalf("the read in flight before the revocation: %+v, %v", r.g, r.err)
				}
				if r := <-after; r.err != nil || r.g.PAT.RevokedAt == nil {
					t.Fatalf("a read that arrived after the revocation was committed got an unrevoked PAT: %+v, %v", r.g, r.err)
				}
			})
		}
	})
}

func TestPATReadWaiterContext(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st, hashes, _ := batchFixture(t, driver, 4, 8)
		goroutines := runtime.NumGoroutine()
		g := newGates(1)
		storage.SetPATGrantHooks(st, g.hook, nil)
		first := readAsync(context.Background(), st, hashes[0])
		<-g.entered

		canceled, cancel := context.WithCancel(context.Background())
		timed, cancelTimed := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancelTimed()
		gone := readAsync(canceled, st, hashes[1])
		late := readAsync(timed, st, hashes[2])
		kept := readAsync(context.Background(), st, hashes[3])
		waitFor(t, "three waiting reads", func() bool { return storage.PendingPATGrantReads(st) == 3 })
		start := time.Now()
		cancel()
		if r := <-gone; !errors.Is(r.err, context.Canceled) || r.g != nil {
			t.Fatalf("a canceled waiter: %+v, %v", r.g, r.err)
		}
		if r := <-late; !errors.Is(r.err, storage.ErrUnavailable) || r.g != nil {
			t.Fatalf("a waiter past its deadline: %+v, %v (want unavailable)", r.g, r.err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("waiters whose contexts ended took %s to return", d)
		}
		close(g.open[0])
		if r := <-first; r.err != nil {
			t.Fatal(r.err)
		}
		if r := <-kept; r.err != nil || string(r.g.PAT.Hash) != string(hashes[3]) {
			t.Fatalf("the waiter that stayed: %+v, %v", r.g, r.err)
		}
		// The batch left out the waiters that had gone: the one read that
		// stayed went alone.
		if reads, queries := st.PATGrantReads(); reads != 4 || queries != 2 {
			t.Fatalf("%d reads in %d queries, want 4 in 2", reads, queries)
		}
		waitFor(t, "the batch's goroutines to end", func() bool { return runtime.NumGoroutine() <= goroutines })
	})
}

func TestPATReadBatchErrorReachesEveryWaiter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st, hashes, _ := batchFixture(t, driver, 6, 8)
		g := newGates(1)
		injected := fmt.Errorf("get pat grants: %w: injected", storage.ErrUnavailable)
		var fail atomic.Bool
		fail.Store(true)
		real := storage.PATGrantBatchQuery(st)
		storage.SetPATGrantHooks(st, g.hook, func(ctx context.Context, h [][]byte) (map[string]*storage.PATGrant, error) {
			if fail.Load() {
				return nil, injected
			}
			return real(ctx, h)
		})
		ctx := context.Background()
		first := readAsync(ctx, st, hashes[0])
		<-g.entered
		var waiting []chan readResult
		for _, h := range hashes[1:] {
			waiting = append(waiting, readAsync(ctx, st, h))
		}
		waitFor(t, "five waiting reads", func() bool { return storage.PendingPATGrantReads(st) == 5 })
		close(g.open[0])
		if r := <-first; r.err != nil {
			t.Fatalf("the read before the fault: %v", r.err)
		}
		for i, ch := range waiting {
			if r := <-ch; !errors.Is(r.err, storage.ErrUnavailable) || r.g != nil {
				t.Fatalf("waiter %d: %+v, %v (want the batch's error)", i, r.g, r.err)
			}
		}
		fail.Store(false)
		if _, err := st.GetPATGrant(ctx, hashes[1]); err != nil {
			t.Fatalf("after the fault: %v", err)
		}
	})
}

// TestPATReadsUnderContention: many callers at once through small
// batches, one query in flight; every caller gets its own PAT (run with
// -race).
func TestPATReadsUnderContention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st, hashes, _ := batchFixture(t, driver, 50, 4)
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for c := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 30 {
					h := hashes[(c*3+i*7)%len(hashes)]
					g, err := st.GetPATGrant(ctx, h)
					if err != nil || string(g.PAT.Hash) != string(h) {
						errs <- fmt.Errorf("caller %d read %d: %+v, %v", c, i, g, err)
						return
					}
					g.Grants[0].Permissions[0] = "mine"
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		reads, queries := st.PATGrantReads()
		t.Logf("%s: %d reads in %d queries", driver, reads, queries)
		if reads != 64*30 || queries > reads {
			t.Fatalf("%d reads in %d queries", reads, queries)
		}
	})
}

// TestPATBatchPlanUsesIndexes: the batch query is a prepared statement,
// which PostgreSQL soon runs with a generic plan that does not know the
// hashes. That plan must still look every PAT and its owner up by index,
// not hash or scan the whole users or PATs table.
func TestPATBatchPlanUsesIndexes(t *testing.T) {
	st, _, orgID := batchFixture(t, storage.DriverPostgres, 50, 8)
	ctx := context.Background()
	db := st.DB()
	// A realistic shape: 2 000 PATs over 400 users.
	mustT(t, st.WithTx(ctx, func(tx storage.Store) error {
		for i := range 400 {
			u := &storage.User{OrgID: orgID, Username: fmt.Sprintf("user-%d", i)}
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			for j := range 5 {
				h := sha256.Sum256(fmt.Appendf(nil, "plan-%d-%d", i, j))
				if err := tx.CreatePAT(ctx, &storage.PAT{OrgID: orgID, UserID: u.ID, Name: fmt.Sprint(j), Scopes: []string{"OR.Jobs"},
					Hash: h[:], Hint: "h"}); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	_, err := db.ExecContext(ctx, `ANALYZE`)
	mustT(t, err)
	conn, err := db.Conn(ctx)
	mustT(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, `SET plan_cache_mode = force_generic_plan`)
	mustT(t, err)
	_, err = conn.ExecContext(ctx, `PREPARE batch(bytea[]) AS `+storage.PATGrantBatchSQL(st, 3))
	mustT(t, err)
	rows, err := conn.QueryContext(ctx, `EXPLAIN EXECUTE batch(ARRAY[sha256('a'), sha256('b'), sha256('c')])`)
	mustT(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		mustT(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	mustT(t, rows.Err())
	text := strings.Join(plan, "\n")
	for _, bad := range []string{"Seq Scan on users", "Seq Scan on pats", "Hash Cond: (p.user_id = u.id)", "Merge Cond"} {
		if strings.Contains(text, bad) {
			t.Fatalf("the generic plan of the batch query has %q:\n%s", bad, text)
		}
	}
	if !strings.Contains(text, "Index Scan using pats_token_hash_key") {
		t.Fatalf("the generic plan does not look PATs up by hash:\n%s", text)
	}
}

// TestPATBatchKeepsOneGenericPlan: PostgreSQL plans a prepared statement
// for its first five executions and then keeps a generic plan only if that
// costs no more than the custom ones did. The batch query must qualify,
// whatever the sizes of the batches, or each batch pays for planning anew,
// which costs the database more than running it.
func TestPATBatchKeepsOneGenericPlan(t *testing.T) {
	st, hashes, _ := batchFixture(t, storage.DriverPostgres, 64, 8)
	ctx := context.Background()
	db := st.DB()
	_, err := db.ExecContext(ctx, `ANALYZE`)
	mustT(t, err)
	conn, err := db.Conn(ctx)
	mustT(t, err)
	defer conn.Close()
	stmt, err := conn.PrepareContext(ctx, storage.PATGrantBatchSQL(st, 3))
	mustT(t, err)
	defer stmt.Close()
	sizes := []int{3, 2, 4, 3, 8, 2, 64, 3, 5, 16, 3, 2, 40, 4, 3}
	for _, n := range sizes {
		rows, err := stmt.QueryContext(ctx, pq.ByteaArray(hashes[:n]))
		mustT(t, err)
		got := 0
		for rows.Next() {
			got++
		}
		mustT(t, rows.Err())
		rows.Close()
		if got != n {
			t.Fatalf("batch of %d: %d rows", n, got)
		}
	}
	var generic, custom int64
	mustT(t, conn.QueryRowContext(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%CROSS JOIN LATERAL%'`).Scan(&generic, &custom))
	if custom > 5 || generic != int64(len(sizes))-custom {
		t.Fatalf("%d custom plans and %d generic ones in %d executions; want the generic plan kept after 5", custom, generic, len(sizes))
	}
}
