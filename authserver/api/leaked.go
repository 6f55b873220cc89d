package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/governance"
	"authserver/internal/httpx"
)

// POST /api/v1/leaked-tokens is a credential revocation API like GitHub's:
// anyone who finds token values exposed — a secret scanner, a person who
// pasted one into a chat — reports up to 100 of them, without credentials.
// Every real, active PAT among them is revoked and audited, in whichever
// organization it is (governance/leaks.go).
//
// The answer is 202 with {} once the report is written down in the
// database, whether no value or every value was a real PAT: the request
// keeps the values that are well-formed PATs (public arithmetic), writes
// their hashes as one row (the same work whatever the values are), and
// answers. A worker then revokes from that row, on whichever replica takes
// it first. So neither the answer nor its timing says whether anything was
// found, and a report that was answered 202 is never lost. While the
// database cannot take the report the answer is 503 with Retry-After, and
// a scanner sends it again. Requests are rate-limited per client address
// (internal/ratelimit).

// maxLeakedTokens bounds the values of one report.
const maxLeakedTokens = 100

// leakedRequest is the body of a report: tokens is required, and may be
// empty.
type leakedRequest struct {
	Tokens *[]string `json:"tokens"`
}

// reportLeaked serves POST /api/v1/leaked-tokens. p is nil: the route is
// public.
func (a *api) reportLeaked(w http.ResponseWriter, r *http.Request, _ *principal, _ map[string]string) error {
	var body leakedRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Tokens == nil {
		return fieldProblem(codeInvalidField, "tokens", "is required (an array of at most %d token values)", maxLeakedTokens)
	}
	if n := len(*body.Tokens); n > maxLeakedTokens {
		return fieldProblem(codeTooManyTokens, "tokens", "holds %d values; at most %d may be reported at once", n, maxLeakedTokens)
	}
	n, err := a.gov.ReportLeaked(r.Context(), governance.LeakReport{Values: *body.Tokens, Addr: httpx.ClientAddrOf(r)})
	if err != nil {
		a.leaks.refused.Inc()
		a.log.WarnContext(r.Context(), "leaked-token report refused", "err", err)
		return err
	}
	if n > 0 {
		a.leaks.nudge()
	}
	httpx.WriteJSON(w, http.StatusAccepted, struct{}{})
	return nil
}

// leakWorker revokes what reports name, from the database, until its
// context ends. Every replica runs one; a report is taken by one at a time.
type leakWorker struct {
	gov *governance.Service
	log *slog.Logger
	now func() time.Time
	// wake is signalled when this replica wrote a report; reports written
	// by other replicas, or left by a failed run, are found by the poll.
	wake chan struct{}
	// poll is how often the worker looks for reports without being woken;
	// retry the first wait after a failed run, doubled up to maxRetry.
	poll, retry, maxRetry time.Duration
	// onRevoked is told how many PATs a report revoked (tests).
	onRevoked func(n int)

	refused  prometheus.Counter // reports answered 503
	failures prometheus.Counter // processing runs that failed
	pending  prometheus.Gauge
	oldest   prometheus.Gauge
}

func newLeakWorker(gov *governance.Service, log *slog.Logger, reg prometheus.Registerer, now func() time.Time) *leakWorker {
	w := &leakWorker{gov: gov, log: log, now: now, wake: make(chan struct{}, 1),
		poll: 5 * time.Second, retry: time.Second, maxRetry: 30 * time.Second,
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authserver_leaked_reports_refused_total",
			Help: "Leaked-token reports answered 503 because the database could not record them (the reporter retries).",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authserver_leaked_reports_failed_total",
			Help: "Runs that could not process a recorded leaked-token report; the report stays recorded and is tried again.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authserver_leaked_reports_pending",
			Help: "Recorded leaked-token reports not yet processed.",
		}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authserver_leaked_reports_oldest_age_seconds",
			Help: "Age of the oldest recorded leaked-token report not yet processed; 0 when none waits.",
		}),
	}
	reg.MustRegister(w.refused, w.failures, w.pending, w.oldest)
	return w
}

func (w *leakWorker) nudge() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run processes reports until ctx ends; it returns then, leaving whatever
// is not processed recorded for the next run of any replica.
func (w *leakWorker) Run(ctx context.Context) {
	wait := time.Duration(0)
	backoff := w.retry
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-time.After(wait):
		}
		if err := w.drain(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			w.failures.Inc()
			w.log.ErrorContext(ctx, "leaked-token report not processed yet; it stays recorded and is tried again",
				"retry_in", backoff, "err", err)
			wait, backoff = backoff, min(2*backoff, w.maxRetry)
			continue
		}
		wait, backoff = w.poll, w.retry
	}
}

// drain processes every report due, then refreshes the gauges.
func (w *leakWorker) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		n, err := w.gov.ProcessLeakReport(ctx)
		if errors.Is(err, governance.ErrNoLeakReport) {
			break
		}
		if err != nil {
			return err
		}
		// How many values were real is for the operator only.
		w.log.InfoContext(ctx, "leaked-token report processed", "revoked", n)
		if w.onRevoked != nil {
			w.onRevoked(n)
		}
	}
	st, err := w.gov.LeakReportStats(ctx)
	if err != nil {
		return err
	}
	w.pending.Set(float64(st.Pending))
	if st.Oldest.IsZero() {
		w.oldest.Set(0)
	} else {
		w.oldest.Set(max(0, w.now().Sub(st.Oldest).Seconds()))
	}
	return nil
}
