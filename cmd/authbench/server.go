package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is `authserver serve` running as a separate process, so that its
// CPU and memory are its own.
type server struct {
	cmd       *exec.Cmd
	url       string
	telemetry string
	logPath   string
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// buildServer compiles ./cmd/authserver into dir.
func buildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "authserver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/authserver")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/authserver (run authbench from the repository root): %w", err)
	}
	return bin, nil
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
	kek := make([]byte, 32)
	rand.Read(kek)
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--no-migrate")
	cmd.Env = append(os.Environ(),
		"AUTHSERVER_DATABASE_DRIVER=postgres",
		"AUTHSERVER_DATABASE_DSN="+dsn,
		"AUTHSERVER_KEYS_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(kek),
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
	s := &server{cmd: cmd, url: "http://" + httpAddr, telemetry: "http://" + telAddr, logPath: logPath}
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

// scrape reads the server's metrics and returns the samples of the named
// series (without labels) or of "name{labels}" exactly.
func (s *server) scrape(names ...string) (map[string]float64, error) {
	resp, err := http.Get(s.telemetry + "/metrics")
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
		if !want[series] {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", series, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

// profile saves a CPU profile of the server taken over d.
func (s *server) profile(d time.Duration, path string) error {
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.telemetry, int(d.Seconds())))
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
