package governance_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/storage"
)

// newAddressRecords are an organization's pat.new_address audit events
// and events written since a time.
func newAddressRecords(t *testing.T, f *fixture, orgID string, since time.Time) ([]storage.AuditEvent, []storage.Event) {
	t.Helper()
	var audits []storage.AuditEvent
	for _, e := range f.audit(t, orgID) {
		if e.Action == "pat.new_address" && !e.Time.Before(since) {
			audits = append(audits, e)
		}
	}
	var events []storage.Event
	for _, e := range eventsSince(t, f, orgID, since) {
		if e.Type == storage.EventPATNewAddress {
			events = append(events, e)
		}
	}
	return audits, events
}

// TestRecordNewNetworks: a batch records each new network once, with the
// same audit event and event as one recorded alone; a network already
// present records nothing; two networks of one PAT land in order; an
// unknown PAT, a PAT named with another organization, an implausible id
// and a network that is not canonical are skipped without failing the
// batch.
func TestRecordNewNetworks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		f.clock.Advance(time.Second)
		start := f.clock.Now()
		client := governance.ClientActor("cli", "192.0.2.9")
		acme, eve := f.acmePAT.ID, f.evePAT.ID

		// The single path first, for the content to compare with.
		if ok, err := f.gov.RecordNewNetwork(ctx, client, f.acme.ID, acme, "203.0.113.0/24"); err != nil || !ok {
			t.Fatalf("single record: %v %v", ok, err)
		}
		singleAudits, singleEvents := newAddressRecords(t, f, f.acme.ID, start)
		if len(singleAudits) != 1 || len(singleEvents) != 1 {
			t.Fatalf("single record: %d audit events, %d events", len(singleAudits), len(singleEvents))
		}
		f.clock.Advance(time.Second)
		batchStart := f.clock.Now()

		uses := []governance.NetworkUse{
			{Actor: client, OrgID: f.acme.ID, PATID: acme, Network: "192.0.2.0/24"},
			{Actor: client, OrgID: f.globex.ID, PATID: eve, Network: "2001:db8:0:1::/64"},
			{Actor: client, OrgID: f.acme.ID, PATID: acme, Network: "198.51.100.0/24"},
			{Actor: client, OrgID: f.acme.ID, PATID: acme, Network: "203.0.113.0/24"},          // already present
			{Actor: client, OrgID: f.acme.ID, PATID: acme, Network: "192.0.2.0/24"},            // present by now
			{Actor: client, OrgID: f.acme.ID, PATID: eve, Network: "198.51.100.0/24"},          // another organization's PAT
			{Actor: client, OrgID: f.acme.ID, PATID: storage.NewID(), Network: "192.0.2.0/24"}, // no such PAT
			{Actor: client, OrgID: f.acme.ID, PATID: "a\x00b", Network: "192.0.2.0/24"},        // implausible id
			{Actor: client, OrgID: f.acme.ID, PATID: acme, Network: "192.0.2.7/24"},            // not canonical
			{Actor: client, OrgID: f.acme.ID, PATID: acme, Network: "not a network"},
		}
		n, err := f.gov.RecordNewNetworks(ctx, uses)
		if err != nil || n != 3 {
			t.Fatalf("batch: recorded %d (%v), want 3", n, err)
		}
		if got, want := f.pat(t, f.acme.ID, acme).RecentNetworks, []string{"198.51.100.0/24", "192.0.2.0/24", "203.0.113.0/24"}; !slices.Equal(got, want) {
			t.Errorf("acme PAT's networks %v, want %v (in the batch's order, after the single one)", got, want)
		}
		if got, want := f.pat(t, f.globex.ID, eve).RecentNetworks, []string{"2001:db8:0:1::/64"}; !slices.Equal(got, want) {
			t.Errorf("globex PAT's networks %v, want %v", got, want)
		}

		audits, events := newAddressRecords(t, f, f.acme.ID, batchStart)
		if len(audits) != 2 || len(events) != 2 {
			t.Fatalf("acme: %d audit events, %d events, want 2 each", len(audits), len(events))
		}
		for i, network := range []string{"192.0.2.0/24", "198.51.100.0/24"} {
			// As the single path wrote them, but for the network.
			a, want := audits[i], singleAudits[0]
			a.ID, a.Time, want.ID, want.Time = 0, time.Time{}, 0, time.Time{}
			want.Detail = "network " + network
			if a != want {
				t.Errorf("audit event %d: %+v, want %+v", i, a, want)
			}
			if a.ClientAddr != "" || a.Actor != "client:cli" || a.Target != acme || a.Outcome != "success" {
				t.Errorf("audit event %d: %+v", i, a)
			}
			e, we := events[i], singleEvents[0]
			wantData := maps.Clone(we.Data)
			wantData["network"] = network
			if e.Type != we.Type || e.OrgID != we.OrgID || e.UserID != we.UserID || e.PATID != we.PATID ||
				!maps.Equal(e.Data, wantData) || !e.Time.Equal(batchStart) || e.ID == we.ID {
				t.Errorf("event %d: %+v, want %+v with data %v", i, e, we, wantData)
			}
		}
		audits, events = newAddressRecords(t, f, f.globex.ID, batchStart)
		if len(audits) != 1 || len(events) != 1 || audits[0].Detail != "network 2001:db8:0:1::/64" ||
			events[0].UserID != f.eve.ID || events[0].Data["name"] != "e" {
			t.Errorf("globex: audit events %+v, events %+v", audits, events)
		}

		// The same batch again records nothing.
		if n, err := f.gov.RecordNewNetworks(ctx, uses); err != nil || n != 0 {
			t.Fatalf("the batch again: recorded %d (%v), want 0", n, err)
		}
		if n, err := f.gov.RecordNewNetworks(ctx, nil); err != nil || n != 0 {
			t.Fatalf("an empty batch: %d %v", n, err)
		}
	})
}

