package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	svix "github.com/svix/svix-webhooks/go"

	"authserver/internal/pgtest"
	"authserver/internal/storetest"
	"authserver/outbox"
	"authserver/outbox/webhook"
	"authserver/signing"
	"authserver/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// receiver is a webhook endpoint that checks every request with an
// independent Standard Webhooks implementation (svix's) and counts what
// it got. Its answer is status (200 when 0), or a refusal by the handler
// itself when hold is set (the request waits until released).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	verify *svix.Webhook
	status atomic.Int32
	posts  atomic.Int64

	mu     sync.Mutex
	got    map[string]int // webhook-id → requests
	bodies map[string]webhook.Payload
}

func newReceiver(t *testing.T, secret string) *receiver {
	t.Helper()
	v, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, verify: v, got: map[string]int{}, bodies: map[string]webhook.Payload{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.posts.Add(1)
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("got %s with content type %q", req.Method, req.Header.Get("Content-Type"))
	}
	if err := r.verify.Verify(body, req.Header); err != nil {
		r.t.Errorf("signature does not verify: %v", err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if code := r.status.Load(); code != 0 {
		w.WriteHeader(int(code))
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("body: %v", err)
	}
	id := req.Header.Get("webhook-id")
	if p.ID != id {
		r.t.Errorf("body id %s, webhook-id %s", p.ID, id)
	}
	r.mu.Lock()
	r.got[id]++
	r.bodies[id] = p
	r.mu.Unlock()
}

func (r *receiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

func (r *receiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// fixture is an organization with a sealer for its webhooks' secrets.
type fixture struct {
	dsn    string
	st     *storage.SQLStore
	org    *storage.Organization
	sealer *signing.Sealer
}

func newFixture(t *testing.T, driver string) *fixture {
	t.Helper()
	dsn := storetest.DSN(t, driver)
	st := storetest.OpenAt(t, driver, dsn)
	o := &storage.Organization{Name: "acme", PATsEnabled: true}
	if err := st.CreateOrganization(ctx, o); err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, signing.KEKSize)
	rand.Read(kek)
	sealer, err := signing.NewSealer(kek, "webhook secret")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dsn: dsn, st: st, org: o, sealer: sealer}
}

// hook stores a webhook to url and returns its id and shown secret.
func (f *fixture) hook(t *testing.T, url string, types ...string) (string, string) {
	t.Helper()
	key, shown := webhook.NewSecret()
	w := &storage.Webhook{ID: uuid.NewString(), OrgID: f.org.ID, URL: url, EventTypes: types}
	var err error
	if w.Secret, err = f.sealer.Seal(w.ID, key); err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	return w.ID, shown
}

func (f *fixture) events(t *testing.T, n int, typ string) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		e := &storage.Event{Type: typ, OrgID: f.org.ID, UserID: "u1", PATID: "p1", Data: map[string]string{"name": "ci"}}
		if err := f.st.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		ids[i] = e.ID
	}
	return ids
}

