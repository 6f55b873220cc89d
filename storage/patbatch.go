package storage

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Every exchange reads its PAT from the database after it arrived: no
// cache may answer for a PAT, or a revoked one could be served. On
// PostgreSQL that read is a network round trip, and its fixed cost — the
// protocol messages, two socket writes and reads, the server's per-statement
// work — outweighs the lookup itself; on SQLite, the statement's execution
// and the wait for a pooled connection do. So concurrent reads share round
// trips: while a read is in flight, the reads that arrive wait for it to
// end and then go together, as one query for up to maxBatch hashes
// (one lookup per element of an array parameter), matched back to their callers by hash.
//
// A read never waits for a timer: a lone read, and any read that finds
// fewer than maxInflight queries in flight, is sent at once, on the
// caller's goroutine and under the caller's context, exactly as without
// batching. Only a read that arrives while maxInflight queries are in
// flight waits, and it waits for the first of them to end, then goes in
// the next query. That query is sent after every read in it arrived, so
// each still sees the database as it is after its exchange arrived.

// Defaults of the batcher.
const (
	// DefaultPATGrantBatch is the most PAT reads one query serves.
	DefaultPATGrantBatch = 64
	// DefaultPATGrantQueries is how many PAT queries may be in flight at
	// once before reads wait to share the next one.
	DefaultPATGrantQueries = 2
)

// grantBatcher coalesces the concurrent GetPATGrant calls of one store.
type grantBatcher struct {
	s           *SQLStore
	maxBatch    int
	maxInflight int

	mu       sync.Mutex
	inflight int            // queries in flight, direct and batched
	pending  []*grantWaiter // reads waiting for the next batch, in arrival order

	workers sync.WaitGroup // goroutines running batches, for Close

	reads, queries atomic.Uint64

	// Test hooks, nil in production: afterQuery runs in a query slot once
	// its query has returned, before its callers are answered; query
	// replaces the batch query.
	afterQuery func()
	query      func(ctx context.Context, hashes [][]byte) (map[string]*PATGrant, error)
}

// grantWaiter is one read waiting in a batch.
type grantWaiter struct {
	hash []byte
	done chan grantResult // buffered: the batch never blocks on a waiter
	// gone is set when the waiter stopped waiting (its context ended);
	// a batch not yet started leaves it out.
	gone atomic.Bool
}

type grantResult struct {
	g   *PATGrant
	err error
}

func newGrantBatcher(s *SQLStore, maxBatch, maxInflight int) *grantBatcher {
	return &grantBatcher{s: s, maxBatch: maxBatch, maxInflight: maxInflight}
}

// get reads the grant of hash: at once if a query slot is free, else in
// the next batch.
func (b *grantBatcher) get(ctx context.Context, hash []byte) (*PATGrant, error) {
	b.reads.Add(1)
	b.mu.Lock()
	if b.inflight < b.maxInflight {
		// No read is waiting either: waiters exist only while every slot
		// is taken, and a slot that frees takes them.
		b.inflight++
		b.mu.Unlock()
		defer b.release() // whatever happens, the slot is freed
		b.queries.Add(1)
		g, err := b.s.patGrant(ctx, grantQueries[b.s.driver].byHash, hash)
		if b.afterQuery != nil {
			b.afterQuery()
		}
		return g, err
	}
	w := &grantWaiter{hash: hash, done: make(chan grantResult, 1)}
	b.pending = append(b.pending, w)
	b.mu.Unlock()

	ctx, cancel := b.s.bound(ctx)
	defer cancel()
	select {
	case r := <-w.done:
		return r.g, r.err
	case <-ctx.Done():
		w.gone.Store(true)
		return nil, wrapf("get pat grant", mapErr(ctx.Err()))
	}
}

// release frees the slot of a finished direct read, or hands it to a new
// worker if reads are waiting.
func (b *grantBatcher) release() {
	b.mu.Lock()
	batch := b.take()
	if batch == nil {
		b.inflight--
		b.mu.Unlock()
		return
	}
	b.workers.Add(1)
	b.mu.Unlock()
	go b.work(batch)
}

// take removes the next batch from pending: up to maxBatch waiters still
// waiting. nil if none. b.mu must be held.
func (b *grantBatcher) take() []*grantWaiter {
	for len(b.pending) > 0 {
		n := min(len(b.pending), b.maxBatch)
		batch := make([]*grantWaiter, 0, n)
		for _, w := range b.pending[:n] {
			if !w.gone.Load() {
				batch = append(batch, w)
			}
		}
		clear(b.pending[:n])
		b.pending = b.pending[n:]
		if len(b.pending) == 0 {
			b.pending = nil
		}
		if len(batch) > 0 {
			return batch
		}
	}
	return nil
}

