package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"authserver/internal/pgtest"
	"authserver/storage"
)

// TestFrozenPostgresCallsEndAtTheDeadline: a PostgreSQL whose processes
// are stopped (a paused VM, a black-holed link) keeps its connections open
// and answers nothing. Every kind of call still returns ErrUnavailable by
// the query timeout — a pooled connection's statement, a prepared
// statement, a new connection's handshake, a transaction — and the same
// store works again once the server runs.
func TestFrozenPostgresCallsEndAtTheDeadline(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	ctx := context.Background()
	dsn, err := cluster.CreateDatabase(ctx, "frozen")
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 500 * time.Millisecond
	st := openMigrated(t, storage.Options{Driver: storage.DriverPostgres, DSN: dsn, QueryTimeout: timeout, MaxOpenConns: 4})
	org := &storage.Organization{Name: "acme", PATsEnabled: true}
	if err := st.CreateOrganization(ctx, org); err != nil {
		t.Fatal(err)
	}
	// Warm the pool and the prepared hot-path statement.
	if _, err := st.GetPATGrant(ctx, make([]byte, 32)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetPATGrant before the freeze: %v", err)
	}

	if err := cluster.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			cluster.Thaw()
		}
	}()
	calls := []struct {
		name string
		call func() error
	}{
		{"ping", func() error { return st.Ping(ctx) }},
		{"prepared hot-path read", func() error { _, err := st.GetPATGrant(ctx, make([]byte, 32)); return err }},
		{"read", func() error { _, err := st.GetOrganization(ctx, org.ID); return err }},
		{"write", func() error { return st.CreateOrganization(ctx, &storage.Organization{Name: "globex"}) }},
		{"transaction", func() error {
			return st.WithTx(ctx, func(tx storage.Store) error {
				return tx.UpdateOrganization(ctx, &storage.Organization{ID: org.ID, Name: "acme", PATsEnabled: false})
			})
		}},
		// By now every pooled connection was lost to a timeout: these
		// dial anew into the frozen server.
		{"read on a new connection", func() error { _, err := st.ListOrganizations(ctx); return err }},
		{"ping on a new connection", func() error { return st.Ping(ctx) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		took := time.Since(start)
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s on a frozen server: got %v, want ErrUnavailable", c.name, err)
		}
		if took > timeout+time.Second {
			t.Errorf("%s on a frozen server took %s, want at most the query timeout (%s) plus a margin", c.name, took, timeout)
		}
		t.Logf("%s: %s after %s", c.name, err, took.Round(time.Millisecond))
	}

	if err := cluster.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, err := st.GetOrganization(ctx, org.ID)
		if err == nil {
			if !o.PATsEnabled {
				t.Fatal("the transaction that timed out on the frozen server was committed")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover after the thaw: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFullSQLiteIsAFaultOfTheDatabase: a write that SQLite refuses because
// the database is full is ErrUnavailable, not an unexpected failure;
// WriteFault reports it, and the first write that succeeds again clears
// it. max_page_count makes SQLite's own "database or disk is full" happen
// without filling a disk (the server test does that on a small tmpfs).
func TestFullSQLiteIsAFaultOfTheDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "full.db")
	st := openMigrated(t, storage.Options{Driver: storage.DriverSQLite, DSN: path, MaxOpenConns: 1})
	if err := st.WriteFault(); err != nil {
		t.Fatalf("WriteFault on a fresh store: %v", err)
	}
	var pages int
	if err := st.DB().QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `PRAGMA max_page_count = `+strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = 'x'
	}
	err := st.CreateOrganization(ctx, &storage.Organization{Name: string(big)})
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("a write into a full database: got %v, want ErrUnavailable", err)
	}
	if st.WriteFault() == nil {
		t.Fatal("WriteFault is nil after a write failed on a full database")
	}
	if err := st.ProbeWrite(ctx); err == nil {
		// The probe's row may fit where the large one did not; then the
		// database does take writes, and the fault must be cleared.
		if st.WriteFault() != nil {
			t.Fatal("a successful probe did not clear WriteFault")
		}
	}
	if _, err := st.DB().ExecContext(ctx, `PRAGMA max_page_count = 1000000`); err != nil {
		t.Fatal(err)
	}
	if err := st.ProbeWrite(ctx); err != nil {
		t.Fatalf("ProbeWrite once there is room: %v", err)
	}
	if err := st.WriteFault(); err != nil {
		t.Fatalf("WriteFault after a successful write: %v", err)
	}
}
