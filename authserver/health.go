package authserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"authserver/storage"
)

// migrationChecker is the part of storage.SQLStore readiness asks about.
type migrationChecker interface {
	MigrationsPending(ctx context.Context) (bool, error)
}

// health answers liveness and readiness probes.
type health struct {
	store storage.Store
	// keysLoaded reports whether a signing key is ready (nil: no keys needed).
	keysLoaded func() bool
}

func (h *health) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", h.live)
	mux.HandleFunc("GET /readyz", h.ready)
}

// live answers 200 while the process runs: it checks nothing external, so
// a database outage never gets the process restarted.
func (h *health) live(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// ready answers 200 only when this process can serve: the database answers,
// its schema is current, and a signing key is loaded.
func (h *health) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := h.store.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if m, ok := h.store.(migrationChecker); ok {
		pending, err := m.MigrationsPending(ctx)
		if err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		if pending {
			http.Error(w, "database schema is behind: run authserver migrate", http.StatusServiceUnavailable)
			return
		}
	}
	if h.keysLoaded != nil && !h.keysLoaded() {
		http.Error(w, "signing keys not loaded", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}
