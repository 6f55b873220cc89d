package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Delivery is one event on its way to one destination.
type Delivery struct {
	ID      int64
	EventID string
	// Destination is "<sink kind>:<destination the sink named>".
	Destination string
	CreatedAt   time.Time
	// Attempts counts the claims so far, the current one included.
	Attempts int
	// NextAt is when the delivery is due; while claimed, the end of the
	// lease.
	NextAt      time.Time
	LeaseUntil  *time.Time
	DeliveredAt *time.Time
	GaveUpAt    *time.Time
	// LastError is a short cause of the last failure ("HTTP 503"), never
	// a secret.
	LastError string
}

// DeliveryOutcome ends one attempt at a delivery: exactly one of
// DeliveredAt, GaveUpAt and RetryAt is set.
type DeliveryOutcome struct {
	DeliveredAt time.Time
	GaveUpAt    time.Time
	RetryAt     time.Time
	LastError   string
}

// OutboxStats describes the events still on their way.
type OutboxStats struct {
	// Unfanned counts events not fanned out yet.
	Unfanned int64
	// Undelivered counts deliveries neither delivered nor given up.
	Undelivered int64
	// Oldest is the time of the oldest event that is not fanned out or
	// has an undelivered delivery; zero when there is none.
	Oldest time.Time
}

// Webhook is an organization's webhook. Secret is the signing secret as
// stored: sealed with the key-encryption key by the caller.
type Webhook struct {
	ID     string
	OrgID  string
	URL    string
	Secret []byte
	// EventTypes are the event types sent; empty: every type.
	EventTypes []string
	CreatedAt  time.Time
}

type deliveryRow struct {
	ID          int64        `db:"id"`
	EventID     string       `db:"event_id"`
	Destination string       `db:"destination"`
	CreatedAt   time.Time    `db:"created_at"`
	Attempts    int          `db:"attempts"`
	NextAt      time.Time    `db:"next_at"`
	LeaseUntil  sql.NullTime `db:"lease_until"`
	DeliveredAt sql.NullTime `db:"delivered_at"`
	GaveUpAt    sql.NullTime `db:"gave_up_at"`
	LastError   string       `db:"last_error"`
}

func (r deliveryRow) delivery() Delivery {
	return Delivery{ID: r.ID, EventID: r.EventID, Destination: r.Destination, CreatedAt: utc(r.CreatedAt),
		Attempts: r.Attempts, NextAt: utc(r.NextAt), LeaseUntil: utcp(r.LeaseUntil), DeliveredAt: utcp(r.DeliveredAt),
		GaveUpAt: utcp(r.GaveUpAt), LastError: r.LastError}
}

const deliveryCols = `id, event_id, destination, created_at, attempts, next_at, lease_until, delivered_at, gave_up_at, last_error`

