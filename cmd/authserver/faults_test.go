package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/internal/pgtest"
	"authserver/internal/testenv"
)

// faultSecret is the gateway client's secret in faultBootstrap.
const faultSecret = "gateway-secret-for-the-fault-tests"

// faultBootstrap declares what the fault tests use: a public client for
// exchanges, a confidential one for introspection, and an admin with a
// console password.
func faultBootstrap() string {
	sum := sha256.Sum256([]byte(faultSecret))
	return fmt.Sprintf(`
bootstrap:
  audiences:
    - {id: orchestrator, name: Orchestrator, scopes: [OR.Jobs]}
  clients:
    - {id: cli, public: true, audiences: [orchestrator]}
    - {id: gateway, secret_sha256: %q, audiences: [orchestrator], introspection: true}
  organizations:
    - name: acme
      roles: [{name: Dev, permissions: [OR.Jobs]}]
      users:
        - {username: alice, admin: true, password: "correct horse battery staple", roles: [{role: Dev}]}
`, hex.EncodeToString(sum[:]))
}

// faultServer starts serve on the PostgreSQL database dsn with the given
// query timeout, and returns the configuration path, the public and
// telemetry base URLs and the running process.
func faultServer(t *testing.T, dsn string, queryTimeout time.Duration) (path, base, telemetry string, srv *inProcess) {
	t.Helper()
	httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
	path = writeConfig(t, fmt.Sprintf("http: {addr: %q}\ntelemetry: {addr: %q}\nlog: {format: json}\n"+
		"database: {driver: postgres, dsn: %q, query_timeout: %s}\nkeys: {encryption_key: %q}\n%s",
		httpAddr, telemetryAddr, dsn, queryTimeout, randomKEK(t), faultBootstrap()))
	srv = startInProcess(t, path, telemetryAddr)
	return path, "http://" + httpAddr, "http://" + telemetryAddr, srv
}

// reportLeaked posts a leaked-token report and returns the status and the
// Retry-After header.
func reportLeaked(t *testing.T, base string, tokens ...string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"tokens": tokens})
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Post(base+"/api/v1/leaked-tokens", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestLeakedReportDuringOutage: a leaked-token report is either recorded
// or refused. While PostgreSQL is down the report is answered 503 with
// Retry-After, never a 202 for a report that is then dropped; sent again
// once the database is back, it is accepted and the PAT stops working.
func TestLeakedReportDuringOutage(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	dsn, err := cluster.CreateDatabase(context.Background(), "authserver")
	if err != nil {
		t.Fatal(err)
	}
	path, base, telemetry, srv := faultServer(t, dsn, 2*time.Second)
	leaked, _ := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "pasted in a chat", "--scopes", "OR.Jobs")

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	code, retry := reportLeaked(t, base, leaked)
	if code != http.StatusServiceUnavailable || retry == "" {
		t.Fatalf("a report while the database is down: got %d (Retry-After %q), want 503 with Retry-After", code, retry)
	}
	// A report refused for the outage stays refused: nothing revokes the
	// PAT behind the reporter's back once the database returns.
	time.Sleep(2 * time.Second)
	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, telemetry+"/readyz", http.StatusOK, srv.stderr)
	if c, body := postToken(t, base, exchangeForm("cli", "orchestrator", leaked)); c != http.StatusOK {
		t.Fatalf("the PAT before the report is sent again: got %d %v, want 200", c, body)
	}
	if code, _ := reportLeaked(t, base, leaked); code != http.StatusAccepted {
		t.Fatalf("the report sent again once the database is back: got %d, want 202", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, body := postToken(t, base, exchangeForm("cli", "orchestrator", leaked))
		if c == http.StatusBadRequest && body["error"] == "invalid_request" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reported PAT still works 10 s after the 202: got %d %v\n%s", c, body, srv.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m := metric(t, telemetry, "authserver_leaked_reports_refused_total"); m != 1 {
		t.Errorf("authserver_leaked_reports_refused_total = %v, want 1", m)
	}
}

// managementToken exchanges pat for a JWT of the management API (the
// issuer is its audience) through the public client cli.
func managementToken(t *testing.T, base, pat string) string {
	t.Helper()
	code, body := postToken(t, base, exchangeForm("cli", base, pat))
	if code != http.StatusOK {
		t.Fatalf("a management API token: %d %v", code, body)
	}
	return body["access_token"].(string)
}