// TestRecordNewNetworksRacing: replicas writing batches of the same new
// networks of the same PATs at the same time record each network exactly
// once, and every PAT ends with all of them.
func TestRecordNewNetworksRacing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		f.clock.Advance(time.Second)
		start := f.clock.Now()
		client := governance.ClientActor("cli", "")
		var ids []string
		for i := range 30 {
			p := &storage.PAT{OrgID: f.acme.ID, UserID: f.alice.ID, Name: fmt.Sprintf("race-%d", i),
				Scopes: []string{"OR.Jobs"}, Hash: []byte(fmt.Sprintf("race-hash-%02d-%s", i, driver)), Hint: "h"}
			if err := f.st.CreatePAT(ctx, p); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.ID)
		}
		networks := []string{"192.0.2.0/24", "2001:db8:0:7::/64", "198.51.100.0/24"}
		batch := func(reverse bool) []governance.NetworkUse {
			var out []governance.NetworkUse
			for _, id := range ids {
				for _, n := range networks {
					out = append(out, governance.NetworkUse{Actor: client, OrgID: f.acme.ID, PATID: id, Network: n})
				}
			}
			if reverse {
				// Another order of the PATs (each PAT's networks still in order).
				slices.Reverse(out)
				for i := 0; i < len(out); i += len(networks) {
					slices.Reverse(out[i : i+len(networks)])
				}
			}
			return out
		}
		govs := f.replicas(t, 4)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for i, g := range govs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := g.RecordNewNetworks(ctx, batch(i%2 == 1))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		want := len(ids) * len(networks)
		if total != want {
			t.Errorf("the replicas recorded %d, want %d", total, want)
		}
		audits, events := newAddressRecords(t, f, f.acme.ID, start)
		if len(audits) != want || len(events) != want {
			t.Errorf("%d audit events and %d events, want %d each", len(audits), len(events), want)
		}
		seen := map[string]int{}
		for _, e := range events {
			seen[e.PATID+" "+e.Data["network"]]++
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("%s recorded %d times", k, c)
			}
		}
		wantList := []string{networks[2], networks[1], networks[0]}
		for _, id := range ids {
			if got := f.pat(t, f.acme.ID, id).RecentNetworks; !slices.Equal(got, wantList) {
				t.Errorf("PAT %s: networks %v, want %v", id, got, wantList)
			}
		}
	})
}

// countingStore counts the transactions governance runs and the store
// calls made in them that read or write PATs, audit events or events.
type countingStore struct {
	governance.Store
	mu      sync.Mutex
	updates int
	calls   []string
}

