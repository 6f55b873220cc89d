package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Superuser is the role every cluster is created with (trust auth, no password).
const Superuser = "postgres"

// ErrClosed is returned by methods of a Cluster that has been closed.
var ErrClosed = errors.New("pgtest: cluster is closed")

// Option configures Start.
type Option func(*config)

type config struct {
	settings     []string
	startTimeout time.Duration
}

// WithSetting passes "-c name=value" to the server, after (and so
// overriding) the defaults pgtest uses.
func WithSetting(name, value string) Option {
	return func(c *config) { c.settings = append(c.settings, "-c", name+"="+value) }
}

// WithStartTimeout bounds how long starting (or resuming) the server may
// take before it is given up. The default is one minute.
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) { c.startTimeout = d }
}

// Cluster is a running (or stopped) throwaway PostgreSQL cluster. Its
// methods are safe for concurrent use.
type Cluster struct {
	dir      string // temporary directory holding everything
	dataDir  string
	logPath  string
	binDir   string
	runAs    *account
	port     int
	settings []string
	timeout  time.Duration

	mu     sync.Mutex
	proc   *serverProc // nil while stopped
	admin  *sql.DB     // connection pool to the "postgres" database, lazily opened
	closed bool
	frozen bool // Freeze stopped the server's processes
}

type serverProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // exit status, valid after done is closed
}

// account is the user the server programs run as when we are root.
type account struct {
	name     string
	uid, gid int
}

// Start creates and starts a new cluster. The caller must Close it.
func Start(opts ...Option) (*Cluster, error) {
	cfg := config{startTimeout: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	binDir, err := locateBinDir()
	if err != nil {
		return nil, err
	}
	runAs, err := serverAccount()
	if err != nil {
		return nil, err
	}
	dir, err := makeTempDir("pgtest-", runAs)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:      dir,
		dataDir:  filepath.Join(dir, "data"),
		logPath:  filepath.Join(dir, "log"),
		binDir:   binDir,
		runAs:    runAs,
		settings: cfg.settings,
		timeout:  cfg.startTimeout,
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if err := initdb(c.binDir, c.runAs, c.dir, c.dataDir); err != nil {
		return nil, err
	}

	// The port is free when we look at it but may be taken by someone else
	// (another test binary doing the same) before the server binds it.
	for attempt := 1; ; attempt++ {
		c.port, err = pickPort()
		if err != nil {
			return nil, err
		}
		err = c.startServer()
		if err == nil {
			break
		}
		var se *startError
		if attempt >= 5 || !errors.As(err, &se) || !se.portInUse {
			return nil, err
		}
	}
	ok = true
	register(c)
	return c, nil
}

// DSN returns a lib/pq URL for database dbname as the superuser, e.g.
// postgres://postgres@127.0.0.1:5432/dbname?sslmode=disable.
func (c *Cluster) DSN(dbname string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + dbname,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on (on 127.0.0.1). It stays
// the same across Stop and Resume.
func (c *Cluster) Port() int { return c.port }

// Dir returns the temporary directory holding the data directory, the
// server log and the Unix socket. Close removes it.
func (c *Cluster) Dir() string { return c.dir }

// DataDir returns the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// LogPath returns the path of the server log.
func (c *Cluster) LogPath() string { return c.logPath }

// CreateDatabase creates database name (quoted as an identifier) and
// returns its DSN.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := c.adminDB()
	if err != nil {
		return "", err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return "", fmt.Errorf("pgtest: creating database %q: %w", name, err)
	}
	return c.DSN(name), nil
}

// CreateDatabaseFrom creates database name as a copy of the database
// template (CREATE DATABASE … TEMPLATE), which nobody may be connected to,
// and returns its DSN.
func (c *Cluster) CreateDatabaseFrom(ctx context.Context, name, template string) (string, error) {
	db, err := c.adminDB()
	if err != nil {
		return "", err
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(template)); err != nil {
		return "", fmt.Errorf("pgtest: creating database %q from %q: %w", name, template, err)
	}
	return c.DSN(name), nil
}

// Running reports whether the server process is up (started and not
// stopped, closed or dead).
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return false
	}
	select {
	case <-c.proc.done:
		return false
	default:
		return true
	}
}

// Stop shuts the server down (fast shutdown: open sessions are
// disconnected) and waits for it to exit, keeping the data directory and
// port so that Resume can start it again. Stopping a stopped cluster does
// nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return c.stopLocked()
}

