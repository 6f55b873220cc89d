// Package outbox delivers lifecycle events from the database to where they
// are wanted: Shared Signals receivers, organizations' webhooks, owners'
// e-mail.
//
// Governance writes each event (storage.Event) in the transaction of the
// change it reports. From there a dispatcher, on every replica, fans each
// event out to the destinations its sinks name and delivers it to each at
// least once, with backoff, until a bounded retry life ends. Receivers
// deduplicate by the event's id, which every delivery carries.
package outbox

import (
	"context"
	"errors"

	"authserver/storage"
)

// A Sink is one way of delivering events: Shared Signals push, webhooks,
// e-mail.
type Sink interface {
	// Kind names the sink; it prefixes the destinations it names in the
	// database ("ssf", "webhook", "mail") and labels its metrics.
	Kind() string
	// Destinations names where e goes through this sink (possibly
	// nowhere). It is asked once per event, when the event is fanned out.
	Destinations(ctx context.Context, e storage.Event) ([]string, error)
	// Deliver sends e to one of the destinations Destinations named. An
	// error wrapped by Permanent ends the delivery at once; any other
	// error is retried with backoff.
	Deliver(ctx context.Context, dest string, e storage.Event) error
}

// A BatchSink is a Sink that names the destinations of a whole batch of
// events at once, reading once what all of them share (an organization's
// webhooks) instead of once per event. The dispatcher uses it when a sink
// has it; its answer must be Destinations' for each event, in order.
type BatchSink interface {
	Sink
	BatchDestinations(ctx context.Context, es []storage.Event) ([][]string, error)
}

// permanent marks an error that retrying cannot cure.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as one that retrying cannot cure (a receiver that
// refuses the event itself, a destination that no longer exists).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// ErrDestinationGone is what a sink returns (it is permanent) for a
// destination removed since the fan-out, such as a deleted webhook: the
// delivery ends, counted as dropped rather than given up, since nobody
// waits for it any more.
var ErrDestinationGone = Permanent(errors.New("destination removed"))
