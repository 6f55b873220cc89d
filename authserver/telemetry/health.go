package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/internal/periodic"
	"authserver/storage"
)

// migrationChecker is the part of storage.SQLStore readiness asks about.
type migrationChecker interface {
	MigrationsPending(ctx context.Context) (bool, error)
}

// writeProber is the part of storage.SQLStore that tells whether the
// database takes writes: reads can go on working on a full disk or a
// read-only file while every write fails.
type writeProber interface {
	WriteFault() error
	ProbeWrite(ctx context.Context) error
}

// ReadyInterval is how often the background check refreshes
// authserver_ready, so that a scrape reports readiness without touching the
// database.
const ReadyInterval = 5 * time.Second

// readyTimeout bounds one readiness check.
const readyTimeout = 2 * time.Second

// Health answers liveness and readiness probes.
type Health struct {
	Store storage.Store
	// KeysLoaded reports whether a signing key is ready (nil: no keys needed).
	KeysLoaded func() bool
	// Ready is set to 1 or 0 after every check; may be nil.
	Ready prometheus.Gauge
	Log   *slog.Logger

	// wasReady is the outcome of the last check (1 ready, 2 not), so that
	// only changes are logged; 0 before the first check.
	wasReady atomic.Int32
}

// Mount serves /healthz and /readyz on mux.
func (h *Health) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.live)
	mux.HandleFunc("GET /readyz", h.serveReady)
}

// live answers 200 while the process runs: it checks nothing external, so
// a database outage never gets the process restarted.
func (h *Health) live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// serveReady answers 200 only when this process can serve: the database
// answers, its schema is current, and a signing key is loaded.
func (h *Health) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.check(r.Context()); err != nil {
		var nr notReady
		if !errors.As(err, &nr) {
			nr = notReady{reason: "not ready"}
		}
		http.Error(w, nr.reason, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// notReady is why a readiness check failed: reason is safe to answer and to
// log, err is the cause (for the log only).
type notReady struct {
	reason string
	err    error
}

func (e notReady) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

func (e notReady) Unwrap() error { return e.err }

// check runs the readiness checks, records the outcome in the ready gauge,
// and logs when readiness changes. A check cut short by parent's end is not
// recorded.
func (h *Health) check(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, readyTimeout)
	defer cancel()
	err := h.checks(ctx)
	if parent.Err() != nil {
		// Shutting down, or the prober left: the outcome says nothing
		// about the database.
		return err
	}
	state := int32(1)
	if err != nil {
		state = 2
	}
	if h.Ready != nil {
		h.Ready.Set(float64(2 - state)) // 1 ready, 0 not
	}
	if prev := h.wasReady.Swap(state); prev != state && h.Log != nil {
		switch {
		case err != nil:
			h.Log.WarnContext(ctx, "not ready", "err", err)
		case prev != 0:
			h.Log.InfoContext(ctx, "ready again")
		}
	}
	return err
}

func (h *Health) checks(ctx context.Context) error {
	if err := h.Store.Ping(ctx); err != nil {
		return notReady{"database unreachable", err}
	}
	if m, ok := h.Store.(migrationChecker); ok {
		pending, err := m.MigrationsPending(ctx)
		if err != nil {
			return notReady{"database unreachable", err}
		}
		if pending {
			return notReady{reason: "database schema is behind: run authserver migrate"}
		}
	}
	// After a write failed for a fault of the database, the process is not
	// ready until a write succeeds again: the probe's or any other.
	if w, ok := h.Store.(writeProber); ok && w.WriteFault() != nil {
		if err := w.ProbeWrite(ctx); err != nil {
			return notReady{"database refuses writes", err}
		}
	}
	if h.KeysLoaded != nil && !h.KeysLoaded() {
		return notReady{reason: "signing keys not loaded"}
	}
	return nil
}

// Run checks readiness at once and then every interval, until ctx is done,
// so that authserver_ready is current without a scrape touching the
// database.
func (h *Health) Run(ctx context.Context, interval time.Duration) {
	periodic.NowAndEvery(ctx, interval, func(ctx context.Context) { _ = h.check(ctx) })
}
