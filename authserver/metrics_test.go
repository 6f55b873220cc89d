package authserver_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver"
	"authserver/exchange"
	"authserver/internal/testenv"
)

// samples parses the text exposition format into series → value, a series
// being written as the server writes it: name{label="value",…} with labels
// in name order.
func samples(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// series writes a series key as samples has it: labels are name, value
// pairs, in any order.
func series(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	type pair struct{ k, v string }
	var ps []pair
	for i := 0; i+1 < len(labels); i += 2 {
		ps = append(ps, pair{labels[i], labels[i+1]})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k, b.k) })
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.k + `="` + p.v + `"`
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// promtoolCheck runs `promtool check metrics` on a scrape. Without promtool
// the check is skipped, except under CI, where it fails.
func promtoolCheck(t *testing.T, scrape string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("promtool is required under CI: %v", err)
		}
		t.Skipf("promtool not installed (%v): the scrape is not linted; install it (Debian: prometheus) to run this check", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// allowedLabels are the only label names an authserver_ series may have:
// each has a bounded set of values.
var allowedLabels = []string{"result", "cause", "subject", "event", "handler", "code", "status", "le", "version", "goversion",
	"sink", "stage"}

// TestMetricsAfterAFullFlow scrapes /metrics after exchanges, introspection,
// revocation and API calls: promtool accepts the scrape, every series
// exists, the ones the flow touches move, and labels are bounded.
func TestMetricsAfterAFullFlow(t *testing.T) {
	e := newEnv(t, envOptions{})
	beforeText := e.metricsText()
	before := samples(beforeText)

	tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	jwt := e.jwtFor(tok)
	unknown, _ := exchange.NewPAT(e.cfg.Tokens.PATPrefix, nil)
	refused(t, e.exchange(unknown, url.Values{"audience": {"orchestrator"}}), 400, "invalid_request")
	wantActive(t, e.introspect(tok))
	wantActive(t, e.introspect(jwt))
	api := e.apiToken("acme", "alice")
	created := wantStatus(t, e.call("POST", "/api/v1/me/pats", api, map[string]any{"name": "metrics", "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
	id, _ := created["id"].(string)
	wantStatus(t, e.call("GET", "/api/v1/me/pats/"+id, api, nil), http.StatusOK)
	wantRevoked200(t, e.revoke(tok))
	if r := e.call("GET", "/no/such/path", "", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unrouted path: %d", r.StatusCode)
	}
	e.call("GET", "/console/login", "", nil)
	e.call("GET", "/console/tokens/"+id, "", nil)
	// Telemetry requests are not public requests.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		rec := httptest.NewRecorder()
		e.srv.TelemetryHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", p, rec.Code)
		}
	}
	// The exchanges and introspections queued last-use times: wait for a
	// flush (every 50ms in tests).
	okFlushes := series("authserver_last_used_flushes_total", "result", "ok")
	for deadline := time.Now().Add(5 * time.Second); samples(e.metricsText())[okFlushes] == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no last-used flush was counted")
		}
	}

	text := e.metricsText()
	after := samples(text)

	t.Run("promtool accepts the scrape", func(t *testing.T) { promtoolCheck(t, text) })

	t.Run("the flow moves its series", func(t *testing.T) {
		for _, c := range []struct {
			series  string
			atLeast float64
		}{
			{series("authserver_token_exchanges_total", "result", "granted", "subject", "pat"), 2},
			{series("authserver_token_exchanges_total", "result", "invalid_request", "subject", "pat"), 1},
			{series("authserver_token_exchange_refusals_total", "cause", "unknown", "subject", "pat"), 1},
			{"authserver_token_exchange_duration_seconds_count", 3},
			{series("authserver_introspections_total", "result", "active"), 2},
			{series("authserver_revocations_total", "result", "revoked"), 1},
			{series("authserver_pat_events_total", "event", "revoked_holder"), 1},
			{series("authserver_pat_events_total", "event", "created"), 1},
			{series("authserver_http_requests_total", "handler", "/oauth2/token", "code", "200"), 2},
			{series("authserver_http_requests_total", "handler", "/oauth2/token", "code", "400"), 1},
			{series("authserver_http_requests_total", "handler", "/oauth2/introspect", "code", "200"), 2},
			{series("authserver_http_requests_total", "handler", "/oauth2/revoke", "code", "200"), 1},
			{series("authserver_http_requests_total", "handler", "POST /api/v1/me/pats", "code", "201"), 1},
			{series("authserver_http_requests_total", "handler", "GET /api/v1/me/pats/{id}", "code", "200"), 1},
			{series("authserver_http_requests_total", "handler", "not_found", "code", "404"), 1},
			{series("authserver_http_request_duration_seconds_count", "handler", "/oauth2/introspect"), 2},
			{series("authserver_http_request_duration_seconds_bucket", "handler", "/oauth2/token", "le", "+Inf"), 3},
			{okFlushes, 1},
		} {
			if got := after[c.series] - before[c.series]; got < c.atLeast {
				t.Errorf("%s moved by %v, want at least %v", c.series, got, c.atLeast)
			}
		}
		// Every console page is one handler, whatever its code.
		console := 0.0
		for s, v := range after {
			if strings.HasPrefix(s, "authserver_http_requests_total{") && strings.Contains(s, `handler="console"`) {
				console += v
			}
		}
		if console < 2 {
			t.Errorf(`authserver_http_requests_total{handler="console"} = %v, want the 2 console requests`, console)
		}
	})

	t.Run("every series exists", func(t *testing.T) {
		for _, s := range []string{
			series("authserver_token_exchange_refusals_total", "cause", "max-lifetime", "subject", "pat"),
			series("authserver_token_exchange_refusals_total", "cause", "depth", "subject", "jwt"),
			series("authserver_token_exchanges_total", "result", "granted", "subject", "jwt"),
			series("authserver_pat_events_total", "event", "revoked_leaked"),
			series("authserver_pat_events_total", "event", "expiry_notice"),
			series("authserver_pat_events_total", "event", "expired"),
			series("authserver_pat_events_total", "event", "revoked_idle"),
			series("authserver_pats", "status", "active"),
			series("authserver_pats", "status", "expired"),
			series("authserver_pats", "status", "revoked"),
			"authserver_signing_key_age_seconds",
			"authserver_signing_key_rotation_period_seconds",
			"authserver_jwks_keys",
			"authserver_last_used_queue_depth",
			series("authserver_last_used_flushes_total", "result", "error"),
			"authserver_last_used_dropped_total",
			"authserver_audit_events_dropped_total",
			"authserver_db_open_connections",
			"authserver_db_in_use_connections",
			"authserver_db_idle_connections",
			"authserver_db_max_open_connections",
			"authserver_db_wait_count_total",
			"authserver_db_wait_duration_seconds_total",
			"authserver_pat_reads_total",
			"authserver_pat_read_queries_total",
			"authserver_ready",
			series("authserver_build_info", "version", "devel", "goversion", runtime.Version()),
			"go_goroutines",
			"process_start_time_seconds",
		} {
			if _, ok := after[s]; !ok {
				t.Errorf("no series %s", s)
			}
		}
		if got, want := after["authserver_signing_key_rotation_period_seconds"], e.cfg.Keys.RotationPeriod.D().Seconds(); got != want {
			t.Errorf("authserver_signing_key_rotation_period_seconds = %v, want keys.rotation_period %v", got, want)
		}
		if after["authserver_jwks_keys"] < 1 {
			t.Errorf("authserver_jwks_keys = %v, want the published keys", after["authserver_jwks_keys"])
		}
		if after["authserver_db_open_connections"] < 1 {
			t.Errorf("authserver_db_open_connections = %v after database work", after["authserver_db_open_connections"])
		}
		if v := after[series("authserver_build_info", "version", "devel", "goversion", runtime.Version())]; v != 1 {
			t.Errorf("authserver_build_info = %v, want 1", v)
		}
		if after["authserver_ready"] != 1 {
			t.Errorf("authserver_ready = %v after a passing /readyz, want 1", after["authserver_ready"])
		}
	})

	t.Run("labels are bounded and paths are never labels", func(t *testing.T) {
		for s := range after {
			if !strings.HasPrefix(s, "authserver_") {
				continue
			}
			if i := strings.IndexByte(s, '{'); i >= 0 {
				for _, kv := range strings.Split(strings.TrimSuffix(s[i+1:], "}"), `",`) {
					name, _, _ := strings.Cut(kv, "=")
					if !slices.Contains(allowedLabels, name) {
						t.Errorf("series %s has label %q", s, name)
					}
				}
			}
		}
		for _, raw := range []string{id, "/no/such/path", "/metrics", "/healthz", "/readyz"} {
			if strings.Contains(text, `"`+raw) {
				t.Errorf("the scrape holds %q as a label value", raw)
			}
		}
	})
}

