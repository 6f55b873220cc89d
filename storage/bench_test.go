package storage_test

import (
	"context"
	"crypto/sha256"
	"fmt"
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
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g, err := st.GetPATGrant(ctx, hashes[i%n])
				if err != nil || len(g.Grants) != 3 {
					b.Fatalf("got %+v, %v", g, err)
				}
				i++
			}
		})
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
