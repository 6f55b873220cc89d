package storage

import (
	"context"
	"time"
)

// UseDPoPProof records a DPoP proof by hash until expiresAt, and reports
// whether it was new: false when a proof of the same hash is recorded and
// not yet expired at now (a replay). A row that has expired but is not yet
// purged is taken over. One statement, so two replicas racing with the same
// proof cannot both see it as new.
func (s *SQLStore) UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time) (bool, error) {
	res, err := s.exec(ctx, "use dpop proof",
		`INSERT INTO dpop_proofs (hash, expires_at) VALUES (?, ?)
		 ON CONFLICT (hash) DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= ?`,
		hash, s.t(expiresAt), s.t(now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapf("use dpop proof", mapErr(err))
	}
	return n == 1, nil
}

// DeleteExpiredDPoPProofs removes the proofs recorded until now or before.
func (s *SQLStore) DeleteExpiredDPoPProofs(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.exec(ctx, "delete expired dpop proofs", `DELETE FROM dpop_proofs WHERE expires_at <= ?`, s.t(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapf("delete expired dpop proofs", mapErr(err))
	}
	return n, nil
}

// DPoPNonceSecret returns the secret every replica MACs DPoP nonces with:
// the one stored, or candidate, stored now, when there is none yet. Two
// replicas asking at once both get the one that was stored first.
func (s *SQLStore) DPoPNonceSecret(ctx context.Context, candidate []byte) ([]byte, error) {
	if _, err := s.exec(ctx, "store dpop nonce secret",
		`INSERT INTO dpop_nonce_secret (id, secret, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
		candidate, s.t(s.stamp())); err != nil {
		return nil, err
	}
	var secret []byte
	if err := s.get(ctx, "get dpop nonce secret", &secret, `SELECT secret FROM dpop_nonce_secret WHERE id = 1`); err != nil {
		return nil, err
	}
	return secret, nil
}