// metric scrapes one unlabelled sample from the telemetry listener.
func metric(t *testing.T, telemetry, name string) float64 {
	t.Helper()
	resp, err := http.Get(telemetry + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no sample %s in /metrics", name)
	}
	var v float64
	fmt.Sscan(string(m[1]), &v)
	return v
}

// soakOp is one kind of request of the soak test.
type soakOp struct {
	name string
	// ok lists the statuses this request may get while the database comes
	// and goes: success, a refusal, or 503.
	ok []int
	do func(c *http.Client) (*http.Response, error)
}

// soakResult is one answered (or failed) request.
type soakResult struct {
	op     string
	status int
	took   time.Duration
	err    error
	phase  string
	body   string
}

// TestSoakWithDatabaseFaults runs a mixed load — exchanges, introspections,
// API reads and writes, console sign-ins — against PostgreSQL while the
// database is stopped, started, frozen (SIGSTOP: connections stay open and
// nothing answers) and thawed. No answer may be other than the expected
// success, refusal or 503; none may take longer than the query timeout
// plus a margin; /readyz must answer within its own bound and say not ready
// while the database is frozen, and the readiness gauge must follow; the
// server must be ready again within seconds of each recovery without a
// restart; no PAT created before the faults, nor any created with a 201
// during them, may be lost; and a revoked PAT is never accepted.
func TestSoakWithDatabaseFaults(t *testing.T) {
	const queryTimeout = time.Second
	const margin = 2 * time.Second
	cluster := pgtest.NewCluster(t)
	dsn, err := cluster.CreateDatabase(context.Background(), "authserver")
	if err != nil {
		t.Fatal(err)
	}
	path, base, telemetry, srv := faultServer(t, dsn, queryTimeout)
	var before []string
	for i := range 5 {
		tok, _ := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", fmt.Sprintf("before %d", i), "--scopes", "OR.Jobs Identity.PATs")
		before = append(before, tok)
	}
	revoked, revokedID := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "revoked", "--scopes", "OR.Jobs")
	if code, _, stderr := cli(t, nil, "", "pat", "revoke", "--config", path, "--org", "acme", "--id", revokedID); code != 0 {
		t.Fatalf("pat revoke: %s", stderr)
	}
	apiToken := managementToken(t, base, before[0])

	var created sync.Map // names of PATs the API answered 201 for
	var seq sync.Mutex
	n := 0
	next := func() int { seq.Lock(); defer seq.Unlock(); n++; return n }
	form := func(v url.Values) io.Reader { return strings.NewReader(v.Encode()) }
	post := func(c *http.Client, u string, v url.Values, user string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, u, form(v))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, faultSecret)
		}
		return c.Do(req)
	}
	ops := []soakOp{
		{"exchange", []int{200, 503}, func(c *http.Client) (*http.Response, error) {
			return post(c, base+"/oauth2/token", exchangeForm("cli", "orchestrator", before[next()%len(before)]), "")
		}},
		{"exchange of the revoked PAT", []int{400, 503}, func(c *http.Client) (*http.Response, error) {
			return post(c, base+"/oauth2/token", exchangeForm("cli", "orchestrator", revoked), "")
		}},
		{"introspection", []int{200, 503}, func(c *http.Client) (*http.Response, error) {
			return post(c, base+"/oauth2/introspect", url.Values{"token": {before[next()%len(before)]}}, "gateway")
		}},
		{"API read", []int{200, 503}, func(c *http.Client) (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/me/pats?limit=5", nil)
			req.Header.Set("Authorization", "Bearer "+apiToken)
			return c.Do(req)
		}},
		{"API write", []int{201, 503}, func(c *http.Client) (*http.Response, error) {
			name := fmt.Sprintf("soak %d", next())
			b, _ := json.Marshal(map[string]any{"name": name, "scopes": []string{"OR.Jobs"}, "expires_at": nil})
			req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/me/pats", strings.NewReader(string(b)))
			req.Header.Set("Authorization", "Bearer "+apiToken)
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err == nil && resp.StatusCode == http.StatusCreated {
				created.Store(name, true)
			}
			return resp, err
		}},
		{"console sign-in", []int{200, 303, 503}, func(c *http.Client) (*http.Response, error) {
			jar, _ := cookiejar.New(nil)
			cc := &http.Client{Timeout: c.Timeout, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := cc.Get(base + "/console/login")
			if err != nil {
				return nil, err
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(page)
			if m == nil {
				return resp, nil // the login page answered without a form: judged by its status
			}
			return post(cc, base+"/console/login", url.Values{"csrf_token": {string(m[1])}, "organization": {"acme"},
				"username": {"alice"}, "password": {"correct horse battery staple"}}, "")
		}},
	}

	var (
		mu          sync.Mutex
		results     []soakResult
		phase       = "steady"
		lastRefusal time.Time
	)
	refusalDue := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(lastRefusal) < 3*time.Second {
			return false
		}
		lastRefusal = time.Now()
		return true
	}
	setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 15 * time.Second}
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				op := ops[i%len(ops)]
				if op.name == "console sign-in" && (i/len(ops))%3 != 0 {
					op = ops[0] // sign-ins cost an argon2id hash: a third as many
				}
				if op.name == "exchange of the revoked PAT" && !refusalDue() {
					// A refused exchange spends the address's failure budget
					// (30, then one every 2 s): stay under it.
					op = ops[0]
				}
				start := time.Now()
				resp, err := op.do(c)
				r := soakResult{op: op.name, took: time.Since(start), err: err}
				if err == nil {
					b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
					resp.Body.Close()
					r.status, r.body = resp.StatusCode, string(b)
				}
				mu.Lock()
				r.phase = phase
				results = append(results, r)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	readyAgain := map[string]time.Duration{}
	waitReady := func(what string, from time.Time) {
		waitStatus(t, telemetry+"/readyz", http.StatusOK, srv.stderr)
		readyAgain[what] = time.Since(from)
	}
	time.Sleep(3 * time.Second)

	setPhase("stopped")
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	setPhase("recovering")
	resumed := time.Now()
	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	waitReady("after the restart", resumed)
	setPhase("steady")
	time.Sleep(2 * time.Second)

	setPhase("frozen")
	if err := cluster.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			cluster.Thaw()
		}
	}()
	time.Sleep(2 * queryTimeout)
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(telemetry + "/readyz")
	if err != nil {
		t.Fatalf("/readyz while the database is frozen: %v", err)
	}
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || took > 2*time.Second+margin {
		t.Errorf("/readyz while the database is frozen: got %d after %s, want 503 within 2s plus a margin", resp.StatusCode, took)
	}
	if g := metric(t, telemetry, "authserver_ready"); g != 0 {
		t.Errorf("authserver_ready = %v while the database is frozen, want 0", g)
	}
	time.Sleep(3 * time.Second)
	setPhase("recovering")
	thawedAt := time.Now()
	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	waitReady("after the thaw", thawedAt)
	setPhase("steady")
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	// The figures, for the log.
	type tally struct {
		byStatus map[int]int
		slowest  time.Duration
	}
	tallies := map[string]*tally{}
	for _, r := range results {
		key := r.op + " / " + r.phase
		tl := tallies[key]
		if tl == nil {
			tl = &tally{byStatus: map[int]int{}}
			tallies[key] = tl
		}
		tl.byStatus[r.status]++
		tl.slowest = max(tl.slowest, r.took)
	}
	keys := make([]string, 0, len(tallies))
	for k := range tallies {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	t.Logf("%d requests (query timeout %s); ready again %v", len(results), queryTimeout, readyAgain)
	for _, k := range keys {
		t.Logf("  %-40s statuses %v, slowest %s", k, tallies[k].byStatus, tallies[k].slowest.Round(time.Millisecond))
	}

	// A sign-in hashes a password (argon2id), which under -race and a
	// loaded machine costs seconds by itself: a fault may add the query
	// timeouts of its two requests to what a sign-in costs when all is
	// well, no more.
	var signInCost time.Duration
	if tl := tallies["console sign-in / steady"]; tl != nil {
		signInCost = tl.slowest
	}
	for _, r := range results {
		ok := slices.Contains(ops[slices.IndexFunc(ops, func(o soakOp) bool { return o.name == r.op })].ok, r.status)
		switch {
		case r.err != nil:
			t.Errorf("%s (%s): no answer: %v", r.op, r.phase, r.err)
		case !ok:
			t.Errorf("%s (%s): got %d, want one of %v: %s", r.op, r.phase, r.status, ops[slices.IndexFunc(ops, func(o soakOp) bool { return o.name == r.op })].ok, r.body)
		case r.took > queryTimeout+margin && r.op != "console sign-in":
			t.Errorf("%s (%s): answered after %s, want within the query timeout (%s) plus %s", r.op, r.phase, r.took, queryTimeout, margin)
		case r.took > 2*queryTimeout+margin+signInCost:
			// A sign-in is two requests (the page, then the form).
			t.Errorf("%s (%s): answered after %s, want within twice the query timeout (%s) plus %s plus the slowest sign-in of the steady phase (%s)",
				r.op, r.phase, r.took, queryTimeout, margin, signInCost)
		}
	}
	for what, d := range readyAgain {
		if d > 10*time.Second {
			t.Errorf("ready again %s only after %s", what, d)
		}
	}
	for i, tok := range before {
		if code, body := postToken(t, base, exchangeForm("cli", "orchestrator", tok)); code != http.StatusOK {
			t.Errorf("PAT %d created before the faults: got %d %v after them", i, code, body)
		}
	}
	if code, _ := postToken(t, base, exchangeForm("cli", "orchestrator", revoked)); code == http.StatusOK {
		t.Error("the revoked PAT was accepted after the faults")
	}
	_, out, _ := cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme", "--user", "alice")
	lost := 0
	created.Range(func(k, _ any) bool {
		if !strings.Contains(out, k.(string)+" ") && !strings.Contains(out, k.(string)+"\t") && !strings.Contains(out, k.(string)+"\n") {
			lost++
			t.Errorf("the PAT %q was answered 201 and is not in the database", k)
		}
		return true
	})
	t.Logf("PATs created with a 201 during the run: all found (%d lost)", lost)
}