// Resume starts a stopped cluster again on the same data directory and
// port. Resuming a running cluster does nothing.
func (c *Cluster) Resume() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.proc != nil {
		select {
		case <-c.proc.done: // died on its own; start it again
			c.proc = nil
		default:
			return nil
		}
	}
	// The port cannot change (DSNs have been handed out), so on a conflict
	// the only thing to do is to wait for whoever holds it; after a crash,
	// likewise for the dead server's backends to exit.
	var err error
	for attempt := 1; attempt <= 10; attempt++ {
		if err = c.startServer(); err == nil {
			return nil
		}
		var se *startError
		if !errors.As(err, &se) || !se.portInUse && !se.oldServerAlive {
			return err
		}
		time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
	}
	return err
}

// Freeze stops the server and every backend with SIGSTOP, as a paused VM
// or a black-holed link would: connections stay open and nothing answers.
// Thaw resumes them; Stop and Close thaw a frozen server first.
func (c *Cluster) Freeze() error { return c.signalGroup(true) }

// Thaw resumes a server that Freeze stopped.
func (c *Cluster) Thaw() error { return c.signalGroup(false) }

func (c *Cluster) signalGroup(freeze bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.proc == nil {
		return errors.New("pgtest: the server is not running")
	}
	if err := signalGroup(c.proc.cmd.Process.Pid, freeze); err != nil {
		return fmt.Errorf("pgtest: signalling the server's process group: %w", err)
	}
	c.frozen = freeze
	return nil
}

// Restart is Stop followed by Resume.
func (c *Cluster) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return c.Resume()
}

// Close stops the server if it is running and removes the cluster's
// temporary directory. It may be called more than once and after Stop or
// after the server has died; later calls return nil.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	unregister(c)
	err := c.stopLocked()
	if rerr := os.RemoveAll(c.dir); rerr != nil && err == nil {
		err = fmt.Errorf("pgtest: removing %s: %w", c.dir, rerr)
	}
	return err
}

func (c *Cluster) adminDB() (*sql.DB, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.admin == nil {
		db, err := sql.Open("postgres", c.DSN("postgres"))
		if err != nil {
			return nil, err
		}
		c.admin = db
	}
	return c.admin, nil
}

func (c *Cluster) stopLocked() error {
	if c.admin != nil {
		c.admin.Close()
		c.admin = nil
	}
	p := c.proc
	if p == nil {
		return nil
	}
	if c.frozen {
		// A stopped process does not act on SIGINT until it runs again.
		_ = signalGroup(p.cmd.Process.Pid, false)
		c.frozen = false
	}
	c.proc = nil
	select {
	case <-p.done:
		return nil // already gone
	default:
	}
	// SIGINT is PostgreSQL's fast shutdown (what pg_ctl stop -m fast
	// sends); escalate to immediate shutdown and then SIGKILL if it hangs.
	steps := []struct {
		signal  func(*os.Process) error
		timeout time.Duration
	}{
		{interruptProcess, 30 * time.Second},
		{quitProcess, 10 * time.Second},
		{(*os.Process).Kill, 10 * time.Second},
	}
	for _, s := range steps {
		if err := s.signal(p.cmd.Process); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("pgtest: signalling postgres (pid %d): %w", p.cmd.Process.Pid, err)
		}
		select {
		case <-p.done:
			return nil
		case <-time.After(s.timeout):
		}
	}
	return fmt.Errorf("pgtest: postgres (pid %d) did not exit", p.cmd.Process.Pid)
}

// initdb creates dataDir, running in workDir (which runAs must own).
func initdb(binDir string, runAs *account, workDir, dataDir string) error {
	cmd := exec.Command(filepath.Join(binDir, "initdb"),
		"-D", dataDir,
		"-U", Superuser,
		"--auth=trust",
		"-E", "UTF8",
		"--no-locale",
		"--no-sync",
	)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	prepare(cmd, workDir, runAs)
	err := startProcess(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		hint := ""
		if runAs != nil {
			hint = fmt.Sprintf(" (initdb ran as user %s, which must be able to reach %s; check TMPDIR)", runAs.name, workDir)
		}
		return fmt.Errorf("pgtest: initdb failed: %v%s\n%s", err, hint, tail(out.Bytes(), 20))
	}
	return nil
}

