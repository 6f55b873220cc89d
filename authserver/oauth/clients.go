package oauth

import (
	"context"
	"fmt"
	"time"

	"authserver/governance"
	"authserver/internal/cache"
	"authserver/storage"
)

// clientCache holds every OAuth client, reloaded every governance.CatalogTTL:
// clients, like audiences, are installation configuration.
type clientCache struct {
	cache cache.Snapshot[map[string]*storage.Client]
}

// clientLister is the store method the client cache loads from.
type clientLister interface {
	ListClients(ctx context.Context) ([]storage.Client, error)
}

func newClientCache(st clientLister, now func() time.Time) *clientCache {
	return &clientCache{cache: cache.Snapshot[map[string]*storage.Client]{Now: now, TTL: governance.CatalogTTL,
		Load: func(ctx context.Context) (map[string]*storage.Client, error) {
			list, err := st.ListClients(ctx)
			if err != nil {
				return nil, fmt.Errorf("load clients: %w", err)
			}
			m := make(map[string]*storage.Client, len(list))
			for i := range list {
				m[list[i].ID] = &list[i]
			}
			return m, nil
		}}}
}

// Clients returns every client by id, as cached. The map is shared: never
// modify it.
func (c *clientCache) Clients(ctx context.Context) (map[string]*storage.Client, error) {
	return c.cache.Get(ctx)
}

func (c *clientCache) get(ctx context.Context, id string) (*storage.Client, error) {
	m, err := c.cache.Get(ctx)
	if err != nil {
		return nil, err
	}
	cl, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("client: %w", storage.ErrNotFound)
	}
	return cl, nil
}
