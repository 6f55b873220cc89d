package conformance

import (
	"slices"
	"sync"
	"testing"
	"time"

	"authserver/storage"
)

func event(t *testing.T, s storage.Store, o *storage.Organization, at time.Time) storage.Event {
	t.Helper()
	e := storage.Event{Type: storage.EventPATCreated, Time: at, OrgID: o.ID, Data: map[string]string{"name": "ci"}}
	must(t, s.AppendEvent(ctx, &e))
	return e
}

func eventIDs(es []storage.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// fanOut fans every pending event out to dests, as the dispatcher does.
func fanOut(t *testing.T, s storage.Store, at time.Time, dests ...string) []storage.Event {
	t.Helper()
	var got []storage.Event
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		es, err := tx.EventsToFanOut(ctx, 100)
		if err != nil {
			return err
		}
		fan := make([]storage.FanOut, len(es))
		for i, e := range es {
			fan[i] = storage.FanOut{EventID: e.ID, Destinations: dests}
		}
		if err := tx.FanOutEvents(ctx, fan, at); err != nil {
			return err
		}
		got = es
		return nil
	}))
	return got
}

func testFanOut(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	a := event(t, s, o, base)
	b := event(t, s, o, base.Add(time.Second))
	if _, err := s.EventsToFanOut(ctx, 10); err == nil {
		t.Fatal("EventsToFanOut outside a transaction worked")
	}
	got := fanOut(t, s, base.Add(time.Minute), "webhook:w1", "ssf:r1")
	if !slices.Equal(eventIDs(got), []string{a.ID, b.ID}) || got[0].Data["name"] != "ci" {
		t.Fatalf("fanned out %v, want %s then %s with their data", got, a.ID, b.ID)
	}
	if again := fanOut(t, s, base.Add(time.Minute)); len(again) != 0 {
		t.Fatalf("an event fanned out twice: %v", again)
	}
	ds, err := s.ListDeliveries(ctx, a.ID)
	must(t, err)
	if len(ds) != 2 || ds[0].Destination != "ssf:r1" || ds[1].Destination != "webhook:w1" || ds[0].Attempts != 0 {
		t.Fatalf("deliveries: %+v", ds)
	}
	sameTime(t, "due", ds[0].NextAt, base.Add(time.Minute))
	// An event no sink wants is fanned out to nothing and stays done.
	c := event(t, s, o, base.Add(2*time.Second))
	if got := fanOut(t, s, base.Add(time.Minute)); len(got) != 1 || got[0].ID != c.ID {
		t.Fatalf("fanned out %v, want only the new event", got)
	}
}

// testFanOutSkipsClaimed: an event held by one fan-out transaction is not
// given to another one (PostgreSQL skips the locked row; SQLite makes the
// second wait for the first, which fans it out).
func testFanOutSkipsClaimed(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	a := event(t, s, o, base)
	b := event(t, s, o, base.Add(time.Second))
	held := make(chan struct{})
	release := make(chan struct{})
	var second []storage.Event
	var secondErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		<-held
		secondErr = s.WithTx(ctx, func(tx storage.Store) error {
			es, err := tx.EventsToFanOut(ctx, 10)
			if err != nil {
				return err
			}
			second = es
			fan := make([]storage.FanOut, len(es))
			for i, e := range es {
				fan[i] = storage.FanOut{EventID: e.ID, Destinations: []string{"webhook:w"}}
			}
			return tx.FanOutEvents(ctx, fan, base)
		})
	})
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		es, err := tx.EventsToFanOut(ctx, 1)
		if err != nil {
			return err
		}
		if len(es) != 1 || es[0].ID != a.ID {
			t.Errorf("first claim: %v", eventIDs(es))
		}
		close(held)
		time.Sleep(100 * time.Millisecond) // the second claimer runs into the held row meanwhile
		close(release)
		return tx.FanOutEvent(ctx, a.ID, []string{"webhook:w"}, base)
	}))
	<-release
	wg.Wait()
	must(t, secondErr)
	if !slices.Equal(eventIDs(second), []string{b.ID}) {
		t.Fatalf("second claim got %v, want only %s", eventIDs(second), b.ID)
	}
}

