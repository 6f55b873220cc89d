// Package pgtest starts throwaway PostgreSQL clusters for tests.
//
// A cluster is a fresh data directory (initdb) in a temporary directory,
// served by a postgres process listening on a free TCP port on 127.0.0.1
// (and on a Unix socket in the temporary directory), with trust
// authentication for the superuser "postgres" and durability switched off
// (fsync, synchronous_commit and full_page_writes off, initdb --no-sync).
//
// Most tests only need an empty database:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		dsn := pgtest.NewDatabase(t) // postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable
//		db, err := sql.Open("postgres", dsn)
//		...
//	}
//
// NewDatabase creates a database with a unique name in a cluster that is
// shared by the whole test binary and started on first use. The package's
// TestMain must call Main (or Run): after the tests it shuts the shared
// cluster, and any cluster a test forgot to close, down and removes their
// directories. NewDatabase fails the test if TestMain does not call Main.
// Databases are not dropped after each test; they go away with the cluster.
//
// Tests that stop and restart the server (outage tests) must not touch the
// shared cluster: they get a private one from NewCluster, closed when the
// test ends, and call Stop and Resume on it. Start is the same without the
// testing.TB plumbing; its caller must Close the cluster.
//
// # Finding PostgreSQL
//
// initdb and postgres are taken from AUTHSERVER_TEST_POSTGRES_BINDIR if that
// is set, else from the directory of initdb on PATH, else from the newest
// /usr/lib/postgresql/<version>/bin (the Debian and Ubuntu layout, e.g.
// after "apt-get install -y postgresql"). When the tests run as root the
// server programs run as the "postgres" user (initdb refuses to run as
// root), or "nobody" if there is no such user; the temporary directory,
// created under os.TempDir(), is given to that user, so TMPDIR must be
// reachable by it (the default /tmp is).
//
// # Missing PostgreSQL and CI=true
//
// If PostgreSQL cannot be found or the cluster fails to start, the helpers
// (NewDatabase, NewCluster, SharedCluster) skip the test with the reason.
// When the environment variable CI is "true" they fail it instead: in CI a
// missing PostgreSQL is a broken setup, never a reason to skip.
//
// # Using an existing server
//
// If AUTHSERVER_TEST_POSTGRES_DSN is set (a lib/pq DSN, URL or key=value
// form, for a role that may create databases), NewDatabase does not start a
// cluster: it creates each database on that server, returns that DSN with
// the database name replaced, and drops the database (WITH (FORCE)) when
// the test ends. Errors talking to that server always fail the test.
// NewCluster and SharedCluster ignore the variable: they need a server they
// own.
//
// # Processes and cleanup
//
// The server is run directly as a child process of the test binary rather
// than through pg_ctl (which detaches it), in its own process group. On
// Linux it gets a parent-death signal (SIGQUIT, PostgreSQL's immediate
// shutdown), so a test binary that dies without closing its clusters
// (Ctrl-C, SIGKILL, a crash, the -timeout panic) takes its servers with
// it; only the temporary directories (pgtest-* in os.TempDir()) are left
// behind then. Main does not catch signals. Stop is what pg_ctl stop -m fast does (SIGINT), and the
// start waits for what pg_ctl start -w waits for ("ready" in
// postmaster.pid), then for a successful connection.
package pgtest