// makeTempDir creates a temporary directory that runAs (if set) owns.
func makeTempDir(pattern string, runAs *account) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if runAs != nil {
		if err := os.Chown(dir, runAs.uid, runAs.gid); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("pgtest: handing %s to user %s: %w", dir, runAs.name, err)
		}
	}
	return dir, nil
}

// prepare sets what every server program needs: working directory, user,
// process group and parent-death signal.
func prepare(cmd *exec.Cmd, workDir string, runAs *account) {
	cmd.Dir = workDir
	cmd.SysProcAttr = sysProcAttr(runAs)
}

// startError is a failed server start. portInUse is set when the log says
// the TCP port could not be bound; oldServerAlive when processes of a
// server that died on this data directory (backends not yet gone after a
// crash) still hold its shared memory.
type startError struct {
	msg            string
	portInUse      bool
	oldServerAlive bool
}

func (e *startError) Error() string { return e.msg }

// startServer starts postgres on c.port and waits until it accepts
// connections. c.mu must be held (or c not yet shared).
func (c *Cluster) startServer() error {
	logf, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	logStart, _ := logf.Seek(0, io.SeekEnd)
	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), c.serverArgs()...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	prepare(cmd, c.dir, c.runAs)
	err = startProcess(cmd)
	logf.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	p := &serverProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	deadline := time.Now().Add(c.timeout)
	if err := c.waitReady(p, deadline); err != nil {
		return c.startFailure(logStart, err)
	}
	db, err := c.connect(deadline.Add(5 * time.Second))
	if err != nil {
		p.abort()
		return c.startFailure(logStart, fmt.Errorf("postgres is ready but does not accept connections: %w", err))
	}
	c.proc = p
	if c.admin != nil {
		c.admin.Close()
	}
	c.admin = db
	return nil
}

// serverArgs is the postgres command line: settings for a throwaway
// cluster (durability off), then the caller's, which override them.
func (c *Cluster) serverArgs() []string {
	// The Unix socket is a convenience (psql -h DIR); skip it where its
	// path would be too long for sun_path (103 bytes on macOS).
	socketDir := c.dir
	if len(socketDir)+len("/.s.PGSQL.65535") > 103 {
		socketDir = ""
	}
	args := []string{
		"-D", c.dataDir,
		"-p", strconv.Itoa(c.port),
		"-k", socketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	}
	return append(args, c.settings...)
}

// waitReady waits for what pg_ctl -w waits for: our postmaster has written
// "ready" into postmaster.pid, which it does after binding the port. A
// server not ready by deadline is stopped.
func (c *Cluster) waitReady(p *serverProc, deadline time.Time) error {
	pidLine := strconv.Itoa(p.cmd.Process.Pid)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited during startup: %v", p.err)
		case <-time.After(10 * time.Millisecond):
		}
		if b, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid")); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) >= 8 && lines[0] == pidLine && strings.TrimSpace(lines[7]) == "ready" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			p.abort()
			return fmt.Errorf("postgres did not become ready within %v", c.timeout)
		}
	}
}

// connect checks that the server really accepts connections on the port
// handed out, and returns the connection pool of the superuser.
func (c *Cluster) connect(deadline time.Time) (*sql.DB, error) {
	db, err := sql.Open("postgres", c.DSN("postgres"))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// startFailure is the startError for err, with the lines the server
// logged since logStart, which say why it failed and whether trying again
// can help.
func (c *Cluster) startFailure(logStart int64, err error) *startError {
	newLog := readFrom(c.logPath, logStart)
	return &startError{
		msg: fmt.Sprintf("pgtest: %v (port %d)\nserver log (%s):\n%s", err, c.port, c.logPath, tail(newLog, 20)),
		portInUse: bytes.Contains(newLog, []byte("Address already in use")) ||
			bytes.Contains(newLog, []byte("could not create any TCP/IP sockets")),
		oldServerAlive: bytes.Contains(newLog, []byte("pre-existing shared memory block")),
	}
}

// abort stops a server that failed to start: immediate shutdown, then
// SIGKILL if it hangs.
func (p *serverProc) abort() {
	quitProcess(p.cmd.Process)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// spawn runs every process start on one goroutine locked to an OS thread
// that never exits: on Linux the parent-death signal fires when the thread
// that forked the child exits, not the process, and Go may retire threads.
var spawn = sync.OnceValue(func() chan spawnRequest {
	ch := make(chan spawnRequest)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives as long as the process
		for r := range ch {
			r.errc <- r.cmd.Start()
		}
	}()
	return ch
})

type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

func startProcess(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	spawn() <- spawnRequest{cmd, errc}
	return <-errc
}

// serverAccount returns the account to run initdb and postgres as: nil
// (ourselves) unless we are root, which initdb refuses to run as.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []string
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 != nil || err2 != nil {
			errs = append(errs, fmt.Sprintf("user %s has non-numeric uid/gid %s/%s", name, u.Uid, u.Gid))
			continue
		}
		return &account{name: name, uid: uid, gid: gid}, nil
	}
	return nil, fmt.Errorf("pgtest: running as root and no unprivileged user to run PostgreSQL as: %s", strings.Join(errs, "; "))
}

