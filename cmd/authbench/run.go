package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"authserver/exchange"
	"authserver/internal/pgtest"
	"authserver/storage"
)

// results is the JSON the run writes.
type results struct {
	When       time.Time   `json:"when"`
	Machine    machineInfo `json:"machine"`
	Options    optsJSON    `json:"options"`
	Load       *loadResult `json:"load"`
	ServerCPU  float64     `json:"server_cpu_seconds"`
	Granted    float64     `json:"server_exchanges_granted"`
	CPUPerExch float64     `json:"server_cpu_per_exchange_us"`
	// SignCost is one signature through go-jose (Signer.Sign and
	// CompactSerialize), as the server signed before it used the primitive
	// directly; SignPrimitiveCost is the primitive alone (SHA-256 and the
	// algorithm's signing function), what the server's signing now costs
	// apart from two base64 encodings.
	SignCost          float64 `json:"signature_cost_us"`
	SignPrimitiveCost float64 `json:"signature_primitive_cost_us"`
	Ratio             float64 `json:"cpu_per_exchange_over_signature"`
	RatioPrimitive    float64 `json:"cpu_per_exchange_over_signature_primitive"`
	// DBRoundTrips is the statements the database ran per granted
	// exchange (each a round trip), DBPATQueries those that read PATs,
	// both as DBCounted says (dbCounts). PATReadQueries is the server's
	// own count of queries per PAT read, where it reports one.
	DBRoundTrips   float64 `json:"database_statements_per_exchange"`
	DBPATQueries   float64 `json:"database_pat_queries_per_exchange"`
	DBCounted      string  `json:"database_counts_from"`
	PATReadQueries float64 `json:"pat_read_queries_per_read,omitempty"`
	// DBPATReadTime, DBTouchTime and DBAllTime are PostgreSQL's execution
	// time per exchange (µs, pg_stat_statements) of the PAT reads, of the
	// last-use writes and of every statement: wall time inside the
	// executor, which on a saturated machine includes waiting for a CPU,
	// so their shares count more than their sizes.
	DBPATReadTime float64 `json:"database_pat_read_exec_us_per_exchange"`
	DBTouchTime   float64 `json:"database_last_used_exec_us_per_exchange"`
	DBAllTime     float64 `json:"database_exec_us_per_exchange"`
	// WALFPI and WALBytes are the WAL full-page images and bytes the
	// cluster wrote per exchange (pg_stat_wal; every database of the
	// cluster, which for a throwaway one is the benchmark's alone).
	WALFPI   float64 `json:"wal_full_page_images_per_exchange"`
	WALBytes float64 `json:"wal_bytes_per_exchange"`
	// SignRate is what the machine's every core signing and doing nothing
	// else would produce (CPUs ÷ signature cost): the ceiling for a slow
	// algorithm such as RS256, where the signature dominates.
	SignRate    float64   `json:"machine_signing_rate_per_second"`
	OfSignRate  float64   `json:"exchanges_over_signing_rate"`
	RSSMax      float64   `json:"server_rss_max_bytes"`
	RSSSamples  []float64 `json:"server_rss_samples_bytes"`
	RevokeCheck string    `json:"revocation_check"`
	// DBSharedMemory is how PostgreSQL's shared memory is paged (nil when
	// it runs elsewhere).
	DBSharedMemory *sharedMemory `json:"database_shared_memory,omitempty"`
	CPU            cpuAccount    `json:"cpu_account"`
}

type machineInfo struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
	CPUModel  string `json:"cpu_model"`
	// LoadAverage is /proc/loadavg's 1, 5 and 15 minute averages at the
	// end of the run.
	LoadAverage string `json:"load_average"`
}

type optsJSON struct {
	PATs        int    `json:"pats"`
	Users       int    `json:"users"`
	Orgs        int    `json:"orgs"`
	Concurrency int    `json:"concurrency"`
	Duration    string `json:"duration"`
	Algorithm   string `json:"algorithm"`
	LogLevel    string `json:"server_log_level"`
	// Targets are the servers driven (their public URLs).
	Targets []string `json:"targets"`
}