// EventsToFanOut returns up to limit events not fanned out yet, oldest
// first. It must be called inside WithTx: on PostgreSQL the rows stay
// locked until the transaction ends and other replicas skip them; on
// SQLite the transaction already holds the single write lock.
func (s *SQLStore) EventsToFanOut(ctx context.Context, limit int) ([]Event, error) {
	if !s.inTx {
		return nil, fmt.Errorf("events to fan out: not inside a transaction")
	}
	q := `SELECT ` + eventCols + ` FROM events WHERE fanned_out_at IS NULL ORDER BY time, id LIMIT ?`
	if s.driver == DriverPostgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	var rows []eventRow
	if err := s.sel(ctx, "events to fan out", &rows, q, limit); err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(rows))
	for _, r := range rows {
		e, err := r.event()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// FanOutEvent writes one delivery per destination of the event, due at
// at, and marks the event fanned out, a statement each. Call it inside the
// transaction of EventsToFanOut. FanOutEvents does the same for a batch
// of events in a few statements.
func (s *SQLStore) FanOutEvent(ctx context.Context, eventID string, destinations []string, at time.Time) error {
	for _, d := range destinations {
		if _, err := s.exec(ctx, "fan out event", `INSERT INTO event_deliveries (event_id, destination, created_at, attempts, next_at)
			VALUES (?, ?, ?, 0, ?)`, eventID, d, s.t(at), s.t(at)); err != nil {
			return err
		}
	}
	return s.execOne(ctx, "fan out event", `UPDATE events SET fanned_out_at = ? WHERE id = ? AND fanned_out_at IS NULL`,
		s.t(at), eventID)
}

// FanOut names the destinations of one event: one delivery is written per
// destination, none when the list is empty.
type FanOut struct {
	EventID      string
	Destinations []string
}

// fanOutChunk is how many rows one statement of FanOutEvents writes or
// marks on SQLite, which binds every value as its own parameter: two a
// delivery, one an event, far below the 32766 parameters a statement may
// have. PostgreSQL binds each column as one array and needs no chunks.
const fanOutChunk = 1000

// FanOutEvents writes the deliveries of a batch of events, one per
// destination and due at at, and marks the events fanned out, in a few
// statements whatever the batch's size: one UPDATE marking them all and
// one multi-row INSERT of the deliveries (on SQLite, one of each per
// fanOutChunk rows). Call it inside the transaction of EventsToFanOut;
// outside one it runs in its own. An event fanned out already, or gone,
// fails the call (ErrNotFound) before any delivery is written: its claim
// was broken, and the caller's transaction must roll back.
func (s *SQLStore) FanOutEvents(ctx context.Context, fan []FanOut, at time.Time) error {
	if len(fan) == 0 {
		return nil
	}
	return s.WithTx(ctx, func(tx Store) error {
		ts := tx.(*SQLStore)
		if err := ts.markFannedOut(ctx, fan, at); err != nil {
			return err
		}
		return ts.writeDeliveries(ctx, fan, at)
	})
}

// markFannedOut marks every event of fan fanned out at at, or fails when
// one of them is not waiting for its fan-out.
func (s *SQLStore) markFannedOut(ctx context.Context, fan []FanOut, at time.Time) error {
	ids := make([]string, len(fan))
	for i, f := range fan {
		ids[i] = f.EventID
	}
	var marked int64
	for len(ids) > 0 {
		var n int64
		var err error
		if s.driver == DriverPostgres {
			n, err = s.execCount(ctx, "fan out events", `UPDATE events SET fanned_out_at = ?
				WHERE id = ANY(?::text[]) AND fanned_out_at IS NULL`, s.t(at), pq.Array(ids))
			ids = nil
		} else {
			chunk := ids[:min(len(ids), fanOutChunk)]
			ids = ids[len(chunk):]
			args := make([]any, 0, 1+len(chunk))
			args = append(args, s.t(at))
			for _, id := range chunk {
				args = append(args, id)
			}
			n, err = s.execCount(ctx, "fan out events", `UPDATE events SET fanned_out_at = ?
				WHERE fanned_out_at IS NULL AND id IN (`+params(len(chunk), "?")+`)`, args...)
		}
		if err != nil {
			return err
		}
		marked += n
	}
	if marked != int64(len(fan)) {
		return fmt.Errorf("fan out events: %d of %d events are fanned out already or gone: %w",
			int64(len(fan))-marked, len(fan), ErrNotFound)
	}
	return nil
}

// writeDeliveries writes the deliveries of fan, due at at.
func (s *SQLStore) writeDeliveries(ctx context.Context, fan []FanOut, at time.Time) error {
	var events, dests []string
	for _, f := range fan {
		for _, d := range f.Destinations {
			events = append(events, f.EventID)
			dests = append(dests, d)
		}
	}
	const insert = `INSERT INTO event_deliveries (event_id, destination, created_at, attempts, next_at) `
	if s.driver == DriverPostgres {
		if len(events) == 0 {
			return nil
		}
		_, err := s.exec(ctx, "fan out events", insert+`SELECT e, d, ?::timestamptz, 0, ?::timestamptz
			FROM unnest(?::text[], ?::text[]) AS v(e, d)`, s.t(at), s.t(at), pq.Array(events), pq.Array(dests))
		return err
	}
	for len(events) > 0 {
		n := min(len(events), fanOutChunk)
		args := make([]any, 0, 2+2*n)
		args = append(args, s.t(at), s.t(at))
		for i := range n {
			args = append(args, events[i], dests[i])
		}
		events, dests = events[n:], dests[n:]
		// The columns of a VALUES list are named column1, column2, … .
		if _, err := s.exec(ctx, "fan out events", insert+`SELECT column1, column2, ?, 0, ?
			FROM (VALUES `+params(n, "(?, ?)")+`)`, args...); err != nil {
			return err
		}
	}
	return nil
}

// ClaimDeliveries claims up to limit deliveries due at now, oldest due
// first: each gets a lease until now+lease (its next_at moves there, so
// it comes due again if its claimer dies) and one more attempt. A
// delivery claimed by another caller whose lease has not ended is never
// returned. It is one statement: on PostgreSQL the rows are picked with
// FOR UPDATE SKIP LOCKED, so concurrent claimers take different rows; on
// SQLite the statement holds the write lock.
func (s *SQLStore) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	pick := `SELECT id FROM event_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL AND next_at <= ?
		ORDER BY next_at, id LIMIT ?`
	if s.driver == DriverPostgres {
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	until := s.t(now.Add(lease))
	q := `UPDATE event_deliveries SET next_at = ?, lease_until = ?, attempts = attempts + 1
		WHERE id IN (` + pick + `) RETURNING ` + deliveryCols
	var rows []deliveryRow
	if err := s.sel(ctx, "claim deliveries", &rows, q, until, until, s.t(now), limit); err != nil {
		return nil, s.writeFailed(err)
	}
	s.wrote()
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// FinishDelivery ends the attempt d.Attempts of delivery d.ID with o. It
// reports false, and changes nothing, when the delivery was claimed again
// since (its lease ran out and another claimer took it over) or ended.
func (s *SQLStore) FinishDelivery(ctx context.Context, d Delivery, o DeliveryOutcome) (bool, error) {
	set, args := "", []any{}
	switch {
	case !o.DeliveredAt.IsZero():
		set, args = `delivered_at = ?`, []any{s.t(o.DeliveredAt)}
	case !o.GaveUpAt.IsZero():
		set, args = `gave_up_at = ?`, []any{s.t(o.GaveUpAt)}
	case !o.RetryAt.IsZero():
		set, args = `next_at = ?`, []any{s.t(o.RetryAt)}
	default:
		return false, fmt.Errorf("finish delivery: no outcome")
	}
	args = append(args, o.LastError, d.ID, d.Attempts)
	res, err := s.exec(ctx, "finish delivery", `UPDATE event_deliveries SET `+set+`, lease_until = NULL, last_error = ?
		WHERE id = ? AND attempts = ? AND delivered_at IS NULL AND gave_up_at IS NULL`, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("finish delivery: %w", mapErr(err))
	}
	return n == 1, nil
}

// ListDeliveries lists the deliveries of one event, by destination.
func (s *SQLStore) ListDeliveries(ctx context.Context, eventID string) ([]Delivery, error) {
	var rows []deliveryRow
	if err := s.sel(ctx, "list deliveries", &rows, `SELECT `+deliveryCols+` FROM event_deliveries
		WHERE event_id = ? ORDER BY destination`, eventID); err != nil {
		return nil, err
	}
	out := make([]Delivery, len(rows))
	for i, r := range rows {
		out[i] = r.delivery()
	}
	return out, nil
}

// OutboxStats counts the events and deliveries on their way and finds
// the oldest.
func (s *SQLStore) OutboxStats(ctx context.Context) (OutboxStats, error) {
	var r struct {
		Unfanned    int64   `db:"unfanned"`
		Undelivered int64   `db:"undelivered"`
		Oldest      *string `db:"oldest"`
	}
	// MIN over a timestamp is read back as text on SQLite (see
	// LeakReportStats), so it is formatted as text on both.
	minTime := `MIN(time)`
	if s.driver == DriverPostgres {
		minTime = `to_char(MIN(time) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`
	}
	q := `SELECT
		(SELECT COUNT(*) FROM events WHERE fanned_out_at IS NULL) AS unfanned,
		(SELECT COUNT(*) FROM event_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL) AS undelivered,
		(SELECT ` + minTime + ` FROM events WHERE fanned_out_at IS NULL OR id IN
			(SELECT event_id FROM event_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL)) AS oldest`
	if err := s.get(ctx, "outbox stats", &r, q); err != nil {
		return OutboxStats{}, err
	}
	st := OutboxStats{Unfanned: r.Unfanned, Undelivered: r.Undelivered}
	if r.Oldest != nil && *r.Oldest != "" {
		t, err := time.Parse(sqliteTime, strings.TrimSuffix(*r.Oldest, "Z"))
		if err != nil {
			return OutboxStats{}, fmt.Errorf("outbox stats: %w", err)
		}
		st.Oldest = t.UTC()
	}
	return st, nil
}

// PurgeOutbox deletes the events fanned out before before whose every
// delivery ended (delivered or given up) before it, with their
// deliveries. It returns the number of events deleted.
func (s *SQLStore) PurgeOutbox(ctx context.Context, before time.Time) (int64, error) {
	b := s.t(before)
	res, err := s.exec(ctx, "purge outbox", `DELETE FROM events WHERE fanned_out_at IS NOT NULL AND fanned_out_at < ?
		AND NOT EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = events.id
			AND ((d.delivered_at IS NULL AND d.gave_up_at IS NULL) OR COALESCE(d.delivered_at, d.gave_up_at) >= ?))`, b, b)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge outbox: %w", mapErr(err))
	}
	return n, nil
}

type webhookRow struct {
	ID         string    `db:"id"`
	OrgID      string    `db:"org_id"`
	URL        string    `db:"url"`
	Secret     []byte    `db:"secret"`
	EventTypes string    `db:"event_types"`
	CreatedAt  time.Time `db:"created_at"`
}

func (r webhookRow) webhook() Webhook {
	return Webhook{ID: r.ID, OrgID: r.OrgID, URL: r.URL, Secret: r.Secret, EventTypes: splitList(r.EventTypes),
		CreatedAt: utc(r.CreatedAt)}
}

const webhookCols = `id, org_id, url, secret, event_types, created_at`

// CreateWebhook stores w, filling in its id and creation time when they
// are empty (ErrInvalidReference when the organization does not exist).
func (s *SQLStore) CreateWebhook(ctx context.Context, w *Webhook) error {
	if w.ID == "" {
		w.ID = newID()
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = s.stamp()
	}
	w.CreatedAt = w.CreatedAt.UTC().Truncate(time.Microsecond)
	_, err := s.exec(ctx, "create webhook", `INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		w.ID, w.OrgID, w.URL, w.Secret, joinList(w.EventTypes), s.t(w.CreatedAt))
	return err
}

// GetWebhook reads one webhook by id, whatever its organization (the
// delivery of an event reads it so).
func (s *SQLStore) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var r webhookRow
	if err := s.get(ctx, "get webhook", &r, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id); err != nil {
		return nil, err
	}
	w := r.webhook()
	return &w, nil
}

// ListWebhooks lists an organization's webhooks, oldest first.
func (s *SQLStore) ListWebhooks(ctx context.Context, orgID string) ([]Webhook, error) {
	var rows []webhookRow
	if err := s.sel(ctx, "list webhooks", &rows, `SELECT `+webhookCols+` FROM webhooks WHERE org_id = ?
		ORDER BY created_at, id`, orgID); err != nil {
		return nil, err
	}
	out := make([]Webhook, len(rows))
	for i, r := range rows {
		out[i] = r.webhook()
	}
	return out, nil
}

// DeleteWebhook removes one of the organization's webhooks (ErrNotFound
// when it has none by that id).
func (s *SQLStore) DeleteWebhook(ctx context.Context, orgID, id string) error {
	return s.execOne(ctx, "delete webhook", `DELETE FROM webhooks WHERE org_id = ? AND id = ?`, orgID, id)
}
