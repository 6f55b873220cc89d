// Command authbench is the load benchmark of the token-exchange hot path.
//
// With no flags it starts a throwaway PostgreSQL cluster, prepares a
// database with 100 000 PATs spread over users with realistic roles and
// folders, builds and starts `authserver serve` as a separate process, drives
// POST /oauth2/token with a random PAT per request at a fixed concurrency
// (vegeta), and reports exchanges/s, latency percentiles, errors by code,
// server CPU per exchange (from the server's process_cpu_seconds_total),
// server RSS, the in-process cost of one signature, and their ratio. It
// writes the same figures as JSON. It then revokes a sample of PATs and
// checks that the very next exchange of each is refused: a benchmark that
// only hit a cache would prove nothing.
//
//	go run ./cmd/authbench                       # 100k PATs, 16 connections, 30s, ES256
//	go run ./cmd/authbench -pats 1000000 -duration 60s
//	go run ./cmd/authbench -alg RS256
//	go run ./cmd/authbench -dsn postgres://…     # an existing, EMPTY database
//
// It only ever targets 127.0.0.1 and stops by itself.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	pats        int
	users       int
	orgs        int
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	alg         string
	dsn         string
	out         string
	serverBin   string
	logLevel    string
	revokeCheck int
	rssEvery    time.Duration
	cpuprofile  string
}

func main() {
	var o options
	flag.IntVar(&o.pats, "pats", 100_000, "number of PATs to prepare")
	flag.IntVar(&o.users, "users", 0, "number of users (default pats/20, at least 10)")
	flag.IntVar(&o.orgs, "orgs", 10, "number of organizations")
	flag.IntVar(&o.concurrency, "concurrency", 16, "concurrent connections")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "measured load duration")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "unmeasured warm-up before the run")
	flag.StringVar(&o.alg, "alg", "ES256", "signing algorithm: ES256, RS256 or EdDSA")
	flag.StringVar(&o.dsn, "dsn", "", "PostgreSQL DSN of an empty database (default: a throwaway cluster)")
	flag.StringVar(&o.out, "out", "bench-results.json", "JSON results file")
	flag.StringVar(&o.serverBin, "server", "", "authserver binary (default: go build ./cmd/authserver)")
	flag.StringVar(&o.logLevel, "log-level", "info", "the server's log level")
	flag.IntVar(&o.revokeCheck, "revoke-check", 25, "PATs revoked after the run to check the next exchange is refused (keep under 30: failed exchanges are rate-limited per address)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "save a CPU profile of the server during the run to this file (turns on telemetry.pprof)")
	flag.DurationVar(&o.rssEvery, "rss-every", 5*time.Second, "how often to sample the server's RSS")
	flag.Parse()
	if o.users == 0 {
		o.users = max(10, o.pats/20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "authbench: %v\n", err)
		os.Exit(1)
	}
}
