package authserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"authserver/exchange"
	"authserver/governance"
)

// POST /api/v1/leaked-tokens (SPEC §8, issue #8) is a credential revocation
// API like GitHub's: anyone who finds token values exposed — a secret
// scanner, a person who pasted one into a chat — reports up to 100 of them,
// without credentials. Every real, active PAT among them is revoked and
// audited ("reported leaked", actor anonymous, with the reporter's
// address), in whichever organization it is.
//
// The answer is always 202 with {}, whether no value or every value was a
// real PAT, and it is written — whole, and flushed — before any database
// work: the request only checks the body, keeps the values that are
// well-formed PATs (CheckPAT: public arithmetic, no database), answers, and
// then queues them. A worker then costs one
// lookup per well-formed value, plus the revocation of those that are
// real. So neither the answer nor its timing says whether anything was
// found, and a reporter cannot use the route to test stolen tokens — and
// could gain nothing by it anyway: a real token it reports is revoked.
// Requests are rate-limited per client address (ratelimit.go).

// maxLeakedTokens bounds the values of one report.
const maxLeakedTokens = 100

// leakedRequest is the body of a report: tokens is required, and may be
// empty.
type leakedRequest struct {
	Tokens *[]string `json:"tokens"`
}

// reportLeaked serves POST /api/v1/leaked-tokens. p is nil: the route is
// public.
func (a *api) reportLeaked(w http.ResponseWriter, r *http.Request, _ *principal, _ map[string]string) error {
	var body leakedRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Tokens == nil {
		return fieldProblem(codeInvalidField, "tokens", "is required (an array of at most %d token values)", maxLeakedTokens)
	}
	if n := len(*body.Tokens); n > maxLeakedTokens {
		return fieldProblem(codeTooManyTokens, "tokens", "holds %d values; at most %d may be reported at once", n, maxLeakedTokens)
	}
	values := a.leaks.wellFormed(*body.Tokens)
	if len(values) > 0 && !a.leaks.reserve() {
		// The queue is full: say so (it says nothing about the values)
		// rather than accept a report that would not be processed.
		return newProblem(http.StatusServiceUnavailable, codeUnavailable,
			"too many leaked-token reports are waiting to be processed; try again")
	}
	// The whole answer goes out before the report is queued, so that the
	// worker's first lookup cannot delay it.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(leakedAnswer)))
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, leakedAnswer)
	_ = http.NewResponseController(w).Flush()
	if len(values) > 0 {
		a.leaks.push(leakReport{values: values, addr: clientAddr(r)})
	}
	return nil
}

// leakedAnswer is the one answer of the leaked-token route.
const leakedAnswer = "{}\n"

// leakRevoker is what the queue needs of governance.
type leakRevoker interface {
	RevokeLeaked(ctx context.Context, a governance.Actor, values []string) (int, error)
}

// leakReport is one queued report: its well-formed values and who sent it.
type leakReport struct {
	values []string
	addr   string
}

// leakQueue revokes reported tokens off the request path, one report at a
// time. It is bounded: a report takes a slot before it is answered, and a
// full queue refuses it (503) rather than block or drop it. Shutdown
// drains it.
type leakQueue struct {
	drainQueue[leakReport]
	gov    leakRevoker
	prefix string
	log    *slog.Logger
	// slots holds one token per report answered and not yet taken by the
	// worker, so that push never blocks.
	slots chan struct{}
	// retry is the wait before a report is tried again after the database
	// failed; a report is tried leakAttempts times.
	retry time.Duration
	// onRevoked is told how many PATs a report revoked (tests, metrics).
	onRevoked func(n int)
}

// leakQueueSize bounds the reports waiting: 256 × 100 values, some 10 MB
// at most. The per-address limit keeps one reporter far below it.
const leakQueueSize = 256

// leakAttempts is how often a report is tried while the database fails.
const leakAttempts = 5

func newLeakQueue(gov leakRevoker, prefix string, log *slog.Logger) *leakQueue {
	return &leakQueue{drainQueue: newDrainQueue[leakReport](leakQueueSize), gov: gov, prefix: prefix, log: log,
		slots: make(chan struct{}, leakQueueSize), retry: time.Second}
}

// wellFormed returns the distinct values that are well-formed PATs.
// Anything else cannot be a token of ours and costs nothing further.
func (q *leakQueue) wellFormed(values []string) []string {
	var out []string
	for _, v := range values {
		if exchange.CheckPAT(q.prefix, v) == nil && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// reserve takes a slot for a report without blocking; false when the
// queue is full or closed.
func (q *leakQueue) reserve() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	select {
	case q.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// push queues a report whose slot reserve took. It never blocks: there
// are never more reports in the channel than slots taken. A report pushed
// after Close (its request outlived the listener's shutdown) is logged,
// not processed.
func (q *leakQueue) push(rep leakReport) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.log.Error("leaked tokens not processed: shutting down", "values", len(rep.values), "client_addr", rep.addr)
		return
	}
	q.ch <- rep
}

// Run processes queued reports until Close; it returns once the queue is
// drained after Close, or when ctx is done.
func (q *leakQueue) Run(ctx context.Context) {
	defer close(q.done)
	for {
		select {
		case rep, ok := <-q.ch:
			if !ok {
				return
			}
			<-q.slots
			q.process(ctx, rep)
		case <-ctx.Done():
			return
		}
	}
}

// process revokes the real, active PATs of one report, trying again while
// the database is unavailable (RevokeLeaked skips what it already revoked).
func (q *leakQueue) process(ctx context.Context, rep leakReport) {
	actor := governance.Actor{Kind: governance.ActorAnon, Addr: rep.addr}
	for attempt := 1; ; attempt++ {
		n, err := q.gov.RevokeLeaked(ctx, actor, rep.values)
		if err == nil {
			// How many values were real is for the operator only.
			q.log.InfoContext(ctx, "leaked tokens reported", "values", len(rep.values), "revoked", n, "client_addr", rep.addr)
			if q.onRevoked != nil {
				q.onRevoked(n)
			}
			return
		}
		if governance.KindOf(err) != governance.Unavailable || attempt == leakAttempts {
			q.log.ErrorContext(ctx, "leaked tokens not processed", "values", len(rep.values), "revoked", n,
				"client_addr", rep.addr, "err", err)
			return
		}
		select {
		case <-time.After(q.retry):
		case <-ctx.Done():
			return
		}
	}
}
