package authserver

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"authserver/exchange"
	"authserver/storage"
)

// catalogTTL is how long this process serves the audience and client lists
// before reading them again. Audiences and clients are installation
// configuration, changed by bootstrap at start-up, so a few seconds of
// staleness across replicas is harmless — unlike PATs, users, roles and
// organizations, which every exchange reads fresh from the database.
const catalogTTL = 5 * time.Second

// snapshotCache keeps an immutable snapshot of a list, reloaded at most
// once per TTL by one caller while the others keep using the last one.
type snapshotCache[T any] struct {
	load func(ctx context.Context) (T, error)
	now  func() time.Time
	ttl  time.Duration

	mu   sync.Mutex // serializes reloads
	snap atomic.Pointer[snapshot[T]]
}

type snapshot[T any] struct {
	val    T
	loaded time.Time
}

func (c *snapshotCache[T]) get(ctx context.Context) (T, error) {
	if s := c.snap.Load(); s != nil && c.now().Sub(s.loaded) < c.ttl {
		return s.val, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.snap.Load(); s != nil && c.now().Sub(s.loaded) < c.ttl {
		return s.val, nil
	}
	v, err := c.load(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	c.snap.Store(&snapshot[T]{val: v, loaded: c.now()})
	return v, nil
}

// catalog is every audience a token can be issued for: the configured ones
// and the built-in management audience, whose id is the issuer.
type catalog struct {
	cache      snapshotCache[map[string]*storage.Audience]
	management storage.Audience
}

func newCatalog(st storage.Store, issuer string, now func() time.Time) *catalog {
	c := &catalog{management: storage.Audience{
		ID: issuer, Name: "authserver management API",
		Scopes: []string{exchange.ScopeAdmin, exchange.ScopePATs},
	}}
	c.cache = snapshotCache[map[string]*storage.Audience]{now: now, ttl: catalogTTL,
		load: func(ctx context.Context) (map[string]*storage.Audience, error) {
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

// Audience resolves an audience id; storage.ErrNotFound when unknown.
func (c *catalog) Audience(ctx context.Context, id string) (*storage.Audience, error) {
	m, err := c.cache.get(ctx)
	if err != nil {
		return nil, err
	}
	a, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("audience: %w", storage.ErrNotFound)
	}
	return a, nil
}

// List returns every audience, ordered by id.
func (c *catalog) List(ctx context.Context) ([]storage.Audience, error) {
	m, err := c.cache.get(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Audience, 0, len(m))
	for _, a := range m {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b storage.Audience) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out, nil
}

// Scopes is the scope catalogue: the union of every audience's scopes.
func (c *catalog) Scopes(ctx context.Context) ([]string, error) {
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

// clientCache holds every OAuth client.
type clientCache struct {
	cache snapshotCache[map[string]*storage.Client]
}

func newClientCache(st storage.Store, now func() time.Time) *clientCache {
	return &clientCache{cache: snapshotCache[map[string]*storage.Client]{now: now, ttl: catalogTTL,
		load: func(ctx context.Context) (map[string]*storage.Client, error) {
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

func (c *clientCache) get(ctx context.Context, id string) (*storage.Client, error) {
	m, err := c.cache.get(ctx)
	if err != nil {
		return nil, err
	}
	cl, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("client: %w", storage.ErrNotFound)
	}
	return cl, nil
}
