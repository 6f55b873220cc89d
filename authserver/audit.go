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
// are dropped and counted, never blocking a request. Governance events (create, revoke, …) are not queued: they are
// written in the transaction of the change they record.
type auditQueue struct {
	drainQueue[storage.AuditEvent]
	store  auditAppender
	log    *slog.Logger
	onDrop func()
}

func newAuditQueue(st auditAppender, size int, log *slog.Logger, onDrop func()) *auditQueue {
	return &auditQueue{drainQueue: newDrainQueue[storage.AuditEvent](size), store: st, log: log, onDrop: onDrop}
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

// drainQueue is the shutdown half shared by the background queues (audit
// events, leaked-token reports): a buffered channel that Close closes
// once, under a lock that senders hold (read-locked) while they check
// closed, so that no send races the close; and done, which the queue's Run
// closes once it has drained the channel.
type drainQueue[T any] struct {
	ch   chan T
	done chan struct{}

	mu     sync.RWMutex // guards closed against senders racing Close
	closed bool
}

func newDrainQueue[T any](size int) drainQueue[T] {
	return drainQueue[T]{ch: make(chan T, size), done: make(chan struct{})}
}

// Close stops accepting items and waits for Run to drain the queue or for
// ctx to end.
func (q *drainQueue[T]) Close(ctx context.Context) {
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
