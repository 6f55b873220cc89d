package authserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// webhookReceiver records the events POSTed to it, each checked with
// svix's Standard Webhooks implementation (not the code that signs).
type webhookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	verify *svix.Webhook
	events []map[string]any
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	r := &webhookReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.verify == nil || r.verify.Verify(body, req.Header) != nil {
			t.Errorf("a request that does not verify: %s", body)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil || m["id"] != req.Header.Get("webhook-id") {
			t.Errorf("body %s", body)
		}
		r.events = append(r.events, m)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) setSecret(secret string) {
	v, err := svix.NewWebhook(secret)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.verify = v
	r.mu.Unlock()
}

// TestWebhooksAPI: an admin adds a webhook through the API and gets its
// secret once; the organization's lifecycle events then arrive signed;
// the list never shows the secret; refusals are problems that never echo
// the URL; another organization's webhook is not found.
func TestWebhooksAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		// The outbox polls once an hour here: the event leaves at once
		// because the revocation's commit nudges it.
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true, deliveryInterval: time.Hour})
		admin := e.apiToken("acme", "alice", exchange.ScopeAdmin, exchange.ScopePATs)
		rcv := newWebhookReceiver(t)
		r := e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": rcv.srv.URL + "/in", "event_types": []string{"pat.revoked"}})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("create: %d %s", r.StatusCode, r.body)
		}
		created := r.json(t)
		secret, _ := created["secret"].(string)
		hookID, _ := created["id"].(string)
		if !strings.HasPrefix(secret, "whsec_") || hookID == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("created %v", created)
		}
		rcv.setSecret(secret)

		list := e.call("GET", "/api/v1/admin/webhooks", admin, nil)
		if list.StatusCode != http.StatusOK || strings.Contains(string(list.body), "whsec_") || strings.Contains(string(list.body), secret[6:]) ||
			!strings.Contains(string(list.body), hookID) {
			t.Fatalf("list: %d %s", list.StatusCode, list.body)
		}
		// Events: bob's PAT is created (not sent: filtered out) and revoked (sent).
		_, rec := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
		if r := e.call("POST", "/api/v1/admin/pats/revoke", admin, map[string]any{"ids": []string{rec.ID}}); r.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.StatusCode, r.body)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			rcv.mu.Lock()
			n := len(rcv.events)
			rcv.mu.Unlock()
			if n >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the revocation never arrived")
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // anything else would arrive meanwhile
		rcv.mu.Lock()
		if len(rcv.events) != 1 {
			t.Fatalf("received %v", rcv.events)
		}
		ev := rcv.events[0]
		data, _ := ev["data"].(map[string]any)
		if ev["type"] != "pat.revoked" || data["pat_id"] != rec.ID || data["reason"] != "admin" || data["org_id"] != e.orgIDs["acme"] {
			t.Fatalf("event %v", ev)
		}
		rcv.mu.Unlock()
		m := samples(e.metricsText())
		if got := m[series("authserver_outbox_deliveries_total", "sink", "webhook", "result", "delivered")]; got != 1 {
			t.Errorf("delivered counted %v", got)
		}
		if _, ok := m[series("authserver_outbox_queue_depth", "stage", "delivery")]; !ok {
			t.Error("no queue depth")
		}

		// Refusals.
		const bad = "http://hooks.example/secret-path"
		r = e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": bad})
		if r.StatusCode != http.StatusBadRequest || strings.Contains(string(r.body), "hooks.example") {
			t.Fatalf("bad URL: %d %s", r.StatusCode, r.body)
		}
		self := e.apiToken("acme", "bob", exchange.ScopePATs)
		if r := e.call("POST", "/api/v1/admin/webhooks", self, map[string]any{"url": "https://h.example"}); r.StatusCode != http.StatusForbidden {
			t.Fatalf("not admin: %d", r.StatusCode)
		}
		eve := e.apiToken("globex", "eve", exchange.ScopeAdmin)
		if r := e.call("DELETE", "/api/v1/admin/webhooks/"+hookID, eve, nil); r.StatusCode != http.StatusNotFound {
			t.Fatalf("another organization's webhook: %d", r.StatusCode)
		}
		if r := e.call("GET", "/api/v1/admin/webhooks", eve, nil); r.StatusCode != http.StatusOK || strings.Contains(string(r.body), hookID) {
			t.Fatalf("another organization's list: %d %s", r.StatusCode, r.body)
		}
		if r := e.call("DELETE", "/api/v1/admin/webhooks/"+hookID, admin, nil); r.StatusCode != http.StatusNoContent {
			t.Fatalf("delete: %d", r.StatusCode)
		}
		// The secret is in no log line.
		if strings.Contains(e.logs.String(), secret[6:]) {
			t.Fatal("the webhook secret was logged")
		}
	})
}

// TestWebhooksPublicOnlyByDefault: with the server's default, a webhook
// to the loopback host (where this test's receiver is) is refused when
// it is added, as a problem that names the rule and not the address.
func TestWebhooksPublicOnlyByDefault(t *testing.T) {
	e := newEnv(t, envOptions{noRateLimits: true, publicWebhooksOnly: true})
	admin := e.apiToken("acme", "alice", exchange.ScopeAdmin)
	rcv := newWebhookReceiver(t)
	for _, u := range []string{rcv.srv.URL + "/in", "https://169.254.169.254/latest/meta-data/", "https://localhost:8443/in"} {
		r := e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": u})
		body := string(r.body)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "webhook-url-not-public") ||
			strings.Contains(body, "127.0.0.1") || strings.Contains(body, "169.254") || strings.Contains(body, "localhost") {
			t.Fatalf("%s: %d %s", u, r.StatusCode, body)
		}
	}
	if r := e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": "https://hooks.example/in"}); r.StatusCode != http.StatusCreated {
		t.Fatalf("a public receiver: %d %s", r.StatusCode, r.body)
	}
}
