package storage

import (
	"context"
	"time"
)

type sessionRow struct {
	ID         string    `db:"id"`
	UserID     string    `db:"user_id"`
	OrgID      string    `db:"org_id"`
	CSRFToken  string    `db:"csrf_token"`
	CreatedAt  time.Time `db:"created_at"`
	LastSeenAt time.Time `db:"last_seen_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

const sessionCols = `id, user_id, org_id, csrf_token, created_at, last_seen_at, expires_at`

// CreateSession inserts a console session. The user must belong to s.OrgID.
func (s *SQLStore) CreateSession(ctx context.Context, se *Session) error {
	if se.CreatedAt.IsZero() {
		se.CreatedAt = s.stamp()
	}
	if se.LastSeenAt.IsZero() {
		se.LastSeenAt = se.CreatedAt
	}
	res, err := s.exec(ctx, "create session",
		`INSERT INTO sessions (`+sessionCols+`) SELECT ?, ?, ?, ?, ?, ?, ?
		 WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND org_id = ?)`,
		se.ID, se.UserID, se.OrgID, se.CSRFToken, s.t(se.CreatedAt), s.t(se.LastSeenAt), s.t(se.ExpiresAt),
		se.UserID, se.OrgID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapf("create session", mapErr(err))
	} else if n == 0 {
		return wrapf("create session", ErrInvalidReference)
	}
	return nil
}

// GetSession reads a session by id (the hash of its cookie value).
func (s *SQLStore) GetSession(ctx context.Context, id string) (*Session, error) {
	var r sessionRow
	if err := s.get(ctx, "get session", &r, `SELECT `+sessionCols+` FROM sessions WHERE id = ?`, id); err != nil {
		return nil, err
	}
	return &Session{
		ID: r.ID, UserID: r.UserID, OrgID: r.OrgID, CSRFToken: r.CSRFToken,
		CreatedAt: utc(r.CreatedAt), LastSeenAt: utc(r.LastSeenAt), ExpiresAt: utc(r.ExpiresAt),
	}, nil
}

// TouchSession records activity on a session.
func (s *SQLStore) TouchSession(ctx context.Context, id string, at time.Time) error {
	return s.execOne(ctx, "touch session", `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, s.t(at), id)
}

// DeleteSession ends one session.
func (s *SQLStore) DeleteSession(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete session", `DELETE FROM sessions WHERE id = ?`, id)
}

// DeleteUserSessions ends every session of a user.
func (s *SQLStore) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := s.exec(ctx, "delete user sessions", `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

// DeleteOtherUserSessions ends every session of a user but keep.
func (s *SQLStore) DeleteOtherUserSessions(ctx context.Context, userID, keep string) error {
	_, err := s.exec(ctx, "delete other user sessions", `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep)
	return err
}

// DeleteExpiredSessions removes sessions past their absolute expiry or idle
// for longer than idle.
func (s *SQLStore) DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error) {
	res, err := s.exec(ctx, "delete expired sessions", `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?`,
		s.t(now), s.t(now.Add(-idle)))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapf("delete expired sessions", mapErr(err))
	}
	return n, nil
}
