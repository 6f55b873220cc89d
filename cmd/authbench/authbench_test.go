package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBaselineSmoke runs a -baseline comparison end to end, briefly: HEAD
// (which exists in any clone, shallow ones included) against the working
// tree, two short pairs on a small database. It keeps the comparison from
// rotting; the figures of so short a run mean nothing.
func TestBaselineSmoke(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results.json")
	o := options{
		pats: 300, users: 15, orgs: 3, levels: []int{4}, concurrency: 4,
		duration: time.Second, warmup: 200 * time.Millisecond,
		alg: "ES256", out: out, logLevel: "warn", revokeCheck: 5, rssEvery: time.Second,
		baseline: "HEAD", pairs: 2,
	}
	if raceEnabled {
		// Build the servers as this test was built, so that the packages
		// the race-enabled test run compiled are reused.
		o.buildFlags = []string{"-race"}
	}
	if err := o.check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var c comparison
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Baseline, "HEAD (") || len(c.Levels) != 1 || len(c.Levels[0].Pairs) != 2 {
		t.Fatalf("comparison: baseline %q, %d levels", c.Baseline, len(c.Levels))
	}
	if !strings.HasPrefix(c.RevokeCheck, "ok:") {
		t.Fatalf("revocation check: %s", c.RevokeCheck)
	}
	for i, p := range c.Levels[0].Pairs {
		for name, r := range map[string]*results{"baseline": p.Baseline, "working tree": p.Current} {
			if r.Load.Throughput <= 0 || len(r.Load.Errors) > 0 || r.Granted <= 0 || r.CPUPerExch <= 0 || r.DBRoundTrips <= 0 {
				t.Errorf("pair %d, %s: %.0f exchanges/s, errors %v, %.0f granted, %.1f µs server CPU each, %.2f statements each",
					i+1, name, r.Load.Throughput, r.Load.Errors, r.Granted, r.CPUPerExch, r.DBRoundTrips)
			}
		}
		if p.Ratios.Throughput <= 0 || p.Ratios.ServerCPUPerExch <= 0 || p.Ratios.P99 <= 0 {
			t.Errorf("pair %d: ratios %+v", i+1, p.Ratios)
		}
	}
	if m := c.Levels[0].Median; m.Throughput <= 0 {
		t.Errorf("median ratios %+v", m)
	}
}
