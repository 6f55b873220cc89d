package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type metricType int

const (
	counter metricType = iota
	gauge
	histogram
)

// knownMetrics is every metric the dashboard and the alert rules may name.
// It must match authserver/metrics.go (the server's own metrics, checked by
// TestKnownMetricsMatchServerSource) and the Go and process collectors the
// server registers. This is the only list: the dashboard, alert-rule and
// source tests all read it.
var knownMetrics = []struct {
	name string
	typ  metricType
}{
	{"authserver_token_exchanges_total", counter},         // subject, result
	{"authserver_token_exchange_refusals_total", counter}, // subject, cause
	{"authserver_token_exchange_duration_seconds", histogram},
	{"authserver_introspections_total", counter},            // result
	{"authserver_revocations_total", counter},               // result
	{"authserver_pat_events_total", counter},                // event
	{"authserver_http_requests_total", counter},             // handler, code
	{"authserver_http_request_duration_seconds", histogram}, // handler
	{"authserver_pats", gauge},                              // status
	{"authserver_signing_key_age_seconds", gauge},
	{"authserver_signing_key_rotation_period_seconds", gauge},
	{"authserver_jwks_keys", gauge},
	{"authserver_last_used_queue_depth", gauge},
	{"authserver_last_used_flushes_total", counter}, // result
	{"authserver_last_used_dropped_total", counter},
	{"authserver_audit_events_dropped_total", counter},
	{"authserver_leaked_reports_refused_total", counter},
	{"authserver_leaked_reports_failed_total", counter},
	{"authserver_leaked_reports_pending", gauge},
	{"authserver_leaked_reports_oldest_age_seconds", gauge},
	{"authserver_db_open_connections", gauge},
	{"authserver_db_in_use_connections", gauge},
	{"authserver_db_idle_connections", gauge},
	{"authserver_db_max_open_connections", gauge},
	{"authserver_db_wait_count_total", counter},
	{"authserver_db_wait_duration_seconds_total", counter},
	{"authserver_pat_reads_total", counter},
	{"authserver_pat_read_queries_total", counter},
	{"authserver_ready", gauge},
	{"authserver_build_info", gauge},                // version, goversion
	{"authserver_outbox_deliveries_total", counter}, // sink, result
	{"authserver_outbox_queue_depth", gauge},        // stage
	{"authserver_outbox_oldest_age_seconds", gauge},
	// Go and process collectors (client_golang).
	{"go_goroutines", gauge},
	{"go_memstats_heap_inuse_bytes", gauge},
	{"process_cpu_seconds_total", counter},
	{"process_resident_memory_bytes", gauge},
}

// metricRef matches a metric name of ours or of the Go and process
// collectors in a PromQL expression whose string literals were removed.
var metricRef = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:$])((?:authserver|go|process)_[A-Za-z0-9_:]*)`)

// promqlString matches a PromQL string literal (label values, regexes).
var promqlString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")

// metricNames returns the metric names expr refers to, with the _bucket,
// _sum and _count series of a histogram reported as the histogram's name.
func metricNames(expr string) []string {
	expr = promqlString.ReplaceAllString(expr, `""`)
	var names []string
	for _, m := range metricRef.FindAllStringSubmatch(expr, -1) {
		names = append(names, baseMetricName(m[1]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// baseMetricName strips a histogram series suffix from name when what is
// left is a known histogram.
func baseMetricName(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		for _, k := range knownMetrics {
			if k.name == base && k.typ == histogram {
				return base
			}
		}
	}
	return name
}

func isKnownMetric(name string) bool {
	for _, k := range knownMetrics {
		if k.name == name {
			return true
		}
	}
	return false
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (le) (rate(authserver_token_exchange_duration_seconds_bucket{job=~"$job",result="go_fake"}[$__rate_interval])))` +
		` / sum(rate(authserver_http_requests_total[5m])) + go_goroutines + process_cpu_seconds_total + up + authserver_pats_count`)
	want := []string{"authserver_http_requests_total", "authserver_pats_count", "authserver_token_exchange_duration_seconds", "go_goroutines", "process_cpu_seconds_total"}
	if !slices.Equal(got, want) {
		t.Errorf("metricNames = %q, want %q", got, want)
	}
}

// TestKnownMetricsMatchServerSource keeps knownMetrics and the server in
// step: every metric the authserver package defines (outside tests: the
// Name of a prometheus.…Opts literal, or the first argument of a call whose
// second is a help string, as prometheus.NewDesc) must be in knownMetrics, and
// every authserver_ name in knownMetrics must be defined there. A rename in
// the server's source fails here before it silently empties a panel or
// disables an alert.
func TestKnownMetricsMatchServerSource(t *testing.T) {
	// The server defines its metrics in several packages (telemetry, the
	// surfaces that count their own requests, the outbox): every .go file
	// below ../authserver and ../outbox is read.
	var files []string
	for _, dir := range []string{"authserver", "outbox"} {
		err := filepath.WalkDir(filepath.Join("..", dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	name := regexp.MustCompile(`^authserver_[a-z0-9_]+$`)
	defined := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		record := func(e ast.Expr) {
			lit, ok := e.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && name.MatchString(s) {
				defined[baseMetricName(s)] = fset.Position(lit.Pos()).String()
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				// prometheus.CounterOpts{Name: "authserver_…", …}
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && strings.HasSuffix(sel.Sel.Name, "Opts") {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "prometheus" {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
									record(kv.Value)
								}
							}
						}
					}
				}
			case *ast.CallExpr:
				// prometheus.NewDesc("authserver_…", "help", …) and helpers
				// of the same shape: a name, then a help string.
				if len(n.Args) >= 2 {
					if help, ok := n.Args[1].(*ast.BasicLit); ok && help.Kind == token.STRING {
						record(n.Args[0])
					}
				}
			}
			return true
		})
	}
	if len(defined) == 0 {
		t.Fatal("found no authserver_ metric names below ../authserver")
	}
	for n, pos := range defined {
		if !isKnownMetric(n) {
			t.Errorf("%s: %s is not in knownMetrics (deploy/metrics_test.go): add it there (and to the dashboard), or rename it back", pos, n)
		}
	}
	// go_… and process_… come from the collectors the server registers.
	var src strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src.Write(data)
		}
	}
	for prefix, collector := range map[string]string{"go_": "collectors.NewGoCollector(", "process_": "collectors.NewProcessCollector("} {
		if !strings.Contains(src.String(), collector) {
			for _, k := range knownMetrics {
				if strings.HasPrefix(k.name, prefix) {
					t.Errorf("knownMetrics lists %s, but ../authserver no longer calls %s…)", k.name, collector)
				}
			}
		}
	}
	for _, k := range knownMetrics {
		if strings.HasPrefix(k.name, "authserver_") {
			if _, ok := defined[k.name]; !ok {
				t.Errorf("knownMetrics lists %s, which nothing below ../authserver defines any more: update the dashboard, the alert rules and the list", k.name)
			}
		}
	}
}
