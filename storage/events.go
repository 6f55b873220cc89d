package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

type eventRow struct {
	ID     string    `db:"id"`
	Type   string    `db:"type"`
	Time   time.Time `db:"time"`
	OrgID  string    `db:"org_id"`
	UserID string    `db:"user_id"`
	PATID  string    `db:"pat_id"`
	Data   string    `db:"data"`
}

func (r eventRow) event() (Event, error) {
	e := Event{ID: r.ID, Type: r.Type, Time: r.Time.UTC(), OrgID: r.OrgID, UserID: r.UserID, PATID: r.PATID}
	if err := json.Unmarshal([]byte(r.Data), &e.Data); err != nil {
		return Event{}, fmt.Errorf("event %s: data: %w", r.ID, err)
	}
	return e, nil
}

const eventCols = `id, type, time, org_id, user_id, pat_id, data`

// AppendEvent writes e to the outbox, filling in its id and time when
// they are empty. Call it in the transaction of the change e reports.
func (s *SQLStore) AppendEvent(ctx context.Context, e *Event) error {
	data, err := s.fillEvent(e)
	if err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return s.execOne(ctx, "append event",
		`INSERT INTO events (`+eventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, s.t(e.Time), e.OrgID, e.UserID, e.PATID, data)
}

// fillEvent fills in e's id and time when they are empty, as an event is
// written, and returns its data as stored (a JSON object).
func (s *SQLStore) fillEvent(e *Event) (string, error) {
	if e.ID == "" {
		e.ID = newID()
	}
	if e.Time.IsZero() {
		e.Time = s.stamp()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if len(e.Data) == 0 {
		return "{}", nil
	}
	data, err := json.Marshal(e.Data)
	return string(data), err
}

// GetEvent reads one event by id.
func (s *SQLStore) GetEvent(ctx context.Context, id string) (*Event, error) {
	var r eventRow
	if err := s.get(ctx, "get event", &r, `SELECT `+eventCols+` FROM events WHERE id = ?`, id); err != nil {
		return nil, err
	}
	e, err := r.event()
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ListEvents lists the events of an organization written at or after
// since, oldest first, at most limit (0: no limit). Tests and operators
// read the outbox through it.
func (s *SQLStore) ListEvents(ctx context.Context, orgID string, since time.Time, limit int) ([]Event, error) {
	q := `SELECT ` + eventCols + ` FROM events WHERE org_id = ? AND time >= ? ORDER BY time, id`
	args := []any{orgID, s.t(since)}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	var rows []eventRow
	if err := s.sel(ctx, "list events", &rows, q, args...); err != nil {
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