// testFanOutEvents: one call writes exactly the deliveries of a batch,
// each due at the given time with no attempt yet, and marks exactly its
// events; an event with no destination is marked with no delivery.
func testFanOutEvents(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	a := event(t, s, o, base)
	b := event(t, s, o, base.Add(time.Second))
	c := event(t, s, o, base.Add(2*time.Second))
	left := event(t, s, o, base.Add(3*time.Second))
	at := base.Add(time.Minute)
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		es, err := tx.EventsToFanOut(ctx, 3)
		if err != nil {
			return err
		}
		if !slices.Equal(eventIDs(es), []string{a.ID, b.ID, c.ID}) {
			t.Errorf("claimed %v", eventIDs(es))
		}
		return tx.FanOutEvents(ctx, []storage.FanOut{
			{EventID: a.ID, Destinations: []string{"webhook:w1", "ssf:r1"}},
			{EventID: b.ID},
			{EventID: c.ID, Destinations: []string{"webhook:w2"}},
		}, at)
	}))
	want := map[string][]string{a.ID: {"ssf:r1", "webhook:w1"}, b.ID: nil, c.ID: {"webhook:w2"}, left.ID: nil}
	for id, dests := range want {
		ds, err := s.ListDeliveries(ctx, id)
		must(t, err)
		var got []string
		for _, d := range ds {
			got = append(got, d.Destination)
			if d.EventID != id || d.Attempts != 0 || d.LeaseUntil != nil || d.DeliveredAt != nil || d.GaveUpAt != nil ||
				d.LastError != "" {
				t.Fatalf("delivery of %s: %+v", id, d)
			}
			sameTime(t, "due", d.NextAt, at)
			sameTime(t, "created", d.CreatedAt, at)
		}
		if !slices.Equal(got, dests) {
			t.Fatalf("deliveries of %s: %v, want %v", id, got, dests)
		}
	}
	st, err := s.OutboxStats(ctx)
	must(t, err)
	if st.Unfanned != 1 || st.Undelivered != 3 {
		t.Fatalf("stats: %+v", st)
	}
	// Only the event left out is still waiting.
	if got := fanOut(t, s, at); !slices.Equal(eventIDs(got), []string{left.ID}) {
		t.Fatalf("then fanned out %v, want only %s", eventIDs(got), left.ID)
	}
	must(t, s.FanOutEvents(ctx, nil, at))
}

// testFanOutEventsRefusesFannedOut: a batch holding an event fanned out
// already, or one that does not exist, fails, and none of it is written:
// neither in the caller's transaction nor in the call's own.
func testFanOutEventsRefusesFannedOut(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	done := event(t, s, o, base)
	fanOut(t, s, base, "webhook:w")
	b := event(t, s, o, base.Add(time.Second))
	c := event(t, s, o, base.Add(2*time.Second))
	at := base.Add(time.Minute)
	check := func(what string) {
		t.Helper()
		for _, id := range []string{b.ID, c.ID} {
			if ds, err := s.ListDeliveries(ctx, id); err != nil || len(ds) != 0 {
				t.Fatalf("%s: deliveries of %s written: %+v %v", what, id, ds, err)
			}
		}
		if ds, err := s.ListDeliveries(ctx, done.ID); err != nil || len(ds) != 1 {
			t.Fatalf("%s: deliveries of the done event: %+v %v", what, ds, err)
		}
		st, err := s.OutboxStats(ctx)
		must(t, err)
		if st.Unfanned != 2 || st.Undelivered != 1 {
			t.Fatalf("%s: stats %+v", what, st)
		}
	}
	for _, other := range []string{done.ID, "no-such-event"} {
		batch := []storage.FanOut{
			{EventID: b.ID, Destinations: []string{"webhook:w"}},
			{EventID: other, Destinations: []string{"webhook:x"}},
			{EventID: c.ID, Destinations: []string{"webhook:w"}},
		}
		err := s.WithTx(ctx, func(tx storage.Store) error {
			if _, err := tx.EventsToFanOut(ctx, 10); err != nil {
				return err
			}
			return tx.FanOutEvents(ctx, batch, at)
		})
		wantErr(t, err, storage.ErrNotFound)
		check("in a transaction")
		wantErr(t, s.FanOutEvents(ctx, batch, at), storage.ErrNotFound)
		check("on its own")
	}
	// The same event twice in one batch is refused too.
	wantErr(t, s.FanOutEvents(ctx, []storage.FanOut{{EventID: b.ID}, {EventID: b.ID}}, at), storage.ErrNotFound)
	check("twice")
}