// work runs batches while reads are waiting, in the slot it was handed,
// then frees the slot.
func (b *grantBatcher) work(batch []*grantWaiter) {
	defer b.workers.Done()
	for batch != nil {
		b.run(batch)
		b.mu.Lock()
		batch = b.take()
		if batch == nil {
			b.inflight--
		}
		b.mu.Unlock()
	}
}

// run reads the grants of one batch in one query and answers every waiter:
// its grant, ErrNotFound, or the query's error. The query serves several
// callers, so it runs under the store's own deadline, not any one
// caller's; a caller whose context ends stops waiting on its own.
func (b *grantBatcher) run(batch []*grantWaiter) {
	hashes := make([][]byte, 0, len(batch))
	for _, w := range batch {
		if !slices.ContainsFunc(hashes, func(h []byte) bool { return string(h) == string(w.hash) }) {
			hashes = append(hashes, w.hash)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.s.timeout)
	defer cancel()
	b.queries.Add(1)
	query := b.s.patGrants
	if b.query != nil {
		query = b.query
	}
	grants, err := query(ctx, hashes)
	if b.afterQuery != nil {
		b.afterQuery()
	}
	// A PAT asked for twice in one batch: each caller gets its own copy,
	// made before the original is handed to the last of them.
	left := make(map[string]int, len(hashes))
	for _, w := range batch {
		left[string(w.hash)]++
	}
	for _, w := range batch {
		var r grantResult
		g := grants[string(w.hash)]
		left[string(w.hash)]--
		switch {
		case err != nil:
			r.err = err
		case g == nil:
			r.err = wrapf("get pat grant", ErrNotFound)
		case left[string(w.hash)] > 0:
			r.g = g.clone()
		default:
			r.g = g
		}
		w.done <- r
	}
}

// wait waits for the batches in flight to end (Close).
func (b *grantBatcher) wait() { b.workers.Wait() }

// clone copies g and the slices in it.
func (g *PATGrant) clone() *PATGrant {
	c := *g
	c.PAT.Scopes = slices.Clone(g.PAT.Scopes)
	c.PAT.Hash = slices.Clone(g.PAT.Hash)
	c.PAT.Delegates = slices.Clone(g.PAT.Delegates)
	c.PAT.AllowedCIDRs = slices.Clone(g.PAT.AllowedCIDRs)
	c.PAT.RecentNetworks = slices.Clone(g.PAT.RecentNetworks)
	c.Grants = make([]Grant, len(g.Grants))
	for i, gr := range g.Grants {
		c.Grants[i] = Grant{Folder: gr.Folder, Permissions: slices.Clone(gr.Permissions)}
	}
	if g.Grants == nil {
		c.Grants = nil
	}
	return &c
}

// batchGrantQuery reads the grants of n hashes. On PostgreSQL it is one
// statement for every size: the hashes are one array parameter, unnested
// and each looked up in a lateral subquery that OFFSET 0 keeps apart, so
// that it is planned as the single read is, by the indexes. Both shapes
// are deliberate. With a plain `token_hash = ANY($1)` the generic plan,
// which cannot know the array's length, joined the users by a hash of the
// whole table. And the array is read through a scalar subquery, `(SELECT
// $1)`, so that no plan sees its length: PostgreSQL plans a prepared
// statement for its first five executions and keeps a generic plan only
// if that costs no more than the custom plans did, and where each custom
// plan saw the three or four hashes of its batch against the generic
// plan's guess of ten, it judged them cheaper and planned the query anew
// on every execution, which cost the database more CPU than running it
// (TestPATBatchKeepsOneGenericPlan). On SQLite, which has no arrays, one
// placeholder per hash: a statement per batch size, each prepared once
// and built once per process.
func batchGrantQuery(driver string, n int) string {
	if driver == DriverPostgres {
		return pgBatchGrantQuery
	}
	if q, ok := sqliteBatchQueries.Load(n); ok {
		return q.(string)
	}
	q := grantQuery(DriverSQLite, `p.token_hash IN (`+params(n, "?")+`)`)
	sqliteBatchQueries.Store(n, q)
	return q
}

// pgBatchGrantQuery is PostgreSQL's batch query (batchGrantQuery).
var pgBatchGrantQuery = `SELECT g.* FROM unnest((SELECT ?::bytea[])) AS h(hash) CROSS JOIN LATERAL (` +
	grantQuery(DriverPostgres, `p.token_hash = h.hash OFFSET 0`) + `) g`

// sqliteBatchQueries holds SQLite's batch queries built so far, by size.
var sqliteBatchQueries sync.Map

// GetPATGrants reads the grants of several PATs by hash in one query, as
// GetPATGrant reads one: the answer holds a grant for each hash that names
// a PAT, keyed by the hash as a string; hashes that name none are absent.
func (s *SQLStore) GetPATGrants(ctx context.Context, hashes [][]byte) (map[string]*PATGrant, error) {
	if len(hashes) == 0 {
		return map[string]*PATGrant{}, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.patGrants(ctx, hashes)
}

// patGrants is GetPATGrants under a context already bounded.
func (s *SQLStore) patGrants(ctx context.Context, hashes [][]byte) (map[string]*PATGrant, error) {
	query := batchGrantQuery(s.driver, len(hashes))
	var args []any
	if s.driver == DriverPostgres {
		args = []any{pq.ByteaArray(hashes)}
	} else {
		args = make([]any, len(hashes))
		for i, h := range hashes {
			args[i] = h
		}
	}
	stmt, err := s.q.prepared(ctx, query)
	if err != nil {
		return nil, wrapf("get pat grants", mapErr(err))
	}
	if tx, ok := s.x.(*sqlx.Tx); ok {
		stmt = tx.StmtContext(ctx, stmt)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, wrapf("get pat grants", mapErr(err))
	}
	defer rows.Close()
	out := make(map[string]*PATGrant, len(hashes))
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, wrapf("get pat grants", mapErr(err))
		}
		out[string(g.PAT.Hash)] = g
	}
	if err := rows.Err(); err != nil {
		return nil, wrapf("get pat grants", mapErr(err))
	}
	return out, nil
}

