package storage

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// queries rebinds "?" placeholders for the driver once per query text.
type queries struct {
	db    *sqlx.DB
	same  bool
	cache sync.Map // query → rebound query

	stmts sync.Map // query → *sql.Stmt, the prepared hot-path queries
	mu    sync.Mutex
}

func newQueries(db *sqlx.DB) *queries {
	return &queries{db: db, same: sqlx.BindType(db.DriverName()) == sqlx.QUESTION}
}

// prepared returns the prepared statement of a hot-path query, preparing it
// on first use. database/sql prepares it again on each pooled connection
// as needed. A prepared statement saves PostgreSQL the second round trip
// lib/pq makes for an unprepared query with parameters (parse and describe,
// then bind and execute), and SQLite the parsing of the query text.
//
// Once prepared, a statement is read without a lock. Preparing takes the
// lock, so that concurrent first uses prepare once; nothing else waits on
// it, since every later use finds the statement in the map.
func (q *queries) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := q.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if st, ok := q.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := q.db.PrepareContext(ctx, q.rebind(query))
	if err != nil {
		return nil, err
	}
	q.stmts.Store(query, st)
	return st, nil
}

// rebindOnce rebinds a query text that is built anew for its arguments
// (a multi-row INSERT, one text per row count), without keeping it.
func (q *queries) rebindOnce(query string) string {
	if q.same {
		return query
	}
	return q.db.Rebind(query)
}

func (q *queries) rebind(query string) string {
	if q.same {
		return query
	}
	if v, ok := q.cache.Load(query); ok {
		return v.(string)
	}
	r := q.db.Rebind(query)
	q.cache.Store(query, r)
	return r
}
