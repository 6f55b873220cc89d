package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"  // PostgreSQL driver "postgres"
	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

// The drivers this package serves.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Options open a SQLStore.
type Options struct {
	// Driver is DriverSQLite or DriverPostgres.
	Driver string
	// DSN is a file path (sqlite) or a lib/pq connection string (postgres).
	DSN string
	// MustExist makes Open fail with ErrNoDatabase, rather than create the
	// database, when a SQLite file does not exist.
	MustExist bool
	// MaxOpenConns caps the pool; 0 picks a default for the driver.
	MaxOpenConns int
	// QueryTimeout bounds every call the store makes: waiting for a pooled
	// connection, each statement with the reading of its rows, COMMIT and
	// ROLLBACK, and on SQLite the wait for the write lock. A call that
	// runs out of it fails with ErrUnavailable. 0 means DefaultQueryTimeout.
	QueryTimeout time.Duration
	// Now is the clock used for timestamps the store fills in itself.
	Now func() time.Time
	// PATGrantBatch is the most GetPATGrant calls of concurrent exchanges
	// one query serves (patbatch.go). 0 means DefaultPATGrantBatch; 1 or
	// less turns batching off. It pays on both drivers
	// (BenchmarkGetPATGrantParallel): on PostgreSQL it saves round trips,
	// on SQLite statement executions and the pool's contention.
	PATGrantBatch int
	// PATGrantQueries is how many PAT queries may be in flight before
	// GetPATGrant calls wait to share the next; 0 means
	// DefaultPATGrantQueries.
	PATGrantQueries int
}

// DefaultQueryTimeout is the store's deadline for one database call.
const DefaultQueryTimeout = 2 * time.Second

// SQLStore is the sqlx implementation of Store for SQLite and PostgreSQL.
type SQLStore struct {
	db      *sqlx.DB
	x       sqlx.ExtContext // db, or the transaction of a WithTx store
	inTx    bool
	driver  string
	now     func() time.Time
	q       *queries
	timeout time.Duration
	writes  *writeHealth
	batch   *grantBatcher // nil: every GetPATGrant is its own query
}

var _ Store = (*SQLStore)(nil)

// Open opens and pings the database. It does not migrate: call Migrate.
// A SQLite file and the files SQLite keeps beside it are made readable by
// their owner only (see prepareSQLiteFile).
func Open(ctx context.Context, o Options) (*SQLStore, error) {
	timeout := o.QueryTimeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	var db *sqlx.DB
	switch o.Driver {
	case DriverSQLite:
		if path := SQLiteFile(o.DSN); path != "" {
			if err := prepareSQLiteFile(path, o.MustExist); err != nil {
				return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
			}
		}
		sdb, err := sqlx.Open(o.Driver, sqliteDSN(o.DSN, timeout))
		if err != nil {
			return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
		}
		db = sdb
	case DriverPostgres:
		c, err := newDeadlineConnector(o.DSN, timeout)
		if err != nil {
			// lib/pq's parse errors name the offending key, never the
			// password.
			return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
		}
		db = sqlx.NewDb(sql.OpenDB(c), DriverPostgres)
	default:
		return nil, fmt.Errorf("open database: unknown driver %q", o.Driver)
	}
	maxOpen := o.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = 16
	}
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.SetConnMaxIdleTime(5 * time.Minute)
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s := &SQLStore{db: db, x: db, driver: o.Driver, now: now, timeout: timeout, writes: &writeHealth{}}
	s.q = newQueries(db)
	batch := o.PATGrantBatch
	if batch == 0 {
		batch = DefaultPATGrantBatch
	}
	if batch > 1 {
		inflight := o.PATGrantQueries
		if inflight <= 0 {
			inflight = DefaultPATGrantQueries
		}
		s.batch = newGrantBatcher(s, batch, inflight)
	}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", o.Driver, err)
	}
	return s, nil
}

// sqliteDSN turns a file path into a modernc DSN with the pragmas the store
// relies on: foreign keys enforced, WAL so readers do not block the writer,
// a busy timeout (the query timeout) so concurrent writers wait instead of
// failing at once, yet give up when the store's deadline would, and
// BEGIN IMMEDIATE so a transaction takes the write lock up front rather than
// failing when it upgrades from a read.
func sqliteDSN(path string, busy time.Duration) string {
	params := fmt.Sprintf("_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)&_txlock=immediate", busy.Milliseconds())
	if strings.Contains(path, "?") {
		return path + "&" + params
	}
	return path + "?" + params
}

// Driver is the name of the driver in use.
func (s *SQLStore) Driver() string { return s.driver }

// DB is the underlying pool, for statistics.
func (s *SQLStore) DB() *sql.DB { return s.db.DB }

