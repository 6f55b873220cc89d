package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"authserver/config"
	"authserver/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// cli runs one command line in-process and returns its exit status and
// streams.
func cli(t *testing.T, env config.MapEnv, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	if env == nil {
		env = config.MapEnv{}
	}
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb, env)
	return code, out.String(), errb.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		// The kernel may give a port just closed again: never hand out
		// one address twice, or two listeners of a test collide.
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}

// handedOut are the addresses freeAddr has given.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

func TestVersion(t *testing.T) {
	code, out, _ := cli(t, nil, "", "version")
	if code != 0 || !strings.HasPrefix(out, "authserver ") {
		t.Fatalf("got %d %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"pat", "bogus"}, {"keys", "bogus"}, {"user", "bogus"}, {"config", "bogus"}} {
		code, out, stderr := cli(t, nil, "", args...)
		oneErrorLine(t, strings.Join(args, " "), code, out, stderr)
		if !strings.Contains(stderr, `unknown command "bogus"`) {
			t.Errorf("%v: got %q", args, stderr)
		}
	}
	if code, out, _ := cli(t, nil, "", "pat"); code != 0 || !strings.Contains(out, "revoke") {
		t.Errorf("pat alone prints its help: exit %d %q", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name      string
		yaml      string
		args      []string
		wantCode  int
		wantLines []string
	}{
		{"no configuration at all is valid", "", nil, 0, nil},
		{"unknown keys are reported with their path", "http:\n  adr: x\n", nil, 1,
			[]string{"authserver: config: http.adr: unknown key"}},
		{"wrong types are reported with their path", "http:\n  addr: [1]\n", nil, 1,
			[]string{"authserver: config: http.addr: must be a string"}},
		{"a bad duration is reported", "keys:\n  rotation_period: 30x\n", nil, 1,
			[]string{"authserver: config: keys.rotation_period:"}},
		{"every problem is reported at once, one line each", `
bootstrap:
  organizations:
    - name: acme
      roles: [{name: Dev, permissions: [OR.Jobs]}]
      users:
        - {username: alice}
        - {username: alice}
        - {username: bob, kind: robot, roles: [{role: Nope}]}
`, nil, 1, []string{
			"authserver: config: bootstrap.organizations[0].users[1].username: duplicate",
			"authserver: config: bootstrap.organizations[0].users[2].kind: must be local, directory or saml",
			`authserver: config: bootstrap.organizations[0].users[2].roles[0].role: unknown role "Nope"`,
		}},
		{"a PostgreSQL DSN that cannot connect is one clear line",
			fmt.Sprintf("database:\n  driver: postgres\n  dsn: postgres://u:hunter2@%s/db?sslmode=disable&connect_timeout=2\nkeys:\n  encryption_key: %s\n",
				freeAddr(t), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
			[]string{"--connect"}, 1, []string{"authserver: cannot connect to the postgres database"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"config", "check"}
			if c.yaml != "" {
				args = append(args, "--config", writeConfig(t, c.yaml))
			}
			args = append(args, c.args...)
			code, out, stderr := cli(t, config.MapEnv{"PWD": dir}, "", args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.wantCode, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if c.wantLines == nil {
				if stderr != "" || out != "configuration OK\n" {
					t.Fatalf("got stdout %q stderr %q", out, stderr)
				}
				return
			}
			if len(lines) != len(c.wantLines) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(c.wantLines), stderr)
			}
			for i, want := range c.wantLines {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d: got %q, want prefix %q", i, lines[i], want)
				}
			}
			if strings.Contains(stderr, "hunter2") {
				t.Error("the DSN's password reached stderr")
			}
		})
	}
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, fmt.Sprintf("database:\n  dsn: %s\nbootstrap:\n  organizations:\n    - name: acme\n", filepath.Join(dir, "a.db")))
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	// The organization comes from bootstrap, applied by serve; apply it here
	// through the same code path serve uses.
	applyBootstrap(t, path)
	steps := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		want     string
	}{
		{"create a local user with a password", "correct horse battery\n", []string{"user", "create", "--org", "acme", "--username", "bob", "--password-stdin"}, 0, "created user bob"},
		{"a short password is refused", "short\n", []string{"user", "create", "--org", "acme", "--username", "sam", "--password-stdin"}, 1, "the password: must have at least 12 characters"},
		{"a password with the username is refused", "hi, I am SAM 2026\n", []string{"user", "create", "--org", "acme", "--username", "sam", "--password-stdin"}, 1, "the password: must not contain the username"},
		{"a local user without a password choice is refused", "", []string{"user", "create", "--org", "acme", "--username", "sam"}, 1, "a local user needs --password-stdin, --link or --no-password"},
		{"two password choices are refused", "", []string{"user", "create", "--org", "acme", "--username", "sam", "--link", "--no-password"}, 1, "give only one of"},
		{"a local user without a password, explicitly", "", []string{"user", "create", "--org", "acme", "--username", "nopw", "--no-password"}, 0, "created user nopw"},
		{"a duplicate username is refused", "", []string{"user", "create", "--org", "acme", "--username", "bob", "--no-password"}, 1, `user "bob" already exists`},
		{"a directory user has no password", "pw\n", []string{"user", "create", "--org", "acme", "--username", "dora", "--kind", "directory", "--password-stdin"}, 1, "only local users have a password"},
		{"a directory user has no link", "", []string{"user", "create", "--org", "acme", "--username", "dora", "--kind", "directory", "--link"}, 1, "only local users have a password"},
		{"a directory user needs no password flag", "", []string{"user", "create", "--org", "acme", "--username", "dora", "--kind", "directory"}, 0, "created user dora"},
		{"an unknown kind is refused", "", []string{"user", "create", "--org", "acme", "--username", "x", "--kind", "robot"}, 1, "--kind must be"},
		{"an unknown organization is refused", "", []string{"user", "create", "--org", "nope", "--username", "x", "--no-password"}, 1, "--org: no organization has this name"},
		{"a zero-width character in a username is refused", "", []string{"user", "create", "--org", "acme", "--username", "bo\u200bb", "--no-password"}, 1, "--username: must not contain"},
		{"deactivate", "", []string{"user", "deactivate", "--org", "acme", "--user", "bob"}, 0, "user bob is now deactivated"},
		{"activate", "", []string{"user", "activate", "--org", "acme", "--user", "bob"}, 0, "user bob is now active"},
		{"an unknown user is refused", "", []string{"user", "deactivate", "--org", "acme", "--user", "zed"}, 1, `no user "zed"`},
		{"a missing flag is an error", "", []string{"user", "create", "--org", "acme"}, 1, `required flag(s) "username" not set`},
	}
	for _, s := range steps {
		code, out, stderr := cli(t, nil, s.stdin, append(s.args, "--config", path)...)
		if code != s.wantCode || !strings.Contains(out+stderr, s.want) {
			t.Errorf("%s: exit %d stdout %q stderr %q; want exit %d and %q", s.name, code, out, stderr, s.wantCode, s.want)
		}
		if code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: error is not one line: %q", s.name, stderr)
		}
	}
}

