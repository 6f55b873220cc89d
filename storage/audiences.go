package storage

import (
	"context"
	"encoding/json"
	"time"
)

type audienceRow struct {
	ID             string    `db:"id"`
	Name           string    `db:"name"`
	Scopes         string    `db:"scopes"`
	Descriptions   string    `db:"scope_descriptions"`
	AccessTokenTTL int64     `db:"access_token_ttl"`
	CreatedAt      time.Time `db:"created_at"`
	UpdatedAt      time.Time `db:"updated_at"`
}

func (r *audienceRow) model() Audience {
	return Audience{
		ID: r.ID, Name: r.Name, Scopes: splitList(r.Scopes), AccessTokenTTL: time.Duration(r.AccessTokenTTL),
		ScopeDescriptions: decodeDescriptions(r.Descriptions),
		CreatedAt:         utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
	}
}

// encodeDescriptions stores scope descriptions as a JSON object, "" for
// none.
func encodeDescriptions(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

// decodeDescriptions reads what encodeDescriptions wrote; anything else
// reads as no descriptions.
func decodeDescriptions(s string) map[string]string {
	if s == "" {
		return nil
	}
	var m map[string]string
	if json.Unmarshal([]byte(s), &m) != nil || len(m) == 0 {
		return nil
	}
	return m
}

const audienceCols = `id, name, scopes, scope_descriptions, access_token_ttl, created_at, updated_at`

// CreateAudience inserts a, filling in timestamps when empty.
func (s *SQLStore) CreateAudience(ctx context.Context, a *Audience) error {
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.stamp()
	}
	a.UpdatedAt = a.CreatedAt
	_, err := s.exec(ctx, "create audience", `INSERT INTO audiences (`+audienceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, joinList(a.Scopes), encodeDescriptions(a.ScopeDescriptions), int64(a.AccessTokenTTL), s.t(a.CreatedAt), s.t(a.UpdatedAt))
	return err
}

// GetAudience reads one audience by id.
func (s *SQLStore) GetAudience(ctx context.Context, id string) (*Audience, error) {
	var r audienceRow
	if err := s.get(ctx, "get audience", &r, `SELECT `+audienceCols+` FROM audiences WHERE id = ?`, id); err != nil {
		return nil, err
	}
	a := r.model()
	return &a, nil
}

// ListAudiences lists every audience by id.
func (s *SQLStore) ListAudiences(ctx context.Context) ([]Audience, error) {
	var rows []audienceRow
	if err := s.sel(ctx, "list audiences", &rows, `SELECT `+audienceCols+` FROM audiences ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]Audience, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UpdateAudience changes the name, scopes, scope descriptions and TTL of
// a.ID.
func (s *SQLStore) UpdateAudience(ctx context.Context, a *Audience) error {
	a.UpdatedAt = s.stamp()
	return s.execOne(ctx, "update audience", `UPDATE audiences SET name = ?, scopes = ?, scope_descriptions = ?, access_token_ttl = ?, updated_at = ? WHERE id = ?`,
		a.Name, joinList(a.Scopes), encodeDescriptions(a.ScopeDescriptions), int64(a.AccessTokenTTL), s.t(a.UpdatedAt), a.ID)
}

// DeleteAudience removes one audience.
func (s *SQLStore) DeleteAudience(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete audience", `DELETE FROM audiences WHERE id = ?`, id)
}
