package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var dashboardFile = filepath.Join("grafana", "dashboards", "authserver.json")

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// dashboardExprs returns every PromQL expression of the dashboard, by panel
// title.
func dashboardExprs(d dashboard) map[string][]string {
	exprs := map[string][]string{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			exprs[p.Title] = append(exprs[p.Title], tg.Expr)
		}
	}
	return exprs
}

func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if q, _ := json.Marshal(v.Query); v.Type == "query" {
			for _, m := range metricNames(string(q)) {
				if !isKnownMetric(m) {
					t.Errorf("variable %s: unknown metric %s", v.Name, m)
				}
			}
		}
	}
	if vars["datasource"] != "datasource" {
		t.Error("the dashboard needs a datasource variable, so that it works with any Prometheus")
	}

	ids := map[int]string{}
	used := map[string]bool{}
	for _, p := range allPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos == nil {
			t.Errorf("panel %q has no gridPos", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if uid := fmt.Sprint(p.Datasource["uid"]); uid != "${datasource}" {
			t.Errorf("panel %q: datasource uid %q, want ${datasource}", p.Title, uid)
		}
		for _, tg := range p.Targets {
			names := metricNames(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
			}
			for _, m := range names {
				if !isKnownMetric(m) {
					t.Errorf("panel %q: unknown metric %s in %q (not in knownMetrics; see authserver/metrics.go)", p.Title, m, tg.Expr)
				}
				used[m] = true
			}
		}
	}
	for _, k := range knownMetrics {
		if !used[k.name] {
			t.Errorf("no panel shows %s", k.name)
		}
	}

	// Exchange latency: p50, p90 and p99 of the exchange histogram.
	var all strings.Builder
	for _, es := range dashboardExprs(d) {
		for _, e := range es {
			all.WriteString(strings.Join(strings.Fields(e), "") + "\n")
		}
	}
	for _, q := range []string{"0.5", "0.9", "0.99"} {
		re := regexp.MustCompile(`histogram_quantile\(` + regexp.QuoteMeta(q) + `,[^\n]*authserver_token_exchange_duration_seconds_bucket`)
		if !re.MatchString(all.String()) {
			t.Errorf("no panel shows the p%s of token-exchange latency", strings.TrimPrefix(q, "0."))
		}
	}
}

// grafanaInterval and grafanaVar match Grafana's variables in a query.
var (
	grafanaInterval = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)
	grafanaVar      = regexp.MustCompile(`\$\{?[A-Za-z_][A-Za-z0-9_]*\}?`)
)

// TestDashboardQueriesParse has promtool parse every dashboard query, with
// Grafana's variables replaced, as a recording rule.
func TestDashboardQueriesParse(t *testing.T) {
	promtool(t) // skip early, before any work, when it is missing
	d := readDashboard(t)
	type rec struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var recs []rec
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			e := grafanaInterval.ReplaceAllString(tg.Expr, "5m")
			e = grafanaVar.ReplaceAllString(e, ".+")
			recs = append(recs, rec{Record: fmt.Sprintf("dashboard:query_%d", len(recs)), Expr: e})
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": recs}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", path)
}

func TestGrafanaDatasource(t *testing.T) {
	var f struct {
		Datasources []struct {
			Type      string `yaml:"type"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "datasources", "prometheus.yml"), &f)
	if len(f.Datasources) != 1 || f.Datasources[0].Type != "prometheus" || !f.Datasources[0].IsDefault ||
		f.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("datasources = %+v, want the compose file's Prometheus (http://prometheus:9090) as the default", f.Datasources)
	}
}
