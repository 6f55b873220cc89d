package authserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"authserver/authserver/accesstoken"
	"authserver/authserver/api"
	"authserver/authserver/console"
	"authserver/authserver/discovery"
	"authserver/authserver/dpop"
	"authserver/authserver/oauth"
	"authserver/authserver/session"
	"authserver/authserver/telemetry"
	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/internal/password"
	"authserver/internal/periodic"
	"authserver/internal/ratelimit"
	"authserver/outbox"
	"authserver/outbox/mail"
	"authserver/outbox/ssf"
	"authserver/outbox/webhook"
	"authserver/signing"
	"authserver/storage"
)

// Options are the settings and dependencies of a Server. Issuer, PATPrefix,
// AccessTokenTTL, the console session timeouts, Store, Keys and Logger are
// required. They are plain values: cmd/authserver reads the configuration
// and fills them, so this package does not depend on the configuration's
// shape.
type Options struct {
	// Issuer is this server's URL: the iss of its tokens, the id of its
	// own management audience, and (when https) what makes console
	// cookies Secure.
	Issuer string
	// PATPrefix is the prefix of every PAT this server creates and accepts.
	PATPrefix string
	// AccessTokenTTL is the lifetime of access tokens for audiences that do
	// not set their own.
	AccessTokenTTL time.Duration
	// MaxDelegationDepth is how many chained exchanges may follow a PAT's
	// exchange (tokens.max_delegation_depth); 0 allows none.
	MaxDelegationDepth int
	// DefaultAudience is the audience of an exchange that names none; ""
	// requires every exchange to name one.
	DefaultAudience string
	// DPoPProofWindow is how old a DPoP proof may be, and how long its jti
	// is remembered; 0 means one minute.
	DPoPProofWindow time.Duration
	// DPoPNonce requires DPoP proofs to carry a nonce this server issued.
	DPoPNonce bool
	// ConsoleSessionIdle and ConsoleSessionAbsolute end a console session
	// after that long without a request, and that long after sign-in.
	ConsoleSessionIdle     time.Duration
	ConsoleSessionAbsolute time.Duration
	// TrustedProxies are the networks of the reverse proxies whose
	// X-Forwarded-For is believed (httpx.ClientAddr has the rule); empty:
	// the client is the socket peer.
	TrustedProxies []netip.Prefix
	// Pprof serves /debug/pprof/ on the telemetry listener.
	Pprof bool

	Store  storage.Store
	Keys   *signing.Keyring
	Logger *slog.Logger
	// Registry receives the server's metrics; nil uses a private registry.
	Registry *prometheus.Registry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LastUsedInterval is how often last-use times are flushed; default 2s.
	LastUsedInterval time.Duration
	// Version is reported by authserver_build_info; "" reads it from the
	// build information.
	Version string
	// ConsoleFiles replaces the console's embedded templates/ and static/
	// (tests use it to prove a missing template stops New); nil: embedded.
	ConsoleFiles fs.FS
	// InsecureNoRateLimits turns every rate limit off (failed exchanges,
	// introspections and revocations, console sign-ins, leaked-token
	// reports). For tests and benchmarks that send many failures from one
	// address; never for a server facing clients.
	InsecureNoRateLimits bool

	// SSF and Mail configure the Shared Signals and e-mail sinks of the
	// lifecycle events (eventSinks); their zero values send nothing.
	SSF  ssf.Config
	Mail mail.Config
	// HygieneInterval is how often the PAT hygiene jobs run (expiry
	// notices, expired events, idle revocation); 0 means
	// governance.HygieneInterval (a minute).
	HygieneInterval time.Duration
	// PasswordParams are the argon2id costs of the console passwords this
	// server hashes; zero: password.Default.
	PasswordParams password.Params
	// Lifecycle events. Delivery paces the outbox's dispatcher (zero
	// fields take outbox's defaults). WebhookSecrets seals and opens
	// webhook secrets (from the key-encryption key); nil: webhooks cannot
	// be created and deliveries to them wait for a replica that has it.
	// Sinks are sinks built outside this package, added to those sinks
	// builds. WebhookPrivateNetworks lets webhooks point at loopback,
	// private and other non-public addresses; off (the default), such a
	// URL is refused when it is added and such a connection when a
	// delivery makes it.
	Delivery               outbox.Timing
	WebhookSecrets         *signing.Sealer
	WebhookPrivateNetworks bool
	Sinks                  []outbox.Sink
}

