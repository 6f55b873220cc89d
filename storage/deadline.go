package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/lib/pq"
)

// A PostgreSQL that stops answering without closing its connections — a
// paused VM, a black-holed link, a SIGSTOPped postmaster — must fail a call
// at its deadline, not hang it. lib/pq alone cannot do that: when a
// context ends it sends a cancel request over a new connection (which a
// frozen server never reads) and keeps waiting on the old socket. So the
// store opens PostgreSQL through deadlineConnector, which holds each
// connection's socket and, before every call that carries a context, sets
// the socket's deadline to the context's. A blocked read then fails with a
// timeout, lib/pq marks the connection bad, and database/sql discards it.

// dialCapture receives the socket that lib/pq dials for one Connect.
type dialCapture struct{ conn net.Conn }

type dialCaptureKey struct{}

// deadlineDialer dials PostgreSQL and bounds the connection handshake by
// the dialing context's deadline and connectTimeout, whichever is first,
// and a cancel request by cancelTimeout.
type deadlineDialer struct {
	d              net.Dialer
	connectTimeout time.Duration
}

var _ pq.DialerContext = (*deadlineDialer)(nil)

func (d *deadlineDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *deadlineDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// cancelTimeout bounds lib/pq's cancel requests. When a call's context
// ends, lib/pq dials a second connection to ask the server to cancel the
// statement, and for a prepared statement the call does not return until
// that request is done (or 10 s have passed). A server that answers at all
// takes a few milliseconds; one that is frozen would hold every timed-out
// call for the full 10 s.
const cancelTimeout = 250 * time.Millisecond

func (d *deadlineDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	// Only Connect dials with a capture: anything else is a cancel request.
	capture, connecting := ctx.Value(dialCaptureKey{}).(*dialCapture)
	limit := d.connectTimeout
	if !connecting {
		limit = cancelTimeout
	}
	deadline, ok := ctx.Deadline()
	if bound := time.Now().Add(limit); !ok || bound.Before(deadline) {
		deadline = bound
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := d.d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	// The start-up exchange (TLS, authentication) reads from the server
	// too: it must end by the same deadline. Every later call sets its own.
	if err := c.SetDeadline(deadline); err != nil {
		c.Close()
		return nil, err
	}
	if connecting {
		capture.conn = c
	}
	return c, nil
}

// deadlineConnector opens lib/pq connections that follow their callers'
// deadlines.
type deadlineConnector struct {
	pq *pq.Connector
	// txTimeout bounds COMMIT and ROLLBACK, which database/sql calls
	// without a context.
	txTimeout time.Duration
}

// newDeadlineConnector parses dsn as lib/pq does.
func newDeadlineConnector(dsn string, timeout time.Duration) (*deadlineConnector, error) {
	c, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	c.Dialer(&deadlineDialer{d: net.Dialer{KeepAlive: 30 * time.Second}, connectTimeout: timeout})
	return &deadlineConnector{pq: c, txTimeout: timeout}, nil
}

func (c *deadlineConnector) Driver() driver.Driver { return c.pq.Driver() }

func (c *deadlineConnector) Connect(ctx context.Context) (driver.Conn, error) {
	capture := &dialCapture{}
	dc, err := c.pq.Connect(context.WithValue(ctx, dialCaptureKey{}, capture))
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(pqConn)
	if !ok || capture.conn == nil {
		dc.Close()
		return nil, errors.New("postgres connection: the driver no longer offers the interfaces the store relies on")
	}
	return &deadlineConn{pc: pc, socket: capture.conn, txTimeout: c.txTimeout}, nil
}

// pqConn is what lib/pq's connection implements and database/sql uses.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// pqStmt is what lib/pq's prepared statement implements.
type pqStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

// deadlineConn is a lib/pq connection whose socket follows the deadline
// of the call it serves. database/sql uses a connection from one goroutine
// at a time, so setting the deadline before delegating is race-free; the
// rows of a query are read under the deadline of the query.
type deadlineConn struct {
	pc        pqConn
	socket    net.Conn
	txTimeout time.Duration
}

var _ pqConn = (*deadlineConn)(nil)

// arm sets the socket's deadline to ctx's; none clears it (migrations and
// other calls without a deadline wait as long as the server takes).
func (c *deadlineConn) arm(ctx context.Context) {
	d, _ := ctx.Deadline()
	_ = c.socket.SetDeadline(d)
}

func (c *deadlineConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *deadlineConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.arm(ctx)
	st, err := c.pc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ps, ok := st.(pqStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("postgres statement: the driver no longer offers the interfaces the store relies on")
	}
	return &deadlineStmt{ps: ps, c: c}, nil
}

func (c *deadlineConn) Close() error { return c.pc.Close() }

// Begin completes driver.Conn; database/sql calls BeginTx.
func (c *deadlineConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx bounds BEGIN by the context's deadline or the connector's
// timeout, whichever comes first: a transaction's context may have no
// deadline (it lives as long as its work), but BEGIN itself must end.
func (c *deadlineConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	d := time.Now().Add(c.txTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	_ = c.socket.SetDeadline(d)
	tx, err := c.pc.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &deadlineTx{tx: tx, c: c}, nil
}

func (c *deadlineConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.arm(ctx)
	return c.pc.QueryContext(ctx, query, args)
}

func (c *deadlineConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.arm(ctx)
	return c.pc.ExecContext(ctx, query, args)
}

func (c *deadlineConn) Ping(ctx context.Context) error {
	c.arm(ctx)
	return c.pc.Ping(ctx)
}

func (c *deadlineConn) ResetSession(ctx context.Context) error { return c.pc.ResetSession(ctx) }
func (c *deadlineConn) IsValid() bool                          { return c.pc.IsValid() }
func (c *deadlineConn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.pc.CheckNamedValue(nv)
}

// deadlineTx bounds COMMIT and ROLLBACK by the connector's timeout, counted
// from the moment they are sent.
type deadlineTx struct {
	tx driver.Tx
	c  *deadlineConn
}

func (t *deadlineTx) Commit() error {
	_ = t.c.socket.SetDeadline(time.Now().Add(t.c.txTimeout))
	return t.tx.Commit()
}

func (t *deadlineTx) Rollback() error {
	_ = t.c.socket.SetDeadline(time.Now().Add(t.c.txTimeout))
	return t.tx.Rollback()
}

// deadlineStmt is a prepared statement of a deadlineConn.
type deadlineStmt struct {
	ps pqStmt
	c  *deadlineConn
}

func (s *deadlineStmt) Close() error  { return s.ps.Close() }
func (s *deadlineStmt) NumInput() int { return s.ps.NumInput() }

// Exec and Query complete driver.Stmt; database/sql calls the context
// forms.
func (s *deadlineStmt) Exec(args []driver.Value) (driver.Result, error) {
	s.c.arm(context.Background())
	return s.ps.Exec(args)
}

func (s *deadlineStmt) Query(args []driver.Value) (driver.Rows, error) {
	s.c.arm(context.Background())
	return s.ps.Query(args)
}

func (s *deadlineStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.arm(ctx)
	return s.ps.QueryContext(ctx, args)
}

func (s *deadlineStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.arm(ctx)
	return s.ps.ExecContext(ctx, args)
}
