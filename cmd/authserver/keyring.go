package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"authserver/config"
	"authserver/signing"
	"authserver/storage"
)

// kek returns the key-encryption key: the configured one, or for SQLite
// with none configured, the one kept in a 0600 file beside the database
// (created on first use).
func kek(cfg *config.Config) ([]byte, error) {
	if cfg.Keys.EncryptionKey != "" {
		return signing.ParseKEK(cfg.Keys.EncryptionKey.Reveal())
	}
	if cfg.Database.Driver != storage.DriverSQLite {
		return nil, errors.New("keys.encryption_key is required with " + cfg.Database.Driver)
	}
	path := sqlitePath(cfg.Database.DSN.Reveal())
	if path == "" || path == ":memory:" {
		return nil, errors.New("keys.encryption_key is required with an in-memory SQLite database")
	}
	k, err := signing.LoadOrCreateKEKFile(path + ".key")
	if err != nil {
		return nil, fmt.Errorf("key-encryption key beside the database: %w", err)
	}
	return k, nil
}

// sqlitePath is the file path of a SQLite DSN ("file:" prefix and query
// parameters removed).
func sqlitePath(dsn string) string {
	dsn = strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		dsn = dsn[:i]
	}
	return dsn
}

// openKeyring loads the signing keys, creating or rotating them as the
// rotation rules say.
func openKeyring(ctx context.Context, cfg *config.Config, st storage.Store, log *slog.Logger) (*signing.Keyring, error) {
	k, err := kek(cfg)
	if err != nil {
		return nil, err
	}
	maxTTL, err := maxTokenTTL(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	return signing.New(ctx, storage.Narrow[signing.KeyTx](st), signing.Options{
		Algorithm:      cfg.Keys.Algorithm,
		RotationPeriod: cfg.Keys.RotationPeriod.D(),
		PublishAhead:   cfg.Keys.PublishAhead.D(),
		MaxTokenTTL:    maxTTL,
		KEK:            k,
		Logger:         log,
	})
}

// maxTokenTTL is the longest lifetime a token can be issued with: a retired
// key stays published that long.
func maxTokenTTL(ctx context.Context, cfg *config.Config, st storage.Store) (d time.Duration, err error) {
	d = cfg.Tokens.AccessTokenTTL.D()
	auds, err := st.ListAudiences(ctx)
	if err != nil {
		return 0, err
	}
	for _, a := range auds {
		d = max(d, a.AccessTokenTTL)
	}
	return d, nil
}