func (c *countingStore) Update(ctx context.Context, fn func(tx governance.Tx) error) error {
	c.mu.Lock()
	c.updates++
	c.mu.Unlock()
	return c.Store.Update(ctx, func(tx governance.Tx) error { return fn(countingTx{tx, c}) })
}

func (c *countingStore) call(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
}

type countingTx struct {
	governance.Tx
	c *countingStore
}

func (t countingTx) GetPAT(ctx context.Context, orgID, id string) (*storage.PAT, error) {
	t.c.call("GetPAT")
	return t.Tx.GetPAT(ctx, orgID, id)
}

func (t countingTx) SetPATRecentNetworks(ctx context.Context, orgID, id string, old, next []string) (bool, error) {
	t.c.call("SetPATRecentNetworks")
	return t.Tx.SetPATRecentNetworks(ctx, orgID, id, old, next)
}

func (t countingTx) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	t.c.call("AppendAudit")
	return t.Tx.AppendAudit(ctx, e)
}

func (t countingTx) AppendEvent(ctx context.Context, e *storage.Event) error {
	t.c.call("AppendEvent")
	return t.Tx.AppendEvent(ctx, e)
}

func (t countingTx) GetPATsByID(ctx context.Context, ids []string) (map[string]*storage.PAT, error) {
	t.c.call("GetPATsByID")
	return t.Tx.GetPATsByID(ctx, ids)
}

func (t countingTx) SetPATsRecentNetworks(ctx context.Context, changes []storage.RecentNetworksChange) (int, error) {
	t.c.call("SetPATsRecentNetworks")
	return t.Tx.SetPATsRecentNetworks(ctx, changes)
}

func (t countingTx) AppendAudits(ctx context.Context, events []*storage.AuditEvent) error {
	t.c.call("AppendAudits")
	return t.Tx.AppendAudits(ctx, events)
}

func (t countingTx) AppendEvents(ctx context.Context, events []*storage.Event) error {
	t.c.call("AppendEvents")
	return t.Tx.AppendEvents(ctx, events)
}

// TestRecordNewNetworksCostPerBatch: 600 new networks of 300 PATs take two
// transactions (batches of 500) of four store calls each — on PostgreSQL
// one statement each — and a batch whose networks are all known one call.
func TestRecordNewNetworksCostPerBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		var uses []governance.NetworkUse
		for i := range 300 {
			p := &storage.PAT{OrgID: f.acme.ID, UserID: f.alice.ID, Name: fmt.Sprintf("cost-%d", i),
				Scopes: []string{"OR.Jobs"}, Hash: []byte(fmt.Sprintf("cost-hash-%03d", i)), Hint: "h"}
			if err := f.st.CreatePAT(ctx, p); err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"192.0.2.0/24", "198.51.100.0/24"} {
				uses = append(uses, governance.NetworkUse{Actor: governance.ClientActor("cli", ""), OrgID: f.acme.ID, PATID: p.ID, Network: n})
			}
		}
		cs := &countingStore{Store: storage.Narrow[governance.Tx](f.st)}
		gov := governance.New(governance.Options{Store: cs, Now: f.clock.Now, PATPrefix: "pat_"})
		n, err := gov.RecordNewNetworks(ctx, uses)
		if err != nil || n != len(uses) {
			t.Fatalf("recorded %d of %d: %v", n, len(uses), err)
		}
		one := []string{"GetPATsByID", "SetPATsRecentNetworks", "AppendAudits", "AppendEvents"}
		if want := slices.Concat(one, one); cs.updates != 2 || !slices.Equal(cs.calls, want) {
			t.Errorf("%d transactions, calls %v; want 2, %v", cs.updates, cs.calls, want)
		}
		cs.updates, cs.calls = 0, nil
		if n, err := gov.RecordNewNetworks(ctx, uses[:400]); err != nil || n != 0 {
			t.Fatalf("known networks: recorded %d (%v)", n, err)
		}
		if cs.updates != 1 || !slices.Equal(cs.calls, []string{"GetPATsByID"}) {
			t.Errorf("known networks: %d transactions, calls %v; want 1, a read", cs.updates, cs.calls)
		}
	})
}
