package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"authserver/config"
	"authserver/storage"
)

// openStore opens the configured database, which must exist: run from the
// wrong directory, a command would otherwise create an empty authserver.db
// there and then report that its schema is behind. Only the commands that
// migrate create a database (createStore).
func openStore(ctx context.Context, cfg *config.Config) (*storage.SQLStore, error) {
	return openDatabase(ctx, cfg, true)
}

// createStore opens the configured database, creating a missing SQLite file.
func createStore(ctx context.Context, cfg *config.Config) (*storage.SQLStore, error) {
	return openDatabase(ctx, cfg, false)
}

// openDatabase gives up after a short wait so that an unreachable
// PostgreSQL is reported instead of hanging.
func openDatabase(ctx context.Context, cfg *config.Config, mustExist bool) (*storage.SQLStore, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	st, err := storage.Open(ctx, storage.Options{
		Driver:       cfg.Database.Driver,
		DSN:          cfg.Database.DSN.Reveal(),
		MustExist:    mustExist,
		MaxOpenConns: cfg.Database.MaxOpenConns,
		QueryTimeout: cfg.Database.QueryTimeout.D(),
	})
	if errors.Is(err, storage.ErrNoDatabase) {
		// Only SQLite reports it, and a SQLite DSN holds no password. The
		// absolute path shows which directory was searched.
		path := storage.SQLiteFile(cfg.Database.DSN.Reveal())
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		return nil, fmt.Errorf("no database at %s: run `authserver serve` or `authserver migrate` first, or pass --config", path)
	}
	if err != nil {
		// The DSN may hold a password: name the driver, never the DSN.
		return nil, fmt.Errorf("cannot connect to the %s database: %w", cfg.Database.Driver, err)
	}
	return st, nil
}

// openMigrated opens the database and applies pending migrations, or
// without migrate refuses a schema behind this binary, and a missing
// database rather than create one it may not migrate.
func openMigrated(ctx context.Context, cfg *config.Config, migrate bool) (*storage.SQLStore, error) {
	open := openStore
	if migrate {
		open = createStore
	}
	st, err := open(ctx, cfg)
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
