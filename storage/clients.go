package storage

import (
	"context"
	"time"
)

type clientRow struct {
	ID            string    `db:"id"`
	Public        bool      `db:"public"`
	SecretHash    []byte    `db:"secret_hash"`
	Audiences     string    `db:"audiences"`
	GrantTypes    string    `db:"grant_types"`
	Introspection bool      `db:"introspection"`
	OnBehalfOf    string    `db:"on_behalf_of"`
	CreatedAt     time.Time `db:"created_at"`
	UpdatedAt     time.Time `db:"updated_at"`
	DPoPRequired  bool      `db:"dpop_required"`
}

func (r *clientRow) model() Client {
	return Client{
		ID: r.ID, Public: r.Public, SecretHash: r.SecretHash, Audiences: splitList(r.Audiences),
		GrantTypes: splitList(r.GrantTypes), Introspection: r.Introspection, OnBehalfOf: splitList(r.OnBehalfOf),
		CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt), DPoPRequired: r.DPoPRequired,
	}
}

const clientCols = `id, public, secret_hash, audiences, grant_types, introspection, on_behalf_of, created_at, updated_at, dpop_required`

// secretArg binds a secret hash, NULL when there is none (public clients).
func secretArg(h []byte) any {
	if len(h) == 0 {
		return nil
	}
	return h
}

// CreateClient inserts c, filling in timestamps when empty.
func (s *SQLStore) CreateClient(ctx context.Context, c *Client) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = s.stamp()
	}
	c.UpdatedAt = c.CreatedAt
	_, err := s.exec(ctx, "create client", `INSERT INTO clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Public, secretArg(c.SecretHash), joinList(c.Audiences), joinList(c.GrantTypes), c.Introspection,
		joinList(c.OnBehalfOf), s.t(c.CreatedAt), s.t(c.UpdatedAt), c.DPoPRequired)
	return err
}

// GetClient reads one client by id.
func (s *SQLStore) GetClient(ctx context.Context, id string) (*Client, error) {
	var r clientRow
	if err := s.get(ctx, "get client", &r, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id); err != nil {
		return nil, err
	}
	c := r.model()
	return &c, nil
}

// ListClients lists every client by id.
func (s *SQLStore) ListClients(ctx context.Context) ([]Client, error) {
	var rows []clientRow
	if err := s.sel(ctx, "list clients", &rows, `SELECT `+clientCols+` FROM clients ORDER BY id`); err != nil {
		return nil, err
	}
	out := make([]Client, len(rows))
	for i := range rows {
		out[i] = rows[i].model()
	}
	return out, nil
}

// UpdateClient changes everything but the id and creation time of c.ID.
func (s *SQLStore) UpdateClient(ctx context.Context, c *Client) error {
	c.UpdatedAt = s.stamp()
	return s.execOne(ctx, "update client",
		`UPDATE clients SET public = ?, secret_hash = ?, audiences = ?, grant_types = ?, introspection = ?, on_behalf_of = ?, dpop_required = ?, updated_at = ? WHERE id = ?`,
		c.Public, secretArg(c.SecretHash), joinList(c.Audiences), joinList(c.GrantTypes), c.Introspection,
		joinList(c.OnBehalfOf), c.DPoPRequired, s.t(c.UpdatedAt), c.ID)
}

// DeleteClient removes one client.
func (s *SQLStore) DeleteClient(ctx context.Context, id string) error {
	return s.execOne(ctx, "delete client", `DELETE FROM clients WHERE id = ?`, id)
}
