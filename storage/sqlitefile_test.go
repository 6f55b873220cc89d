//go:build unix

package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"authserver/storage"
)

// withUmask runs the rest of the test under umask m. The umask is the
// process's, so tests that use it do not run in parallel.
func withUmask(t *testing.T, m int) {
	t.Helper()
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(path string) (fs.FileMode, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}

// checkOwnerOnly checks that the database at path and its -wal and -shm
// files exist and have mode 0600.
func checkOwnerOnly(t *testing.T, path string) {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		got, err := perm(p)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
			continue
		}
		if got != 0o600 {
			t.Errorf("%s: got mode %04o, want 0600", filepath.Base(p), got)
		}
	}
}

// TestSQLiteFilesAreOwnerOnly: the database holds password hashes and the
// audit log, so its file and the -wal and -shm files SQLite keeps beside it
// are readable by their owner only, whatever the umask, and whatever mode
// an existing file had.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		umask int
	}{
		{"a new database is 0600 under the usual umask 022", 0o022},
		{"a new database is 0600 under umask 000", 0o000},
		{"a new database is 0600 under umask 077", 0o077},
	} {
		t.Run(c.name, func(t *testing.T) {
			withUmask(t, c.umask)
			path := filepath.Join(t.TempDir(), "new.db")
			s := openMigrated(t, storage.Options{Driver: storage.DriverSQLite, DSN: path})
			// -wal and -shm exist while the store is open; the migration wrote
			// through them.
			checkOwnerOnly(t, path)
			s.Close()
			if got, err := perm(path); err != nil || got != 0o600 {
				t.Fatalf("after close: got mode %04o (%v), want 0600", got, err)
			}
		})
	}

	t.Run("an existing 0644 database is tightened to 0600, its -wal and -shm too", func(t *testing.T) {
		withUmask(t, 0o022)
		path := filepath.Join(t.TempDir(), "old.db")
		// A database made by an older version, or by the sqlite3 shell: 0644,
		// and still open elsewhere, so its -wal and -shm exist, 0644 too.
		old, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if _, err := old.Exec(`CREATE TABLE t (x); INSERT INTO t VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if got, err := perm(p); err != nil || got != 0o644 {
				t.Fatalf("setup: %s: got mode %04o (%v), want 0644", filepath.Base(p), got, err)
			}
		}
		openMigrated(t, storage.Options{Driver: storage.DriverSQLite, DSN: path})
		checkOwnerOnly(t, path)
	})

	t.Run("an existing owner-only file keeps its mode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ro.db")
		if err := os.WriteFile(path, nil, 0o400); err != nil {
			t.Fatal(err)
		}
		s, err := storage.Open(ctx, storage.Options{Driver: storage.DriverSQLite, DSN: path})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got, err := perm(path); err != nil || got != 0o400 {
			t.Fatalf("got mode %04o (%v), want 0400 kept", got, err)
		}
	})
}

// TestSQLiteMustExist: a one-shot command opens with MustExist, so that run
// from the wrong directory it reports the missing database instead of
// creating an empty one.
func TestSQLiteMustExist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "missing.db")
	for _, dsn := range []string{path, "file:" + path + "?cache=shared"} {
		s, err := storage.Open(ctx, storage.Options{Driver: storage.DriverSQLite, DSN: dsn, MustExist: true})
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, storage.ErrNoDatabase) {
			t.Errorf("%s: got %v, want ErrNoDatabase", dsn, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: a file was created: %v", dsn, err)
		}
	}
	openMigrated(t, storage.Options{Driver: storage.DriverSQLite, DSN: path})
	s, err := storage.Open(ctx, storage.Options{Driver: storage.DriverSQLite, DSN: path, MustExist: true})
	if err != nil {
		t.Fatalf("an existing database: %v", err)
	}
	s.Close()
	// In-memory databases have no file to miss.
	s, err = storage.Open(ctx, storage.Options{Driver: storage.DriverSQLite, DSN: ":memory:", MustExist: true})
	if err != nil {
		t.Fatalf(":memory: %v", err)
	}
	s.Close()
}

func TestSQLiteFile(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"authserver.db", "authserver.db"},
		{"/var/lib/authserver/db.sqlite?_pragma=x", "/var/lib/authserver/db.sqlite"},
		{"file:a.db", "a.db"},
		{"file:a%20b.db?mode=rwc", "a b.db"},
		{"file:///srv/a.db", "/srv/a.db"},
		{"file://localhost/srv/a.db", "/srv/a.db"},
		{":memory:", ""},
		{"", ""},
		{"file::memory:?cache=shared", ""},
		{"file:a.db?mode=memory", ""},
	} {
		if got := storage.SQLiteFile(c.dsn); got != c.want {
			t.Errorf("SQLiteFile(%q): got %q, want %q", c.dsn, got, c.want)
		}
	}
}
