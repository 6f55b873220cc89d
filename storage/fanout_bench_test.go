package storage_test

import (
	"context"
	"fmt"
	"testing"

	"authserver/internal/storetest"
	"authserver/storage"
)

// BenchmarkFanOut measures the fan-out of one batch of 100 events (the
// dispatcher's batch) in its transaction, as the dispatcher makes it
// (claim, write, mark, commit), to no destination and to two each: "per-event" calls FanOutEvent for each
// event (a statement per delivery and one per event), "batch" calls
// FanOutEvents once for the batch. Appending the events is not timed.
func BenchmarkFanOut(b *testing.B) {
	const events = 100
	for _, driver := range storetest.Drivers {
		for _, dests := range []int{0, 2} {
			for _, mode := range []string{"per-event", "batch"} {
				b.Run(fmt.Sprintf("%s/dests=%d/%s", driver, dests, mode), func(b *testing.B) {
					ctx := context.Background()
					st := storetest.Open(b, driver)
					o := &storage.Organization{Name: "acme"}
					must(b, st.CreateOrganization(ctx, o))
					ds := []string{"webhook:a", "ssf:b"}[:dests]
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						b.StopTimer()
						must(b, st.WithTx(ctx, func(tx storage.Store) error {
							for range events {
								if err := tx.AppendEvent(ctx, &storage.Event{Type: storage.EventPATRevoked, OrgID: o.ID}); err != nil {
									return err
								}
							}
							return nil
						}))
						b.StartTimer()
						must(b, st.WithTx(ctx, func(tx storage.Store) error {
							es, err := tx.EventsToFanOut(ctx, events)
							if err != nil {
								return err
							}
							if len(es) != events {
								return fmt.Errorf("claimed %d events, want %d", len(es), events)
							}
							if mode == "per-event" {
								for _, e := range es {
									if err := tx.FanOutEvent(ctx, e.ID, ds, e.Time); err != nil {
										return err
									}
								}
								return nil
							}
							fan := make([]storage.FanOut, len(es))
							for i, e := range es {
								fan[i] = storage.FanOut{EventID: e.ID, Destinations: ds}
							}
							return tx.FanOutEvents(ctx, fan, es[0].Time)
						}))
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
				})
			}
		}
	}
}