// run starts a dispatcher with a webhook sink on st until the test ends.
// The sink allows private networks: the receivers listen on loopback.
func (f *fixture) run(t *testing.T, st storage.Store, o outbox.Options) *outbox.Dispatcher {
	t.Helper()
	sink, err := webhook.New(webhook.Options{Store: st, Secrets: f.sealer, Timeout: 2 * time.Second, PrivateNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	o.Store, o.Sinks, o.Log = st, []outbox.Sink{sink}, slog.New(slog.DiscardHandler)
	if o.Interval == 0 {
		o.Interval = 10 * time.Millisecond
	}
	o.StatsInterval = 10 * time.Millisecond
	d, err := outbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliverSignedPayload(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		rAll := newReceiver(t, "whsec_AAAA") // replaced below, once the secret is known
		all, allSecret := f.hook(t, rAll.srv.URL)
		rAll.verify, _ = svix.NewWebhook(allSecret)
		rRevoked := newReceiver(t, "whsec_AAAA")
		_, s2 := f.hook(t, rRevoked.srv.URL, storage.EventPATRevoked)
		rRevoked.verify, _ = svix.NewWebhook(s2)
		f.run(t, f.st, outbox.Options{})
		created := f.events(t, 1, storage.EventPATCreated)[0]
		revoked := f.events(t, 1, storage.EventPATRevoked)[0]
		eventually(t, 10*time.Second, "both events at the first webhook, the revocation at the second", func() bool {
			return rAll.count(created) == 1 && rAll.count(revoked) == 1 && rRevoked.count(revoked) == 1
		})
		if rRevoked.count(created) != 0 {
			t.Fatal("the filtered webhook got an event type it does not take")
		}
		rAll.mu.Lock()
		p := rAll.bodies[created]
		rAll.mu.Unlock()
		if p.Type != storage.EventPATCreated || p.Data["name"] != "ci" || p.Data["org_id"] != f.org.ID ||
			p.Data["user_id"] != "u1" || p.Data["pat_id"] != "p1" || p.Timestamp.IsZero() {
			t.Fatalf("payload %+v", p)
		}
		// The receiver counts the request before the dispatcher has
		// recorded its answer: wait for the record.
		var ds []storage.Delivery
		var err error
		eventually(t, 10*time.Second, "the delivery recorded as delivered", func() bool {
			ds, err = f.st.ListDeliveries(ctx, created)
			return err != nil || len(ds) != 1 || ds[0].DeliveredAt != nil
		})
		if err != nil || len(ds) != 1 || ds[0].Destination != "webhook:"+all || ds[0].DeliveredAt == nil || ds[0].Attempts != 1 {
			t.Fatalf("deliveries %+v %v", ds, err)
		}
	})
}

// TestOutboxThreeReplicas: three dispatchers over three handles of one
// database deliver every event once per webhook, with no storm of
// duplicates.
func TestOutboxThreeReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		var rs []*receiver
		for range 2 {
			r := newReceiver(t, "whsec_AAAA")
			_, secret := f.hook(t, r.srv.URL)
			r.verify, _ = svix.NewWebhook(secret)
			rs = append(rs, r)
		}
		for range 3 {
			st := storetest.OpenAt(t, driver, f.dsn)
			f.run(t, st, outbox.Options{Batch: 5})
		}
		const n = 60
		ids := f.events(t, n, storage.EventPATCreated)
		for _, r := range rs {
			eventually(t, 20*time.Second, "every event at every webhook", func() bool { return r.distinct() == n })
		}
		time.Sleep(100 * time.Millisecond) // a late duplicate would arrive meanwhile
		for _, r := range rs {
			for _, id := range ids {
				if c := r.count(id); c != 1 {
					t.Errorf("event %s arrived %d times", id, c)
				}
			}
			if p := r.posts.Load(); p > n+2 {
				t.Errorf("%d POSTs for %d events", p, n)
			}
		}
	})
}