// testFanOutEventsLarge: a batch larger than one statement's share
// (SQLite writes and marks a bounded number of rows per statement) is
// written and marked whole.
func testFanOutEventsLarge(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	const n = 1500
	dests := []string{"webhook:a", "webhook:b", "ssf:c"}
	ids := make([]string, n)
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		for i := range n {
			e := storage.Event{Type: storage.EventPATRevoked, Time: base.Add(time.Duration(i) * time.Millisecond), OrgID: o.ID}
			if err := tx.AppendEvent(ctx, &e); err != nil {
				return err
			}
			ids[i] = e.ID
		}
		return nil
	}))
	at := base.Add(time.Hour)
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		es, err := tx.EventsToFanOut(ctx, n)
		if err != nil {
			return err
		}
		if !slices.Equal(eventIDs(es), ids) {
			t.Errorf("claimed %d events, not the %d appended in order", len(es), n)
		}
		fan := make([]storage.FanOut, len(es))
		for i, e := range es {
			fan[i] = storage.FanOut{EventID: e.ID, Destinations: dests}
		}
		return tx.FanOutEvents(ctx, fan, at)
	}))
	st, err := s.OutboxStats(ctx)
	must(t, err)
	if st.Unfanned != 0 || st.Undelivered != n*int64(len(dests)) {
		t.Fatalf("stats: %+v, want 0 waiting and %d deliveries", st, n*len(dests))
	}
	for _, i := range []int{0, 333, 334, 999, 1000, n - 1} {
		ds, err := s.ListDeliveries(ctx, ids[i])
		must(t, err)
		if len(ds) != 3 || ds[0].Destination != "ssf:c" || ds[2].Destination != "webhook:b" || ds[1].Attempts != 0 {
			t.Fatalf("deliveries of event %d: %+v", i, ds)
		}
		sameTime(t, "due", ds[2].NextAt, at)
	}
}

func testClaimDeliveries(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	e := event(t, s, o, base)
	fanOut(t, s, base, "webhook:a", "webhook:b")
	now := base.Add(time.Second)
	lease := time.Minute
	ds, err := s.ClaimDeliveries(ctx, now, lease, 10)
	must(t, err)
	if len(ds) != 2 || ds[0].EventID != e.ID || ds[0].Attempts != 1 || ds[0].LeaseUntil == nil {
		t.Fatalf("claimed %+v", ds)
	}
	sameTime(t, "lease", *ds[0].LeaseUntil, now.Add(lease))
	// Under a live lease nobody else gets them.
	if again, err := s.ClaimDeliveries(ctx, now.Add(lease-time.Microsecond), lease, 10); err != nil || len(again) != 0 {
		t.Fatalf("claimed under a live lease: %+v %v", again, err)
	}
	// a is delivered; b's claimer dies and its lease runs out.
	ok, err := s.FinishDelivery(ctx, ds[0], storage.DeliveryOutcome{DeliveredAt: now.Add(time.Second)})
	if !ok || err != nil {
		t.Fatalf("finish delivered: %v %v", ok, err)
	}
	later := now.Add(lease)
	re, err := s.ClaimDeliveries(ctx, later, lease, 10)
	must(t, err)
	if len(re) != 1 || re[0].ID != ds[1].ID || re[0].Attempts != 2 {
		t.Fatalf("after the lease ran out: %+v", re)
	}
	// The first claimer comes back late: its outcome no longer counts.
	if ok, err := s.FinishDelivery(ctx, ds[1], storage.DeliveryOutcome{DeliveredAt: later}); ok || err != nil {
		t.Fatalf("a stale claim finished the delivery: %v %v", ok, err)
	}
	ok, err = s.FinishDelivery(ctx, re[0], storage.DeliveryOutcome{RetryAt: later.Add(time.Hour), LastError: "HTTP 503"})
	if !ok || err != nil {
		t.Fatalf("finish retry: %v %v", ok, err)
	}
	if got, _ := s.ClaimDeliveries(ctx, later.Add(time.Hour-time.Microsecond), lease, 10); len(got) != 0 {
		t.Fatalf("claimed before its retry time: %+v", got)
	}
	got, err := s.ClaimDeliveries(ctx, later.Add(time.Hour), lease, 10)
	must(t, err)
	if len(got) != 1 || got[0].Attempts != 3 || got[0].LastError != "HTTP 503" {
		t.Fatalf("retry: %+v", got)
	}
	ok, err = s.FinishDelivery(ctx, got[0], storage.DeliveryOutcome{GaveUpAt: later.Add(time.Hour), LastError: "HTTP 410"})
	if !ok || err != nil {
		t.Fatalf("finish gave up: %v %v", ok, err)
	}
	if got, _ := s.ClaimDeliveries(ctx, later.Add(100*time.Hour), lease, 10); len(got) != 0 {
		t.Fatalf("an ended delivery was claimed: %+v", got)
	}
	all, err := s.ListDeliveries(ctx, e.ID)
	must(t, err)
	if all[0].DeliveredAt == nil || all[1].GaveUpAt == nil || all[1].LastError != "HTTP 410" || all[1].LeaseUntil != nil {
		t.Fatalf("ended deliveries: %+v", all)
	}
}

