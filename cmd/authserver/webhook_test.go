package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"authserver/config"
	"authserver/internal/pgtest"
	"authserver/storage"
)

// TestOrgWebhookCommands: add prints the secret once (stdout) and the
// rest on stderr; list never shows a secret; remove removes; refusals
// are one line that does not repeat the value.
func TestOrgWebhookCommands(t *testing.T) {
	path := roleSetup(t)
	code, secret, stderr := cli(t, nil, "", "org", "webhook", "add", "--config", path, "--org", "acme",
		"--url", "https://hooks.example/in", "--event-type", "pat.revoked", "--event-type", "user.deactivated")
	if code != 0 || !strings.HasPrefix(secret, "whsec_") || strings.Count(secret, "\n") != 1 ||
		!strings.Contains(stderr, "shown only this once") || strings.Contains(stderr, "whsec_") {
		t.Fatalf("add: exit %d stdout %q stderr %q", code, secret, stderr)
	}
	if _, err := svix.NewWebhook(strings.TrimSpace(secret)); err != nil {
		t.Fatalf("the secret is not a Standard Webhooks secret: %v", err)
	}
	out := ok(t, path, "org", "webhook", "list", "--org", "acme")
	rows := tableRows(t, out)
	if len(rows) != 1 || rows[0][1] != "https://hooks.example/in" || rows[0][2] != "pat.revoked" || strings.Contains(out, "whsec_") ||
		strings.Contains(out, strings.TrimSpace(secret)[6:]) {
		t.Fatalf("list: %q", out)
	}
	id := rows[0][0]
	// Another organization does not see it, nor remove it.
	if code, out, stderr := cli(t, nil, "", "org", "webhook", "list", "--config", path, "--org", "other"); code != 0 || out != "" ||
		!strings.Contains(stderr, "no webhooks") {
		t.Fatalf("other's list: %d %q %q", code, out, stderr)
	}
	code, out, stderr = cli(t, nil, "", "org", "webhook", "remove", "--config", path, "--org", "other", "--id", id)
	oneErrorLine(t, "remove another organization's", code, out, stderr)
	for _, bad := range []string{"http://hooks.example/in", "https://user:hunter2@hooks.example/",
		"https://10.20.30.40/in", "https://169.254.169.254/latest"} { // the last two: not public
		code, out, stderr := cli(t, nil, "", "org", "webhook", "add", "--config", path, "--org", "acme", "--url", bad)
		oneErrorLine(t, "bad URL", code, out, stderr)
		if !strings.Contains(stderr, "--url: ") || strings.Contains(stderr, "hooks.example") || strings.Contains(stderr, "hunter2") ||
			strings.Contains(stderr, "10.20.30.40") || strings.Contains(stderr, "169.254") {
			t.Errorf("refusal %q", stderr)
		}
	}
	// A loopback receiver, with private networks allowed as the server
	// would be configured for it.
	code, _, stderr = cli(t, config.MapEnv{"AUTHSERVER_EVENTS_WEBHOOKS_PRIVATE_NETWORKS": "true"}, "", "org", "webhook", "add",
		"--config", path, "--org", "acme", "--url", "http://127.0.0.1:9/in")
	if code != 0 {
		t.Fatalf("with private networks allowed: exit %d %q", code, stderr)
	}
	code, out, stderr = cli(t, nil, "", "org", "webhook", "add", "--config", path, "--org", "acme", "--url", "http://127.0.0.1:9/in")
	oneErrorLine(t, "loopback receiver by default", code, out, stderr)
	if !strings.Contains(stderr, "non-public address") || strings.Contains(stderr, ":9/in") {
		t.Errorf("refusal %q", stderr)
	}
	code, out, stderr = cli(t, nil, "", "org", "webhook", "add", "--config", path, "--org", "acme", "--url", "https://h.example",
		"--event-type", "Not A Type")
	oneErrorLine(t, "bad event type", code, out, stderr)
	if !strings.Contains(stderr, "--event-type: ") || strings.Contains(stderr, "Not A Type") {
		t.Errorf("refusal %q", stderr)
	}
	if out := ok(t, path, "org", "webhook", "remove", "--org", "acme", "--id", id); !strings.Contains(out, "removed webhook "+id) {
		t.Fatalf("remove: %q", out)
	}
	code, out, stderr = cli(t, nil, "", "org", "webhook", "remove", "--config", path, "--org", "acme", "--id", id)
	oneErrorLine(t, "remove twice", code, out, stderr)
}

