// Package storetest opens migrated stores on every supported database for
// tests outside the storage package: SQLite in a temp dir, and PostgreSQL in
// the test binary's throwaway cluster (see internal/pgtest, whose Main must
// run from the package's TestMain).
package storetest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"authserver/internal/pgtest"
	"authserver/storage"
)

// Drivers are the databases every storage-backed test runs on.
var Drivers = []string{storage.DriverSQLite, storage.DriverPostgres}

// DSN returns the DSN of a fresh, empty database for driver.
func DSN(t testing.TB, driver string) string {
	t.Helper()
	switch driver {
	case storage.DriverSQLite:
		return filepath.Join(t.TempDir(), "test.db")
	case storage.DriverPostgres:
		return pgtest.NewDatabase(t)
	}
	t.Fatalf("unknown driver %q", driver)
	return ""
}

// MigratedDSN returns the DSN of a fresh database for driver that holds
// every migration already. On SQLite it is a copy of a database file
// migrated once per test binary, which costs a file copy instead of a run
// of every migration (about a quarter of a second under the race
// detector); on PostgreSQL it is a copy (CREATE DATABASE … TEMPLATE) of a
// database migrated once per test binary in its throwaway cluster.
func MigratedDSN(t testing.TB, driver string) string {
	t.Helper()
	if driver == storage.DriverPostgres {
		return pgtest.NewDatabaseFrom(t, "storetest_template", migrate)
	}
	if driver != storage.DriverSQLite {
		return DSN(t, driver)
	}
	tmpl, err := sqliteTemplate()
	if err != nil {
		t.Fatal(err)
	}
	dsn := filepath.Join(t.TempDir(), "test.db")
	if err := copyFile(dsn, tmpl); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// template is the SQLite database migrated once per test binary.
var template struct {
	once sync.Once
	path string
	err  error
}

func sqliteTemplate() (string, error) {
	template.once.Do(func() {
		dir, err := os.MkdirTemp("", "storetest-")
		if err != nil {
			template.err = err
			return
		}
		path := filepath.Join(dir, "template.db")
		template.path, template.err = path, migrateDriver(storage.DriverSQLite, path)
	})
	return template.path, template.err
}

// migrate migrates the PostgreSQL database at dsn and closes it again.
func migrate(dsn string) error { return migrateDriver(storage.DriverPostgres, dsn) }

// migrateDriver migrates the database at dsn and closes every connection
// to it: for SQLite, closing the last one checkpoints the write-ahead log
// into the file, so that the file alone is the database; for PostgreSQL,
// a template must have no session.
func migrateDriver(driver, dsn string) error {
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Options{Driver: driver, DSN: dsn})
	if err != nil {
		return err
	}
	_, err = s.Migrate(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Open opens a fresh, migrated store on driver, closed when the test ends.
func Open(t testing.TB, driver string) *storage.SQLStore {
	t.Helper()
	return OpenAt(t, driver, MigratedDSN(t, driver))
}

// OpenAt opens and migrates the database at dsn (from DSN), closed when
// the test ends. Opening one dsn twice gives two stores on one database,
// as two replicas have.
func OpenAt(t testing.TB, driver, dsn string) *storage.SQLStore {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, storage.Options{Driver: driver, DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// Each runs fn as a subtest on every driver.
func Each(t *testing.T, fn func(t *testing.T, driver string)) {
	for _, d := range Drivers {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}
