package governance_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/storage"
)

// benchNetworkRecords is how many new-network records one iteration of
// BenchmarkRecordNewNetworks writes: a flush of a replica whose exchanges
// are now and then first uses (a busy one with new PATs holds thousands,
// written 500 a transaction).
const benchNetworkRecords = 100

// BenchmarkRecordNewNetworks writes benchNetworkRecords first uses from a
// new network, one per PAT, each iteration from networks none of the PATs
// has seen: one record at a time (RecordNewNetwork, as each flush did
// before batches) against all of them in one call (RecordNewNetworks).
func BenchmarkRecordNewNetworks(b *testing.B) {
	for _, driver := range storetest.Drivers {
		b.Run(driver, func(b *testing.B) {
			b.Run("single", func(b *testing.B) {
				gov, uses := networkBench(b, driver)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					for _, u := range uses {
						ok, err := gov.RecordNewNetwork(ctx, u.Actor, u.OrgID, u.PATID, benchNetwork(i))
						if err != nil || !ok {
							b.Fatalf("record: %v %v", ok, err)
						}
					}
					i++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(uses)), "ns/record")
			})
			b.Run("batch", func(b *testing.B) {
				gov, uses := networkBench(b, driver)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					for j := range uses {
						uses[j].Network = benchNetwork(i)
					}
					n, err := gov.RecordNewNetworks(ctx, uses)
					if err != nil || n != len(uses) {
						b.Fatalf("recorded %d of %d: %v", n, len(uses), err)
					}
					i++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(uses)), "ns/record")
			})
		})
	}
}

// networkBench opens a store with benchNetworkRecords PATs and returns a
// governance service over it and one use of each PAT (without a network).
func networkBench(b *testing.B, driver string) (*governance.Service, []governance.NetworkUse) {
	st := storetest.Open(b, driver)
	bg := context.Background()
	o := &storage.Organization{Name: "acme", PATsEnabled: true}
	if err := st.CreateOrganization(bg, o); err != nil {
		b.Fatal(err)
	}
	u := &storage.User{OrgID: o.ID, Username: "alice"}
	if err := st.CreateUser(bg, u); err != nil {
		b.Fatal(err)
	}
	gov := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](st), PATPrefix: "pat_"})
	uses := make([]governance.NetworkUse, benchNetworkRecords)
	for i := range uses {
		h := sha256.Sum256(fmt.Appendf(nil, "pat_bench_%d", i))
		p := &storage.PAT{OrgID: o.ID, UserID: u.ID, Name: fmt.Sprintf("p%d", i), Scopes: []string{"OR.Jobs"},
			Hash: h[:], Hint: "h"}
		if err := st.CreatePAT(bg, p); err != nil {
			b.Fatal(err)
		}
		uses[i] = governance.NetworkUse{Actor: governance.ClientActor("cli", ""), OrgID: o.ID, PATID: p.ID}
	}
	return gov, uses
}

// benchNetwork is the network of iteration i: a different /24 each time.
func benchNetwork(i int) string { return fmt.Sprintf("10.%d.%d.0/24", i/256%256, i%256) }