// PATGrantReads reports how many PAT grants were read by hash
// (GetPATGrant) and in how many queries: with batching, fewer queries than
// reads. Both zero on a store that does not batch.
func (s *SQLStore) PATGrantReads() (reads, queries uint64) {
	if s.batch == nil {
		return 0, 0
	}
	return s.batch.reads.Load(), s.batch.queries.Load()
}

// scanned is what scanGrant needs of a row.
type scanned interface{ Scan(dest ...any) error }

// scanGrant reads one row of grantSelect.
func scanGrant(row scanned) (*PATGrant, error) {
	var (
		g            PATGrant
		scopes, kind string
		delegates    string
		stat         string
		maxLt        int64
		created      time.Time
		exp, rev     sql.NullTime
		grants       sql.NullString
		// Rotation and networks.
		overlap        sql.NullTime
		cidrs, recents string
		lastUsed       sql.NullTime
	)
	p, u, o := &g.PAT, &g.Owner, &g.Org
	if err := row.Scan(&p.ID, &p.OrgID, &p.UserID, &p.Name, &scopes, &p.Hash, &created,
		&exp, &rev, &delegates, &u.Username, &kind, &stat, &u.Admin, &o.Name, &o.PATsEnabled, &maxLt, &grants,
		&p.RevokedReason, &overlap, &p.ReplacedBy, &cidrs, &recents, &lastUsed, &p.LastUsedAddr, &p.LastUsedClient); err != nil {
		return nil, err
	}
	p.OverlapUntil, p.AllowedCIDRs, p.RecentNetworks = utcp(overlap), splitList(cidrs), splitList(recents)
	p.LastUsedAt = utcp(lastUsed)
	p.Scopes, p.CreatedAt, p.ExpiresAt, p.RevokedAt = splitList(scopes), utc(created), utcp(exp), utcp(rev)
	p.Delegates = splitList(delegates)
	u.ID, u.OrgID, u.Kind, u.Status = p.UserID, p.OrgID, UserKind(kind), UserStatus(stat)
	o.ID, o.PATMaxLifetime = p.OrgID, time.Duration(maxLt)
	if grants.Valid && grants.String != "" {
		lines := strings.Split(grants.String, "\n")
		g.Grants = make([]Grant, 0, len(lines))
		for _, line := range lines {
			folder, perms, _ := strings.Cut(line, "\t")
			g.Grants = append(g.Grants, Grant{Folder: folder, Permissions: splitList(perms)})
		}
	}
	return &g, nil
}
