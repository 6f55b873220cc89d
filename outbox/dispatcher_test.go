package outbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"authserver/internal/pgtest"
	"authserver/internal/storetest"
	"authserver/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// fakeSink sends every event to its destinations; "ok" takes it,
// "refuses" refuses it for good, "slow" waits for its context to end, and
// "panics" panics.
type fakeSink struct {
	dests []string
	mu    sync.Mutex
	got   map[string]int // destination → deliveries taken
}

func (*fakeSink) Kind() string { return "fake" }

func (f *fakeSink) Destinations(context.Context, storage.Event) ([]string, error) {
	return f.dests, nil
}

func (f *fakeSink) Deliver(ctx context.Context, dest string, _ storage.Event) error {
	switch dest {
	case "refuses":
		return Permanent(errors.New("HTTP 410"))
	case "slow":
		<-ctx.Done()
		return errors.New("timeout")
	case "panics":
		panic("a sink's bug")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.got == nil {
		f.got = map[string]int{}
	}
	f.got[dest]++
	return nil
}

func (f *fakeSink) count(dest string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[dest]
}

func newDispatcher(t *testing.T, o Options) *Dispatcher {
	t.Helper()
	o.Log = slog.New(slog.DiscardHandler)
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func appendEvent(t *testing.T, st storage.Store, orgID string) storage.Event {
	t.Helper()
	e := storage.Event{Type: storage.EventPATRevoked, OrgID: orgID}
	if err := st.AppendEvent(ctx, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func deliveries(t *testing.T, st storage.Store, id string) map[string]storage.Delivery {
	t.Helper()
	ds, err := st.ListDeliveries(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.Delivery{}
	for _, d := range ds {
		out[d.Destination] = d
	}
	return out
}

func TestNewRefusesBadSinks(t *testing.T) {
	st := storetest.Open(t, storage.DriverSQLite)
	for _, sinks := range [][]Sink{{&fakeSink{}, &fakeSink{}}} {
		if _, err := New(Options{Store: st, Log: slog.New(slog.DiscardHandler), Sinks: sinks}); err == nil {
			t.Fatal("two sinks of one kind were taken")
		}
	}
	if _, err := New(Options{Store: st}); err == nil {
		t.Fatal("no logger was taken")
	}
}

// TestBackoff: the wait starts near MinBackoff, doubles, and stays within
// ±50% of MaxBackoff once it gets there.
func TestBackoff(t *testing.T) {
	d := newDispatcher(t, Options{Store: storetest.Open(t, storage.DriverSQLite),
		Timing: Timing{MinBackoff: time.Second, MaxBackoff: time.Minute}})
	for range 50 {
		if w := d.backoff(1); w < 500*time.Millisecond || w > 1500*time.Millisecond {
			t.Fatalf("first wait %v", w)
		}
		if w := d.backoff(3); w < 2*time.Second || w > 6*time.Second {
			t.Fatalf("third wait %v", w)
		}
		if w := d.backoff(40); w < 30*time.Second || w > 90*time.Second {
			t.Fatalf("capped wait %v", w)
		}
	}
}

// TestCycleOutcomes: one cycle delivers, gives up a refusal at once, and
// retries a destination of a sink this replica lacks; later cycles purge
// what is done after the retention.
func TestCycleOutcomes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		o := &storage.Organization{Name: "acme"}
		if err := st.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		sink := &fakeSink{dests: []string{"ok", "refuses"}}
		m := NewMetrics(nil)
		d := newDispatcher(t, Options{Store: st, Sinks: []Sink{sink}, Metrics: m,
			Timing: Timing{MinBackoff: time.Hour}})
		e := appendEvent(t, st, o.ID)
		// Another replica fanned this one out to a sink this one lacks.
		ghost := appendEvent(t, st, o.ID)
		if err := st.WithTx(ctx, func(tx storage.Store) error {
			if _, err := tx.EventsToFanOut(ctx, 10); err != nil {
				return err
			}
			return tx.FanOutEvent(ctx, ghost.ID, []string{"ghost:x"}, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		d.Cycle(ctx)
		ds := deliveries(t, st, e.ID)
		if ds["fake:ok"].DeliveredAt == nil || sink.count("ok") != 1 {
			t.Fatalf("ok: %+v", ds["fake:ok"])
		}
		if r := ds["fake:refuses"]; r.GaveUpAt == nil || r.Attempts != 1 || r.LastError != "HTTP 410" {
			t.Fatalf("refuses: %+v", r)
		}
		g := deliveries(t, st, ghost.ID)["ghost:x"]
		if g.DeliveredAt != nil || g.GaveUpAt != nil || g.LastError != "no ghost sink on this replica" ||
			time.Until(g.NextAt) < 20*time.Minute {
			t.Fatalf("ghost: %+v", g)
		}
		if n := testutil.ToFloat64(m.Deliveries.WithLabelValues("fake", ResultDelivered)) +
			testutil.ToFloat64(m.Deliveries.WithLabelValues("fake", ResultGaveUp)); n != 2 {
			t.Fatalf("counted %v", n)
		}
		// The next cycle of a fresh dispatcher purges: e is done, ghost
		// waits for its retry.
		time.Sleep(5 * time.Millisecond)
		newDispatcher(t, Options{Store: st, Sinks: []Sink{sink}, Timing: Timing{Retention: time.Millisecond}}).Cycle(ctx)
		if _, err := st.GetEvent(ctx, e.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the delivered event was not purged: %v", err)
		}
		if _, err := st.GetEvent(ctx, ghost.ID); err != nil {
			t.Fatalf("the waiting event was purged: %v", err)
		}
	})
}

// TestASinksPanicIsRetried: a sink that panics fails that attempt, which
// is retried with backoff; the other destinations are delivered and the
// dispatcher goes on.
func TestASinksPanicIsRetried(t *testing.T) {
	st := storetest.Open(t, storage.DriverSQLite)
	o := &storage.Organization{Name: "acme"}
	if err := st.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{dests: []string{"panics", "ok"}}
	d := newDispatcher(t, Options{Store: st, Sinks: []Sink{sink}, Timing: Timing{MinBackoff: time.Hour}})
	e := appendEvent(t, st, o.ID)
	d.Cycle(ctx)
	ds := deliveries(t, st, e.ID)
	if p := ds["fake:panics"]; p.DeliveredAt != nil || p.GaveUpAt != nil || p.LastError != "the fake sink failed unexpectedly" ||
		time.Until(p.NextAt) < 20*time.Minute {
		t.Fatalf("panics: %+v", p)
	}
	if ds["fake:ok"].DeliveredAt == nil || sink.count("ok") != 1 {
		t.Fatalf("ok: %+v", ds["fake:ok"])
	}
}

// TestShutdownGivesDeliveriesBack: a delivery cut short by the end of the
// dispatcher's context is due again at once, not at the end of its lease.
func TestShutdownGivesDeliveriesBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		o := &storage.Organization{Name: "acme"}
		if err := st.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		d := newDispatcher(t, Options{Store: st, Sinks: []Sink{&fakeSink{dests: []string{"slow"}}},
			Timing: Timing{Lease: time.Hour, Interval: 10 * time.Millisecond}})
		e := appendEvent(t, st, o.ID)
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); d.Run(rctx) }()
		deadline := time.Now().Add(5 * time.Second)
		for deliveries(t, st, e.ID)["fake:slow"].Attempts == 0 {
			if time.Now().After(deadline) {
				t.Fatal("never attempted")
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		s := deliveries(t, st, e.ID)["fake:slow"]
		if s.LastError != "interrupted" || s.LeaseUntil != nil || time.Until(s.NextAt) > time.Second {
			t.Fatalf("after shutdown: %+v", s)
		}
	})
}

// TestNudge: a nudged dispatcher looks for work before its next tick.
func TestNudge(t *testing.T) {
	st := storetest.Open(t, storage.DriverSQLite)
	o := &storage.Organization{Name: "acme"}
	if err := st.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{dests: []string{"ok"}}
	d := newDispatcher(t, Options{Store: st, Sinks: []Sink{sink}, Timing: Timing{Interval: time.Hour}})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(rctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // the first cycle found nothing
	appendEvent(t, st, o.ID)
	d.Nudge()
	deadline := time.Now().Add(5 * time.Second)
	for sink.count("ok") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the nudge did not wake the dispatcher")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pickSink names one destination for the events of PATs, none for the
// others, and fails to name any while broken.
type pickSink struct {
	mu     sync.Mutex
	broken bool
}

func (*pickSink) Kind() string { return "pick" }

func (p *pickSink) Destinations(_ context.Context, e storage.Event) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return nil, errors.New("settings unavailable")
	}
	if e.PATID == "" {
		return nil, nil
	}
	return []string{"x"}, nil
}

func (*pickSink) Deliver(context.Context, string, storage.Event) error { return nil }

// TestFanOutInBatches: the events are fanned out a batch at a time, each
// to exactly the destinations its sinks name; a sink that cannot name
// them leaves the whole batch waiting, and the next cycle fans it out.
func TestFanOutInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		o := &storage.Organization{Name: "acme"}
		if err := st.CreateOrganization(ctx, o); err != nil {
			t.Fatal(err)
		}
		pick := &pickSink{broken: true}
		d := newDispatcher(t, Options{Store: st, Sinks: []Sink{&fakeSink{dests: []string{"ok"}}, pick}, Batch: 3})
		var es []storage.Event
		for i := range 7 {
			e := storage.Event{Type: storage.EventPATRevoked, OrgID: o.ID}
			if i%2 == 0 {
				e.PATID = "p"
			}
			if err := st.AppendEvent(ctx, &e); err != nil {
				t.Fatal(err)
			}
			es = append(es, e)
		}
		d.Cycle(ctx)
		if s, err := st.OutboxStats(ctx); err != nil || s.Unfanned != 7 || s.Undelivered != 0 {
			t.Fatalf("with a broken sink: %+v %v", s, err)
		}
		if ds := deliveries(t, st, es[0].ID); len(ds) != 0 {
			t.Fatalf("deliveries written with a broken sink: %+v", ds)
		}
		pick.mu.Lock()
		pick.broken = false
		pick.mu.Unlock()
		d.Cycle(ctx)
		if s, err := st.OutboxStats(ctx); err != nil || s.Unfanned != 0 || s.Undelivered != 0 {
			t.Fatalf("after the cycle: %+v %v", s, err)
		}
		for i, e := range es {
			ds := deliveries(t, st, e.ID)
			want := 1 + (1 - i%2) // fake:ok, and pick:x for the events of PATs
			if len(ds) != want || ds["fake:ok"].DeliveredAt == nil || (i%2 == 0 && ds["pick:x"].DeliveredAt == nil) {
				t.Fatalf("deliveries of event %d: %+v", i, ds)
			}
		}
	})
}