// TestServeSQLite runs the real binary with no configuration at all, as a
// newcomer would, and stops it with SIGTERM.
func TestServeSQLite(t *testing.T) {
	t.Parallel() // its own processes, database and ports; it mostly waits on them
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// The test's own AUTHSERVER_TEST_… variables are no configuration: the
	// server would refuse them as unknown.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHSERVER_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "AUTHSERVER_LOG_FORMAT=json")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for _, path := range []string{"/healthz", "/readyz"} {
		waitStatus(t, "http://127.0.0.1:9464"+path, http.StatusOK, &stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "authserver.db")); err != nil {
		t.Fatalf("no SQLite file in the working directory: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the log:\n%s", stderr.String())
	}
}

// TestReadyzFollowsPostgres shows readiness failing while PostgreSQL is down
// and recovering, without a restart, when it returns.
func TestReadyzFollowsPostgres(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dsn, err := cluster.CreateDatabase(context.Background(), "authserver")
	if err != nil {
		t.Fatal(err)
	}
	telemetry := freeAddr(t)
	path := writeConfig(t, fmt.Sprintf(`
http: {addr: "%s"}
telemetry: {addr: "%s"}
database: {driver: postgres, dsn: "%s"}
keys: {encryption_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}
log: {format: json}
`, freeAddr(t), telemetry, dsn))
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", path}, strings.NewReader(""), &bytes.Buffer{}, &stderr, config.MapEnv{})
	}()
	ready := "http://" + telemetry + "/readyz"
	waitStatus(t, ready, http.StatusOK, &stderr)
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ready, http.StatusServiceUnavailable, &stderr)
	waitStatus(t, "http://"+telemetry+"/healthz", http.StatusOK, &stderr)
	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ready, http.StatusOK, &stderr)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func waitStatus(t *testing.T, url string, want int, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: 3 * time.Second}
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: never answered %d (last: %s)\n%s", url, want, last, log)
}

// built is the binary buildBinary makes, once per test binary: the tests
// that run it as a separate process share it (each link of it took
// seconds under the suite's load).
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// buildBinary builds cmd/authserver once and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "authserver-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "authserver")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bin
}