// Server is every HTTP surface of one authserver process.
type Server struct {
	store    storage.Store
	keys     *signing.Keyring
	log      *slog.Logger
	reg      *prometheus.Registry
	now      func() time.Time
	metrics  *telemetry.Metrics
	lastUsed *lastUsed
	signals  *patSignals
	audit    *auditQueue
	catalog  *governance.Catalog
	dpop     *dpop.Checker
	api      *api.Handler
	console  *console.Handler
	sessions *session.Sessions
	health   *telemetry.Health
	gov      *governance.Service
	hygiene  time.Duration
	public   http.Handler
	telem    http.Handler
	// sinkList are the outbox's sinks (Server.sinks).
	sinkList []outbox.Sink
	outbox   *outbox.Dispatcher

	// stop ends the background goroutines started by Start.
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New wires the server. It starts no goroutine and opens no listener: call
// Start, then serve Handler and TelemetryHandler, then Shutdown.
func New(o Options) (*Server, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	s := newServer(o)
	sinks, err := s.sinks(o)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s.sinkList = sinks
	s.outbox, err = outbox.New(outbox.Options{Timing: o.Delivery, Store: o.Store, Sinks: sinks,
		Metrics: outbox.NewMetrics(s.reg), Log: s.log, Now: s.now})
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	sh, err := s.shared(o)
	if err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	if err := s.mountPublic(o, sh); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	s.mountTelemetry(o, sh.addrs)
	s.gov, s.hygiene = sh.gov, o.HygieneInterval
	if s.hygiene <= 0 {
		s.hygiene = governance.HygieneInterval
	}
	return s, nil
}

// nudging is governance's store, which nudges this replica's outbox after
// each transaction commits: the events it wrote leave within moments
// rather than at the next poll. Other replicas find them at their next
// poll; the CLI's events wait for it too.
type nudging struct {
	governance.Store
	nudge func()
}

func (n nudging) Update(ctx context.Context, fn func(tx governance.Tx) error) error {
	err := n.Store.Update(ctx, fn)
	if err == nil {
		n.nudge()
	}
	return err
}

// sinks are where lifecycle events go: the one list of the outbox's
// sinks. A new sink is added here (or, when built from configuration
// this package does not see, passed in Options.Sinks).
func (s *Server) sinks(o Options) ([]outbox.Sink, error) {
	var sinks []outbox.Sink
	if o.WebhookSecrets != nil {
		wh, err := webhook.New(webhook.Options{Store: o.Store, Secrets: o.WebhookSecrets, Now: s.now,
			PrivateNetworks: o.WebhookPrivateNetworks})
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, wh)
	}
	more, err := eventSinks(o)
	if err != nil {
		return nil, err
	}
	sinks = append(sinks, more...)
	return append(sinks, o.Sinks...), nil
}

func (o *Options) check() error {
	if o.Store == nil || o.Keys == nil || o.Logger == nil {
		return errors.New("authserver: Store, Keys and Logger are required")
	}
	if o.Issuer == "" || o.PATPrefix == "" || o.AccessTokenTTL <= 0 {
		return errors.New("authserver: Issuer, PATPrefix and a positive AccessTokenTTL are required")
	}
	return nil
}

// newServer builds what every surface reports to: the logger, the
// registry and metrics, the clock, the last-use and audit queues and the
// audience catalogue.
func newServer(o Options) *Server {
	// Every line logged while serving a request carries its request id,
	// whichever handler logs it.
	log := httpx.WithRequestIDs(o.Logger)
	s := &Server{store: o.Store, keys: o.Keys, log: log, reg: o.Registry, now: o.Now}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.now == nil {
		s.now = time.Now
	}
	interval := o.LastUsedInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.metrics = telemetry.NewMetrics(s.reg)
	s.lastUsed = newLastUsed(o.Store, interval, log, s.metrics.LastUsedFlushed, s.metrics.LastUsedDropped.Inc)
	s.audit = newAuditQueue(o.Store, 4096, log, s.metrics.AuditDropped.Inc)
	telemetry.RegisterGauges(s.reg, o.Keys, s.lastUsed.Len, o.Store, o.Version)
	s.catalog = governance.NewCatalog(o.Store, o.Issuer, s.now)
	return s
}

