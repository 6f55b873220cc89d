package storage

import (
	"context"
	"time"
)

type passwordLinkRow struct {
	Hash      []byte    `db:"token_hash"`
	UserID    string    `db:"user_id"`
	OrgID     string    `db:"org_id"`
	CreatedAt time.Time `db:"created_at"`
	ExpiresAt time.Time `db:"expires_at"`
}

const passwordLinkCols = `token_hash, user_id, org_id, created_at, expires_at`

// CreatePasswordLink inserts a set-password link. The user must belong to
// l.OrgID.
func (s *SQLStore) CreatePasswordLink(ctx context.Context, l *PasswordLink) error {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = s.stamp()
	}
	res, err := s.exec(ctx, "create password link",
		`INSERT INTO password_links (`+passwordLinkCols+`) SELECT ?, ?, ?, ?, ?
		 WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND org_id = ?)`,
		l.Hash, l.UserID, l.OrgID, s.t(l.CreatedAt), s.t(l.ExpiresAt), l.UserID, l.OrgID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapf("create password link", mapErr(err))
	} else if n == 0 {
		return wrapf("create password link", ErrInvalidReference)
	}
	return nil
}

// GetPasswordLink reads a set-password link by the hash of its secret,
// expired or not.
func (s *SQLStore) GetPasswordLink(ctx context.Context, hash []byte) (*PasswordLink, error) {
	var r passwordLinkRow
	if err := s.get(ctx, "get password link", &r, `SELECT `+passwordLinkCols+` FROM password_links WHERE token_hash = ?`, hash); err != nil {
		return nil, err
	}
	return &PasswordLink{Hash: r.Hash, UserID: r.UserID, OrgID: r.OrgID,
		CreatedAt: utc(r.CreatedAt), ExpiresAt: utc(r.ExpiresAt)}, nil
}

// DeletePasswordLink removes one link by the hash of its secret
// (ErrNotFound when there is none).
func (s *SQLStore) DeletePasswordLink(ctx context.Context, hash []byte) error {
	return s.execOne(ctx, "delete password link", `DELETE FROM password_links WHERE token_hash = ?`, hash)
}

// DeletePasswordLinks removes every set-password link of a user.
func (s *SQLStore) DeletePasswordLinks(ctx context.Context, userID string) error {
	_, err := s.exec(ctx, "delete password links", `DELETE FROM password_links WHERE user_id = ?`, userID)
	return err
}

// DeleteExpiredPasswordLinks removes the links that expired at or before
// now.
func (s *SQLStore) DeleteExpiredPasswordLinks(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.exec(ctx, "delete expired password links", `DELETE FROM password_links WHERE expires_at <= ?`, s.t(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapf("delete expired password links", mapErr(err))
	}
	return n, nil
}
