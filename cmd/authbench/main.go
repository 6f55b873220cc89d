// Command authbench is the load benchmark of the token-exchange hot path.
//
// With no flags it starts a throwaway PostgreSQL cluster, prepares a
// database with 100 000 PATs spread over users with realistic roles and
// folders, builds and starts `authserver serve` as a separate process, drives
// POST /oauth2/token with a random PAT per request at a fixed concurrency
// (vegeta), and reports exchanges/s, latency percentiles, errors by code,
// server CPU per exchange (from the server's process_cpu_seconds_total),
// server RSS, database transactions per exchange, the in-process cost of
// one signature, and their ratio. It writes the same figures as JSON. It
// then revokes a sample of PATs and checks that the very next exchange of
// each is refused: a benchmark that only hit a cache would prove nothing.
//
//	go run ./cmd/authbench                       # 100k PATs, 16 connections, 30s, ES256
//	go run ./cmd/authbench -pats 1000000 -duration 60s
//	go run ./cmd/authbench -alg RS256
//	go run ./cmd/authbench -dsn postgres://…     # an existing, EMPTY database
//
// With -baseline REV it builds REV as well (from `git archive`, so a
// shallow clone will do) and runs the two servers in turn, REV then the
// working tree, -pairs times, on the same database and load, and reports
// the ratio of each figure per pair and their median:
//
//	go run ./cmd/authbench -baseline 0078cfe -pairs 3 -concurrency 1,16,64
//
// With -target it drives servers that run elsewhere (several -target
// flags, or one balancer URL); -dsn then names their database, into which
// the PATs are prepared, and -telemetry their telemetry listeners, for CPU
// and RSS. Nothing is started on this machine.
//
//	go run ./cmd/authbench -dsn postgres://… -target http://10.0.0.5:8080 -target http://10.0.0.6:8080 \
//	    -telemetry http://10.0.0.5:9090 -telemetry http://10.0.0.6:9090
//
// Without -target it only ever targets 127.0.0.1 and stops by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"authserver/exchange"
)

type options struct {
	pats int
	// usedFrom, when set, prepares every PAT as last used an hour before
	// from that network: PATs in daily use rather than new ones.
	usedFrom    string
	usedAddr    string // an address in usedFrom, shown as the last use's
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

	levels    []int    // -concurrency, one or more
	baseline  string   // a git revision to compare the working tree with
	pairs     int      // baseline, working tree: this many times
	targets   []string // servers running elsewhere
	telemetry []string // their telemetry listeners
	kek       []byte   // the key-encryption key every started server shares
	// buildFlags are added to go build: the tests build as they are built
	// themselves (-race), so that the build cache serves the packages.
	buildFlags []string
}

func main() {
	var o options
	flag.IntVar(&o.pats, "pats", 100_000, "number of PATs to prepare")
	flag.StringVar(&o.usedFrom, "used-from", "", "prepare every PAT as used an hour before from this network (the load generator's, e.g. 127.0.0.0/24), so that no exchange is a PAT's first use from a new network")
	flag.IntVar(&o.users, "users", 0, "number of users (default pats/20, at least 10)")
	flag.IntVar(&o.orgs, "orgs", 10, "number of organizations")
	flag.Func("concurrency", "concurrent connections, or a comma-separated list of them with -baseline (default 16)", func(v string) error {
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("want positive integers")
			}
			o.levels = append(o.levels, n)
		}
		return nil
	})
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
	flag.StringVar(&o.baseline, "baseline", "", "a git revision to build and compare with the working tree, run in turn (REV, tree, REV, tree, …)")
	flag.IntVar(&o.pairs, "pairs", 3, "with -baseline: how many times to run the two in turn")
	flag.Func("target", "URL of a running server to drive instead of starting one (repeat for several; needs -dsn)", func(v string) error {
		o.targets = append(o.targets, strings.TrimRight(v, "/"))
		return nil
	})
	flag.Func("telemetry", "with -target: URL of a target's telemetry listener, for its CPU and RSS (repeat, one per server)", func(v string) error {
		o.telemetry = append(o.telemetry, strings.TrimRight(v, "/"))
		return nil
	})
	flag.Parse()
	if len(o.levels) == 0 {
		o.levels = []int{16}
	}
	o.concurrency = o.levels[0]
	if err := o.check(); err != nil {
		fmt.Fprintf(os.Stderr, "authbench: %v\n", err)
		os.Exit(2)
	}
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

// check refuses combinations of flags that cannot work.
func (o *options) check() error {
	switch {
	case len(o.targets) > 0 && o.dsn == "":
		return errors.New("-target needs -dsn: the PATs are prepared in the targets' database")
	case len(o.targets) > 0 && o.baseline != "":
		return errors.New("-baseline starts its own servers: it cannot be used with -target")
	case len(o.telemetry) > 0 && len(o.targets) == 0:
		return errors.New("-telemetry goes with -target")
	case len(o.levels) > 1 && o.baseline == "":
		return errors.New("several -concurrency values need -baseline")
	case o.baseline != "" && o.pairs < 1:
		return errors.New("-pairs must be at least 1")
	case o.baseline != "" && o.serverBin != "":
		return errors.New("-baseline builds both servers: leave -server out")
	case o.baseline != "" && o.cpuprofile != "":
		return errors.New("-cpuprofile profiles one run: leave -baseline out")
	}
	if o.usedFrom != "" {
		p, err := netip.ParsePrefix(o.usedFrom)
		if n, ok := exchange.NetworkOf(p.Addr()); err != nil || !ok || n != o.usedFrom {
			return errors.New("-used-from must be a network as the server records it, a /24 or a /64 (e.g. 127.0.0.0/24)")
		}
		o.usedAddr = p.Addr().Next().String()
	}
	return nil
}