// EnvBinDir names the environment variable that, if set, is the only
// directory searched for initdb and postgres.
const EnvBinDir = "AUTHSERVER_TEST_POSTGRES_BINDIR"

func locateBinDir() (string, error) {
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if !isExecutable(filepath.Join(dir, "initdb")) || !isExecutable(filepath.Join(dir, "postgres")) {
			return "", fmt.Errorf("pgtest: PostgreSQL not found: %s=%s has no initdb and postgres", EnvBinDir, dir)
		}
		return filepath.Abs(dir)
	}
	return findBinDir(os.Getenv("PATH"), "/usr/lib/postgresql")
}

// findBinDir returns the directory with initdb and postgres: the one of
// initdb on PATH, else the newest <root>/<version>/bin holding both.
func findBinDir(path, root string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		if isExecutable(filepath.Join(dir, "initdb")) {
			if isExecutable(filepath.Join(dir, "postgres")) {
				return filepath.Abs(dir)
			}
			// e.g. a symlink farm: follow initdb to its real directory.
			if real, err := filepath.EvalSymlinks(filepath.Join(dir, "initdb")); err == nil &&
				isExecutable(filepath.Join(filepath.Dir(real), "postgres")) {
				return filepath.Dir(real), nil
			}
		}
	}
	entries, _ := os.ReadDir(root)
	type cand struct {
		dir     string
		version []int
	}
	var cands []cand
	for _, e := range entries {
		bin := filepath.Join(root, e.Name(), "bin")
		if !isExecutable(filepath.Join(bin, "initdb")) || !isExecutable(filepath.Join(bin, "postgres")) {
			continue
		}
		cands = append(cands, cand{bin, parseVersion(e.Name())})
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("pgtest: PostgreSQL not found: no initdb on PATH and no %s/<version>/bin with initdb and postgres (install e.g. the Debian package postgresql)", root)
	}
	sort.Slice(cands, func(i, j int) bool { return versionLess(cands[j].version, cands[i].version) })
	return cands[0].dir, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && (runtime.GOOS == "windows" || fi.Mode()&0o111 != 0)
}

// parseVersion turns "9.6" into [9 6] and "16beta1" into [16].
func parseVersion(s string) []int {
	var v []int
	for _, part := range strings.Split(s, ".") {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(part[:end])
		if err != nil {
			break
		}
		v = append(v, n)
		if end < len(part) {
			break
		}
	}
	return v
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// pickPort is freePort, replaceable by tests.
var pickPort = freePort

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// readFrom returns the contents of the file at path from offset on.
func readFrom(path string, offset int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return b
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\t" + strings.Join(lines, "\n\t")
}

// Every cluster that has been started and not closed, so that Main can
// close them all (including ones a test forgot to close).
var live struct {
	sync.Mutex
	m map[*Cluster]struct{}
}

func register(c *Cluster) {
	live.Lock()
	defer live.Unlock()
	if live.m == nil {
		live.m = make(map[*Cluster]struct{})
	}
	live.m[c] = struct{}{}
}

// unregister is called with c.mu held, so it must not take c.mu.
func unregister(c *Cluster) {
	live.Lock()
	defer live.Unlock()
	delete(live.m, c)
}

func liveClusters() []*Cluster {
	live.Lock()
	defer live.Unlock()
	cs := make([]*Cluster, 0, len(live.m))
	for c := range live.m {
		cs = append(cs, c)
	}
	return cs
}
