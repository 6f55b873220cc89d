package storage

import (
	"context"
	"strconv"
	"strings"
	"time"
)

type orgRow struct {
	ID             string    `db:"id"`
	Name           string    `db:"name"`
	PATsEnabled    bool      `db:"pats_enabled"`
	PATMaxLifetime int64     `db:"pat_max_lifetime"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`

	ExpiryNoticeDays   string `db:"expiry_notice_days"`
	PATIdleRevokeAfter int64  `db:"pat_idle_revoke_after"`
}

func (r *orgRow) model() Organization {
	return Organization{
		ID: r.ID, Name: r.Name, PATsEnabled: r.PATsEnabled,
		PATMaxLifetime: time.Duration(r.PATMaxLifetime),
		CreatedAt:      utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),

		ExpiryNoticeDays:   splitDays(r.ExpiryNoticeDays),
		PATIdleRevokeAfter: time.Duration(r.PATIdleRevokeAfter),
	}
}

// joinDays stores a list of days as one space-separated string.
func joinDays(days []int) string {
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, " ")
}

// splitDays reads a joinDays value back. The column holds only what
// joinDays wrote; anything else is skipped rather than failing every read
// of the organization.
func splitDays(s string) []int {
	out := []int{}
	for _, f := range strings.Fields(s) {
		if d, err := strconv.Atoi(f); err == nil {
			out = append(out, d)
		}
	}
	return out
}

const orgCols = `id, name, pats_enabled, pat_max_lifetime, created_at, updated_at, expiry_notice_days, pat_idle_revoke_after`

// CreateOrganization inserts o, filling in ID and timestamps when empty,
// and the default expiry notice days when ExpiryNoticeDays is nil.
func (s *SQLStore) CreateOrganization(ctx context.Context, o *Organization) error {
	if o.ID == "" {
		o.ID = newID()
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = s.stamp()
	}
	o.UpdatedAt = o.CreatedAt
	if o.ExpiryNoticeDays == nil {
		o.ExpiryNoticeDays = append([]int(nil), DefaultExpiryNoticeDays...)
	}
	_, err := s.exec(ctx, "create organization", `INSERT INTO organizations (`+orgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		o.ID, o.Name, o.PATsEnabled, int64(o.PATMaxLifetime), s.t(o.CreatedAt), s.t(o.UpdatedAt),
		joinDays(o.ExpiryNoticeDays), int64(o.PATIdleRevokeAfter))
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
		`UPDATE organizations SET name = ?, pats_enabled = ?, pat_max_lifetime = ?, updated_at = ?,
		   expiry_notice_days = ?, pat_idle_revoke_after = ? WHERE id = ?`,
		o.Name, o.PATsEnabled, int64(o.PATMaxLifetime), s.t(o.UpdatedAt),
		joinDays(o.ExpiryNoticeDays), int64(o.PATIdleRevokeAfter), o.ID)
}