// TestOutboxReceiverDown: a receiver that refuses connections, then
// answers 503, then recovers gets everything, after retries with
// backoff; a receiver that stays down is given up after the retry life,
// and one that answers 410 at once; both are counted.
func TestOutboxReceiverDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		// Reserve an address with nothing listening: connections are refused.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		flaky, secret := f.hook(t, "http://"+addr+"/hook")
		down := newReceiver(t, "whsec_AAAA")
		down.status.Store(http.StatusServiceUnavailable)
		_, s2 := f.hook(t, down.srv.URL)
		down.verify, _ = svix.NewWebhook(s2)
		gone := newReceiver(t, "whsec_AAAA")
		gone.status.Store(http.StatusGone)
		_, s3 := f.hook(t, gone.srv.URL)
		gone.verify, _ = svix.NewWebhook(s3)

		reg := prometheus.NewRegistry()
		m := outbox.NewMetrics(reg)
		f.run(t, f.st, outbox.Options{Timing: outbox.Timing{MinBackoff: 20 * time.Millisecond,
			MaxBackoff: 200 * time.Millisecond, RetryFor: 1500 * time.Millisecond}, Metrics: m})
		ids := f.events(t, 3, storage.EventPATRevoked)
		deliveryTo := func(id, hook string) storage.Delivery {
			ds, err := f.st.ListDeliveries(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.Destination == "webhook:"+hook {
					return d
				}
			}
			return storage.Delivery{} // not fanned out yet
		}
		eventually(t, 10*time.Second, "refused connections retried", func() bool {
			d := deliveryTo(ids[0], flaky)
			return d.Attempts >= 3 && d.LastError == "connection refused"
		})
		// The receiver comes up, failing with 503 for a while.
		r := &receiver{t: t, got: map[string]int{}, bodies: map[string]webhook.Payload{}}
		r.verify, _ = svix.NewWebhook(secret)
		r.status.Store(http.StatusServiceUnavailable)
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r.srv = &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
		r.srv.Start()
		defer r.srv.Close()
		eventually(t, 10*time.Second, "503 answers retried", func() bool {
			return deliveryTo(ids[0], flaky).LastError == "HTTP 503"
		})
		r.status.Store(0)
		// Received is not yet recorded: wait for the outcome too.
		eventually(t, 10*time.Second, "every event after recovery", func() bool {
			return r.distinct() == len(ids) && deliveryTo(ids[0], flaky).DeliveredAt != nil
		})
		d := deliveryTo(ids[0], flaky)
		if d.Attempts < 4 || d.DeliveredAt == nil {
			t.Fatalf("delivered after %d attempts: %+v", d.Attempts, d)
		}
		// Backoff: far fewer attempts than polls in the time it took.
		if polls := int(d.DeliveredAt.Sub(d.CreatedAt) / (10 * time.Millisecond)); d.Attempts*2 > polls {
			t.Errorf("%d attempts in %d polls: no backoff", d.Attempts, polls)
		}

		// 410: given up at the first attempt.
		g := deliveryTo(ids[0], webhookOf(t, f, gone))
		if g.GaveUpAt == nil || g.Attempts != 1 || g.LastError != "HTTP 410" {
			t.Fatalf("410: %+v", g)
		}
		// Always 503: given up once the retry life has passed.
		eventually(t, 10*time.Second, "the dead receiver given up", func() bool {
			for _, id := range ids {
				if deliveryTo(id, webhookOf(t, f, down)).GaveUpAt == nil {
					return false
				}
			}
			return true
		})
		dd := deliveryTo(ids[0], webhookOf(t, f, down))
		if dd.Attempts < 2 || dd.LastError != "HTTP 503" || dd.GaveUpAt.Sub(dd.CreatedAt) > 3*time.Second {
			t.Fatalf("given up: %+v", dd)
		}
		if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("webhook", "gave_up")); got != 6 {
			t.Errorf("gave_up counted %v, want 6", got)
		}
		if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("webhook", "delivered")); got != 3 {
			t.Errorf("delivered counted %v, want 3", got)
		}
		if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("webhook", "retry")); got < 6 {
			t.Errorf("retry counted %v", got)
		}
		eventually(t, 2*time.Second, "the queue empty", func() bool {
			return testutil.ToFloat64(m.Queue.WithLabelValues("delivery")) == 0 && testutil.ToFloat64(m.OldestAge) == 0
		})
	})
}

func webhookOf(t *testing.T, f *fixture, r *receiver) string {
	t.Helper()
	ws, err := f.st.ListWebhooks(ctx, f.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.URL == r.srv.URL {
			return w.ID
		}
	}
	t.Fatal("no webhook for the receiver")
	return ""
}

