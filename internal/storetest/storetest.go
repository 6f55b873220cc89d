// Package storetest opens migrated stores on every supported database for
// tests outside the storage package: SQLite in a temp dir, and PostgreSQL in
// the test binary's throwaway cluster (see internal/pgtest, whose Main must
// run from the package's TestMain).
package storetest

import (
	"context"
	"path/filepath"
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

// Open opens a fresh, migrated store on driver, closed when the test ends.
func Open(t testing.TB, driver string) *storage.SQLStore {
	t.Helper()
	return OpenAt(t, driver, DSN(t, driver))
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
