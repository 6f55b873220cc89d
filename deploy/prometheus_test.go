package deploy

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var (
	alertsFile     = filepath.Join("prometheus", "alerts.yml")
	alertsTestFile = filepath.Join("prometheus", "alerts_test.yml")
	prometheusFile = filepath.Join("prometheus", "prometheus.yml")
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	readYAML(t, alertsFile, &f)
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rules", alertsFile)
	}
	return rules
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", alertsFile)
}

func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", alertsTestFile)
}

func TestPromtoolCheckConfig(t *testing.T) {
	runPromtool(t, "check", "config", prometheusFile)
}

// TestAlertRules checks that the rules name only known metrics and that the
// alerts the operations guide promises exist with their thresholds.
func TestAlertRules(t *testing.T) {
	rules := alertRules(t)
	byName := map[string]rule{}
	for _, r := range rules {
		for _, m := range metricNames(r.Expr) {
			if !isKnownMetric(m) {
				t.Errorf("%s%s: unknown metric %s (not in knownMetrics)", r.Alert, r.Record, m)
			}
		}
		if r.Alert == "" {
			continue
		}
		byName[r.Alert] = r
		if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: want summary and description annotations", r.Alert)
		}
	}
	// Whitespace is ignored when matching expressions.
	squash := func(s string) string { return strings.Join(strings.Fields(s), "") }
	for _, want := range []struct {
		alert, forDur string
		fragments     []string
	}{
		{"AuthserverTokenExchangeErrorsHigh", "5m", []string{
			`authserver_token_exchanges_total{result=~"temporarily_unavailable|server_error"}`, `/`, `sumby(job)(rate(authserver_token_exchanges_total[5m]))`, `>0.05`}},
		{"AuthserverTokenExchangeLatencyHigh", "10m", []string{
			`histogram_quantile(0.99,`, `authserver_token_exchange_duration_seconds_bucket`, `>0.25`}},
		{"AuthserverNotReady", "2m", []string{`authserver_ready==0`}},
		{"AuthserverTargetDown", "2m", []string{`up{job="authserver"}==0`}},
		{"AuthserverSigningKeyTooOld", "", []string{`authserver_signing_key_age_seconds>authserver_signing_key_rotation_period_seconds+86400`}},
	} {
		r, ok := byName[want.alert]
		if !ok {
			t.Errorf("alert %s is missing", want.alert)
			continue
		}
		if want.forDur != "" && r.For != want.forDur {
			t.Errorf("%s: for %q, want %s", want.alert, r.For, want.forDur)
		}
		for _, f := range want.fragments {
			if !strings.Contains(squash(r.Expr), squash(f)) {
				t.Errorf("%s: expression %q does not contain %q", want.alert, r.Expr, f)
			}
		}
	}
	if d := byName["AuthserverSigningKeyTooOld"].Annotations["description"]; !strings.Contains(d, "rotation") {
		t.Errorf("AuthserverSigningKeyTooOld: the description should say that rotation should have happened: %q", d)
	}
	// The threshold follows keys.rotation_period: the description reads the
	// configured period from the gauge instead of repeating a default.
	if d := byName["AuthserverSigningKeyTooOld"].Annotations["description"]; !strings.Contains(d, "authserver_signing_key_rotation_period_seconds") || strings.Contains(d, "30d") {
		t.Errorf("AuthserverSigningKeyTooOld: the description should show the configured period from authserver_signing_key_rotation_period_seconds: %q", d)
	}
}

// TestAlertsUnitTested: every alert has a promtool test case in which it
// fires and one in which it does not.
func TestAlertsUnitTested(t *testing.T) {
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name          string `yaml:"name"`
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, alertsTestFile, &f)
	if !slices.Equal(f.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("%s tests %q, want alerts.yml", alertsTestFile, f.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for _, r := range alertRules(t) {
		if r.Alert == "" {
			continue
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no test case where it fires", r.Alert)
		}
		if !silent[r.Alert] {
			t.Errorf("%s: no test case where it does not fire", r.Alert)
		}
	}
}

// TestPrometheusRuleMatchesAlertsFile keeps the Kubernetes PrometheusRule a
// faithful copy of alerts.yml, the tested source.
func TestPrometheusRuleMatchesAlertsFile(t *testing.T) {
	var file struct {
		Groups any `yaml:"groups"`
	}
	readYAML(t, alertsFile, &file)
	var pr struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Groups any `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, filepath.Join(k8sDir, "prometheusrule.yaml"), &pr)
	if pr.Kind != "PrometheusRule" {
		t.Fatalf("prometheusrule.yaml holds a %s", pr.Kind)
	}
	if !reflect.DeepEqual(file.Groups, pr.Spec.Groups) {
		t.Errorf("deploy/kubernetes/prometheusrule.yaml spec.groups differ from %s: copy the groups over (indented under spec:)", alertsFile)
	}
}
