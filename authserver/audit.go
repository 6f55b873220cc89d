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

// auditQueue writes high-volume audit events (refused exchanges) off the
// request path, so a flood of bad requests costs no write per request. It
// is bounded: when full, events are dropped and counted, never blocking a
// request. Governance events (create, revoke, …) are not queued: they are
// written in the transaction of the change they record.
type auditQueue struct {
	store  auditAppender
	log    *slog.Logger
	ch     chan storage.AuditEvent
	onDrop func()
	done   chan struct{}

	mu     sync.RWMutex // guards closed against Add racing Close
	closed bool
}

func newAuditQueue(st auditAppender, size int, log *slog.Logger) *auditQueue {
	return &auditQueue{store: st, log: log, ch: make(chan storage.AuditEvent, size), done: make(chan struct{})}
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
