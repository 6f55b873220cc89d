package telemetry

import (
	"context"
	"database/sql"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/governance"
	"authserver/internal/periodic"
	"authserver/storage"
)

// Metrics are the server's Prometheus metrics outside the OAuth endpoints
// (which register their own): HTTP requests, PAT events and counts, the
// write-behind queues and readiness. Every label is bounded: a result, a
// cause, a handler or a status code — never a user, an organization, a
// client or a token.
type Metrics struct {
	PATEvents *prometheus.CounterVec

	HTTPRequests    *prometheus.CounterVec
	HTTPDuration    *prometheus.HistogramVec
	PATs            *prometheus.GaugeVec
	LastUsedFlushes *prometheus.CounterVec
	LastUsedDropped prometheus.Counter
	AuditDropped    prometheus.Counter
	Ready           prometheus.Gauge

	// children are the HTTP metrics' series of each route and status,
	// resolved once: WithLabelValues hashes its labels on every call.
	childrenMu sync.RWMutex
	children   map[httpSeries]httpChildren
}

// httpSeries names the HTTP series of a request.
type httpSeries struct {
	route  string
	status int
}

type httpChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// httpChildrenOf returns the series of route and status, resolving them on
// first use. Routes and statuses are bounded sets (routeLabel), so the map
// is too.
func (m *Metrics) httpChildrenOf(route string, status int) httpChildren {
	k := httpSeries{route, status}
	m.childrenMu.RLock()
	c, ok := m.children[k]
	m.childrenMu.RUnlock()
	if ok {
		return c
	}
	c = httpChildren{
		requests: m.HTTPRequests.WithLabelValues(route, strconv.Itoa(status)),
		duration: m.HTTPDuration.WithLabelValues(route),
	}
	m.childrenMu.Lock()
	if m.children == nil {
		m.children = make(map[httpSeries]httpChildren)
	}
	m.children[k] = c
	m.childrenMu.Unlock()
	return c
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		PATEvents: NewLabelledCounter(reg, prometheus.CounterOpts{
			Name: "authserver_pat_events_total",
			Help: "PAT lifecycle events: created, regenerated, revoked_owner, revoked_admin, revoked_value, revoked_holder, revoked_leaked; of the hygiene jobs: expiry_notice, expired, revoked_idle.",
		}, "event", patEventNames),
	}
	m.registerHTTP(reg)
	m.registerBackground(reg)
	return m
}

// NewLabelledCounter registers a counter with one label and creates the
// series of every value at 0, so that a rate or an alert sees a series
// before its first event rather than none.
func NewLabelledCounter[V ~string](reg prometheus.Registerer, opts prometheus.CounterOpts, label string, values []V) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(opts, []string{label})
	reg.MustRegister(c)
	for _, v := range values {
		c.WithLabelValues(string(v))
	}
	return c
}

// registerHTTP registers the metrics of every request to the public
// listener, whatever its route.
func (m *Metrics) registerHTTP(reg prometheus.Registerer) {
	m.HTTPRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authserver_http_requests_total",
		Help: "Requests to the public listener by handler (the route pattern, \"console\" or \"not_found\") and status code.",
	}, []string{"handler", "code"})
	m.HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "authserver_http_request_duration_seconds",
		Help:    "Time to answer a request on the public listener, by handler (the route pattern).",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"handler"})
	reg.MustRegister(m.HTTPRequests, m.HTTPDuration)
}

// registerBackground registers the metrics of the work behind the
// requests: the PAT count, the last-used write-behind, the audit queue and
// readiness.
func (m *Metrics) registerBackground(reg prometheus.Registerer) {
	m.PATs = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authserver_pats",
		Help: "PATs by status (active, expired, revoked), as counted in the database every minute.",
	}, []string{"status"})
	m.LastUsedFlushes = NewLabelledCounter(reg, prometheus.CounterOpts{
		Name: "authserver_last_used_flushes_total",
		Help: "Batched writes of PAT last-use times by result (ok, error); a failed batch is retried.",
	}, "result", []string{"ok", "error"})
	m.LastUsedDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authserver_last_used_dropped_total",
		Help: "PAT last-use times dropped because the write-behind queue was full.",
	})
	m.AuditDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "authserver_audit_events_dropped_total",
		Help: "Audit events (refused exchanges, console sign-ins and sign-outs, records of a rotated token's reuse and of new networks) lost: the queue was full or closed, or the database write failed.",
	})
	m.Ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authserver_ready",
		Help: "1 when the last readiness check (database, schema, signing keys) passed, else 0.",
	})
	reg.MustRegister(m.PATs, m.LastUsedDropped, m.AuditDropped, m.Ready)
	for _, st := range countedPATStatuses {
		m.PATs.WithLabelValues(string(st))
	}
}

// countedPATStatuses are the values of authserver_pats' status label.
var countedPATStatuses = []storage.PATStatus{storage.PATActive, storage.PATExpired, storage.PATRevoked}

// LastUsedFlushed counts one flush of the last-used write-behind.
func (m *Metrics) LastUsedFlushed(_ int, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.LastUsedFlushes.WithLabelValues(result).Inc()
}

// keyStats is what the signing-key gauges read (signing.Keyring): all are
// in-memory reads, cheap enough for every scrape.
type keyStats interface {
	ActiveKeyAge() time.Duration
	RotationPeriod() time.Duration
	PublishedCount() int
}