// TestSQLiteDiskFull: a full disk under SQLite is a fault of the database,
// not a bug. Writes are answered 503 with Retry-After, /readyz says not
// ready and the log names the cause; reads (exchanges) go on; once space
// is freed, the same process is ready again and writes work.
func TestSQLiteDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		if testenv.CI() {
			t.Fatalf("CI must be able to mount a small tmpfs for the disk-full test (run as root): %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
	path := writeConfig(t, fmt.Sprintf("http: {addr: %q}\ntelemetry: {addr: %q}\nlog: {format: json}\n"+
		"database: {dsn: %q}\n%s", httpAddr, telemetryAddr, filepath.Join(dir, "authserver.db"), faultBootstrap()))
	srv := startInProcess(t, path, telemetryAddr)
	base, telemetry := "http://"+httpAddr, "http://"+telemetryAddr
	pat, _ := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "reads on", "--scopes", "OR.Jobs Identity.PATs")
	apiToken := managementToken(t, base, pat)
	createVia := func(name string) (int, string, string) {
		b, _ := json.Marshal(map[string]any{"name": name, "scopes": []string{"OR.Jobs"}, "expires_at": nil})
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/me/pats", strings.NewReader(string(b)))
		req.Header.Set("Authorization", "Bearer "+apiToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(rb)
	}

	// Fill the filesystem to the last byte.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	f.Close()

	failed := false
	for i := range 20 { // the WAL may hold free room for a few small writes
		code, retry, body := createVia(fmt.Sprintf("on a full disk %d", i))
		if code == http.StatusCreated {
			continue
		}
		if code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(body, "unavailable") {
			t.Fatalf("a write on a full disk: got %d (Retry-After %q) %s, want 503 unavailable with Retry-After", code, retry, body)
		}
		failed = true
		break
	}
	if !failed {
		t.Fatal("20 writes succeeded on a full disk: the test could not fill it")
	}
	waitStatus(t, telemetry+"/readyz", http.StatusServiceUnavailable, srv.stderr)
	// Log lines are written in batches, every 100 ms.
	for deadline := time.Now().Add(3 * time.Second); !strings.Contains(srv.stderr.String(), "full") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(srv.stderr.String(), "full") {
		t.Errorf("the log does not name the cause (a full database or disk):\n%s", srv.stderr)
	}
	if code, body := postToken(t, base, exchangeForm("cli", "orchestrator", pat)); code != http.StatusOK {
		t.Errorf("an exchange (a read) on a full disk: got %d %v, want 200", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, telemetry+"/readyz", http.StatusOK, srv.stderr)
	if code, _, body := createVia("after space was freed"); code != http.StatusCreated {
		t.Fatalf("a write after space was freed: got %d %s, want 201", code, body)
	}
}
