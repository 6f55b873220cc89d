package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
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
	SignCost   float64     `json:"signature_cost_us"`
	Ratio      float64     `json:"cpu_per_exchange_over_signature"`
	// SignRate is what the machine's every core signing and doing nothing
	// else would produce (CPUs ÷ signature cost): the ceiling for a slow
	// algorithm such as RS256, where the signature dominates.
	SignRate    float64    `json:"machine_signing_rate_per_second"`
	OfSignRate  float64    `json:"exchanges_over_signing_rate"`
	RSSMax      float64    `json:"server_rss_max_bytes"`
	RSSSamples  []float64  `json:"server_rss_samples_bytes"`
	RevokeCheck string     `json:"revocation_check"`
	CPU         cpuAccount `json:"cpu_account"`
}

type machineInfo struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
	CPUModel  string `json:"cpu_model"`
}

type optsJSON struct {
	PATs        int    `json:"pats"`
	Users       int    `json:"users"`
	Orgs        int    `json:"orgs"`
	Concurrency int    `json:"concurrency"`
	Duration    string `json:"duration"`
	Algorithm   string `json:"algorithm"`
	LogLevel    string `json:"server_log_level"`
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "authbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	dsn := o.dsn
	if dsn == "" {
		logf("starting a throwaway PostgreSQL cluster")
		cluster, err := pgtest.Start(pgtest.WithSetting("max_connections", "100"))
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		defer cluster.Close()
		if dsn, err = cluster.CreateDatabase(ctx, "authbench"); err != nil {
			return err
		}
	}
	st, err := storage.Open(ctx, storage.Options{Driver: storage.DriverPostgres, DSN: dsn})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	if n, err := countPATs(ctx, st.DB()); err != nil || n != 0 {
		return fmt.Errorf("the database must be empty (it holds %d PATs, %v)", n, err)
	}
	logf("preparing %d PATs for %d users in %d organizations", o.pats, o.users, o.orgs)
	start := time.Now()
	tokens, err := prepare(ctx, st, o)
	if err != nil {
		return err
	}
	logf("prepared in %s", time.Since(start).Round(time.Millisecond))

	bin := o.serverBin
	if bin == "" {
		logf("building ./cmd/authserver")
		if bin, err = buildServer(ctx, dir); err != nil {
			return err
		}
	}
	srv, err := startServer(ctx, bin, dir, dsn, o)
	if err != nil {
		return err
	}
	defer srv.stop()
	// Sanity: one exchange must be granted before anything is measured.
	if code, body, _ := exchangeOnce(srv.url, tokens[0]); code != http.StatusOK {
		return fmt.Errorf("a first exchange failed: %d %s", code, body)
	}

	logf("measuring the signature cost (%s) in process", o.alg)
	sign, err := signatureCost(o.alg)
	if err != nil {
		return err
	}

	if o.warmup > 0 {
		logf("warming up for %s", o.warmup)
		attack(ctx, srv.url, tokens, o.concurrency, o.warmup)
	}
	series := []string{"process_cpu_seconds_total", `authserver_token_exchanges_total{result="granted",subject="pat"}`, "process_resident_memory_bytes"}
	before, err := srv.scrape(series...)
	if err != nil {
		return err
	}
	logf("driving %d connections for %s", o.concurrency, o.duration)
	cpuBefore := takeCPUSnapshot()
	rss := []float64{before["process_resident_memory_bytes"]}
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
				if m, err := srv.scrape("process_resident_memory_bytes"); err == nil {
					rss = append(rss, m["process_resident_memory_bytes"])
				}
			}
		}
	}()
	profiled := make(chan error, 1)
	if o.cpuprofile != "" {
		// The middle of the run, away from its ramp-up and end.
		go func() {
			time.Sleep(o.duration / 6)
			profiled <- srv.profile(o.duration*2/3, o.cpuprofile)
		}()
	}
	load := attack(ctx, srv.url, tokens, o.concurrency, o.duration)
	cpuAfter := takeCPUSnapshot()
	stopSampler()
	if o.cpuprofile != "" {
		if err := <-profiled; err != nil {
			return err
		}
		logf("server CPU profile written to %s (go tool pprof -top %s %s)", o.cpuprofile, bin, o.cpuprofile)
	}
	<-done
	after, err := srv.scrape(series...)
	if err != nil {
		return err
	}
	rss = append(rss, after["process_resident_memory_bytes"])

	res := &results{
		When: time.Now().UTC(), Load: load,
		Machine: machineInfo{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), CPUModel: cpuModel()},
		Options: optsJSON{PATs: o.pats, Users: o.users, Orgs: o.orgs, Concurrency: o.concurrency, Duration: o.duration.String(),
			Algorithm: o.alg, LogLevel: o.logLevel},
		ServerCPU:  after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"],
		Granted:    after[series[1]] - before[series[1]],
		SignCost:   float64(sign) / float64(time.Microsecond),
		RSSSamples: rss,
	}
	if res.Granted > 0 {
		res.CPUPerExch = res.ServerCPU / res.Granted * 1e6
		res.Ratio = res.CPUPerExch / res.SignCost
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
	res.RevokeCheck = revokeCheck(ctx, st, srv.url, tokens, o.revokeCheck)

	report(os.Stdout, res)
	js, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(o.out, append(js, '\n'), 0o644); err != nil {
		return err
	}
	logf("results written to %s", o.out)
	if strings.HasPrefix(res.RevokeCheck, "FAILED") {
		return fmt.Errorf("revocation check %s", res.RevokeCheck)
	}
	return nil
}

