package governance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"authserver/exchange"
	"authserver/internal/cache"
	"authserver/storage"
)

// CatalogTTL is how long a process serves the audience list before reading
// it again. Audiences are installation configuration, changed by bootstrap
// at start-up, so a few seconds of staleness across replicas is harmless —
// unlike PATs, users, roles and organizations, which every exchange reads
// fresh from the database.
const CatalogTTL = 5 * time.Second

// Catalog is every audience a token can be issued for: the configured ones
// and the built-in management audience, whose id is the issuer and whose
// scopes are Identity.PATs and Identity.Admin. The scope
// catalogue users pick PAT scopes from is the union of their scopes.
type Catalog struct {
	cache      cache.Snapshot[map[string]*storage.Audience]
	management storage.Audience
}

// AudienceLister is the store method the catalog reads.
type AudienceLister interface {
	ListAudiences(ctx context.Context) ([]storage.Audience, error)
}

// NewCatalog returns the catalog of st's audiences plus the management
// audience of issuer.
func NewCatalog(st AudienceLister, issuer string, now func() time.Time) *Catalog {
	c := &Catalog{management: storage.Audience{
		ID: issuer, Name: "authserver management API",
		Scopes: []string{exchange.ScopeAdmin, exchange.ScopePATs},
	}}
	c.cache = cache.Snapshot[map[string]*storage.Audience]{Now: now, TTL: CatalogTTL,
		Load: func(ctx context.Context) (map[string]*storage.Audience, error) {
			list, err := st.ListAudiences(ctx)
			if err != nil {
				return nil, fmt.Errorf("load audiences: %w", err)
			}
			m := make(map[string]*storage.Audience, len(list)+1)
			for i := range list {
				m[list[i].ID] = &list[i]
			}
			m[c.management.ID] = &c.management
			return m, nil
		}}
	return c
}

// ManagementAudience is the id of the built-in management audience.
func (c *Catalog) ManagementAudience() string { return c.management.ID }

// Audience resolves an audience id; storage.ErrNotFound when unknown.
func (c *Catalog) Audience(ctx context.Context, id string) (*storage.Audience, error) {
	m, err := c.cache.Get(ctx)
	if err != nil {
		return nil, err
	}
	a, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("audience: %w", storage.ErrNotFound)
	}
	return a, nil
}

// Known reports whether id is an audience of the catalog. An error means
// the audiences could not be read, never that id is unknown.
func (c *Catalog) Known(ctx context.Context, id string) (bool, error) {
	m, err := c.cache.Get(ctx)
	if err != nil {
		return false, err
	}
	_, ok := m[id]
	return ok, nil
}

// List returns every audience, ordered by id.
func (c *Catalog) List(ctx context.Context) ([]storage.Audience, error) {
	m, err := c.cache.Get(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Audience, 0, len(m))
	for _, a := range m {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b storage.Audience) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Scopes is the scope catalogue: the union of every audience's scopes,
// sorted.
func (c *Catalog) Scopes(ctx context.Context) ([]string, error) {
	list, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	var all []string
	for _, a := range list {
		all = append(all, a.Scopes...)
	}
	slices.Sort(all)
	return slices.Compact(all), nil
}