func TestCheckURL(t *testing.T) {
	for _, ok := range []string{"https://hooks.example/x?y=1", "http://127.0.0.1:8080/h", "http://localhost/h", "http://[::1]:9/h"} {
		if err := webhook.CheckURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "http://hooks.example/x", "ftp://x/y", "https://user:pw@hooks.example/", "/relative",
		"https://hooks.example/#frag", "https:opaque", "https://" + strings.Repeat("a", 3000)} {
		err := webhook.CheckURL(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the URL: %v", err)
		}
	}
}

func TestSecretShape(t *testing.T) {
	key, shown := webhook.NewSecret()
	if len(key) != 32 || !strings.HasPrefix(shown, "whsec_") {
		t.Fatalf("secret %d bytes, shown %q", len(key), shown[:6])
	}
	if _, err := svix.NewWebhook(shown); err != nil {
		t.Fatal(err)
	}
}

// TestDeletedWebhookDropped: deliveries to a webhook deleted after the
// fan-out end at their next attempt, counted as dropped, not given up.
func TestDeletedWebhookDropped(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		r := newReceiver(t, "whsec_AAAA")
		id, secret := f.hook(t, r.srv.URL)
		r.verify, _ = svix.NewWebhook(secret)
		ev := f.events(t, 1, storage.EventPATCreated)[0]
		if err := f.st.WithTx(ctx, func(tx storage.Store) error {
			if _, err := tx.EventsToFanOut(ctx, 10); err != nil {
				return err
			}
			return tx.FanOutEvent(ctx, ev, []string{"webhook:" + id}, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
		if err := f.st.DeleteWebhook(ctx, f.org.ID, id); err != nil {
			t.Fatal(err)
		}
		sink, err := webhook.New(webhook.Options{Store: f.st, Secrets: f.sealer})
		if err != nil {
			t.Fatal(err)
		}
		m := outbox.NewMetrics(prometheus.NewRegistry())
		d, err := outbox.New(outbox.Options{Store: f.st, Sinks: []outbox.Sink{sink}, Metrics: m, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d.Cycle(ctx)
		ds, err := f.st.ListDeliveries(ctx, ev)
		if err != nil || len(ds) != 1 || ds[0].GaveUpAt == nil || ds[0].LastError != "webhook destination removed" {
			t.Fatalf("deliveries %+v %v", ds, err)
		}
		if r.posts.Load() != 0 {
			t.Fatal("a deleted webhook got the event")
		}
		if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("webhook", outbox.ResultDropped)); got != 1 {
			t.Fatalf("dropped counted %v", got)
		}
		if got := testutil.ToFloat64(m.Deliveries.WithLabelValues("webhook", outbox.ResultGaveUp)); got != 0 {
			t.Fatalf("gave_up counted %v", got)
		}
	})
}

// countingStore counts the webhook lists the sink reads.
type countingStore struct {
	webhook.Store
	lists atomic.Int64
}

func (c *countingStore) ListWebhooks(ctx context.Context, orgID string) ([]storage.Webhook, error) {
	c.lists.Add(1)
	return c.Store.ListWebhooks(ctx, orgID)
}

// TestBatchDestinations: a batch's destinations are each event's own,
// read with one list of webhooks per organization, not one per event.
func TestBatchDestinations(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	other := &storage.Organization{Name: "other", PATsEnabled: true}
	if err := f.st.CreateOrganization(ctx, other); err != nil {
		t.Fatal(err)
	}
	all, _ := f.hook(t, "https://all.example/hook")
	revoked, _ := f.hook(t, "https://revoked.example/hook", storage.EventPATRevoked)
	cs := &countingStore{Store: f.st}
	sink, err := webhook.New(webhook.Options{Store: cs, Secrets: f.sealer})
	if err != nil {
		t.Fatal(err)
	}
	es := []storage.Event{
		{ID: "e1", Type: storage.EventPATRevoked, OrgID: f.org.ID},
		{ID: "e2", Type: storage.EventPATCreated, OrgID: f.org.ID},
		{ID: "e3", Type: storage.EventPATRevoked, OrgID: other.ID},
		{ID: "e4", Type: storage.EventPATRevoked, OrgID: f.org.ID},
	}
	got, err := sink.BatchDestinations(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	if n := cs.lists.Load(); n != 2 {
		t.Fatalf("%d webhook lists read for a batch of two organizations", n)
	}
	for i, e := range es {
		one, err := sink.Destinations(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(one, ",") != strings.Join(got[i], ",") {
			t.Fatalf("event %s: batch %v, alone %v", e.ID, got[i], one)
		}
	}
	want := [][]string{{all, revoked}, {all}, nil, {all, revoked}}
	for i := range want {
		if strings.Join(got[i], ",") != strings.Join(want[i], ",") {
			t.Fatalf("event %s: %v, want %v", es[i].ID, got[i], want[i])
		}
	}
}

// TestPrivateAddressesRefusedWhenDialled: by default a delivery connects
// to public addresses only, checked on the address it dials, so a URL
// stored before the rule, or a name that resolves to loopback, reaches
// nothing; the failure is retried (the name may come to resolve
// elsewhere) and never quotes the URL. With private networks allowed the
// same webhooks deliver.
func TestPrivateAddressesRefusedWhenDialled(t *testing.T) {
	f := newFixture(t, storage.DriverSQLite)
	r := newReceiver(t, "whsec_AAAA")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(r.srv.URL, "http://"))
	literal, secret := f.hook(t, r.srv.URL+"/hook")
	r.verify, _ = svix.NewWebhook(secret)
	byName, secret2 := f.hook(t, "http://localhost:"+port+"/hook")
	ev := storage.Event{ID: uuid.NewString(), Type: storage.EventPATCreated, OrgID: f.org.ID}

	public, err := webhook.New(webhook.Options{Store: f.st, Secrets: f.sealer, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{literal, byName} {
		err := public.Deliver(ctx, id, ev)
		if err == nil || err.Error() != "address not allowed (not public)" || outbox.IsPermanent(err) {
			t.Fatalf("delivery to a loopback address: %v (permanent %v)", err, outbox.IsPermanent(err))
		}
	}
	if n := r.posts.Load(); n != 0 {
		t.Fatalf("the receiver on loopback got %d requests", n)
	}

	private, err := webhook.New(webhook.Options{Store: f.st, Secrets: f.sealer, Timeout: 2 * time.Second, PrivateNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := private.Deliver(ctx, literal, ev); err != nil {
		t.Fatal(err)
	}
	r.verify, _ = svix.NewWebhook(secret2)
	if err := private.Deliver(ctx, byName, ev); err != nil {
		t.Fatal(err)
	}
	if n := r.posts.Load(); n != 2 {
		t.Fatalf("the receiver got %d requests, want 2", n)
	}
}

func TestCheckDestination(t *testing.T) {
	for _, public := range []string{"https://hooks.example/in", "https://93.184.215.14/h", "https://[2606:4700::1111]/h",
		"https://internal.example.com/h"} { // a name: checked when dialled
		if err := webhook.CheckDestination(public); err != nil {
			t.Errorf("%s: %v", public, err)
		}
	}
	for _, internal := range []string{"http://127.0.0.1:9/h", "https://127.1.2.3/h", "https://10.0.0.1/h", "https://172.16.5.4/h",
		"https://192.168.1.1/h", "https://169.254.169.254/latest/meta-data/", "https://100.64.1.1/h", "https://0.0.0.0/h",
		"https://[::1]/h", "https://[::]/h", "https://[fe80::1%25eth0]/h", "https://[fd12::1]/h", "https://[::ffff:10.0.0.1]/h",
		"https://224.0.0.1/h", "https://localhost/h", "https://Localhost./h", "https://x.localhost/h"} {
		if err := webhook.CheckDestination(internal); err != webhook.ErrPrivateAddress {
			t.Errorf("%s: %v", internal, err)
		}
	}
}