// testConcurrentClaims: claimers racing over the same due deliveries
// each get different ones, and together all of them.
func testConcurrentClaims(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	const n = 30
	for i := range n {
		event(t, s, o, base.Add(time.Duration(i)*time.Millisecond))
	}
	fanOut(t, s, base, "webhook:a")
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				ds, err := s.ClaimDeliveries(ctx, base.Add(time.Second), time.Hour, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Fatalf("claimed %d deliveries, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("delivery %d claimed %d times", id, c)
		}
	}
}

func testOutboxStatsAndPurge(t *testing.T, s storage.Store) {
	st, err := s.OutboxStats(ctx)
	must(t, err)
	if st != (storage.OutboxStats{}) {
		t.Fatalf("empty outbox: %+v", st)
	}
	o := org(t, s, "acme")
	a := event(t, s, o, base)
	fanOut(t, s, base.Add(time.Second), "webhook:a")
	b := event(t, s, o, base.Add(time.Minute))
	st, err = s.OutboxStats(ctx)
	must(t, err)
	if st.Unfanned != 1 || st.Undelivered != 1 {
		t.Fatalf("stats: %+v", st)
	}
	sameTime(t, "oldest", st.Oldest, base)
	ds, err := s.ClaimDeliveries(ctx, base.Add(2*time.Second), time.Minute, 10)
	must(t, err)
	_, err = s.FinishDelivery(ctx, ds[0], storage.DeliveryOutcome{DeliveredAt: base.Add(3 * time.Second)})
	must(t, err)
	st, err = s.OutboxStats(ctx)
	must(t, err)
	if st.Unfanned != 1 || st.Undelivered != 0 {
		t.Fatalf("stats after delivery: %+v", st)
	}
	sameTime(t, "oldest", st.Oldest, b.Time)
	fanOut(t, s, base.Add(2*time.Minute), "webhook:a")
	// Only a is done, and only since before the cut-off.
	if n, err := s.PurgeOutbox(ctx, base.Add(3*time.Second)); err != nil || n != 0 {
		t.Fatalf("purge before a's delivery ended: %d %v", n, err)
	}
	if n, err := s.PurgeOutbox(ctx, base.Add(time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	_, err = s.GetEvent(ctx, a.ID)
	wantErr(t, err, storage.ErrNotFound)
	if ds, err := s.ListDeliveries(ctx, a.ID); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries of a purged event: %+v %v", ds, err)
	}
	if _, err := s.GetEvent(ctx, b.ID); err != nil {
		t.Fatalf("the undelivered event was purged: %v", err)
	}
}

func testWebhooks(t *testing.T, s storage.Store) {
	a, b := org(t, s, "acme"), org(t, s, "globex")
	w := &storage.Webhook{OrgID: a.ID, URL: "https://hooks.example/a", Secret: []byte{1, 2, 3},
		EventTypes: []string{"pat.created", "pat.revoked"}, CreatedAt: base}
	must(t, s.CreateWebhook(ctx, w))
	w2 := &storage.Webhook{OrgID: a.ID, URL: "https://hooks.example/b", Secret: []byte{4}, CreatedAt: base.Add(time.Second)}
	must(t, s.CreateWebhook(ctx, w2))
	wantErr(t, s.CreateWebhook(ctx, &storage.Webhook{OrgID: "nope", URL: "https://x", Secret: []byte{1}}), storage.ErrInvalidReference)
	got, err := s.GetWebhook(ctx, w.ID)
	must(t, err)
	if got.OrgID != a.ID || got.URL != w.URL || !slices.Equal(got.Secret, w.Secret) || !slices.Equal(got.EventTypes, w.EventTypes) {
		t.Fatalf("got %+v", got)
	}
	sameTime(t, "created", got.CreatedAt, base)
	l, err := s.ListWebhooks(ctx, a.ID)
	must(t, err)
	if len(l) != 2 || l[0].ID != w.ID || l[1].ID != w2.ID || len(l[1].EventTypes) != 0 {
		t.Fatalf("list: %+v", l)
	}
	if l, err := s.ListWebhooks(ctx, b.ID); err != nil || len(l) != 0 {
		t.Fatalf("another organization's list: %+v %v", l, err)
	}
	wantErr(t, s.DeleteWebhook(ctx, b.ID, w.ID), storage.ErrNotFound)
	must(t, s.DeleteWebhook(ctx, a.ID, w.ID))
	_, err = s.GetWebhook(ctx, w.ID)
	wantErr(t, err, storage.ErrNotFound)
}