// sharedParts are built once and given to several surfaces.
type sharedParts struct {
	// addrs is the one client-address rule of both listeners: every rate
	// limit, audit event and log line reads the address it names
	// (httpx.ClientAddrOf).
	addrs httpx.ClientAddr
	// tokens is the one verifier of our JWTs, for the API, introspection
	// and revocation alike, so that a token gets one verdict everywhere.
	tokens *accesstoken.Verifier
	gov    *governance.Service
	// dpop is the one checker of DPoP proofs, for the token endpoint and
	// the management API, so that a proof's jti is spent once for both.
	dpop *dpop.Checker
}

func (s *Server) shared(o Options) (*sharedParts, error) {
	tokens, err := accesstoken.New(accesstoken.Config{Issuer: o.Issuer, Keys: o.Keys, Now: s.now,
		Leeway: accesstoken.DefaultLeeway, KnownAudience: s.catalog.Known})
	if err != nil {
		return nil, err
	}
	gov := governance.New(governance.Options{Store: nudging{storage.Narrow[governance.Tx](o.Store), s.outbox.Nudge}, Catalog: s.catalog,
		PATPrefix: o.PATPrefix, Now: s.now, Events: s.metrics, WebhookSecrets: webhookSealer(o), PasswordParams: o.PasswordParams,
		WebhookPrivateNetworks: o.WebhookPrivateNetworks})
	// The console's sessions, built before the surfaces and given to the
	// console and to the management API, which accepts the console's cookie.
	s.sessions, err = session.New(session.Options{Store: storage.Narrow[session.Tx](o.Store), Log: s.log, Now: s.now,
		Issuer: o.Issuer, Idle: o.ConsoleSessionIdle, Absolute: o.ConsoleSessionAbsolute})
	if err != nil {
		return nil, err
	}
	window := o.DPoPProofWindow
	if window <= 0 {
		window = time.Minute
	}
	s.dpop, err = dpop.New(dpop.Options{Store: o.Store, Window: window, Nonce: o.DPoPNonce, Now: s.now})
	if err != nil {
		return nil, err
	}
	s.signals = newPATSignals(gov, s.lastUsed.interval, s.log, s.now, s.metrics.AuditDropped.Inc)
	return &sharedParts{addrs: httpx.ClientAddr{Trusted: o.TrustedProxies}, tokens: tokens, gov: gov, dpop: s.dpop}, nil
}

// webhookSealer is o.WebhookSecrets as governance takes it: nil when
// there is none (not an interface holding a nil pointer).
func webhookSealer(o Options) governance.Sealer {
	if o.WebhookSecrets == nil {
		return nil
	}
	return o.WebhookSecrets
}

// mountPublic builds the surfaces of the public listener and mounts them.
func (s *Server) mountPublic(o Options, sh *sharedParts) error {
	oauthEndpoints, err := oauth.New(oauth.Options{
		Rules: exchange.Rules{Issuer: o.Issuer, PATPrefix: o.PATPrefix,
			AccessTokenTTL: o.AccessTokenTTL, DefaultAudience: o.DefaultAudience, MaxDelegationDepth: o.MaxDelegationDepth},
		Store: o.Store, Audiences: s.catalog, Signer: o.Keys, Tokens: sh.tokens, Revocations: sh.gov, Audit: s.audit,
		Used: s.lastUsed.Used, Signals: s.signals, Metrics: s.reg, Log: s.log, Now: s.now, NoRateLimits: o.InsecureNoRateLimits, DPoP: sh.dpop,
	})
	if err != nil {
		return err
	}
	// One budget of password guesses for the console and the API.
	var passwords *ratelimit.Passwords
	if !o.InsecureNoRateLimits {
		passwords = ratelimit.NewPasswords()
	}
	s.api = api.New(api.Options{Gov: sh.gov, Catalog: s.catalog, Tokens: sh.tokens, Store: o.Store, Sessions: s.sessions,
		Issuer: o.Issuer, Now: s.now, Log: s.log, Metrics: s.reg, NoRateLimits: o.InsecureNoRateLimits, Passwords: passwords,
		DPoP: sh.dpop})
	s.console, err = console.New(console.Options{Gov: sh.gov, Catalog: s.catalog, Sessions: s.sessions, Log: s.log, Audit: s.audit,
		Now: s.now, Prefix: o.PATPrefix, Issuer: o.Issuer, Files: o.ConsoleFiles, Passwords: passwords})
	if err != nil {
		return err
	}
	pub := http.NewServeMux()
	oauthEndpoints.Mount(pub)
	s.api.Mount(pub)
	s.console.Mount(pub)
	(&discovery.Metadata{Issuer: o.Issuer, Catalog: s.catalog}).Mount(pub)
	(&discovery.ProtectedResource{Issuer: o.Issuer}).Mount(pub)
	(&discovery.JWKS{Keys: o.Keys}).Mount(pub)
	mountEventMetadata(pub, o)
	s.public = &telemetry.Observed{Next: pub, Log: s.log, Level: slog.LevelInfo, Metrics: s.metrics, Addrs: sh.addrs,
		LooksSecret: telemetry.CredentialShaped(o.PATPrefix)}
	return nil
}

