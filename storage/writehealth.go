package storage

import (
	"context"
	"errors"
	"sync/atomic"
)

// writeHealth remembers whether the last write failed for a fault of the
// database (a full disk, a read-only file, a lost connection), so that
// readiness reports not-ready until a write succeeds again: reads alone
// can go on working while every write fails.
type writeHealth struct {
	fault atomic.Pointer[error]
}

func (w *writeHealth) succeeded() {
	if w.fault.Load() != nil {
		w.fault.Store(nil)
	}
}

// wrote records a write that succeeded. Inside a transaction nothing is
// written until COMMIT, which WithTx records itself.
func (s *SQLStore) wrote() {
	if !s.inTx {
		s.writes.succeeded()
	}
}

// writeFailed records err when it is a database fault, and returns it.
func (s *SQLStore) writeFailed(err error) error {
	if errors.Is(err, ErrUnavailable) {
		s.writes.fault.Store(&err)
	}
	return err
}

// WriteFault is the database fault of the last write, or nil when the last
// write succeeded (or none failed yet).
func (s *SQLStore) WriteFault() error {
	if p := s.writes.fault.Load(); p != nil {
		return *p
	}
	return nil
}

// ProbeWrite writes one row, to learn whether the database takes writes
// again after WriteFault reported a fault; success clears the fault.
func (s *SQLStore) ProbeWrite(ctx context.Context) error {
	_, err := s.exec(ctx, "probe write", `INSERT INTO write_probe (id, probed_at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`, s.t(s.stamp()))
	return err
}