// Ping reports whether the database answers.
func (s *SQLStore) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", mapErr(err))
	}
	return nil
}

// Close closes the pool.
func (s *SQLStore) Close() error {
	if s.inTx {
		return errors.New("close: called inside a transaction")
	}
	err := s.db.Close()
	if s.batch != nil {
		s.batch.wait()
	}
	return err
}

// WithTx runs fn in one transaction.
func (s *SQLStore) WithTx(ctx context.Context, fn func(Store) error) (err error) {
	if s.inTx {
		return fn(s)
	}
	// The wait for a connection and BEGIN are bounded; the transaction then
	// lives as long as the caller's context, each statement in it and the
	// COMMIT bounded on their own (a transaction may do slow work between
	// statements, such as hashing a password during bootstrap).
	bctx, cancel := s.bound(ctx)
	conn, err := s.db.Connx(bctx)
	cancel()
	if err != nil {
		return fmt.Errorf("begin transaction: %w", s.writeFailed(mapErr(err)))
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", s.writeFailed(mapErr(err)))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	ts := *s
	ts.x = tx
	ts.inTx = true
	if err := fn(&ts); err != nil {
		if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", mapErr(rbErr)))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", s.writeFailed(mapErr(err)))
	}
	s.writes.succeeded()
	return nil
}

// bound gives one database call its deadline: the query timeout, or the
// caller's own if that comes first.
func (s *SQLStore) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Lock takes a transaction-scoped named lock. On PostgreSQL it is an
// advisory lock keyed by a hash of the name; on SQLite every write
// transaction already holds the database's single write lock (BEGIN
// IMMEDIATE), so there is nothing more to take.
func (s *SQLStore) Lock(ctx context.Context, name string) error {
	if !s.inTx {
		return fmt.Errorf("lock %q: not inside a transaction", name)
	}
	if s.driver != DriverPostgres {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.x.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return fmt.Errorf("lock %q: %w", name, mapErr(err))
	}
	return nil
}

// t converts a time for binding: UTC at microsecond precision, as text in
// SQLite (fixed width, so it compares correctly as text).
func (s *SQLStore) t(tm time.Time) any {
	tm = tm.UTC().Truncate(time.Microsecond)
	if s.driver == DriverSQLite {
		return tm.Format(sqliteTime)
	}
	return tm
}

// tp converts a nullable time for binding.
func (s *SQLStore) tp(tm *time.Time) any {
	if tm == nil {
		return nil
	}
	return s.t(*tm)
}

// sqliteTime is how times are written in SQLite: the modernc driver reads
// it back as a UTC time.Time for TIMESTAMP columns.
const sqliteTime = "2006-01-02 15:04:05.000000"

// stamp is the store's clock, in UTC at the stored precision.
func (s *SQLStore) stamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

func utc(t time.Time) time.Time { return t.UTC() }

func utcp(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// NewID is a new row id (a UUIDv7), for a caller that must name a row
// before it is created (a regenerated PAT's successor).
func NewID() string { return newID() }

// joinList stores a list of names as one space-separated string.
func joinList(l []string) string { return strings.Join(l, " ") }

// splitList reads a joinList value back; the empty string is an empty list.
func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

// params is n copies of p, separated by commas.
func params(n int, p string) string {
	var b strings.Builder
	b.Grow(n * (len(p) + 2))
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// exec runs a write and maps its error; op names the operation.
func (s *SQLStore) exec(ctx context.Context, op, query string, args ...any) (sql.Result, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.x.ExecContext(ctx, s.q.rebind(query), args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, s.writeFailed(mapErr(err)))
	}
	s.wrote()
	return res, nil
}

// execCount runs a write as exec does and reports how many rows it
// touched.
func (s *SQLStore) execCount(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := s.exec(ctx, op, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, mapErr(err))
	}
	return n, nil
}

// execOne runs a write that must touch exactly one row (else ErrNotFound).
func (s *SQLStore) execOne(ctx context.Context, op, query string, args ...any) error {
	n, err := s.execCount(ctx, op, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

func (s *SQLStore) get(ctx context.Context, op string, dest any, query string, args ...any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := sqlx.GetContext(ctx, s.x, dest, s.q.rebind(query), args...); err != nil {
		return fmt.Errorf("%s: %w", op, mapErr(err))
	}
	return nil
}

func (s *SQLStore) sel(ctx context.Context, op string, dest any, query string, args ...any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := sqlx.SelectContext(ctx, s.x, dest, s.q.rebind(query), args...); err != nil {
		return fmt.Errorf("%s: %w", op, mapErr(err))
	}
	return nil
}