// database is the benchmark's prepared database.
type database struct {
	dsn    string
	st     *storage.SQLStore
	tokens []string
	// postmaster is the PID of its PostgreSQL's postmaster, 0 if not on
	// this machine.
	postmaster int
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.kek = make([]byte, 32)
	rand.Read(o.kek)

	db := &database{dsn: o.dsn}
	if db.dsn == "" {
		logf("starting a throwaway PostgreSQL cluster")
		// pg_stat_statements counts every statement as it ends: the
		// database round trips of the exchanges, for either revision.
		// shared_buffers holds a million PATs and their indexes, as a
		// production server's would (the default, 128 MB, does not: the
		// last-use writes then dirty pages read back from the kernel).
		cluster, err := pgtest.Start(pgtest.WithSetting("max_connections", "100"),
			pgtest.WithSetting("shared_preload_libraries", "pg_stat_statements"),
			pgtest.WithSetting("shared_buffers", "1GB"))
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		defer cluster.Close()
		if db.dsn, err = cluster.CreateDatabase(ctx, "authbench"); err != nil {
			return err
		}
	}
	db.st, err = storage.Open(ctx, storage.Options{Driver: storage.DriverPostgres, DSN: db.dsn})
	if err != nil {
		return err
	}
	defer db.st.Close()
	if _, err := db.st.Migrate(ctx); err != nil {
		return err
	}
	if _, err := db.st.DB().ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		logf("no pg_stat_statements (%v): round trips are counted from pg_stat_database's transactions, which lag", err)
	}
	db.postmaster = postmasterPID(ctx, db.st.DB())
	if n, err := countPATs(ctx, db.st.DB()); err != nil || n != 0 {
		return fmt.Errorf("the database must be empty (it holds %d PATs, %v)", n, err)
	}
	logf("preparing %d PATs for %d users in %d organizations", o.pats, o.users, o.orgs)
	start := time.Now()
	if db.tokens, err = prepare(ctx, db.st, db.dsn, o); err != nil {
		return err
	}
	logf("prepared in %s", time.Since(start).Round(time.Millisecond))

	if o.baseline != "" {
		return runBaseline(ctx, db, dir, o)
	}
	var eps []endpoint
	if len(o.targets) > 0 {
		for i, t := range o.targets {
			ep := endpoint{url: t}
			if i < len(o.telemetry) {
				ep.telemetry = o.telemetry[i]
			}
			eps = append(eps, ep)
		}
	} else {
		bin := o.serverBin
		if bin == "" {
			logf("building ./cmd/authserver")
			if bin, err = buildServer(ctx, "", filepath.Join(dir, "authserver"), o.buildFlags...); err != nil {
				return err
			}
		}
		srv, err := startServer(ctx, bin, dir, db.dsn, o)
		if err != nil {
			return err
		}
		defer srv.stop()
		eps = []endpoint{srv.endpoint}
	}
	for _, ep := range eps {
		// Sanity: one exchange must be granted before anything is measured.
		// Servers that ran before the client and the audience were
		// prepared see them once their catalogue is reloaded (every 5 s).
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body, _ := exchangeOnce(ep.url, db.tokens[0])
			if code == http.StatusOK {
				break
			}
			if len(o.targets) == 0 || time.Now().After(deadline) {
				return fmt.Errorf("a first exchange at %s failed: %d %s", ep.url, code, body)
			}
			time.Sleep(time.Second)
		}
	}

	logf("measuring the signature cost (%s) in process", o.alg)
	sign, err := signatureCosts(o.alg)
	if err != nil {
		return err
	}
	res, err := measure(ctx, db, eps, o.concurrency, o, sign)
	if err != nil {
		return err
	}
	res.RevokeCheck = revokeCheck(ctx, db.st, eps, db.tokens, o.revokeCheck)

	report(os.Stdout, res)
	js, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(o.out, append(js, '\n'), 0o644); err != nil {
		return err
	}
	logf("results written to %s", o.out)
	if strings.HasPrefix(res.RevokeCheck, "FAILED") {
		return fmt.Errorf("revocation check %s", res.RevokeCheck)
	}
	if n := sum(res.Load.Errors); n > 0 {
		return fmt.Errorf("%d exchanges failed", n)
	}
	return nil
}

