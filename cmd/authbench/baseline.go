package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// comparison is the JSON of a -baseline run: the two revisions measured
// in turn on the same database and load, at each concurrency.
type comparison struct {
	When     time.Time `json:"when"`
	Baseline string    `json:"baseline"` // the revision, as given and resolved
	Current  string    `json:"current"`  // the working tree: HEAD and whether it had changes
	Pairs    int       `json:"pairs"`
	// LoadBefore and LoadAfter are /proc/loadavg at the start and the end:
	// on a shared machine, how much else ran.
	LoadBefore  string            `json:"load_average_before"`
	LoadAfter   string            `json:"load_average_after"`
	Levels      []levelComparison `json:"levels"`
	RevokeCheck string            `json:"revocation_check"` // of the working tree's server, after every pair
}

// levelComparison is every pair at one concurrency and the median of
// their ratios.
type levelComparison struct {
	Concurrency int          `json:"concurrency"`
	Pairs       []pairResult `json:"pairs"`
	Median      ratios       `json:"median_ratios"`
}

// pairResult is one run of each revision, back to back, and the ratios of
// the working tree's figures to the baseline's.
type pairResult struct {
	Baseline *results `json:"baseline"`
	Current  *results `json:"current"`
	Ratios   ratios   `json:"ratios"`
}

// ratios are the working tree's figures over the baseline's: above 1 for
// throughput is better, below 1 for CPU and latency is better.
type ratios struct {
	Throughput         float64 `json:"throughput"`
	ServerCPUPerExch   float64 `json:"server_cpu_per_exchange"`
	MachineCPUPerExch  float64 `json:"machine_cpu_per_exchange"`
	ExchangeCPUPerExch float64 `json:"exchange_cpu_per_exchange"`
	PostgresCPUPerExch float64 `json:"postgres_cpu_per_exchange"`
	DBRoundTrips       float64 `json:"database_statements_per_exchange"`
	P50                float64 `json:"p50"`
	P99                float64 `json:"p99"`
}

func ratio(cur, base float64) float64 {
	if base == 0 {
		return 0
	}
	return cur / base
}

func ratiosOf(base, cur *results) ratios {
	return ratios{
		Throughput:         ratio(cur.Load.Throughput, base.Load.Throughput),
		ServerCPUPerExch:   ratio(cur.CPUPerExch, base.CPUPerExch),
		MachineCPUPerExch:  ratio(cur.CPU.MachinePerExch, base.CPU.MachinePerExch),
		ExchangeCPUPerExch: ratio(cur.CPU.ExchangePerExch, base.CPU.ExchangePerExch),
		PostgresCPUPerExch: ratio(cur.CPU.PostgresPerExch, base.CPU.PostgresPerExch),
		DBRoundTrips:       ratio(cur.DBRoundTrips, base.DBRoundTrips),
		P50:                ratio(float64(cur.Load.P50), float64(base.Load.P50)),
		P99:                ratio(float64(cur.Load.P99), float64(base.Load.P99)),
	}
}

// median of each ratio over the pairs.
func medianRatios(pairs []pairResult) ratios {
	med := func(f func(r ratios) float64) float64 {
		v := make([]float64, len(pairs))
		for i, p := range pairs {
			v[i] = f(p.Ratios)
		}
		slices.Sort(v)
		if n := len(v); n%2 == 1 {
			return v[n/2]
		} else {
			return (v[n/2-1] + v[n/2]) / 2
		}
	}
	return ratios{
		Throughput:         med(func(r ratios) float64 { return r.Throughput }),
		ServerCPUPerExch:   med(func(r ratios) float64 { return r.ServerCPUPerExch }),
		MachineCPUPerExch:  med(func(r ratios) float64 { return r.MachineCPUPerExch }),
		ExchangeCPUPerExch: med(func(r ratios) float64 { return r.ExchangeCPUPerExch }),
		PostgresCPUPerExch: med(func(r ratios) float64 { return r.PostgresCPUPerExch }),
		DBRoundTrips:       med(func(r ratios) float64 { return r.DBRoundTrips }),
		P50:                med(func(r ratios) float64 { return r.P50 }),
		P99:                med(func(r ratios) float64 { return r.P99 }),
	}
}

