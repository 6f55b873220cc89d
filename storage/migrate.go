package storage

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// migrationTable records which migrations have been applied.
const migrationTable = "schema_migrations"

func (s *SQLStore) provider() (*goose.Provider, error) {
	dir, err := fs.Sub(migrations, "migrations/"+s.driver)
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	opts := []goose.ProviderOption{goose.WithTableName(migrationTable), goose.WithDisableGlobalRegistry(true)}
	if s.driver == DriverPostgres {
		dialect = goose.DialectPostgres
		// Replicas starting together take turns: an advisory lock held for
		// the whole run, retried every second (goose's default is every 5 s,
		// which delays every replica that loses the race) for up to 5 min.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, s.db.DB, dir, opts...)
}

// Migrate applies every pending migration, each in its own transaction, and
// returns the versions applied.
func (s *SQLStore) Migrate(ctx context.Context) ([]int64, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", mapErr(err))
	}
	applied := make([]int64, 0, len(results))
	for _, r := range results {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// MigrationsPending reports whether the schema is behind this binary.
func (s *SQLStore) MigrationsPending(ctx context.Context) (bool, error) {
	p, err := s.provider()
	if err != nil {
		return false, fmt.Errorf("check migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("check migrations: %w", mapErr(err))
	}
	return pending, nil
}
