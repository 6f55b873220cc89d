package storage_test

import (
	"context"
	"path/filepath"
	"testing"

	"authserver/internal/pgtest"
	"authserver/storage"
	"authserver/storage/conformance"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func openSQLite(t *testing.T) storage.Store {
	t.Helper()
	return openMigrated(t, storage.Options{Driver: storage.DriverSQLite, DSN: filepath.Join(t.TempDir(), "test.db")})
}

func openPostgres(t *testing.T) storage.Store {
	t.Helper()
	return openMigrated(t, storage.Options{Driver: storage.DriverPostgres, DSN: pgtest.NewDatabase(t)})
}

func openMigrated(t *testing.T, o storage.Options) *storage.SQLStore {
	t.Helper()
	ctx := context.Background()
	s, err := storage.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceSQLite(t *testing.T) { conformance.Run(t, openSQLite) }

func TestConformancePostgres(t *testing.T) { conformance.Run(t, openPostgres) }
