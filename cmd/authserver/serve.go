package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"authserver/authserver"
	"authserver/bootstrap"
	"authserver/config"
	"authserver/storage"
)

// shutdownGrace bounds how long in-flight requests may take to finish
// after SIGINT or SIGTERM.
const shutdownGrace = 30 * time.Second

func (a *app) serveCommand() *cobra.Command {
	var noMigrate, demo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (migrating the database first unless --no-migrate)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.serve(cmd.Context(), !noMigrate, demo)
		},
	}
	cmd.Flags().BoolVar(&noMigrate, "no-migrate", false, "do not apply pending migrations; refuse to start if any are pending")
	cmd.Flags().BoolVar(&demo, "demo", false, "on an empty database, create a demo organization, user, audience, clients and PAT and print,\n"+
		"once, the PAT, a console password, an introspecting client's secret and the curl lines that exchange the PAT\n"+
		"and introspect the JWT; refused (exit 1) when the database already has organizations, audiences or clients,\n"+
		"bootstrap: included")
	return cmd
}

// serverOptions turns the configuration into the server's settings; the
// caller adds the dependencies (store, keys, logger, …).
func serverOptions(cfg *config.Config) authserver.Options {
	o := authserver.Options{
		Issuer:                 cfg.Issuer,
		PATPrefix:              cfg.Tokens.PATPrefix,
		AccessTokenTTL:         cfg.Tokens.AccessTokenTTL.D(),
		DefaultAudience:        cfg.Tokens.DefaultAudience,
		MaxDelegationDepth:     cfg.Tokens.MaxDelegationDepth,
		DPoPProofWindow:        cfg.Tokens.DPoPProofWindow.D(),
		DPoPNonce:              cfg.Tokens.DPoPNonce,
		ConsoleSessionIdle:     cfg.Console.SessionIdleTimeout.D(),
		ConsoleSessionAbsolute: cfg.Console.SessionAbsoluteTimeout.D(),
		TrustedProxies:         cfg.HTTP.TrustedProxies.Prefixes(),
		Pprof:                  cfg.Telemetry.Pprof,
		Delivery:               deliveryTiming(cfg),
		WebhookPrivateNetworks: cfg.Events.Webhooks.PrivateNetworks,
	}
	o.SSF, o.Mail = sinkOptions(cfg)
	return o
}

func (a *app) serve(ctx context.Context, migrate, demo bool) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	// The exchange path allocates little that outlives a request, and the
	// live heap is small: a larger GC target trades a few megabytes for less
	// collector CPU per exchange. GOGC in the environment still wins.
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	// Before the database is touched, so that a second server fails fast
	// and changes nothing.
	release, err := lockDatabase(cfg)
	if err != nil {
		return err
	}
	defer release()
	logs := newLogBuffer(a.stderr, 100*time.Millisecond)
	defer logs.Close()
	log := newLogger(cfg.Log, logs, isTerminal(a.stderr))
	st, err := prepareStore(ctx, cfg, migrate, demo, log)
	if err != nil {
		return err
	}
	defer st.Close()
	keys, err := openKeyring(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	o := serverOptions(cfg)
	o.Store, o.Keys, o.Logger, o.Registry, o.Version = st, keys, log, prometheus.NewRegistry(), buildVersion()
	if o.WebhookSecrets, err = webhookSealer(cfg); err != nil {
		return err
	}
	srv, err := authserver.New(o)
	if err != nil {
		return err
	}
	listeners, err := openListeners(cfg)
	if err != nil {
		return err
	}
	if demo {
		// After the listeners are open, so that a busy port is reported
		// before the demo's one-time secrets are made; before serving, so
		// that the printed curl line works at once.
		if err := a.demo(ctx, cfg, st, log); err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return err
		}
	}
	return runServer(ctx, cfg, srv, listeners, log)
}

// prepareStore opens the database (migrating unless told not to), applies
// the bootstrap section, and for --demo checks that the database is empty.
func prepareStore(ctx context.Context, cfg *config.Config, migrate, demo bool, log *slog.Logger) (*storage.SQLStore, error) {
	st, err := openMigrated(ctx, cfg, migrate)
	if err != nil {
		return nil, err
	}
	res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), cfg.Bootstrap, bootstrap.Options{})
	if err != nil {
		st.Close()
		return nil, err
	}
	if res.Changed() {
		log.Info("bootstrap applied", "created", res.Created, "updated", res.Updated)
	}
	if demo {
		// Fail fast; createDemo checks again under the bootstrap lock.
		empty, err := isEmpty(ctx, st)
		if err == nil && !empty {
			err = errDemoNotEmpty
		}
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// openListeners opens the public listener, then the telemetry one.
func openListeners(cfg *config.Config) ([]net.Listener, error) {
	public, err := listen(cfg.HTTP.Addr, cfg.HTTP)
	if err != nil {
		return nil, err
	}
	telemetry, err := listen(cfg.Telemetry.Addr, config.HTTP{})
	if err != nil {
		public.Close()
		return nil, err
	}
	return []net.Listener{public, telemetry}, nil
}

// runServer serves the public and telemetry listeners until ctx ends or a
// listener fails, then shuts down within shutdownGrace.
func runServer(ctx context.Context, cfg *config.Config, srv *authserver.Server, listeners []net.Listener, log *slog.Logger) error {
	srv.Start(context.WithoutCancel(ctx))
	servers := []*http.Server{newHTTPServer(srv.Handler(), log), newHTTPServer(srv.TelemetryHandler(), log)}
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		// Each goroutine exits when its server is shut down below.
		go func() {
			if err := hs.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	log.Info("serving", "issuer", cfg.Issuer, "http", listeners[0].Addr().String(), "telemetry", listeners[1].Addr().String(),
		"database", cfg.Database.Driver)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
		log.Error("listener failed", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil {
			serveErr = errors.Join(serveErr, fmt.Errorf("shutdown: %w", err))
		}
	}
	if err := srv.Shutdown(sctx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	if serveErr == nil {
		log.Info("stopped")
	}
	return serveErr
}

// demo creates the demo installation and prints its secrets to stdout,
// never to the log.
func (a *app) demo(ctx context.Context, cfg *config.Config, st storage.Store, log *slog.Logger) error {
	d, err := createDemo(ctx, cfg, st)
	if err != nil {
		return err
	}
	log.Info("demo installation created", "organization", demoOrg, "user", demoUser, "audience", demoAudience, "client", demoClient,
		"introspection_client", demoIntrospector)
	return printDemo(a.stdout, cfg, d)
}

// listen opens a TCP listener, with TLS when the certificate and key are set.
func listen(addr string, h config.HTTP) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if h.TLSCertFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(h.TLSCertFile, h.TLSKeyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// newHTTPServer sets every timeout, so a slow client cannot pin a
// connection, and caps request headers.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
