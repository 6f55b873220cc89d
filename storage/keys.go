package storage

import (
	"context"
	"database/sql"
	"time"
)

type keyRow struct {
	KID         string       `db:"kid"`
	Algorithm   string       `db:"algorithm"`
	PrivateKey  []byte       `db:"private_key"`
	PublicJWK   string       `db:"public_jwk"`
	CreatedAt   time.Time    `db:"created_at"`
	ActivatesAt time.Time    `db:"activates_at"`
	RetiresAt   sql.NullTime `db:"retires_at"`
}

const keyCols = `kid, algorithm, private_key, public_jwk, created_at, activates_at, retires_at`

// CreateSigningKey inserts k, filling in the creation time when empty.
func (s *SQLStore) CreateSigningKey(ctx context.Context, k *SigningKey) error {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.stamp()
	}
	_, err := s.exec(ctx, "create signing key", `INSERT INTO signing_keys (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.KID, k.Algorithm, k.PrivateKey, string(k.PublicJWK), s.t(k.CreatedAt), s.t(k.ActivatesAt), s.tp(k.RetiresAt))
	return err
}

// ListSigningKeys lists every key, oldest activation first.
func (s *SQLStore) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	var rows []keyRow
	if err := s.sel(ctx, "list signing keys", &rows, `SELECT `+keyCols+` FROM signing_keys ORDER BY activates_at, kid`); err != nil {
		return nil, err
	}
	out := make([]SigningKey, len(rows))
	for i, r := range rows {
		out[i] = SigningKey{
			KID: r.KID, Algorithm: r.Algorithm, PrivateKey: r.PrivateKey, PublicJWK: []byte(r.PublicJWK),
			CreatedAt: utc(r.CreatedAt), ActivatesAt: utc(r.ActivatesAt), RetiresAt: utcp(r.RetiresAt),
		}
	}
	return out, nil
}

// UpdateSigningKeyRetirement sets or clears a key's retirement time.
func (s *SQLStore) UpdateSigningKeyRetirement(ctx context.Context, kid string, retiresAt *time.Time) error {
	return s.execOne(ctx, "update signing key", `UPDATE signing_keys SET retires_at = ? WHERE kid = ?`, s.tp(retiresAt), kid)
}

// DeleteSigningKeys removes keys retired before the given time.
func (s *SQLStore) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int64, error) {
	res, err := s.exec(ctx, "delete signing keys", `DELETE FROM signing_keys WHERE retires_at IS NOT NULL AND retires_at < ?`, s.t(retiredBefore))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapf("delete signing keys", mapErr(err))
	}
	return n, nil
}
