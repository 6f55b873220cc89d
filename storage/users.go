package storage

import (
	"context"
	"strings"
	"time"
)

// likeEscaper makes text match itself in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

type userRow struct {
	ID           string    `db:"id"`
	OrgID        string    `db:"org_id"`
	Username     string    `db:"username"`
	Kind         string    `db:"kind"`
	Status       string    `db:"status"`
	Admin        bool      `db:"admin"`
	PasswordHash string    `db:"password_hash"`
	Email        string    `db:"email"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
}

func (r *userRow) model() User {
	return User{
		ID: r.ID, OrgID: r.OrgID, Username: r.Username, Kind: UserKind(r.Kind),
		Status: UserStatus(r.Status), Admin: r.Admin, PasswordHash: r.PasswordHash, Email: r.Email,
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
}

const userCols = `id, org_id, username, kind, status, admin, password_hash, created_at, updated_at, email`

// CreateUser inserts u, filling in ID, status and timestamps when empty.
func (s *SQLStore) CreateUser(ctx context.Context, u *User) error {
	if u.ID == "" {
		u.ID = newID()
	}
	if u.Status == "" {
		u.Status = UserActive
	}
	if u.Kind == "" {
		u.Kind = UserLocal
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.stamp()
	}
	u.UpdatedAt = u.CreatedAt
	_, err := s.exec(ctx, "create user", `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.OrgID, u.Username, string(u.Kind), string(u.Status), u.Admin, u.PasswordHash,
		s.t(u.CreatedAt), s.t(u.UpdatedAt), u.Email)
	return err
}

// GetUser reads a user of an organization by id.
func (s *SQLStore) GetUser(ctx context.Context, orgID, id string) (*User, error) {
	var r userRow
	if err := s.get(ctx, "get user", &r, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
		return nil, err
	}
	u := r.model()
	return &u, nil
}

// GetUserByUsername reads a user of an organization by username.
func (s *SQLStore) GetUserByUsername(ctx context.Context, orgID, username string) (*User, error) {
	var r userRow
	if err := s.get(ctx, "get user", &r, `SELECT `+userCols+` FROM users WHERE org_id = ? AND username = ?`, orgID, username); err != nil {
		return nil, err
	}
	u := r.model()
	return &u, nil
}

// ListUsers lists an organization's users by username.
func (s *SQLStore) ListUsers(ctx context.Context, f UserFilter) ([]User, error) {
	q := `SELECT ` + userCols + ` FROM users WHERE org_id = ?`
	args := []any{f.OrgID}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, string(f.Status))
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, string(f.Kind))
	}
	if f.Search != "" {
		q += ` AND lower(username) LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(f.Search))+"%")
	}
	if f.After != "" {
		q += ` AND username > ?`
		args = append(args, f.After)
	}
	q += ` ORDER BY username`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var rows []userRow
	if err := s.sel(ctx, "list users", &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]User, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UpdateUser changes kind, status, admin, password hash and e-mail
// address of u.ID in u.OrgID.
func (s *SQLStore) UpdateUser(ctx context.Context, u *User) error {
	u.UpdatedAt = s.stamp()
	return s.execOne(ctx, "update user",
		`UPDATE users SET kind = ?, status = ?, admin = ?, password_hash = ?, email = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		string(u.Kind), string(u.Status), u.Admin, u.PasswordHash, u.Email, s.t(u.UpdatedAt), u.OrgID, u.ID)
}
