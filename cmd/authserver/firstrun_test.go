package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
)

// TestFirstRunWithoutYAML walks the README's first run as a new user would,
// with the built binary in an empty directory and no configuration file:
// serve --demo, then a new user, a role for them and a PAT, all from the
// command line, and that PAT exchanges. Only the listen addresses come
// from the environment, so that the test does not take the default ports.
func TestFirstRunWithoutYAML(t *testing.T) {
	t.Parallel() // its own processes, database and ports; it mostly waits on them
	bin := buildBinary(t)
	dir := t.TempDir()
	httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
	env := append(os.Environ(), "AUTHSERVER_HTTP_ADDR="+httpAddr, "AUTHSERVER_TELEMETRY_ADDR="+telemetryAddr)

	ctx, cancel := context.WithCancel(context.Background())
	serve := exec.CommandContext(ctx, bin, "serve", "--demo")
	serve.Dir, serve.Env = dir, env
	serve.Cancel = func() error { return serve.Process.Signal(os.Interrupt) }
	serve.WaitDelay = 30 * time.Second
	var stdout, stderr syncBuffer
	serve.Stdout, serve.Stderr = &stdout, &stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		// Wait answers context.Canceled when serve stopped cleanly on the
		// interrupt that cancel sent.
		if err := serve.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v\n%s", err, stderr.String())
		}
	})
	waitStatus(t, "http://"+telemetryAddr+"/readyz", http.StatusOK, &stderr)
	if _, err := os.Stat(filepath.Join(dir, "authserver.db")); err != nil {
		t.Fatalf("serve with no configuration made no database in its directory: %v", err)
	}

	// authserver runs one command of the binary in the same directory, so it
	// finds the same database by the same default.
	authserver := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("authserver %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	authserver("correct horse battery staple\n", "user", "create", "--org", "demo", "--username", "alice", "--password-stdin")
	authserver("", "role", "assign", "--org", "demo", "--user", "alice", "--role", "Demo", "--folder", "Finance")
	pat := strings.TrimSpace(authserver("", "pat", "create", "--org", "demo", "--user", "alice", "--name", "first",
		"--scopes", "demo.read", "--expires-in", "7d"))
	if exchange.CheckPAT("pat_", pat) != nil {
		t.Fatalf("pat create printed %q, not a PAT alone", pat)
	}

	status, body := postToken(t, "http://"+httpAddr, exchangeForm("demo-cli", "demo-api", pat))
	if status != http.StatusOK {
		t.Fatalf("alice's PAT does not exchange: %d %v", status, body)
	}

	// The demo's confidential client introspects it, with the secret the
	// demo printed once: alice holds demo.read at the folder Finance.
	m := regexp.MustCompile(`(?m)^\s*client secret\s+(\S+) \(client demo-introspector`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("serve --demo printed no client secret for demo-introspector:\n%s", stdout.String())
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/oauth2/introspect",
		strings.NewReader(url.Values{"token": {body["access_token"].(string)}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-introspector", m[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(b.String(), `"active":true`) || !strings.Contains(b.String(), `"identifier":"Finance","actions":["demo.read"]`) {
		t.Errorf("introspection: %s %s", resp.Status, b.String())
	}
}