// holdingReceiver is a webhook endpoint verified with svix's Standard
// Webhooks implementation. While holding, it keeps every request
// waiting (the sender is killed meanwhile); otherwise it answers 200.
type holdingReceiver struct {
	t      *testing.T
	verify *svix.Webhook

	mu      sync.Mutex
	holding bool
	held    int
	release chan struct{}
	got     map[string]int // webhook-id → requests answered 200
}

func (r *holdingReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	v := r.verify
	r.mu.Unlock()
	if err := v.Verify(body, req.Header); err != nil {
		r.t.Errorf("signature does not verify: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var p struct {
		ID, Type string
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ID != req.Header.Get("webhook-id") {
		r.t.Errorf("body %s does not carry its webhook-id", body)
	}
	r.mu.Lock()
	if r.holding {
		r.held++
		r.mu.Unlock()
		select {
		case <-r.release:
		case <-req.Context().Done():
		}
		return // the sender is gone: the answer goes nowhere
	}
	r.got[p.ID]++
	r.mu.Unlock()
}

// TestOutboxKilledDuringDelivery: a server killed (SIGKILL) while its
// deliveries are in flight leaves their leases; restarted, it delivers
// every event once the leases end. A receiver may see an event twice,
// always with the same webhook-id.
func TestOutboxKilledDuringDelivery(t *testing.T) {
	t.Parallel() // its own processes, database and ports; it mostly waits on them
	bin := buildBinary(t)
	for _, driver := range []string{storage.DriverSQLite, storage.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "a.db")
			if driver == storage.DriverPostgres {
				dsn = pgtest.NewDatabase(t)
			}
			path := writeConfig(t, fmt.Sprintf(`
database: {driver: %s, dsn: %q}
keys: {encryption_key: %q}
events:
  delivery: {interval: 50ms, lease: 2s, min_backoff: 100ms, max_backoff: 500ms}
  webhooks: {private_networks: true} # the receiver is on loopback
bootstrap:
  organizations:
    - name: acme
      users: [{username: alice}]
`, driver, dsn, randomKEK(t)))
			if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
				t.Fatalf("migrate: %s", stderr)
			}
			applyBootstrap(t, path)
			rcv := &holdingReceiver{t: t, holding: true, release: make(chan struct{}), got: map[string]int{}}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			defer close(rcv.release)
			secret := strings.TrimSpace(ok(t, path, "org", "webhook", "add", "--org", "acme", "--url", srv.URL+"/hook"))
			v, err := svix.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			rcv.verify = v

			// The events, written as governance writes them.
			ctx := context.Background()
			st, err := storage.Open(ctx, storage.Options{Driver: driver, DSN: dsn})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			o, err := st.GetOrganizationByName(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			const n = 5
			var ids []string
			for range n {
				e := &storage.Event{Type: storage.EventPATRevoked, OrgID: o.ID, Data: map[string]string{"reason": "admin"}}
				if err := st.AppendEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, e.ID)
			}

			first := startReplica(t, bin, path, "first", freeAddr(t), freeAddr(t))
			deadline := time.Now().Add(20 * time.Second)
			for {
				rcv.mu.Lock()
				held := rcv.held
				rcv.mu.Unlock()
				if held == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d deliveries arrived before the kill\n%s", held, n, first.log)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-first.done
			// Every delivery is leased to the dead process.
			for _, id := range ids {
				ds, err := st.ListDeliveries(ctx, id)
				if err != nil || len(ds) != 1 || ds[0].DeliveredAt != nil || ds[0].LeaseUntil == nil || ds[0].Attempts != 1 {
					t.Fatalf("after the kill: %+v %v", ds, err)
				}
			}
			rcv.mu.Lock()
			rcv.holding = false
			rcv.mu.Unlock()

			second := startReplica(t, bin, path, "second", freeAddr(t), freeAddr(t))
			defer second.stop(t)
			deadline = time.Now().Add(30 * time.Second)
			for {
				rcv.mu.Lock()
				done := len(rcv.got) == n
				rcv.mu.Unlock()
				if done {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not every event arrived after the restart\n%s", second.log)
				}
				time.Sleep(20 * time.Millisecond)
			}
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			for _, id := range ids {
				if rcv.got[id] != 1 {
					t.Errorf("event %s answered %d times after the restart", id, rcv.got[id])
				}
			}
			// Recorded as delivered, on the second attempt.
			for _, id := range ids {
				deadline := time.Now().Add(5 * time.Second)
				for {
					ds, err := st.ListDeliveries(ctx, id)
					if err == nil && len(ds) == 1 && ds[0].DeliveredAt != nil {
						if ds[0].Attempts != 2 {
							t.Errorf("delivered after %d attempts", ds[0].Attempts)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("not recorded as delivered: %+v %v", ds, err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}
