//go:build unix

package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

func TestMain(m *testing.M) { Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func selectOne(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("SELECT 1 returned %d", n)
	}
	return nil
}

// requirePostgres skips (or fails, with CI=true) when there is no PostgreSQL.
func requirePostgres(t *testing.T) {
	t.Helper()
	if _, err := locateBinDir(); err != nil {
		unavailable(t, err)
	}
}

func TestClusterLifecycle(t *testing.T) {
	begin := time.Now()
	c, err := Start()
	if err != nil {
		unavailable(t, err)
		return
	}
	t.Logf("cluster started in %v on port %d in %s", time.Since(begin), c.Port(), c.Dir())
	defer c.Close()
	ctx := context.Background()

	var dsns []string
	for _, name := range []string{"first", "second"} {
		begin := time.Now()
		dsn, err := c.CreateDatabase(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("CREATE DATABASE took %v", time.Since(begin))
		if want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port(), name); dsn != want {
			t.Errorf("DSN = %q, want %q", dsn, want)
		}
		dsns = append(dsns, dsn)
	}
	if _, err := c.CreateDatabase(ctx, "first"); err == nil {
		t.Error("creating an existing database succeeded")
	}
	first, second := open(t, dsns[0]), open(t, dsns[1])
	for i, db := range []*sql.DB{first, second} {
		if err := selectOne(ctx, db); err != nil {
			t.Fatalf("database %d: %v", i, err)
		}
	}
	var cur string
	if err := second.QueryRow("SELECT current_database()").Scan(&cur); err != nil || cur != "second" {
		t.Fatalf("current_database() = %q, %v", cur, err)
	}
	if _, err := first.Exec("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}

	pid := c.pid()
	if pid == 0 {
		t.Fatal("no server process")
	}
	children := childProcesses(pid)

	// Outage.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Error("Running() after Stop")
	}
	if !processGone(pid) {
		t.Errorf("postgres (pid %d) still there after Stop", pid)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	shortCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = selectOne(shortCtx, first)
	cancel()
	if err == nil {
		t.Fatal("SELECT 1 succeeded while the server is stopped")
	}
	t.Logf("while stopped: %v", err)
	if _, err := c.CreateDatabase(ctx, "third"); err == nil {
		t.Error("CreateDatabase succeeded while the server is stopped")
	}

	// Back again, same port, same data.
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := c.Resume(); err != nil {
		t.Errorf("second Resume: %v", err)
	}
	if !c.Running() {
		t.Error("not Running() after Resume")
	}
	// The pool may hold a connection broken by the restart; database/sql
	// retries on a fresh one.
	if err := selectOne(ctx, first); err != nil {
		t.Fatalf("SELECT 1 after Resume: %v", err)
	}
	var v int
	if err := first.QueryRow("SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Fatalf("data after Resume: %d, %v", v, err)
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := selectOne(ctx, second); err != nil {
		t.Fatalf("SELECT 1 after Restart: %v", err)
	}

	pid = c.pid()
	children = append(children, childProcesses(pid)...)
	if len(children) == 0 && runtime.GOOS == "linux" {
		t.Error("found no postgres child processes; the process check is broken")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Close: %v", c.Dir(), err)
	}
	for _, p := range append(children, pid) {
		if !processGone(p) {
			t.Errorf("process %d still there after Close", p)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Resume(); !errors.Is(err, ErrClosed) {
		t.Errorf("Resume after Close = %v, want ErrClosed", err)
	}
	if err := c.Stop(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stop after Close = %v, want ErrClosed", err)
	}
	for _, lc := range liveClusters() {
		if lc == c {
			t.Error("closed cluster still registered")
		}
	}
}

func TestCloseAfterServerDied(t *testing.T) {
	c := NewCluster(t)
	pid := c.pid()
	p, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for c.Running() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.Running() {
		t.Fatal("still running after SIGKILL")
	}
	// A crashed server can be resumed (crash recovery) ...
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := selectOne(context.Background(), open(t, c.DSN("postgres"))); err != nil {
		t.Fatal(err)
	}
	// ... and closed after it died again.
	if p, err := os.FindProcess(c.pid()); err == nil {
		p.Kill()
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Close: %v", c.Dir(), err)
	}
}

func TestNewDatabase(t *testing.T) {
	ctx := context.Background()
	dsn1, dsn2 := NewDatabase(t), NewDatabase(t)
	if dsn1 == dsn2 {
		t.Fatalf("same DSN twice: %s", dsn1)
	}
	db1, db2 := open(t, dsn1), open(t, dsn2)
	if err := selectOne(ctx, db1); err != nil {
		t.Fatal(err)
	}
	if _, err := db1.Exec("CREATE TABLE only_here (v int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db2.QueryRow("SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("second database sees the first one's table: %d, %v", n, err)
	}
	if SharedCluster(t) != SharedCluster(t) {
		t.Error("SharedCluster returned different clusters")
	}
}

func TestNewDatabaseExternalDSN(t *testing.T) {
	c := NewCluster(t)
	admin := open(t, c.DSN("postgres"))
	for _, base := range []string{
		c.DSN("postgres"),
		fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", c.Port()),
	} {
		t.Setenv(EnvDSN, base)
		var name string
		t.Run("sub", func(t *testing.T) {
			dsn := NewDatabase(t)
			db := open(t, dsn)
			if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(name, "pgtest_testnewdatabaseexter") {
				t.Errorf("database name %q", name)
			}
			// The drop must work with connections still open.
			if err := selectOne(context.Background(), db); err != nil {
				t.Fatal(err)
			}
		})
		if name == "" {
			t.Fatal("subtest created no database")
		}
		var n int
		if err := admin.QueryRow("SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
			t.Errorf("database %s not dropped after the test: %d, %v", name, n, err)
		}
	}
}

func TestConcurrentStart(t *testing.T) {
	requirePostgres(t)
	const n = 3
	var wg sync.WaitGroup
	clusters := make([]*Cluster, n)
	errs := make([]error, n)
	begin := time.Now()
	for i := range n {
		wg.Go(func() { clusters[i], errs[i] = Start() })
	}
	wg.Wait()
	t.Logf("%d clusters started concurrently in %v", n, time.Since(begin))
	ports := map[int]bool{}
	for i, c := range clusters {
		if errs[i] != nil {
			t.Errorf("cluster %d: %v", i, errs[i])
			continue
		}
		defer c.Close()
		if ports[c.Port()] {
			t.Errorf("port %d used twice", c.Port())
		}
		ports[c.Port()] = true
		if err := selectOne(context.Background(), open(t, c.DSN("postgres"))); err != nil {
			t.Errorf("cluster %d: %v", i, err)
		}
	}
}

func TestPortConflictRetried(t *testing.T) {
	requirePostgres(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return takenPort, nil
		}
		return freePort()
	}
	defer func() { pickPort = freePort }()
	c := NewCluster(t)
	if calls < 2 || c.Port() == takenPort {
		t.Errorf("port picked %d times, cluster on %d (taken: %d)", calls, c.Port(), takenPort)
	}
	if b, _ := os.ReadFile(c.LogPath()); !strings.Contains(string(b), "Address already in use") {
		t.Errorf("log does not show the conflict:\n%s", b)
	}

	// Resume cannot move to another port; it waits for the port to be free.
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port())))
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(500*time.Millisecond, func() { l.Close() })
	if err := c.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := selectOne(context.Background(), open(t, c.DSN("postgres"))); err != nil {
		t.Fatal(err)
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	requirePostgres(t)
	c, err := Start(WithSetting("no_such_setting", "1"))
	if err == nil {
		c.Close()
		t.Fatal("Start with a bogus setting succeeded")
	}
	t.Log(err)
	if !strings.Contains(err.Error(), "no_such_setting") || !strings.Contains(err.Error(), "server log") {
		t.Errorf("error does not show the server log: %v", err)
	}
	// The temporary directory is removed on failure.
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgtest-*", "data", "postgresql.conf"))
	for _, m := range matches {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(m), "postmaster.opts"))
		if strings.Contains(string(b), "no_such_setting") {
			t.Errorf("failed cluster left behind: %s", filepath.Dir(filepath.Dir(m)))
		}
	}
}