// measure warms the endpoints up, then drives them with concurrency
// connections for o.duration and accounts for the run.
func measure(ctx context.Context, db *database, eps []endpoint, concurrency int, o options, sign signCosts) (*results, error) {
	urls := make([]string, len(eps))
	for i, ep := range eps {
		urls[i] = ep.url
	}
	if o.warmup > 0 {
		logf("warming up for %s", o.warmup)
		attack(ctx, urls, db.tokens, concurrency, o.warmup)
	}
	series := []string{"process_cpu_seconds_total", `authserver_token_exchanges_total{result="granted"}`, "process_resident_memory_bytes",
		"authserver_pat_reads_total", "authserver_pat_read_queries_total"}
	before, err := scrapeAll(eps, series)
	if err != nil {
		return nil, err
	}
	logf("driving %d connections for %s", concurrency, o.duration)
	db0, dbErr0 := dbCounts(ctx, db.st.DB())
	cpuBefore := takeCPUSnapshot(db.postmaster)
	rss := []float64{before.rss}
	sampler, stopSampler := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.rssEvery)
		defer t.Stop()
		for {
			select {
			case <-sampler.Done():
				return
			case <-t.C:
				if m, err := scrapeAll(eps, series[2:3]); err == nil && m.known {
					rss = append(rss, m.rss)
				}
			}
		}
	}()
	profiled := make(chan error, 1)
	if o.cpuprofile != "" {
		// The middle of the run, away from its ramp-up and end.
		go func() {
			time.Sleep(o.duration / 6)
			profiled <- profile(eps[0].telemetry, o.duration*2/3, o.cpuprofile)
		}()
	}
	load := attack(ctx, urls, db.tokens, concurrency, o.duration)
	cpuAfter := takeCPUSnapshot(db.postmaster)
	db1, dbErr1 := dbCounts(ctx, db.st.DB())
	stopSampler()
	if o.cpuprofile != "" {
		if err := <-profiled; err != nil {
			return nil, err
		}
		logf("server CPU profile written to %s (go tool pprof -top %s)", o.cpuprofile, o.cpuprofile)
	}
	<-done
	after, err := scrapeAll(eps, series)
	if err != nil {
		return nil, err
	}
	if after.known {
		rss = append(rss, after.rss)
	}

	res := &results{
		When: time.Now().UTC(), Load: load,
		Machine: machineInfo{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), CPUModel: cpuModel(),
			LoadAverage: loadAverage()},
		Options: optsJSON{PATs: o.pats, Users: o.users, Orgs: o.orgs, Concurrency: concurrency, Duration: o.duration.String(),
			Algorithm: o.alg, LogLevel: o.logLevel, Targets: urls},
		SignCost:          sign.goJose.Seconds() * 1e6,
		SignPrimitiveCost: sign.primitive.Seconds() * 1e6,
		DBSharedMemory:    postmasterSharedMemory(db.postmaster),
	}
	if after.known {
		res.ServerCPU = after.cpu - before.cpu
		res.Granted = after.granted - before.granted
		res.RSSSamples = rss
	} else {
		// No telemetry: what the load generator saw granted.
		res.Granted = float64(load.Requests) - float64(sum(load.Errors))
	}
	if res.Granted > 0 && res.ServerCPU > 0 {
		res.CPUPerExch = res.ServerCPU / res.Granted * 1e6
		res.Ratio = res.CPUPerExch / res.SignCost
		res.RatioPrimitive = res.CPUPerExch / res.SignPrimitiveCost
	}
	if res.Granted > 0 && dbErr0 == nil && dbErr1 == nil {
		res.DBRoundTrips = (db1.statements - db0.statements) / res.Granted
		res.DBPATQueries = (db1.patReads - db0.patReads) / res.Granted
		res.DBCounted = db1.source
		res.DBPATReadTime = (db1.patReadMs - db0.patReadMs) * 1e3 / res.Granted
		res.DBTouchTime = (db1.touchMs - db0.touchMs) * 1e3 / res.Granted
		res.DBAllTime = (db1.allMs - db0.allMs) * 1e3 / res.Granted
		res.WALFPI = (db1.walFPI - db0.walFPI) / res.Granted
		res.WALBytes = (db1.walBytes - db0.walBytes) / res.Granted
	}
	if reads := after.reads - before.reads; reads > 0 {
		res.PATReadQueries = (after.queries - before.queries) / reads
	}
	if res.SignCost > 0 {
		res.SignRate = float64(res.Machine.CPUs) / (res.SignCost / 1e6)
		if o.duration > 0 && res.SignRate > 0 {
			res.OfSignRate = res.Granted / o.duration.Seconds() / res.SignRate
		}
	}
	for _, v := range rss {
		res.RSSMax = max(res.RSSMax, v)
	}
	res.CPU = account(cpuBefore, cpuAfter, res.ServerCPU, res.Granted, res.Machine.CPUs, load.Duration)
	return res, nil
}