// TestPATGauge: authserver_pats is counted when the server starts (and
// every minute after), from the database, never on scrape.
func TestPATGauge(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	for range 3 {
		e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	}
	e.pat(patSpec{org: "globex", user: "eve", scopes: []string{"OR.Jobs"}, created: now.Add(-2 * time.Hour), expires: ptr(now.Add(-time.Hour))})
	tok, _ := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
	wantRevoked200(t, e.revoke(tok))

	// A second replica starting now counts them.
	reg := prometheus.NewRegistry()
	o := serverOptions(e.cfg, e.store, e.keys, slog.New(slog.DiscardHandler))
	o.Registry = reg
	srv, err := authserver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	scrape := func() map[string]float64 {
		rec := httptest.NewRecorder()
		srv.TelemetryHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		return samples(rec.Body.String())
	}
	counts := func(got map[string]float64) [3]float64 {
		return [3]float64{got[series("authserver_pats", "status", "active")],
			got[series("authserver_pats", "status", "expired")], got[series("authserver_pats", "status", "revoked")]}
	}
	want := [3]float64{3, 1, 1} // active, expired, revoked
	for deadline := time.Now().Add(5 * time.Second); counts(scrape()) != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("authserver_pats (active, expired, revoked) = %v, want %v", counts(scrape()), want)
		}
	}

	// Scrapes read the last count: the next one is a minute away.
	e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	for range 5 {
		if got := counts(scrape()); got != want {
			t.Fatalf("a scrape recounted PATs: %v, want %v until the next count", got, want)
		}
	}
}

// TestReadiness: /readyz sets authserver_ready, the background check sets
// it without any probe, and a scrape answers while the database is down.
func TestReadiness(t *testing.T) {
	e := newEnv(t, envOptions{})
	ready := func() float64 { return samples(e.metricsText())["authserver_ready"] }
	probe := func() int {
		rec := httptest.NewRecorder()
		e.srv.TelemetryHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code
	}
	// The check Start runs sets the gauge without any /readyz call.
	for deadline := time.Now().Add(5 * time.Second); ready() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("authserver_ready never became 1 after Start")
		}
	}
	if code := probe(); code != http.StatusOK {
		t.Fatalf("/readyz %d, want 200", code)
	}
	e.closeStore()
	if code := probe(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the database down: %d, want 503", code)
	}
	if got := ready(); got != 0 {
		t.Fatalf("authserver_ready = %v after a failing /readyz, want 0", got)
	}
	rec := httptest.NewRecorder()
	e.srv.TelemetryHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/healthz with the database down: %d, want 200", rec.Code)
	}
}