// revision is a server binary to measure.
type revision struct {
	name string
	bin  string
}

// runBaseline builds o.baseline and the working tree, then runs them in
// turn, baseline first, o.pairs times at each concurrency, each server
// started afresh on the same database with the same signing keys.
func runBaseline(ctx context.Context, db *database, dir string, o options) error {
	cmp := &comparison{Pairs: o.pairs, LoadBefore: loadAverage()}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	rev, err := git(ctx, root, "rev-parse", "--verify", "--short", o.baseline+"^{commit}")
	if err != nil {
		return fmt.Errorf("-baseline %s: %w", o.baseline, err)
	}
	cmp.Baseline = o.baseline + " (" + rev + ")"
	head, _ := git(ctx, root, "rev-parse", "--short", "HEAD")
	dirty, _ := git(ctx, root, "status", "--porcelain", "--untracked-files=no")
	cmp.Current = "working tree at " + head
	if dirty != "" {
		cmp.Current += " with uncommitted changes"
	}

	src := filepath.Join(dir, "baseline-src")
	logf("exporting %s into %s", rev, src)
	if err := export(ctx, root, rev, src); err != nil {
		return err
	}
	logf("building the baseline's ./cmd/authserver")
	base, err := buildServer(ctx, src, filepath.Join(dir, "authserver-baseline"), o.buildFlags...)
	if err != nil {
		return err
	}
	logf("building the working tree's ./cmd/authserver")
	cur, err := buildServer(ctx, root, filepath.Join(dir, "authserver-current"), o.buildFlags...)
	if err != nil {
		return err
	}
	revs := []revision{{"baseline " + rev, base}, {"working tree", cur}}

	logf("measuring the signature cost (%s) in process", o.alg)
	sign, err := signatureCosts(o.alg)
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range o.levels {
		lvl := levelComparison{Concurrency: c}
		for p := range o.pairs {
			var pr pairResult
			for i, r := range revs {
				logf("concurrency %d, pair %d of %d: %s", c, p+1, o.pairs, r.name)
				res, err := measureServer(ctx, db, dir, r.bin, c, o, sign)
				if err != nil {
					return fmt.Errorf("%s: %w", r.name, err)
				}
				failed += sum(res.Load.Errors)
				if i == 0 {
					pr.Baseline = res
				} else {
					pr.Current = res
				}
			}
			pr.Ratios = ratiosOf(pr.Baseline, pr.Current)
			lvl.Pairs = append(lvl.Pairs, pr)
		}
		lvl.Median = medianRatios(lvl.Pairs)
		cmp.Levels = append(cmp.Levels, lvl)
	}

	// The revocation check last: the PATs it revokes would fail any run
	// after it.
	srv, err := startServer(ctx, cur, dir, db.dsn, o)
	if err != nil {
		return err
	}
	cmp.RevokeCheck = revokeCheck(ctx, db.st, []endpoint{srv.endpoint}, db.tokens, o.revokeCheck)
	srv.stop()
	cmp.When, cmp.LoadAfter = time.Now().UTC(), loadAverage()

	reportComparison(os.Stdout, cmp)
	js, _ := json.MarshalIndent(cmp, "", "  ")
	if err := os.WriteFile(o.out, append(js, '\n'), 0o644); err != nil {
		return err
	}
	logf("results written to %s", o.out)
	if strings.HasPrefix(cmp.RevokeCheck, "FAILED") {
		return fmt.Errorf("revocation check %s", cmp.RevokeCheck)
	}
	if failed > 0 {
		return fmt.Errorf("%d exchanges failed", failed)
	}
	return nil
}

// measureServer starts bin on the database, measures it and stops it.
func measureServer(ctx context.Context, db *database, dir, bin string, concurrency int, o options, sign signCosts) (*results, error) {
	srv, err := startServer(ctx, bin, dir, db.dsn, o)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if code, body, _ := exchangeOnce(srv.url, db.tokens[0]); code != http.StatusOK {
		return nil, fmt.Errorf("a first exchange failed: %d %s", code, body)
	}
	return measure(ctx, db, []endpoint{srv.endpoint}, concurrency, o, sign)
}

