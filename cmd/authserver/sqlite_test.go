package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"authserver/config"
)

// TestOneShotCommandsNeedADatabase: every command but serve and migrate
// refuses to create a missing SQLite database, so that run from the wrong
// directory it names the file it looked for instead of creating an empty
// one and calling its schema behind.
func TestOneShotCommandsNeedADatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "missing.db")
	path := writeConfig(t, fmt.Sprintf("database: {dsn: %q}\nkeys: {encryption_key: %q}\n", db, randomKEK(t)))
	for _, c := range []struct {
		name string
		args []string
	}{
		{"pat list", []string{"pat", "list", "--org", "acme"}},
		{"pat create", []string{"pat", "create", "--org", "acme", "--user", "alice", "--name", "x", "--scopes", "OR.Jobs"}},
		{"user create", []string{"user", "create", "--org", "acme", "--username", "bob", "--no-password"}},
		{"keys list", []string{"keys", "list"}},
		{"keys rotate", []string{"keys", "rotate"}},
		{"config check --connect", []string{"config", "check", "--connect"}},
		{"serve --no-migrate", []string{"serve", "--no-migrate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append(c.args, "--config", path)...)
			oneErrorLine(t, c.name, code, out, stderr)
			want := "authserver: no database at " + db + ": run `authserver serve` or `authserver migrate` first, or pass --config\n"
			if stderr != want {
				t.Errorf("got %q, want %q", stderr, want)
			}
			if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the database was created: %v", err)
			}
		})
	}

	t.Run("migrate creates it", func(t *testing.T) {
		if code, out, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 || !strings.HasPrefix(out, "applied migrations") {
			t.Fatalf("migrate: exit %d stdout %q stderr %q", code, out, stderr)
		}
		if code, out, stderr := cli(t, nil, "", "keys", "list", "--config", path); code != 0 {
			t.Fatalf("keys list after migrate: exit %d stdout %q stderr %q", code, out, stderr)
		}
	})
}

// TestOneServePerSQLiteFile: SQLite is for one server process, so a second
// serve on the same file is refused at once, naming the file and its lock;
// the one-shot commands still work beside the server; and the lock goes
// with the server, however it ends.
func TestOneServePerSQLiteFile(t *testing.T) {
	t.Parallel() // its own processes, database and ports; it mostly waits on them
	db := filepath.Join(t.TempDir(), "one.db")
	type serveConfig struct{ path, httpAddr, telemetryAddr string }
	configFor := func() serveConfig {
		httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
		path := writeConfig(t, fmt.Sprintf(`http: {addr: %q}
telemetry: {addr: %q}
log: {format: json}
database: {dsn: %q}
bootstrap:
  organizations: [{name: acme}]
`, httpAddr, telemetryAddr, db))
		return serveConfig{path, httpAddr, telemetryAddr}
	}

	// The first server is a process of its own, so that it can be killed.
	bin := buildBinary(t)
	first := configFor()
	cmd := exec.Command(bin, "serve", "--config", first.path)
	var firstErr syncBuffer
	cmd.Stderr = &firstErr
	cmd.Env = withoutAuthserverEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitStatus(t, "http://"+first.telemetryAddr+"/readyz", http.StatusOK, &firstErr)

	// Other ports, so that only the lock can stop it.
	second := configFor()
	t.Run("a second serve on the same file is refused at once", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var out, stderr syncBuffer
		code := run(ctx, []string{"serve", "--config", second.path}, strings.NewReader(""), &out, &stderr, config.MapEnv{})
		if ctx.Err() != nil {
			t.Fatalf("the second serve ran until stopped (exit %d):\n%s", code, stderr.String())
		}
		oneErrorLine(t, "second serve", code, out.String(), stderr.String())
		want := fmt.Sprintf("authserver: another authserver process is serving %s (lock %s.lock held by process %d)\n",
			db, db, cmd.Process.Pid)
		if got := stderr.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})

	t.Run("the one-shot commands work beside the server", func(t *testing.T) {
		for _, args := range [][]string{
			{"migrate"},
			{"user", "create", "--org", "acme", "--username", "bob", "--no-password"},
			{"pat", "list", "--org", "acme"},
			{"keys", "list"},
		} {
			if code, out, stderr := cli(t, nil, "", append(args, "--config", second.path)...); code != 0 {
				t.Errorf("%s: exit %d stdout %q stderr %q", strings.Join(args, " "), code, out, stderr)
			}
		}
	})

	t.Run("the lock file is the owner's only", func(t *testing.T) {
		if fi, err := os.Stat(db + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("got %v, %v; want mode 0600", fi, err)
		}
	})

	t.Run("a killed server's lock is released", func(t *testing.T) {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait() // "signal: killed"
		startServer(t, second.path, second.httpAddr, second.telemetryAddr).stop()
	})

	t.Run("a stopped server's lock is released", func(t *testing.T) {
		third := configFor()
		startServer(t, third.path, third.httpAddr, third.telemetryAddr).stop()
	})
}

// withoutAuthserverEnv is this process's environment without the test's own
// AUTHSERVER_… variables, which serve would refuse as unknown configuration.
func withoutAuthserverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHSERVER_") {
			env = append(env, kv)
		}
	}
	return env
}
