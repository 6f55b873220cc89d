package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

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
	if errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// The database did not answer within the store's deadline (or the
		// caller's): to the caller that is a database it cannot reach.
		return fmt.Errorf("%w: no answer in time: %w", ErrUnavailable, err)
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
		if sqliteFault(sqliteErr.Code()) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
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

// sqliteFault reports whether an SQLite result code is a fault of the
// database rather than of the statement: the file or disk refuses (full,
// read-only, I/O error, cannot open, corrupt), the lock stayed taken beyond
// the busy timeout, memory ran out, or the call was interrupted at its
// deadline. The caller answers these 503, as for an unreachable
// PostgreSQL. Extended codes carry the primary code in their low byte.
func sqliteFault(code int) bool {
	switch code & 0xff {
	case 5, // SQLITE_BUSY
		6,  // SQLITE_LOCKED
		7,  // SQLITE_NOMEM
		8,  // SQLITE_READONLY
		9,  // SQLITE_INTERRUPT
		10, // SQLITE_IOERR
		11, // SQLITE_CORRUPT
		13, // SQLITE_FULL
		14, // SQLITE_CANTOPEN
		15, // SQLITE_PROTOCOL
		26: // SQLITE_NOTADB
		return true
	}
	return false
}

// wrapf prefixes an error with the operation that failed.
func wrapf(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
