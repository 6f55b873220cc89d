package main

import (
	"context"
	"fmt"
	"time"

	"authserver/config"
	"authserver/storage"
)

// openStore opens the configured database, giving up after a short wait so
// that an unreachable PostgreSQL is reported instead of hanging.
func openStore(ctx context.Context, cfg *config.Config) (*storage.SQLStore, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := storage.Open(ctx, storage.Options{
		Driver:       cfg.Database.Driver,
		DSN:          cfg.Database.DSN.Reveal(),
		MaxOpenConns: cfg.Database.MaxOpenConns,
		QueryTimeout: cfg.Database.QueryTimeout.D(),
	})
	if err != nil {
		// The DSN may hold a password: name the driver, never the DSN.
		return nil, fmt.Errorf("cannot connect to the %s database: %w", cfg.Database.Driver, err)
	}
	return st, nil
}

// openMigrated opens the database and applies pending migrations.
func openMigrated(ctx context.Context, cfg *config.Config, migrate bool) (*storage.SQLStore, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if migrate {
		if _, err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	} else if pending, err := st.MigrationsPending(ctx); err != nil {
		st.Close()
		return nil, err
	} else if pending {
		st.Close()
		return nil, fmt.Errorf("the database schema is behind this binary: run authserver migrate")
	}
	return st, nil
}