// git runs git in dir and returns its trimmed output.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// export writes the tree of rev into dst (git archive piped into tar): no
// second worktree, and it works in a shallow clone as long as rev is in it.
func export(ctx context.Context, repo, rev, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev)
	archive.Dir = repo
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dst)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	var archErr, tarErr strings.Builder
	archive.Stderr, untar.Stderr = &archErr, &tarErr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		untar.Wait()
		return fmt.Errorf("git archive %s: %v: %s", rev, err, archErr.String())
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("untar %s: %v: %s", rev, err, tarErr.String())
	}
	return nil
}

func reportComparison(w io.Writer, c *comparison) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "baseline %s against the %s, %d pairs; load average %s before, %s after\n",
		c.Baseline, c.Current, c.Pairs, c.LoadBefore, c.LoadAfter)
	for _, l := range c.Levels {
		fmt.Fprintf(w, "\nconcurrency %d (ratios: working tree ÷ baseline)\n", l.Concurrency)
		fmt.Fprintln(tw, "pair\tthroughput\tserver CPU/exch\texchange CPU/exch\tmachine CPU/exch\tPostgreSQL CPU/exch\tdb statements/exch\tp50\tp99\t")
		for i, p := range l.Pairs {
			r := p.Ratios
			fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", i+1,
				r.Throughput, r.ServerCPUPerExch, r.ExchangeCPUPerExch, r.MachineCPUPerExch, r.PostgresCPUPerExch, r.DBRoundTrips, r.P50, r.P99)
		}
		m := l.Median
		fmt.Fprintf(tw, "median\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", m.Throughput, m.ServerCPUPerExch, m.ExchangeCPUPerExch,
			m.MachineCPUPerExch, m.PostgresCPUPerExch, m.DBRoundTrips, m.P50, m.P99)
		tw.Flush()
		fmt.Fprintln(w, "\nabsolute figures (baseline | working tree):")
		fmt.Fprintln(tw, "pair\texch/s\tp50 ms\tp99 ms\tserver µs/exch\texchange µs/exch\tmachine µs/exch\tPostgreSQL µs/exch\tdb statements/exch\tPAT queries/exch\t")
		for i, p := range l.Pairs {
			b, t := p.Baseline, p.Current
			fmt.Fprintf(tw, "%d\t%.0f | %.0f\t%.2f | %.2f\t%.2f | %.2f\t%.0f | %.0f\t%.0f | %.0f\t%.0f | %.0f\t%.0f | %.0f\t%.3f | %.3f\t%.3f | %.3f\t\n", i+1,
				b.Load.Throughput, t.Load.Throughput, ms(b.Load.P50), ms(t.Load.P50), ms(b.Load.P99), ms(t.Load.P99),
				b.CPUPerExch, t.CPUPerExch, b.CPU.ExchangePerExch, t.CPU.ExchangePerExch, b.CPU.MachinePerExch, t.CPU.MachinePerExch,
				b.CPU.PostgresPerExch, t.CPU.PostgresPerExch, b.DBRoundTrips, t.DBRoundTrips, b.DBPATQueries, t.DBPATQueries)
		}
		tw.Flush()
		fmt.Fprintln(w, "PostgreSQL's execution time per exchange, µs (baseline | working tree):")
		fmt.Fprintln(tw, "pair\tall statements\tPAT reads\tlast-use writes\t")
		for i, p := range l.Pairs {
			b, t := p.Baseline, p.Current
			fmt.Fprintf(tw, "%d\t%.0f | %.0f\t%.0f | %.0f\t%.0f | %.0f\t\n", i+1, b.DBAllTime, t.DBAllTime, b.DBPATReadTime, t.DBPATReadTime, b.DBTouchTime, t.DBTouchTime)
		}
		tw.Flush()
		if len(l.Pairs) > 0 {
			t := l.Pairs[0].Current
			fmt.Fprintf(w, "signature (%s): %.1f µs through go-jose, %.1f µs the primitive alone; server CPU per exchange of the working tree ÷ signature: %.2f, %.2f (pair 1)\n",
				t.Options.Algorithm, t.SignCost, t.SignPrimitiveCost, t.Ratio, t.RatioPrimitive)
		}
		tw.Flush()
	}
	fmt.Fprintf(w, "\nrevocation: %s\n", c.RevokeCheck)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
