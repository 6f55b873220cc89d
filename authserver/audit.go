package authserver

import (
	"context"
	"log/slog"
	"sync"

	"authserver/storage"
)

// auditAppender is the store method the audit queue needs.
type auditAppender interface {
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

// auditQueue writes high-volume audit events (refused exchanges, console
// sign-ins and refused sign-ins) off the request path, so a flood of bad
// requests costs no write per request. It is bounded: when full, events
// are dropped and counted, never blocking a request. Governance events
// (create, revoke, …) are not queued: they are written in the transaction
// of the change they record.
//
// Shutdown: Close closes ch once, under a lock that senders hold
// (read-locked) while they check closed, so that no send races the close;
// Run closes done once it has drained ch.
type auditQueue struct {
	ch     chan storage.AuditEvent
	done   chan struct{}
	mu     sync.RWMutex // guards closed against senders racing Close
	closed bool

	store  auditAppender
	log    *slog.Logger
	onDrop func()
}

func newAuditQueue(st auditAppender, size int, log *slog.Logger, onDrop func()) *auditQueue {
	return &auditQueue{ch: make(chan storage.AuditEvent, size), done: make(chan struct{}),
		store: st, log: log, onDrop: onDrop}
}

// Add queues an event without blocking.
func (q *auditQueue) Add(e storage.AuditEvent) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if !q.closed {
		select {
		case q.ch <- e:
			return
		default:
		}
	}
	if q.onDrop != nil {
		q.onDrop()
	}
}

// Run writes queued events until Close; it returns once the queue is
// drained after Close, or when ctx is done.
func (q *auditQueue) Run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case e, ok := <-q.ch:
			if !ok {
				return
			}
			if err := q.store.AppendAudit(ctx, &e); err != nil {
				q.log.Warn("audit event not written", "action", e.Action, "err", err)
				if q.onDrop != nil { // lost as surely as one the full queue refused
					q.onDrop()
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// Close stops accepting events and waits for Run to drain the queue or for
// ctx to end.
func (q *auditQueue) Close(ctx context.Context) {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
	case <-ctx.Done():
	}
}
