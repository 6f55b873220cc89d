package main

import (
	"strings"
	"testing"
)

// TestParseMetricsAcrossRevisions: the granted exchanges are read whether a
// revision splits the counter by subject or not, summing the split series.
func TestParseMetricsAcrossRevisions(t *testing.T) {
	const name = `authserver_token_exchanges_total{result="granted"}`
	for _, c := range []struct {
		text string
		want float64
	}{
		{"authserver_token_exchanges_total{result=\"granted\"} 7\nauthserver_token_exchanges_total{result=\"invalid_request\"} 2\n", 7},
		{"authserver_token_exchanges_total{result=\"granted\",subject=\"jwt\"} 3\n" +
			"authserver_token_exchanges_total{result=\"granted\",subject=\"pat\"} 5\n" +
			"authserver_token_exchanges_total{result=\"invalid_request\",subject=\"pat\"} 9\n", 8},
	} {
		m, err := parseMetrics(strings.NewReader(c.text), []string{name, "process_cpu_seconds_total"})
		if err != nil {
			t.Fatal(err)
		}
		if m[name] != c.want {
			t.Errorf("granted %v, want %v from:\n%s", m[name], c.want, c.text)
		}
	}
}