// counts are the database's own counts of the statements it ran for the
// benchmark's database, and of those that read PAT grants.
type counts struct {
	statements, patReads float64
	// patReadMs and touchMs are the execution time (ms) of the PAT reads
	// and of the last-use writes: where PostgreSQL's time goes.
	patReadMs, touchMs, allMs float64
	// walFPI and walBytes are the cluster's WAL full-page images and bytes
	// (pg_stat_wal): what the writes cost the log.
	walFPI, walBytes float64
	source           string
}

// dbCounts reads the counts from pg_stat_statements, which counts each
// statement as it ends; without it, from pg_stat_database, whose
// transactions (every statement outside a transaction is one) backends
// report at most once a second, so that only long runs in a steady state
// come out right, and which cannot tell PAT reads apart.
func dbCounts(ctx context.Context, db *sql.DB) (counts, error) {
	var c counts
	err := db.QueryRowContext(ctx, `SELECT coalesce(sum(calls), 0), coalesce(sum(calls) FILTER (WHERE query LIKE '%FROM pats p%'), 0),
		coalesce(sum(total_exec_time) FILTER (WHERE query LIKE '%FROM pats p%'), 0),
		coalesce(sum(total_exec_time) FILTER (WHERE query LIKE 'UPDATE pats SET last_used_at%'), 0),
		coalesce(sum(total_exec_time), 0)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(
		&c.statements, &c.patReads, &c.patReadMs, &c.touchMs, &c.allMs)
	if err == nil {
		c.source = "pg_stat_statements"
		// pg_stat_wal is PostgreSQL 14 and later; without it the WAL figures stay 0.
		_ = db.QueryRowContext(ctx, `SELECT wal_fpi, wal_bytes FROM pg_stat_wal`).Scan(&c.walFPI, &c.walBytes)
		return c, nil
	}
	err = db.QueryRowContext(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&c.statements)
	c.source = "pg_stat_database transactions"
	return c, err
}

// loadAverage is the first three fields of /proc/loadavg: how busy the
// machine was with other work too.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// revokeCheck revokes n random PATs in the database, then exchanges each at
// once: every one must be refused (400 invalid_request). It proves no cache
// answered the load. The server limits failed exchanges per client address
// (a burst of 30, then one every 2 s: SECURITY.md), so n is best kept under
// 30; a 429 is waited out (Retry-After) and the same PAT tried again.
//
// With several servers the PATs go to each in turn.
func revokeCheck(ctx context.Context, st *storage.SQLStore, eps []endpoint, tokens []string, n int) string {
	if n <= 0 {
		return "skipped"
	}
	refused, exchanged := 0, 0
	other := map[int]int{}
	for i := range n {
		base := eps[i%len(eps)].url
		tok := tokens[mrand.IntN(len(tokens))]
		p, err := st.GetPATByHash(ctx, exchange.HashPAT(tok))
		if err != nil {
			return "FAILED: " + err.Error()
		}
		if _, err := st.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "admin"); err != nil {
			return "FAILED: " + err.Error()
		}
		code, body, wait := exchangeOnce(base, tok)
		for try := 0; code == http.StatusTooManyRequests && try < 3; try++ {
			time.Sleep(wait)
			code, body, wait = exchangeOnce(base, tok)
		}
		switch {
		case code == http.StatusOK:
			exchanged++
		case code == http.StatusBadRequest && strings.Contains(body, `"invalid_request"`):
			refused++
		default:
			other[code]++
		}
	}
	if exchanged > 0 || len(other) > 0 {
		return fmt.Sprintf("FAILED: of %d revoked PATs, %d were still exchanged and %d got another answer (by status: %v)",
			n, exchanged, n-exchanged-refused, other)
	}
	return fmt.Sprintf("ok: %d PATs revoked after the run were refused (400 invalid_request) on their next exchange", n)
}

// exchangeOnce exchanges token once and answers the status, the body and,
// for a 429, how long to wait.
func exchangeOnce(base, token string) (int, string, time.Duration) {
	resp, err := http.Post(base+"/oauth2/token", "application/x-www-form-urlencoded", bytes.NewReader(exchangeBody(token)))
	if err != nil {
		return 0, err.Error(), 0
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	wait := time.Second
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		wait = time.Duration(secs) * time.Second
	}
	return resp.StatusCode, b.String(), wait
}

func report(w *os.File, r *results) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	us := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion)
	fmt.Fprintf(tw, "setup\t%d PATs, %d users, %d orgs, %s, %d connections, %s, server log %s\n",
		r.Options.PATs, r.Options.Users, r.Options.Orgs, r.Options.Algorithm, r.Options.Concurrency, r.Options.Duration, r.Options.LogLevel)
	fmt.Fprintf(tw, "exchanges\t%d requests, %.0f exchanges/s\n", r.Load.Requests, r.Load.Throughput)
	fmt.Fprintf(tw, "latency\tp50 %s  p90 %s  p99 %s  max %s\n", us(r.Load.P50), us(r.Load.P90), us(r.Load.P99), us(r.Load.Max))
	errs := "none"
	if len(r.Load.Errors) > 0 {
		keys := make([]string, 0, len(r.Load.Errors))
		for k := range r.Load.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := []string{}
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s: %d", k, r.Load.Errors[k]))
		}
		errs = strings.Join(parts, ", ")
	}
	fmt.Fprintf(tw, "errors\t%s\n", errs)
	fmt.Fprintf(tw, "server CPU per exchange\t%.1f µs (%.2f s over %.0f granted)\n", r.CPUPerExch, r.ServerCPU, r.Granted)
	fmt.Fprintf(tw, "signature cost (%s)\t%.1f µs through go-jose, %.1f µs the primitive alone\n", r.Options.Algorithm, r.SignCost, r.SignPrimitiveCost)
	fmt.Fprintf(tw, "CPU per exchange ÷ signature\t%.2f (go-jose), %.2f (primitive)\n", r.Ratio, r.RatioPrimitive)
	fmt.Fprintf(tw, "database round trips\t%.3f statements per exchange, %.3f of them PAT reads (%s)", r.DBRoundTrips, r.DBPATQueries, r.DBCounted)
	if r.PATReadQueries > 0 {
		fmt.Fprintf(tw, "; the server: %.3f queries per PAT read", r.PATReadQueries)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "database memory\t%s\n", r.DBSharedMemory.describe())
	if r.DBAllTime > 0 {
		fmt.Fprintf(tw, "database time\t%.0f µs executing per exchange: PAT reads %.0f, last-use writes %.0f; WAL %.0f bytes, %.2f full-page images per exchange\n",
			r.DBAllTime, r.DBPATReadTime, r.DBTouchTime, r.WALBytes, r.WALFPI)
	}
	fmt.Fprintf(tw, "machine signing rate\t%.0f signatures/s (%d CPUs); exchanges reach %.0f %% of it\n", r.SignRate, r.Machine.CPUs, 100*r.OfSignRate)
	if c := r.CPU; c.MachineSeconds > 0 {
		fmt.Fprintf(tw, "machine CPU\t%.1f of %.1f CPU-s busy: server %.1f, load generator %.1f, PostgreSQL %.1f, other %.1f\n",
			c.MachineSeconds, c.MachineCapacity, c.ServerSeconds, c.LoadGenSeconds, c.PostgresSeconds, c.OtherSeconds)
		fmt.Fprintf(tw, "machine CPU per exchange\t%.0f µs: server %.0f, load generator %.0f, PostgreSQL %.0f, other %.0f\n",
			c.MachinePerExch, r.CPUPerExch, c.LoadGenPerExch, c.PostgresPerExch, c.OtherPerExch)
		fmt.Fprintf(tw, "exchange CPU per exchange\t%.0f µs: server, load generator, PostgreSQL and the kernel's interrupt work (%.0f µs), nothing else that ran\n",
			c.ExchangePerExch, c.InterruptSeconds/r.Granted*1e6)
	}
	if len(r.RSSSamples) > 0 {
		fmt.Fprintf(tw, "server RSS\tmax %.1f MB, first %.1f MB, last %.1f MB\n", r.RSSMax/1e6, r.RSSSamples[0]/1e6, r.RSSSamples[len(r.RSSSamples)-1]/1e6)
	}
	fmt.Fprintf(tw, "load average\t%s (at the end)\n", r.Machine.LoadAverage)
	if r.RevokeCheck != "" {
		fmt.Fprintf(tw, "revocation\t%s\n", r.RevokeCheck)
	}
	tw.Flush()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.IndexByte(line, ':'); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "authbench: "+format+"\n", args...)
}