// mountTelemetry builds the operator listener: health, metrics and, when
// asked for, the profiler.
func (s *Server) mountTelemetry(o Options, addrs httpx.ClientAddr) {
	tel := http.NewServeMux()
	s.health = &telemetry.Health{Store: o.Store, KeysLoaded: func() bool { return o.Keys.PublishedCount() > 0 },
		Ready: s.metrics.Ready, Log: s.log}
	s.health.Mount(tel)
	tel.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	if o.Pprof {
		tel.HandleFunc("/debug/pprof/", pprof.Index)
		tel.HandleFunc("/debug/pprof/profile", pprof.Profile)
		tel.HandleFunc("/debug/pprof/trace", pprof.Trace)
		tel.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		tel.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	}
	// Probes and scrapes come every few seconds: logged at debug only, and
	// not counted in the public listener's HTTP metrics.
	s.telem = &telemetry.Observed{Next: tel, Log: s.log, Level: slog.LevelDebug, Addrs: addrs}
}

// Handler serves the public listener.
func (s *Server) Handler() http.Handler { return s.public }

// TelemetryHandler serves the operator listener: /healthz, /readyz and
// /metrics.
func (s *Server) TelemetryHandler() http.Handler { return s.telem }

// Start runs the background work — last-used flushes, the audit queue, the
// recorded leaked-token reports, key maintenance, the readiness check (every 5 s),
// the PAT count (every minute) behind the metrics, the sweep of expired
// console sessions, the purge of expired DPoP proofs, the PAT hygiene
// jobs (every HygieneInterval) and the outbox's dispatcher, which delivers
// lifecycle events — until Shutdown.
func (s *Server) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	readiness := func(ctx context.Context) { s.health.Run(ctx, telemetry.ReadyInterval) }
	patCounts := func(ctx context.Context) {
		s.metrics.RunPATCounts(ctx, s.store, s.now, telemetry.PATCountInterval, s.log)
	}
	dpopPurge := func(ctx context.Context) {
		s.dpop.Run(ctx, func(err error) { s.log.WarnContext(ctx, "purging expired DPoP proofs failed", "err", err) })
	}
	hygiene := func(ctx context.Context) { periodic.Every(ctx, s.hygiene, s.runHygiene) }
	for _, run := range []func(context.Context){s.lastUsed.Run, s.signals.Run, s.audit.Run, s.api.Run, s.keys.Run, readiness, patCounts, s.sessions.Sweep, dpopPurge, hygiene, s.outbox.Run} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run(ctx)
		}()
	}
}

// runHygiene runs the PAT hygiene jobs once. Each replica runs them; what
// they write is written once whichever runs first (governance/hygiene.go).
func (s *Server) runHygiene(ctx context.Context) {
	res, err := s.gov.RunHygiene(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "PAT hygiene jobs failed; the next run retries", "err", err)
	}
	if res != (governance.HygieneResult{}) {
		s.log.InfoContext(ctx, "PAT hygiene", "expiry_notices", res.Notices, "expired", res.Expired, "idle_revoked", res.IdleRevoked)
	}
}

// Shutdown stops the background work and writes what the server holds in
// memory (pending last-used times, queued audit events, pending records
// of a rotated secret's reuse and of new networks). Leaked-token
// reports are in the database already. Call it after the listeners have
// stopped accepting requests.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stop != nil {
		s.audit.Close(ctx) // drains the queue through the running writer
		s.stop()
		s.wg.Wait()
	}
	s.signals.Flush(ctx) // failures are logged: the next use notices again
	return s.lastUsed.Flush(ctx)
}
