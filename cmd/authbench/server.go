package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is `authserver serve` running as a separate process, so that its
// CPU and memory are its own.
type server struct {
	endpoint
	cmd     *exec.Cmd
	logPath string
}

// endpoint is a server the load goes to: its public listener and, when
// known, its telemetry listener (metrics: CPU, RSS, exchanges granted).
type endpoint struct {
	url       string
	telemetry string
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// buildServer compiles ./cmd/authserver of the module in src ("": the
// module authbench runs in) into bin, with flags (default -trimpath, which
// keeps the paths of the sources out of the build, so that two copies of
// the same packages share the build cache).
func buildServer(ctx context.Context, src, bin string, flags ...string) (string, error) {
	if src == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return "", err
		}
		src = root
	}
	if len(flags) == 0 {
		flags = []string{"-trimpath"}
	}
	cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, flags...), "-o", bin, "./cmd/authserver")...)
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/authserver in %s: %w", src, err)
	}
	return bin, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run authbench inside the repository")
	}
	return filepath.Dir(gomod), nil
}

// startServer runs the server on dsn with free loopback ports.
func startServer(ctx context.Context, bin, dir, dsn string, o options) (*server, error) {
	httpAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	telAddr, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--no-migrate")
	cmd.Env = append(os.Environ(),
		"AUTHSERVER_DATABASE_DRIVER=postgres",
		"AUTHSERVER_DATABASE_DSN="+dsn,
		"AUTHSERVER_KEYS_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(o.kek),
		"AUTHSERVER_KEYS_ALGORITHM="+o.alg,
		"AUTHSERVER_HTTP_ADDR="+httpAddr,
		"AUTHSERVER_TELEMETRY_ADDR="+telAddr,
		"AUTHSERVER_LOG_LEVEL="+o.logLevel,
		"AUTHSERVER_LOG_FORMAT=json",
		"AUTHSERVER_TELEMETRY_PPROF="+strconv.FormatBool(o.cpuprofile != ""),
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, endpoint: endpoint{url: "http://" + httpAddr, telemetry: "http://" + telAddr}, logPath: logPath}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.telemetry + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("the server did not become ready; see %s", logPath)
}

// stop ends the server with SIGTERM (a graceful shutdown).
func (s *server) stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return fmt.Errorf("the server did not stop within 30s")
	}
}

// scraped is what the telemetry of every endpoint says, summed; rss is
// the largest of the servers' RSS. known is false when no endpoint has
// telemetry.
type scraped struct {
	known             bool
	cpu, granted, rss float64
	reads, queries    float64
}

// scrapeAll reads the named series (process_cpu_seconds_total, the granted
// exchanges, process_resident_memory_bytes, the PAT read counters) of every
// endpoint with telemetry.
func scrapeAll(eps []endpoint, names []string) (scraped, error) {
	var out scraped
	for _, ep := range eps {
		if ep.telemetry == "" {
			continue
		}
		m, err := scrape(ep.telemetry, names...)
		if err != nil {
			return out, err
		}
		out.known = true
		out.cpu += m["process_cpu_seconds_total"]
		out.granted += m[`authserver_token_exchanges_total{result="granted"}`]
		out.rss = max(out.rss, m["process_resident_memory_bytes"])
		out.reads += m["authserver_pat_reads_total"]
		out.queries += m["authserver_pat_read_queries_total"]
	}
	return out, nil
}

// scrape reads a telemetry listener's metrics and returns the samples of
// the named series (without labels) or of "name{labels}" exactly.
func scrape(telemetry string, names ...string) (map[string]float64, error) {
	resp, err := http.Get(telemetry + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body, names)
}

func parseMetrics(r io.Reader, names []string) (map[string]float64, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series := line[:i]
		key, ok := series, want[series]
		if !ok {
			// A wanted "name{labels}" also matches the series of that name
			// with those labels and more, summed: a revision may split a
			// counter by a label another lacks (the exchanges by subject).
			key, ok = wantedBy(want, series)
			if !ok {
				continue
			}
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", series, err)
		}
		out[key] += v
	}
	return out, sc.Err()
}

// profile saves a CPU profile of the server at telemetry taken over d.
func profile(telemetry string, d time.Duration, path string) error {
	if telemetry == "" {
		return fmt.Errorf("-cpuprofile needs the server's telemetry listener")
	}
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", telemetry, int(d.Seconds())))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// wantedBy is the wanted "name{labels}" that series (a name with labels)
// falls under: same name, and every wanted label among its labels.
func wantedBy(want map[string]bool, series string) (string, bool) {
	name, labels, ok := strings.Cut(series, "{")
	if !ok {
		return "", false
	}
	have := strings.Split(strings.TrimSuffix(labels, "}"), ",")
	for w := range want {
		wname, wlabels, ok := strings.Cut(w, "{")
		if !ok || wname != name {
			continue
		}
		all := true
		for _, l := range strings.Split(strings.TrimSuffix(wlabels, "}"), ",") {
			if !slices.Contains(have, l) {
				all = false
				break
			}
		}
		if all {
			return w, true
		}
	}
	return "", false
}
