package storage

import (
	"context"
	"time"
)

type roleRow struct {
	ID          string    `db:"id"`
	OrgID       string    `db:"org_id"`
	Name        string    `db:"name"`
	Permissions string    `db:"permissions"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

func (r *roleRow) model() Role {
	return Role{
		ID: r.ID, OrgID: r.OrgID, Name: r.Name, Permissions: splitList(r.Permissions),
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
}

const roleCols = `id, org_id, name, permissions, created_at, updated_at`

// CreateRole inserts r, filling in ID and timestamps when empty.
func (s *SQLStore) CreateRole(ctx context.Context, r *Role) error {
	if r.ID == "" {
		r.ID = newID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.stamp()
	}
	r.UpdatedAt = r.CreatedAt
	_, err := s.exec(ctx, "create role", `INSERT INTO roles (`+roleCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.OrgID, r.Name, joinList(r.Permissions), s.t(r.CreatedAt), s.t(r.UpdatedAt))
	return err
}

// GetRole reads a role of an organization by id.
func (s *SQLStore) GetRole(ctx context.Context, orgID, id string) (*Role, error) {
	var r roleRow
	if err := s.get(ctx, "get role", &r, `SELECT `+roleCols+` FROM roles WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
		return nil, err
	}
	m := r.model()
	return &m, nil
}

// GetRoleByName reads a role of an organization by name.
func (s *SQLStore) GetRoleByName(ctx context.Context, orgID, name string) (*Role, error) {
	var r roleRow
	if err := s.get(ctx, "get role", &r, `SELECT `+roleCols+` FROM roles WHERE org_id = ? AND name = ?`, orgID, name); err != nil {
		return nil, err
	}
	m := r.model()
	return &m, nil
}

// ListRoles lists an organization's roles by name.
func (s *SQLStore) ListRoles(ctx context.Context, orgID string) ([]Role, error) {
	var rows []roleRow
	if err := s.sel(ctx, "list roles", &rows, `SELECT `+roleCols+` FROM roles WHERE org_id = ? ORDER BY name`, orgID); err != nil {
		return nil, err
	}
	out := make([]Role, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UpdateRole changes the name and permissions of r.ID in r.OrgID.
func (s *SQLStore) UpdateRole(ctx context.Context, r *Role) error {
	r.UpdatedAt = s.stamp()
	return s.execOne(ctx, "update role", `UPDATE roles SET name = ?, permissions = ?, updated_at = ? WHERE org_id = ? AND id = ?`,
		r.Name, joinList(r.Permissions), s.t(r.UpdatedAt), r.OrgID, r.ID)
}

// DeleteRole removes a role; its assignments go with it (ON DELETE CASCADE).
func (s *SQLStore) DeleteRole(ctx context.Context, orgID, id string) error {
	return s.execOne(ctx, "delete role", `DELETE FROM roles WHERE org_id = ? AND id = ?`, orgID, id)
}

type assignmentRow struct {
	ID        string    `db:"id"`
	OrgID     string    `db:"org_id"`
	UserID    string    `db:"user_id"`
	RoleID    string    `db:"role_id"`
	Folder    string    `db:"folder"`
	CreatedAt time.Time `db:"created_at"`
}

const assignmentCols = `id, org_id, user_id, role_id, folder, created_at`

// CreateRoleAssignment inserts a, filling in ID and time when empty. The
// user and the role must belong to a.OrgID.
func (s *SQLStore) CreateRoleAssignment(ctx context.Context, a *RoleAssignment) error {
	if a.ID == "" {
		a.ID = newID()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.stamp()
	}
	// The foreign keys prove existence; the WHERE proves both sides are in
	// the same organization, so an assignment can never cross tenants.
	res, err := s.exec(ctx, "create role assignment",
		`INSERT INTO role_assignments (`+assignmentCols+`)
		 SELECT ?, ?, ?, ?, ?, ?
		 WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND org_id = ?)
		   AND EXISTS (SELECT 1 FROM roles WHERE id = ? AND org_id = ?)`,
		a.ID, a.OrgID, a.UserID, a.RoleID, a.Folder, s.t(a.CreatedAt),
		a.UserID, a.OrgID, a.RoleID, a.OrgID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err)
	} else if n == 0 {
		return wrapf("create role assignment", ErrInvalidReference)
	}
	return nil
}

// ListRoleAssignments lists an organization's assignments, of one user when
// userID is not empty.
func (s *SQLStore) ListRoleAssignments(ctx context.Context, orgID, userID string) ([]RoleAssignment, error) {
	q := `SELECT ` + assignmentCols + ` FROM role_assignments WHERE org_id = ?`
	args := []any{orgID}
	if userID != "" {
		q += ` AND user_id = ?`
		args = append(args, userID)
	}
	q += ` ORDER BY user_id, folder, role_id`
	var rows []assignmentRow
	if err := s.sel(ctx, "list role assignments", &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]RoleAssignment, len(rows))
	for i, r := range rows {
		out[i] = RoleAssignment{ID: r.ID, OrgID: r.OrgID, UserID: r.UserID, RoleID: r.RoleID, Folder: r.Folder, CreatedAt: utc(r.CreatedAt)}
	}
	return out, nil
}

// DeleteRoleAssignment removes one assignment of an organization.
func (s *SQLStore) DeleteRoleAssignment(ctx context.Context, orgID, id string) error {
	return s.execOne(ctx, "delete role assignment", `DELETE FROM role_assignments WHERE org_id = ? AND id = ?`, orgID, id)
}