// revokeCheck revokes n random PATs in the database, then exchanges each at
// once: every one must be refused (400 invalid_request). It proves no cache
// answered the load. The server limits failed exchanges per client address
// (a burst of 30, then one every 2 s: SECURITY.md), so n is best kept under
// 30; a 429 is waited out (Retry-After) and the same PAT tried again.
func revokeCheck(ctx context.Context, st *storage.SQLStore, base string, tokens []string, n int) string {
	if n <= 0 {
		return "skipped"
	}
	refused, exchanged := 0, 0
	other := map[int]int{}
	for range n {
		tok := tokens[rand.IntN(len(tokens))]
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
	fmt.Fprintf(tw, "signature cost (%s)\t%.1f µs\n", r.Options.Algorithm, r.SignCost)
	fmt.Fprintf(tw, "CPU per exchange ÷ signature\t%.2f\n", r.Ratio)
	fmt.Fprintf(tw, "machine signing rate\t%.0f signatures/s (%d CPUs); exchanges reach %.0f %% of it\n", r.SignRate, r.Machine.CPUs, 100*r.OfSignRate)
	if c := r.CPU; c.MachineSeconds > 0 {
		fmt.Fprintf(tw, "machine CPU\t%.1f of %.1f CPU-s busy: server %.1f, load generator %.1f, PostgreSQL %.1f, other %.1f\n",
			c.MachineSeconds, c.MachineCapacity, c.ServerSeconds, c.LoadGenSeconds, c.PostgresSeconds, c.OtherSeconds)
		fmt.Fprintf(tw, "machine CPU per exchange\t%.0f µs: server %.0f, load generator %.0f, PostgreSQL %.0f, other %.0f\n",
			c.MachinePerExch, r.CPUPerExch, c.LoadGenPerExch, c.PostgresPerExch, c.OtherPerExch)
	}
	fmt.Fprintf(tw, "server RSS\tmax %.1f MB, first %.1f MB, last %.1f MB\n", r.RSSMax/1e6, r.RSSSamples[0]/1e6, r.RSSSamples[len(r.RSSSamples)-1]/1e6)
	fmt.Fprintf(tw, "revocation\t%s\n", r.RevokeCheck)
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
