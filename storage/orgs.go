package storage

import (
	"context"
	"time"
)

type orgRow struct {
	ID             string    `db:"id"`
	Name           string    `db:"name"`
	PATsEnabled    bool      `db:"pats_enabled"`
	PATMaxLifetime int64     `db:"pat_max_lifetime"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

func (r *orgRow) model() Organization {
	return Organization{
		ID: r.ID, Name: r.Name, PATsEnabled: r.PATsEnabled,
		PATMaxLifetime: time.Duration(r.PATMaxLifetime),
		CreatedAt:      utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
}

const orgCols = `id, name, pats_enabled, pat_max_lifetime, created_at, updated_at`

// CreateOrganization inserts o, filling in ID and timestamps when empty.
func (s *SQLStore) CreateOrganization(ctx context.Context, o *Organization) error {
	if o.ID == "" {
		o.ID = newID()
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.stamp()
	}
	o.UpdatedAt = o.CreatedAt
	_, err := s.exec(ctx, "create organization", `INSERT INTO organizations (`+orgCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.PATsEnabled, int64(o.PATMaxLifetime), s.t(o.CreatedAt), s.t(o.UpdatedAt))
	return err
}

// GetOrganization reads one organization by id.
func (s *SQLStore) GetOrganization(ctx context.Context, id string) (*Organization, error) {
	var r orgRow
	if err := s.get(ctx, "get organization", &r, `SELECT `+orgCols+` FROM organizations WHERE id = ?`, id); err != nil {
		return nil, err
	}
	o := r.model()
	return &o, nil
}

// GetOrganizationByName reads one organization by name.
func (s *SQLStore) GetOrganizationByName(ctx context.Context, name string) (*Organization, error) {
	var r orgRow
	if err := s.get(ctx, "get organization", &r, `SELECT `+orgCols+` FROM organizations WHERE name = ?`, name); err != nil {
		return nil, err
	}
	o := r.model()
	return &o, nil
}

// ListOrganizations lists every organization by name.
func (s *SQLStore) ListOrganizations(ctx context.Context) ([]Organization, error) {
	var rows []orgRow
	if err := s.sel(ctx, "list organizations", &rows, `SELECT `+orgCols+` FROM organizations ORDER BY name`); err != nil {
		return nil, err
	}
	out := make([]Organization, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UpdateOrganization changes the name and settings of o.ID.
func (s *SQLStore) UpdateOrganization(ctx context.Context, o *Organization) error {
	o.UpdatedAt = s.stamp()
	return s.execOne(ctx, "update organization",
		`UPDATE organizations SET name = ?, pats_enabled = ?, pat_max_lifetime = ?, updated_at = ? WHERE id = ?`,
		o.Name, o.PATsEnabled, int64(o.PATMaxLifetime), s.t(o.UpdatedAt), o.ID)
}
