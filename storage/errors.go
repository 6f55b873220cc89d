package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"modernc.org/sqlite"
)

// mapErr translates driver errors into the package's sentinels, keeping the
// original in the chain. Driver messages name constraints, never values.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch {
		case pqErr.Code == "23505": // unique_violation
			return fmt.Errorf("%w: %s", ErrAlreadyExists, pqErr.Constraint)
		case pqErr.Code == "23503": // foreign_key_violation
			return fmt.Errorf("%w: %s", ErrInvalidReference, pqErr.Constraint)
		case pqErr.Code.Class() == "08", // connection exception
			pqErr.Code.Class() == "53", // insufficient resources
			pqErr.Code.Class() == "57": // operator intervention (shutdown, …)
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
		case 787: // SQLITE_CONSTRAINT_FOREIGNKEY
			return fmt.Errorf("%w: %w", ErrInvalidReference, err)
		}
		return err
	}
	// database/sql's "database is closed" has no exported value: a closed
	// pool is a database this process cannot reach.
	if err.Error() == "sql: database is closed" {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &netErr) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// queries rebinds "?" placeholders for the driver once per query text.
type queries struct {
	db    *sqlx.DB
	same  bool
	cache sync.Map // query → rebound query

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // prepared hot-path queries
}

func newQueries(db *sqlx.DB) *queries {
	return &queries{db: db, same: sqlx.BindType(db.DriverName()) == sqlx.QUESTION}
}

// prepared returns the prepared statement of a hot-path query, preparing it
// on first use. database/sql prepares it again on each pooled connection
// as needed. A prepared statement saves PostgreSQL the second round trip
// lib/pq makes for an unprepared query with parameters (parse and describe,
// then bind and execute), and SQLite the parsing of the query text.
func (q *queries) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if st, ok := q.stmts[query]; ok {
		return st, nil
	}
	st, err := q.db.PrepareContext(ctx, q.rebind(query))
	if err != nil {
		return nil, err
	}
	if q.stmts == nil {
		q.stmts = map[string]*sql.Stmt{}
	}
	q.stmts[query] = st
	return st, nil
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

// wrapf prefixes an error with the operation that failed.
func wrapf(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
