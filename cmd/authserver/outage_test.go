package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"authserver/config"
	"authserver/internal/pgtest"
)

// TestPostgresOutageRecovery takes PostgreSQL away from a running server and
// brings it back: while the database is down the
// server refuses with 503 temporarily_unavailable and never issues a token,
// stays live but not ready, and keeps the last-use times it has not written
// yet; when the database returns, the same process is ready again, exchanges
// again, and writes those times — no update is lost.
func TestPostgresOutageRecovery(t *testing.T) {
	// A prepared transaction survives the restart with its row lock: it
	// keeps the last-use write of one PAT from landing before the outage,
	// and after it until the test lets it go.
	cluster := pgtest.NewCluster(t, pgtest.WithSetting("max_prepared_transactions", "4"))
	ctx := context.Background()
	dsn, err := cluster.CreateDatabase(ctx, "authserver")
	if err != nil {
		t.Fatal(err)
	}
	path, httpAddr, telemetryAddr := patConfig(t,
		fmt.Sprintf("database: {driver: postgres, dsn: %q}\nkeys: {encryption_key: %q}\n", dsn, randomKEK(t)))
	srv := startInProcess(t, path, telemetryAddr)
	base, telemetry := "http://"+httpAddr, "http://"+telemetryAddr

	steady, _ := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "steady", "--scopes", "OR.Jobs")
	pending, pendingID := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "used before the outage", "--scopes", "OR.Jobs")
	if code, body := postToken(t, base, exchangeForm("cli", "orchestrator", steady)); code != http.StatusOK {
		t.Fatalf("before the outage an exchange works: got %d %v", code, body)
	}

	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const lockTx = "outage-test-holds-the-pat-row"
	lockRow(t, db, lockTx, pendingID)
	released := false
	defer func() {
		if !released {
			db.Exec(`ROLLBACK PREPARED '` + lockTx + `'`)
		}
	}()

	// Used right before the outage: the server holds the time in memory.
	code, body := postToken(t, base, exchangeForm("cli", "orchestrator", pending))
	if code != http.StatusOK {
		t.Fatalf("exchange right before the outage: got %d %v", code, body)
	}
	usedAt := time.Unix(int64(claimsOf(t, body["access_token"].(string))["iat"].(float64)), 0)

	stopped := time.Now()
	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}

	t.Run("while PostgreSQL is down an exchange is 503 temporarily_unavailable and never a token", func(t *testing.T) {
		for _, pat := range []string{steady, pending} {
			resp, err := http.PostForm(base+"/oauth2/token", exchangeForm("cli", "orchestrator", pat))
			if err != nil {
				t.Fatal(err)
			}
			got := decodeJSON(t, resp)
			if resp.StatusCode != http.StatusServiceUnavailable || got["error"] != "temporarily_unavailable" {
				t.Errorf("got %d %v, want 503 temporarily_unavailable", resp.StatusCode, got)
			}
			if _, ok := got["access_token"]; ok {
				t.Error("a token was issued without the database")
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		}
	})
	t.Run("while PostgreSQL is down a revocation is 503, never a false 200", func(t *testing.T) {
		resp, err := http.PostForm(base+"/oauth2/revoke", url.Values{"client_id": {"cli"}, "token": {steady}})
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeJSON(t, resp); resp.StatusCode != http.StatusServiceUnavailable || got["error"] != "temporarily_unavailable" {
			t.Errorf("got %d %v, want 503 temporarily_unavailable", resp.StatusCode, got)
		}
	})
	t.Run("while PostgreSQL is down the process is live, running and not ready", func(t *testing.T) {
		waitStatus(t, telemetry+"/readyz", http.StatusServiceUnavailable, srv.stderr)
		waitStatus(t, telemetry+"/healthz", http.StatusOK, srv.stderr)
		// Stay down past a periodic last-use flush (every 2 s), so that the
		// pending time goes through failed attempts, not only the one that
		// was under way when the database went away.
		time.Sleep(time.Until(stopped.Add(2500 * time.Millisecond)))
		if srv.exited() {
			t.Fatalf("serve exited during the outage:\n%s", srv.stderr)
		}
		waitStatus(t, telemetry+"/healthz", http.StatusOK, srv.stderr)
	})

	if err := cluster.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL was down for %s", time.Since(stopped).Round(time.Millisecond))

	t.Run("when PostgreSQL returns the same process is ready and exchanges again", func(t *testing.T) {
		waitStatus(t, telemetry+"/readyz", http.StatusOK, srv.stderr)
		if code, body := postToken(t, base, exchangeForm("cli", "orchestrator", steady)); code != http.StatusOK {
			t.Fatalf("after the outage: got %d %v", code, body)
		}
		if srv.exited() {
			t.Fatalf("serve exited:\n%s", srv.stderr)
		}
	})

	t.Run("a last use from before the outage is written after it", func(t *testing.T) {
		// Still held back by the prepared transaction: nothing was written
		// before the outage, so what lands next comes from the server's
		// memory.
		if got := lastUsed(t, db, pendingID); got.Valid {
			t.Fatalf("last_used_at is %s while the row is locked: the test cannot tell a retried write from an early one", got.Time)
		}
		if _, err := db.Exec(`ROLLBACK PREPARED '` + lockTx + `'`); err != nil {
			t.Fatal(err)
		}
		released = true
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := lastUsed(t, db, pendingID)
			if got.Valid {
				if !got.Time.Truncate(time.Second).Equal(usedAt) {
					t.Fatalf("last_used_at %s, want the use at %s", got.Time.UTC(), usedAt.UTC())
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the last use from before the outage was never written (lost update)\n%s", srv.stderr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// lockRow locks the PAT's row in a prepared transaction named name, which
// outlives this session and a restart of the server until it is committed
// or rolled back.
func lockRow(t *testing.T, db *sql.DB, name, patID string) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var lastUsed sql.NullTime
	for _, step := range []func() error{
		func() error { _, err := conn.ExecContext(ctx, "BEGIN"); return err },
		func() error {
			return conn.QueryRowContext(ctx, `SELECT last_used_at FROM pats WHERE id = $1 FOR UPDATE`, patID).Scan(&lastUsed)
		},
		func() error { _, err := conn.ExecContext(ctx, `PREPARE TRANSACTION '`+name+`'`); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("lock the PAT row: %v", err)
		}
	}
	if lastUsed.Valid {
		t.Fatalf("the PAT was used before the test meant to use it (%s)", lastUsed.Time)
	}
}

func lastUsed(t *testing.T, db *sql.DB, patID string) sql.NullTime {
	t.Helper()
	var got sql.NullTime
	if err := db.QueryRow(`SELECT last_used_at FROM pats WHERE id = $1`, patID).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// inProcess is a serve command running in this test process.
type inProcess struct {
	stderr *syncBuffer
	done   chan struct{} // closed when serve returns
	code   int           // its exit status, once done is closed
}

func (s *inProcess) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// startInProcess runs serve with the configuration at path in-process and
// waits until it is ready. The test's cleanup stops it and checks its exit.
func startInProcess(t *testing.T, path, telemetryAddr string) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcess{stderr: &syncBuffer{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.code = run(ctx, []string{"serve", "--config", path}, strings.NewReader(""), &syncBuffer{}, s.stderr, config.MapEnv{})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
			if s.code != 0 {
				t.Errorf("serve exited %d:\n%s", s.code, s.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop")
		}
	})
	waitStatus(t, "http://"+telemetryAddr+"/readyz", http.StatusOK, s.stderr)
	return s
}
