package governance_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"authserver/governance"
	"authserver/storage"
)

// clock is a settable clock. It starts at the current time, so that rows
// the store stamps itself and rows governance stamps agree, at the
// store's microsecond precision.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Microsecond)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eventLog records the lifecycle events governance reports for metrics.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) PATEvent(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns the events recorded since the last take.
func (l *eventLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// member adds a user to org and returns it with its actor.
func (f *fixture) member(t *testing.T, org *storage.Organization, u storage.User) (*storage.User, governance.Actor) {
	t.Helper()
	u.OrgID = org.ID
	if err := f.st.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	return &u, governance.Actor{Kind: governance.ActorUser, UserID: u.ID, OrgID: org.ID, Admin: u.Admin}
}

// setOrg changes an organization's settings behind governance's back, as
// an earlier policy would have left them.
func (f *fixture) setOrg(t *testing.T, org *storage.Organization, enabled bool, max time.Duration) {
	t.Helper()
	o, err := f.st.GetOrganization(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	o.PATsEnabled, o.PATMaxLifetime = enabled, max
	if err := f.st.UpdateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
}

// pat reads a PAT as stored.
func (f *fixture) pat(t *testing.T, orgID, id string) *storage.PAT {
	t.Helper()
	p, err := f.st.GetPAT(ctx, orgID, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// audit lists an organization's audit actions, oldest first.
func (f *fixture) audit(t *testing.T, orgID string) []storage.AuditEvent {
	t.Helper()
	list, err := f.st.ListAudit(ctx, storage.AuditFilter{OrgID: orgID})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(list)
	return list
}

// actions are the actions of events.
func actions(events []storage.AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

// wantRefusal checks a refusal's kind and, when code is set, its code.
func wantRefusal(t *testing.T, err error, kind governance.Kind, code string) {
	t.Helper()
	var ge *governance.Error
	if !errors.As(err, &ge) || ge.Kind != kind || (code != "" && ge.Code != code) {
		t.Fatalf("got %#v (%v), want kind %d code %q", ge, err, kind, code)
	}
}

func ptr[T any](v T) *T { return &v }