// RegisterGauges registers the gauges read at scrape time from in-memory
// state: the signing keys, the last-used queue, the database pool (when the
// store exposes its *sql.DB) and the build. None touches the database.
func RegisterGauges(reg prometheus.Registerer, keys keyStats, queueDepth func() int, st storage.Store, version string) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authserver_signing_key_age_seconds",
			Help: "How long the active signing key has been signing (0 when there is none).",
		}, func() float64 { return keys.ActiveKeyAge().Seconds() }),
		// The age alert compares the age with this, so that it follows
		// keys.rotation_period instead of a threshold copied into the rules.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authserver_signing_key_rotation_period_seconds",
			Help: "The configured signing-key rotation period (keys.rotation_period): how long a key signs before the next takes over.",
		}, func() float64 { return keys.RotationPeriod().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authserver_jwks_keys",
			Help: "Number of public keys published in the JWKS.",
		}, func() float64 { return float64(keys.PublishedCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authserver_last_used_queue_depth",
			Help: "PATs whose last-use time waits to be written.",
		}, func() float64 { return float64(queueDepth()) }),
	)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "authserver_build_info",
		Help:        "Always 1; the labels are the version of authserver and of Go it was built with.",
		ConstLabels: prometheus.Labels{"version": buildVersion(version), "goversion": runtime.Version()},
	})
	info.Set(1)
	reg.MustRegister(info)
	if d, ok := st.(interface{ DB() *sql.DB }); ok {
		reg.MustRegister(newDBStatsCollector(d.DB()))
	}
	if b, ok := st.(interface {
		PATGrantReads() (reads, queries uint64)
	}); ok {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "authserver_pat_reads_total",
				Help: "PATs read by hash for an exchange or an introspection, each after its request arrived.",
			}, func() float64 { r, _ := b.PATGrantReads(); return float64(r) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "authserver_pat_read_queries_total",
				Help: "Database queries that served those reads: concurrent reads share one (fewer queries than reads under load).",
			}, func() float64 { _, q := b.PATGrantReads(); return float64(q) }),
		)
	}
}

// patEventNames are the values of authserver_pat_events_total's event
// label: the lifecycle events governance.Events reports. Anything else is
// counted as "other", so the label stays bounded whatever a caller sends.
var patEventNames = []string{
	"created", "regenerated", "revoked_owner", "revoked_admin", "revoked_value", "revoked_holder", "revoked_leaked",
	// The PAT hygiene jobs: expiry notices and expired events written,
	// PATs revoked for being idle.
	"expiry_notice", "expired", "revoked_idle",
}

var _ governance.Events = (*Metrics)(nil)

// PATEvent counts one PAT lifecycle event (governance.Events).
func (m *Metrics) PATEvent(event string) {
	if !slices.Contains(patEventNames, event) {
		event = "other"
	}
	m.PATEvents.WithLabelValues(event).Inc()
}

// buildVersion is the version to report: the one given, else the main
// module's version from the build information, else "devel".
func buildVersion(v string) string {
	if v != "" {
		return v
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// dbStatsCollector exports the connection pool's sql.DBStats at scrape
// time: DB.Stats reads counters under the pool's mutex and sends no query.
type dbStatsCollector struct {
	db                         *sql.DB
	open, inUse, idle, maxOpen *prometheus.Desc
	waitCount, waitDuration    *prometheus.Desc
}

func newDBStatsCollector(db *sql.DB) *dbStatsCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &dbStatsCollector{
		db:           db,
		open:         d("authserver_db_open_connections", "Open connections to the database, in use and idle."),
		inUse:        d("authserver_db_in_use_connections", "Connections to the database currently in use."),
		idle:         d("authserver_db_idle_connections", "Idle connections to the database."),
		maxOpen:      d("authserver_db_max_open_connections", "Most connections the pool may open (0: unlimited)."),
		waitCount:    d("authserver_db_wait_count_total", "Times a request waited for a free database connection."),
		waitDuration: d("authserver_db_wait_duration_seconds_total", "Total time requests waited for a free database connection."),
	}
}

func (c *dbStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.maxOpen, c.waitCount, c.waitDuration} {
		ch <- d
	}
}

func (c *dbStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(s.OpenConnections))
	ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(s.InUse))
	ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(s.Idle))
	ch <- prometheus.MustNewConstMetric(c.maxOpen, prometheus.GaugeValue, float64(s.MaxOpenConnections))
	ch <- prometheus.MustNewConstMetric(c.waitCount, prometheus.CounterValue, float64(s.WaitCount))
	ch <- prometheus.MustNewConstMetric(c.waitDuration, prometheus.CounterValue, s.WaitDuration.Seconds())
}

// patCounter is the store method the PAT gauge reads.
type patCounter interface {
	CountPATs(ctx context.Context, now time.Time) (storage.PATCounts, error)
}

// PATCountInterval is how often authserver_pats is recounted. Counting
// reads every organization's PATs: it runs in the background, never on
// scrape.
const PATCountInterval = time.Minute

// countPATs sets authserver_pats from the database. On failure the gauge
// keeps its last values.
func (m *Metrics) countPATs(ctx context.Context, st patCounter, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	counts, err := st.CountPATs(ctx, now)
	if err != nil {
		return err
	}
	for _, s := range countedPATStatuses {
		m.PATs.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
	return nil
}

// RunPATCounts counts PATs at once, then every interval, until ctx is done.
func (m *Metrics) RunPATCounts(ctx context.Context, st patCounter, now func() time.Time, interval time.Duration, log *slog.Logger) {
	periodic.NowAndEvery(ctx, interval, func(ctx context.Context) {
		if err := m.countPATs(ctx, st, now()); err != nil && ctx.Err() == nil {
			log.Warn("counting PATs for metrics failed; will retry", "err", err)
		}
	})
}
