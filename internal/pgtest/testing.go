package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lib/pq"
)

// EnvDSN names the environment variable that makes NewDatabase create its
// databases on an existing server instead of a throwaway cluster.
const EnvDSN = "AUTHSERVER_TEST_POSTGRES_DSN"

// mainRunning is set while Run is running the tests.
var mainRunning atomic.Bool

// The cluster shared by the test binary; started on first use, closed by Run.
var shared struct {
	sync.Mutex
	c    *Cluster
	err  error // memoized start failure, so every test reports the same reason quickly
	done bool  // Run has closed it; do not start another
}

// Main runs the tests, shuts down the shared cluster (and any cluster a test
// started and did not close) and exits with the tests' exit code. Call it
// from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the os.Exit, for a TestMain that does more.
//
// Run does not catch signals (tests may send their own process SIGINT or
// SIGTERM to test graceful shutdown). A test binary that dies before Run
// returns (Ctrl-C, SIGKILL, a panic, the -timeout panic) still takes its
// postgres processes with it on Linux, but leaves its temporary
// directories (pgtest-* in os.TempDir()) behind.
func Run(m *testing.M) int {
	mainRunning.Store(true)
	code := m.Run()
	if err := closeAll(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	mainRunning.Store(false)
	return code
}

// closeAll closes the shared cluster and every other live cluster.
func closeAll() error {
	shared.Lock()
	sc := shared.c
	shared.c, shared.done = nil, true
	shared.Unlock()
	var errs []error
	if sc != nil {
		errs = append(errs, sc.Close())
	}
	for _, c := range liveClusters() {
		fmt.Fprintf(os.Stderr, "pgtest: closing cluster %s that was never closed\n", c.Dir())
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// NewDatabase returns the DSN of a new, empty database with a unique name.
// The database lives in the cluster shared by the test binary, which needs
// TestMain to call Main; if AUTHSERVER_TEST_POSTGRES_DSN is set it is
// created on that server instead and dropped when the test ends. Without
// PostgreSQL the test is skipped, or failed if CI=true.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := databaseName(tb.Name())
	if base := os.Getenv(EnvDSN); base != "" {
		return externalDatabase(tb, base, name)
	}
	c := sharedCluster(tb)
	if c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := c.CreateDatabase(ctx, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
		return ""
	}
	return dsn
}

// NewDatabaseFrom is NewDatabase, the new database a copy of template, a
// database of the shared cluster that prepare filled the first time it
// was asked for (once per test binary; nobody may stay connected to it).
// With AUTHSERVER_TEST_POSTGRES_DSN set it is NewDatabase: the template
// would outlive the test that made it on a server the suite does not own.
func NewDatabaseFrom(tb testing.TB, template string, prepare func(dsn string) error) string {
	tb.Helper()
	if os.Getenv(EnvDSN) != "" {
		return NewDatabase(tb)
	}
	c := sharedCluster(tb)
	if c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	templates.Lock()
	err, done := templates.made[template]
	if !done {
		var dsn string
		if dsn, err = c.CreateDatabase(ctx, template); err == nil {
			err = prepare(dsn)
		}
		templates.made[template] = err
	}
	templates.Unlock()
	if err != nil {
		tb.Fatalf("pgtest: template %s: %v", template, err)
		return ""
	}
	dsn, err := c.CreateDatabaseFrom(ctx, databaseName(tb.Name()), template)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
		return ""
	}
	return dsn
}

// templates are the template databases NewDatabaseFrom made, and how.
var templates = struct {
	sync.Mutex
	made map[string]error
}{made: map[string]error{}}

// SharedCluster returns the cluster shared by the test binary (the one
// NewDatabase uses), starting it if needed; TestMain must call Main. Do not
// Stop or Close it: other tests use it too. Tests that take the server down
// want NewCluster. Without PostgreSQL the test is skipped, or failed if
// CI=true.
func SharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	return sharedCluster(tb)
}

// NewCluster starts a private cluster for tb, closed when the test ends;
// for tests that Stop and Resume the server. Without PostgreSQL the test is
// skipped, or failed if CI=true.
func NewCluster(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	c, err := Start(opts...)
	if err != nil {
		unavailable(tb, err)
		return nil
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return c
}

func sharedCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if !mainRunning.Load() {
		tb.Fatalf("pgtest: the shared cluster needs the package's TestMain to call pgtest.Main(m) (or pgtest.Run), which shuts it down after the tests")
		return nil
	}
	shared.Lock()
	defer shared.Unlock()
	switch {
	case shared.c != nil:
		return shared.c
	case shared.err != nil:
	case shared.done:
		shared.err = errors.New("pgtest: the shared cluster has already been shut down")
	default:
		shared.c, shared.err = Start()
		if shared.err == nil {
			return shared.c
		}
	}
	unavailable(tb, shared.err)
	return nil
}

// unavailable reports that PostgreSQL could not be had: a skip, or a
// failure when CI=true. Callers must return right after it.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("PostgreSQL is required when CI=true: %v", err)
		return
	}
	tb.Skipf("PostgreSQL is not available (with CI=true this fails instead): %v", err)
}

var dbCounter atomic.Int64

// databaseName makes a database name that is unique across test binaries
// (pid, counter, random suffix) and says which test it belongs to.
func databaseName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 24 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	return fmt.Sprintf("pgtest_%s_%d_%d_%x", b.String(), os.Getpid(), dbCounter.Add(1), rnd)
}

// externalDatabase creates database name on the server at base and returns
// base with the database name replaced.
func externalDatabase(tb testing.TB, base, name string) string {
	tb.Helper()
	dsn, err := withDatabase(base, name)
	if err != nil {
		tb.Fatalf("pgtest: %s: %v", EnvDSN, err)
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := execOn(ctx, base, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		tb.Fatalf("pgtest: creating database %s on the server in %s: %v", name, EnvDSN, err)
		return ""
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		q := "DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name)
		err := execOn(ctx, base, q+" WITH (FORCE)")
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "42601" { // syntax error: server older than 13
			err = execOn(ctx, base, q)
		}
		if err != nil {
			tb.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return dsn
}

func execOn(ctx context.Context, dsn, query string) error {
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, query)
	return err
}

// withDatabase returns the lib/pq DSN dsn (URL or key=value form) with its
// database name set to name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// lib/pq lets a later key override an earlier one.
	return strings.TrimSpace(dsn) + " dbname=" + quoteDSNValue(name), nil
}

func quoteDSNValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
