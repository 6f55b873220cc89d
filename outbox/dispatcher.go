package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"authserver/storage"
)

// Defaults of Options.
const (
	DefaultInterval   = time.Second
	DefaultLease      = time.Minute
	DefaultRetryFor   = 72 * time.Hour
	DefaultRetention  = 7 * 24 * time.Hour
	DefaultMinBackoff = 5 * time.Second
	DefaultMaxBackoff = time.Hour
	DefaultBatch      = 100
	DefaultParallel   = 8
	// DefaultStatsInterval is how often the queue gauges are read from the
	// database.
	DefaultStatsInterval = 10 * time.Second
	// purgeInterval is how often old events are purged.
	purgeInterval = time.Hour
)

// Tx is what the fan-out does in its transaction.
type Tx interface {
	EventsToFanOut(ctx context.Context, limit int) ([]storage.Event, error)
	FanOutEvents(ctx context.Context, fan []storage.FanOut, at time.Time) error
}

var _ Tx = storage.Store(nil)

// Store is what the dispatcher reads and writes outside the fan-out.
type Store interface {
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.Delivery, error)
	FinishDelivery(ctx context.Context, d storage.Delivery, o storage.DeliveryOutcome) (bool, error)
	GetEvent(ctx context.Context, id string) (*storage.Event, error)
	OutboxStats(ctx context.Context) (storage.OutboxStats, error)
	PurgeOutbox(ctx context.Context, before time.Time) (int64, error)
}

var _ Store = storage.Store(nil)

// Timing is how the dispatcher paces its work; zero fields take the
// defaults above.
type Timing struct {
	// Interval is how often the dispatcher looks for new events and due
	// deliveries.
	Interval time.Duration
	// Lease is how long a claimed delivery is kept from other replicas.
	// One attempt is cut off at half of it, so that it ends before
	// another replica may take the delivery over.
	Lease time.Duration
	// RetryFor is how long a delivery is retried, from its fan-out;
	// then it is given up.
	RetryFor time.Duration
	// Retention is how long events stay after their last delivery ended.
	Retention time.Duration
	// MinBackoff and MaxBackoff bound the wait before a retry: it starts
	// near MinBackoff, doubles with each attempt, ±50% at random, and
	// stops growing at MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// Options configure a Dispatcher. Store and Log are required; zero
// durations and counts take the defaults above.
type Options struct {
	Timing
	Store storage.Store
	Sinks []Sink
	// Batch is how many events or deliveries one claim takes.
	Batch int
	// Parallel is how many deliveries run at once.
	Parallel int
	// StatsInterval is how often the queue gauges are refreshed.
	StatsInterval time.Duration
	// Metrics receives the outbox metrics; nil counts without exporting.
	Metrics *Metrics
	Log     *slog.Logger
	Now     func() time.Time
}

// A Dispatcher fans events out and delivers them. Every replica runs
// one; they share the work through the database.
type Dispatcher struct {
	o       Options
	tx      storage.Narrowed[Tx]
	st      Store
	sinks   map[string]Sink
	metrics *Metrics
	nudge   chan struct{}

	lastStats, lastPurge time.Time
}

// New checks o and builds a dispatcher; Run starts it.
func New(o Options) (*Dispatcher, error) {
	if o.Store == nil || o.Log == nil {
		return nil, errors.New("outbox: Store and Log are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, DefaultInterval)
	def(&o.Lease, DefaultLease)
	def(&o.RetryFor, DefaultRetryFor)
	def(&o.Retention, DefaultRetention)
	def(&o.MinBackoff, DefaultMinBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.StatsInterval, DefaultStatsInterval)
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	d := &Dispatcher{o: o, tx: storage.Narrow[Tx](o.Store), st: o.Store, sinks: map[string]Sink{},
		metrics: o.Metrics, nudge: make(chan struct{}, 1)}
	if d.metrics == nil {
		d.metrics = NewMetrics(nil)
	}
	for _, s := range o.Sinks {
		k := s.Kind()
		if k == "" || strings.Contains(k, ":") {
			return nil, fmt.Errorf("outbox: sink kind %q: not empty, without a colon", k)
		}
		if _, dup := d.sinks[k]; dup {
			return nil, fmt.Errorf("outbox: two sinks of kind %q", k)
		}
		d.sinks[k] = s
		for _, r := range []string{ResultDelivered, ResultRetry, ResultGaveUp, ResultDropped} {
			d.metrics.Deliveries.WithLabelValues(k, r)
		}
	}
	return d, nil
}

// Nudge makes the dispatcher look for work now rather than at its next
// tick. It never blocks.
func (d *Dispatcher) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Run fans out and delivers every Interval (or when nudged) until ctx
// ends. An attempt cut short by the end of ctx is scheduled again at
// once, so that the next replica to look delivers it.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.o.Interval)
	defer t.Stop()
	for {
		d.Cycle(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.nudge:
		}
	}
}

// Cycle does one round of the work: fan out every pending event, deliver
// every due delivery, and, when their time has come, refresh the gauges
// and purge old events. Errors are logged; the next round tries again.
func (d *Dispatcher) Cycle(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := d.fanOut(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.o.Log.WarnContext(ctx, "outbox: fanning events out failed", "err", err)
			}
			break
		}
		if n < d.o.Batch {
			break
		}
	}
	for ctx.Err() == nil {
		n, err := d.deliverDue(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.o.Log.WarnContext(ctx, "outbox: claiming deliveries failed", "err", err)
			}
			break
		}
		if n < d.o.Batch {
			break
		}
	}
	now := d.o.Now()
	if ctx.Err() == nil && now.Sub(d.lastStats) >= d.o.StatsInterval {
		d.lastStats = now
		d.refreshStats(ctx, now)
	}
	if ctx.Err() == nil && now.Sub(d.lastPurge) >= purgeInterval {
		d.lastPurge = now
		n, err := d.st.PurgeOutbox(ctx, now.Add(-d.o.Retention))
		switch {
		case err != nil:
			d.o.Log.WarnContext(ctx, "outbox: purging old events failed", "err", err)
		case n > 0:
			d.o.Log.InfoContext(ctx, "outbox: purged old events", "events", n)
		}
	}
}

