package storage_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"authserver/internal/storetest"
	"authserver/storage"
)

// BenchmarkGetPATGrant measures the one read every exchange makes: a PAT by
// its hash with its owner, organization and the owner's three role
// assignments, among 2 000 PATs.
func BenchmarkGetPATGrant(b *testing.B) {
	benchGetPATGrant(b, context.Background)
}

// BenchmarkGetPATGrantRequestContext is BenchmarkGetPATGrant with a
// cancelable caller context, as every HTTP request has: with one, lib/pq
// and database/sql run a watcher goroutine per query whatever the store
// does, so this is the read as the server makes it.
func BenchmarkGetPATGrantRequestContext(b *testing.B) {
	benchGetPATGrant(b, func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		return ctx
	})
}

// benchGetPATGrant runs the read on every driver with the caller context
// newCtx returns.
func benchGetPATGrant(b *testing.B, newCtx func() context.Context) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			ctx := newCtx()
			st := storetest.Open(b, driver)
			hashes := grantBenchPATs(b, st)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g, err := st.GetPATGrant(ctx, hashes[i%len(hashes)])
				if err != nil || len(g.Grants) != 3 {
					b.Fatalf("got %+v, %v", g, err)
				}
				i++
			}
		})
	}
}

// grantBenchPATs fills st with 2 000 PATs of one user who holds three
// role assignments, and returns their hashes.
func grantBenchPATs(b *testing.B, st *storage.SQLStore) [][]byte {
	ctx := context.Background()
	o := &storage.Organization{Name: "acme", PATsEnabled: true}
	must(b, st.CreateOrganization(ctx, o))
	u := &storage.User{OrgID: o.ID, Username: "alice"}
	must(b, st.CreateUser(ctx, u))
	for i, folder := range []string{"", "Finance", "Ops/Prod"} {
		r := &storage.Role{OrgID: o.ID, Name: fmt.Sprintf("r%d", i), Permissions: []string{"OR.Jobs", "OR.Execution.Read"}}
		must(b, st.CreateRole(ctx, r))
		must(b, st.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: o.ID, UserID: u.ID, RoleID: r.ID, Folder: folder}))
	}
	const n = 2000
	hashes := make([][]byte, n)
	must(b, st.WithTx(ctx, func(tx storage.Store) error {
		for i := range n {
			h := sha256.Sum256(fmt.Appendf(nil, "token-%d", i))
			hashes[i] = h[:]
			if err := tx.CreatePAT(ctx, &storage.PAT{OrgID: o.ID, UserID: u.ID, Name: fmt.Sprint(i),
				Scopes: []string{"OR.Jobs"}, Hash: hashes[i], Hint: "h", CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	}))
	return hashes
}

// BenchmarkGetPATGrantParallel is the read of 16 concurrent exchanges
// (8 goroutines per CPU), each with a request's cancelable context, with
// every read its own query ("direct") and with concurrent reads sharing
// queries ("batched", the default on PostgreSQL). queries/read is how many
// queries each read cost.
func BenchmarkGetPATGrantParallel(b *testing.B) {
	for _, driver := range storetest.Drivers {
		for _, mode := range []struct {
			name  string
			batch int
		}{{"direct", 1}, {"batched", storage.DefaultPATGrantBatch}} {
			b.Run(driver+"/"+mode.name, func(b *testing.B) {
				st, err := storage.Open(context.Background(), storage.Options{Driver: driver, DSN: storetest.DSN(b, driver), PATGrantBatch: mode.batch})
				must(b, err)
				b.Cleanup(func() { st.Close() })
				_, err = st.Migrate(context.Background())
				must(b, err)
				hashes := grantBenchPATs(b, st)
				reads0, queries0 := st.PATGrantReads()
				var next atomic.Int64
				b.ReportAllocs()
				b.SetParallelism(8)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					for pb.Next() {
						g, err := st.GetPATGrant(ctx, hashes[next.Add(1)%int64(len(hashes))])
						if err != nil || len(g.Grants) != 3 {
							b.Errorf("got %+v, %v", g, err)
							return
						}
					}
				})
				b.StopTimer()
				if reads, queries := st.PATGrantReads(); reads > reads0 {
					b.ReportMetric(float64(queries-queries0)/float64(reads-reads0), "queries/read")
				} else {
					b.ReportMetric(1, "queries/read")
				}
			})
		}
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
