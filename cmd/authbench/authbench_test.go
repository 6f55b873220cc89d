package main

import (
	"context"
	"encoding/json"
	"math"
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
		baseline: "HEAD", pairs: 2, usedFrom: "127.0.0.0/24",
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

func TestRatiosAndMedians(t *testing.T) {
	run := func(tput float64, cpu, p50 float64) *results {
		return &results{Load: &loadResult{Throughput: tput, P50: time.Duration(p50 * 1e6), P99: time.Duration(4 * p50 * 1e6)},
			CPUPerExch: cpu, CPU: cpuAccount{MachinePerExch: 2 * cpu, ExchangePerExch: 1.5 * cpu, PostgresPerExch: cpu / 2}, DBRoundTrips: 1}
	}
	base := run(1000, 300, 5)
	pairs := []pairResult{
		{Baseline: base, Current: run(1500, 150, 4)},
		{Baseline: base, Current: run(1200, 240, 6)},
		{Baseline: base, Current: run(900, 330, 5)},
		{Baseline: base, Current: run(1100, 270, 5.5)},
	}
	for i := range pairs {
		pairs[i].Ratios = ratiosOf(pairs[i].Baseline, pairs[i].Current)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if r := pairs[0].Ratios; !near(r.Throughput, 1.5) || !near(r.ServerCPUPerExch, 0.5) || !near(r.MachineCPUPerExch, 0.5) || !near(r.P50, 0.8) || !near(r.DBRoundTrips, 1) {
		t.Fatalf("ratios of pair 1: %+v", r)
	}
	// An even number of pairs: the mean of the two middle values.
	m := medianRatios(pairs)
	if !near(m.Throughput, 1.15) || !near(m.ServerCPUPerExch, 0.85) || !near(m.P50, 1.05) {
		t.Fatalf("medians: %+v", m)
	}
	if m := medianRatios(pairs[:3]); !near(m.Throughput, 1.2) || !near(m.ServerCPUPerExch, 0.8) {
		t.Fatalf("medians of three: %+v", m)
	}
	if ratio(1, 0) != 0 {
		t.Fatal("a ratio over zero must be 0 (unknown), not Inf")
	}
}

func TestUsedFrom(t *testing.T) {
	for in, addr := range map[string]string{"127.0.0.0/24": "127.0.0.1", "2001:db8:1:2::/64": "2001:db8:1:2::1"} {
		o := options{usedFrom: in}
		if err := o.check(); err != nil || o.usedAddr != addr {
			t.Errorf("-used-from %s: %v, address %q", in, err, o.usedAddr)
		}
	}
	for _, in := range []string{"127.0.0.1/24", "10.0.0.0/16", "2001:db8::/48", "127.0.0.1", "junk"} {
		o := options{usedFrom: in}
		if err := o.check(); err == nil {
			t.Errorf("-used-from %s accepted", in)
		}
	}
}