// fanOut fans out one batch of events in one transaction: the sinks name
// each event's destinations, then one call writes the deliveries of the
// whole batch and marks its events, in a few statements; all of it is
// written, or none.
func (d *Dispatcher) fanOut(ctx context.Context) (int, error) {
	var n int
	err := d.tx.Update(ctx, func(tx Tx) error {
		es, err := tx.EventsToFanOut(ctx, d.o.Batch)
		if err != nil {
			return err
		}
		now := d.o.Now()
		fan := make([]storage.FanOut, len(es))
		for i, e := range es {
			fan[i].EventID = e.ID
		}
		for _, s := range d.o.Sinks {
			all, err := destinations(ctx, s, es)
			if err != nil {
				return err
			}
			for i, ds := range all {
				for _, dst := range ds {
					fan[i].Destinations = append(fan[i].Destinations, s.Kind()+":"+dst)
				}
			}
		}
		if err := tx.FanOutEvents(ctx, fan, now); err != nil {
			return err
		}
		n = len(es)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// destinations are the destinations sink s names for each of es: in one
// call when it is a BatchSink, else one call per event.
func destinations(ctx context.Context, s Sink, es []storage.Event) ([][]string, error) {
	if b, ok := s.(BatchSink); ok {
		all, err := b.BatchDestinations(ctx, es)
		if err == nil && len(all) != len(es) {
			err = fmt.Errorf("%d destination lists for %d events", len(all), len(es))
		}
		if err != nil {
			return nil, fmt.Errorf("destinations of %d events through %s: %w", len(es), s.Kind(), err)
		}
		return all, nil
	}
	all := make([][]string, len(es))
	for i, e := range es {
		ds, err := s.Destinations(ctx, e)
		if err != nil {
			return nil, fmt.Errorf("destinations of event %s through %s: %w", e.ID, s.Kind(), err)
		}
		all[i] = ds
	}
	return all, nil
}

// deliverDue claims one batch of due deliveries and delivers them, at
// most Parallel at once.
func (d *Dispatcher) deliverDue(ctx context.Context) (int, error) {
	ds, err := d.st.ClaimDeliveries(ctx, d.o.Now(), d.o.Lease, d.o.Batch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, d.o.Parallel)
	var wg sync.WaitGroup
	for _, del := range ds {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			d.deliver(ctx, del)
		})
	}
	wg.Wait()
	return len(ds), nil
}

// deliver makes one attempt at one claimed delivery and records its
// outcome.
func (d *Dispatcher) deliver(ctx context.Context, del storage.Delivery) {
	kind, dest, _ := strings.Cut(del.Destination, ":")
	err := d.attempt(ctx, kind, dest, del)
	now := d.o.Now()
	var out storage.DeliveryOutcome
	result := ResultDelivered
	switch {
	case err == nil:
		out.DeliveredAt = now
	case ctx.Err() != nil:
		// Shutting down: not the receiver's fault, so no backoff; due
		// again at once for whichever replica looks next.
		out.RetryAt, out.LastError, result = now, "interrupted", ""
	case errors.Is(err, ErrDestinationGone):
		out.GaveUpAt, out.LastError, result = now, cause(err), ResultDropped
	case IsPermanent(err):
		out.GaveUpAt, out.LastError, result = now, cause(err), ResultGaveUp
	default:
		out.LastError = cause(err)
		retry := now.Add(d.backoff(del.Attempts))
		if retry.After(del.CreatedAt.Add(d.o.RetryFor)) {
			out.GaveUpAt, result = now, ResultGaveUp
		} else {
			out.RetryAt, result = retry, ResultRetry
		}
	}
	// The outcome is written even when ctx has ended, briefly.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ok, ferr := d.st.FinishDelivery(fctx, del, out)
	if ferr != nil {
		// The lease runs out and the delivery is attempted again.
		d.o.Log.WarnContext(ctx, "outbox: recording a delivery failed", "event", del.EventID, "sink", kind, "err", ferr)
		return
	}
	if !ok {
		// Another replica took the delivery over after our lease ran out;
		// it records the outcome.
		return
	}
	if result != "" {
		d.metrics.Deliveries.WithLabelValues(kind, result).Inc()
	}
	if result == ResultGaveUp {
		d.o.Log.WarnContext(ctx, "outbox: gave up a delivery", "event", del.EventID, "sink", kind,
			"destination", dest, "attempts", del.Attempts, "cause", out.LastError)
	}
}

// attempt reads the event and hands it to its sink, within half the lease.
// A sink that panics fails the attempt, which is retried like any other
// failure: one bad delivery must not stop the server or the others.
func (d *Dispatcher) attempt(ctx context.Context, kind, dest string, del storage.Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			d.o.Log.ErrorContext(ctx, "outbox: a sink panicked", "event", del.EventID, "sink", kind, "panic", fmt.Sprint(r))
			err = fmt.Errorf("the %s sink failed unexpectedly", kind)
		}
	}()
	s := d.sinks[kind]
	if s == nil {
		// Another replica fanned it out with a sink this one lacks
		// (configurations differ for a while): retried, with backoff.
		return fmt.Errorf("no %s sink on this replica", kind)
	}
	e, err := d.st.GetEvent(ctx, del.EventID)
	if errors.Is(err, storage.ErrNotFound) {
		return Permanent(errors.New("event gone"))
	}
	if err != nil {
		return errors.New("database unavailable")
	}
	actx, cancel := context.WithTimeout(ctx, d.o.Lease/2)
	defer cancel()
	return s.Deliver(actx, dest, *e)
}

// backoff is the wait after the given number of failed attempts.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	b := &backoff.ExponentialBackOff{InitialInterval: d.o.MinBackoff, MaxInterval: d.o.MaxBackoff,
		Multiplier: 2, RandomizationFactor: 0.5}
	b.Reset()
	var w time.Duration
	for range max(attempts, 1) {
		w = b.NextBackOff()
	}
	return w
}

// cause is the short text of a failure stored with the delivery. Sinks
// return causes that hold no secret; this keeps them short too.
func cause(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

func (d *Dispatcher) refreshStats(ctx context.Context, now time.Time) {
	st, err := d.st.OutboxStats(ctx)
	if err != nil {
		d.o.Log.WarnContext(ctx, "outbox: reading the queue failed", "err", err)
		return
	}
	d.metrics.Queue.WithLabelValues("fan_out").Set(float64(st.Unfanned))
	d.metrics.Queue.WithLabelValues("delivery").Set(float64(st.Undelivered))
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(now.Sub(st.Oldest).Seconds(), 0)
	}
	d.metrics.OldestAge.Set(age)
}
