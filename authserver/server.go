package authserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/config"
	"authserver/storage"
)

// Options are the dependencies of a Server. Config, Store and Logger are
// required.
type Options struct {
	Config *config.Config
	Store  storage.Store
	Logger *slog.Logger
	// Registry receives the server's metrics; nil uses a private registry.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is every HTTP surface of one authserver process.
type Server struct {
	cfg    *config.Config
	store  storage.Store
	log    *slog.Logger
	reg    *prometheus.Registry
	now    func() time.Time
	public http.Handler
	telem  http.Handler
}

// New wires the server. It starts no goroutine and opens no listener.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Store == nil || o.Logger == nil {
		return nil, errors.New("authserver: Config, Store and Logger are required")
	}
	s := &Server{cfg: o.Config, store: o.Store, log: o.Logger, reg: o.Registry, now: o.Now}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.now == nil {
		s.now = time.Now
	}

	pub := http.NewServeMux()
	s.public = pub

	tel := http.NewServeMux()
	h := &health{store: o.Store}
	h.routes(tel)
	s.telem = tel
	return s, nil
}

// Handler serves the public listener.
func (s *Server) Handler() http.Handler { return s.public }

// TelemetryHandler serves the operator listener: /healthz, /readyz and
// /metrics.
func (s *Server) TelemetryHandler() http.Handler { return s.telem }

// Shutdown flushes what the server holds in memory. Call it after the
// listeners have stopped accepting requests.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