// fakeTB records Skipf and Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper()                       {}
func (f *fakeTB) Skipf(format string, a ...any) { f.skipped = fmt.Sprintf(format, a...) }
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
}

func TestUnavailableRule(t *testing.T) {
	reason := errors.New("no initdb")
	for _, tc := range []struct {
		ci        string
		wantFatal bool
	}{{"true", true}, {"", false}, {"false", false}, {"1", false}} {
		t.Setenv("CI", tc.ci)
		f := &fakeTB{TB: t}
		unavailable(f, reason)
		if got := f.fatal != ""; got != tc.wantFatal || (f.skipped != "") == tc.wantFatal {
			t.Errorf("CI=%q: fatal %q, skipped %q", tc.ci, f.fatal, f.skipped)
		}
		if !strings.Contains(f.fatal+f.skipped, "no initdb") {
			t.Errorf("CI=%q: reason missing: %q%q", tc.ci, f.fatal, f.skipped)
		}
	}

	// Without Main the shared cluster is refused.
	mainRunning.Store(false)
	defer mainRunning.Store(true)
	f := &fakeTB{TB: t}
	if c := sharedCluster(f); c != nil || !strings.Contains(f.fatal, "TestMain") {
		t.Errorf("sharedCluster without Main: %v, %q", c, f.fatal)
	}
}

func TestFindBinDir(t *testing.T) {
	root := t.TempDir()
	mk := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lib := filepath.Join(root, "lib")
	for _, v := range []string{"9.6", "10", "15"} {
		mk(filepath.Join(lib, v, "bin", "initdb"))
		mk(filepath.Join(lib, v, "bin", "postgres"))
	}
	mk(filepath.Join(lib, "16", "bin", "initdb")) // incomplete: no postgres
	if got, err := findBinDir("", lib); err != nil || got != filepath.Join(lib, "15", "bin") {
		t.Errorf("findBinDir = %q, %v; want version 15", got, err)
	}
	pathDir := filepath.Join(root, "path")
	mk(filepath.Join(pathDir, "initdb"))
	mk(filepath.Join(pathDir, "postgres"))
	if got, err := findBinDir("/nonexistent"+string(filepath.ListSeparator)+pathDir, lib); err != nil || got != pathDir {
		t.Errorf("findBinDir with PATH = %q, %v; want %q", got, err, pathDir)
	}
	if _, err := findBinDir("", filepath.Join(root, "none")); err == nil {
		t.Error("findBinDir found something in an empty tree")
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:1/old?sslmode=disable":       "postgres://u:p@h:1/new_db?sslmode=disable",
		"postgresql://h/":                              "postgresql://h/new_db",
		"host=h dbname=old":                            "host=h dbname=old dbname='new_db'",
		"  host=h sslmode=disable ":                    "host=h sslmode=disable dbname='new_db'",
		"postgres://h:5432?sslmode=disable&user=x#frg": "postgres://h:5432/new_db?sslmode=disable&user=x#frg",
	} {
		got, err := withDatabase(in, "new_db")
		if err != nil || got != want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	name := databaseName("TestX/sub-test with spaces and a very long name indeed")
	if len(name) > 63 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Errorf("databaseName = %q", name)
	}
}

// pid returns the server's process id, or 0 if it is not running.
func (c *Cluster) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.cmd.Process.Pid
}

// processGone reports whether process pid no longer exists (or is a zombie
// waiting for a reaper that may never come, e.g. in a container).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS == "linux"
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}

// childProcesses lists the processes whose parent is pid (Linux only).
func childProcesses(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			if kid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
				kids = append(kids, kid)
			}
		}
	}
	return kids
}
