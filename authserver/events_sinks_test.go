package authserver_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/emersion/go-smtp"
	"github.com/golang-jwt/jwt/v5"

	"authserver/authserver"
	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/outbox/ssf"
	"authserver/storage"
)

// mailbox is a local mail server (no TLS, no AUTH: a relay on this
// machine) that keeps every message it is given.
type mailbox struct {
	port     int
	mu       sync.Mutex
	messages []mailMessage
}

type mailMessage struct {
	to   []string
	data string
}

func (m *mailbox) got() []mailMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.messages)
}

type mailSession struct {
	box *mailbox
	msg mailMessage
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { s.msg = mailMessage{}; return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = string(b)
	s.box.mu.Lock()
	s.box.messages = append(s.box.messages, s.msg)
	s.box.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { s.msg = mailMessage{} }
func (s *mailSession) Logout() error { return nil }

// startMailbox starts a mailbox on 127.0.0.1 (emersion/go-smtp's server).
func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	box := &mailbox{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: box}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	box.port = l.Addr().(*net.TCPAddr).Port
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return box
}

// waitFor polls cond until it holds or 15 seconds pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLifecycleEventsReachEveryDelivery: changes made through the API
// become events in the outbox, and the server's own dispatcher delivers
// each where it is wanted. A Shared Signals receiver gets SETs it verifies
// through the server's transmitter configuration and JWKS with a JOSE
// library the server does not use; the organization's webhook gets signed
// JSON that svix's Standard Webhooks implementation verifies; the owner
// gets an e-mail, through a local SMTP server, for the revocation an admin
// made and for the expiry notice the hygiene job writes.
func TestLifecycleEventsReachEveryDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		var mu sync.Mutex
		var pushed []string
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Content-Type") != "application/secevent+jwt" || r.Header.Get("Authorization") != "Bearer receiver-secret" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			pushed = append(pushed, string(b))
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
		defer receiver.Close()
		box := startMailbox(t)
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true, hygiene: 100 * time.Millisecond, config: `
events:
  ssf:
    receivers:
      - name: siem
        url: ` + receiver.URL + `/events
        audience: https://siem.example.com
        authorization: Bearer receiver-secret
        events: [pat.created, pat.revoked, user.deactivated]
smtp:
  host: 127.0.0.1
  port: ` + strconv.Itoa(box.port) + `
  from: authserver <noreply@acme.example>
  tls: none
`})
		carol := e.apiToken("acme", "carol")
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		hooks := newWebhookReceiver(t)
		hook := wantStatus(t, e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": hooks.srv.URL + "/in",
			"event_types": []string{"pat.revoked", "pat.expiry_notice"}}), http.StatusCreated)
		hooks.setSecret(hook["secret"].(string))
		wantStatus(t, e.call("PUT", "/api/v1/me/email", carol, map[string]any{"email": "carol@acme.example"}), http.StatusOK)

		created := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, map[string]any{"name": "deploy bot", "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
		patID := created["id"].(string)
		wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke", admin, map[string]any{"ids": []string{patID}}), http.StatusOK)
		bob := e.user("acme", "bob")
		wantStatus(t, e.call("POST", "/api/v1/admin/users/"+bob.ID+"/deactivate", admin, nil), http.StatusOK)
		// Two days left: the hygiene job writes the 7-day notice.
		expiring := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, map[string]any{"name": "nightly", "scopes": []string{"OR.Jobs"},
			"expires_at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}), http.StatusCreated)
		expiringID := expiring["id"].(string)

		// Every organization's events of the receiver's types go to it,
		// the fixtures' too.
		want := map[string]storage.Event{}
		for _, org := range e.orgIDs {
			events, err := e.store.ListEvents(ctx, org, time.Time{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range events {
				if slices.Contains([]string{storage.EventPATCreated, storage.EventPATRevoked, storage.EventUserDeactivated}, ev.Type) {
					want[ev.ID] = ev
				}
			}
		}
		waitFor(t, "the SETs", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(pushed) >= len(want)
		})
		waitFor(t, "the webhook deliveries", func() bool {
			hooks.mu.Lock()
			defer hooks.mu.Unlock()
			return len(hooks.events) >= 2
		})
		waitFor(t, "the e-mails", func() bool { return len(box.got()) >= 2 })

		hooks.mu.Lock()
		types := map[string]string{}
		for _, ev := range hooks.events {
			data, _ := ev["data"].(map[string]any)
			pat, _ := data["pat_id"].(string)
			types[ev["type"].(string)] = pat
		}
		hooks.mu.Unlock()
		if types[storage.EventPATRevoked] != patID || types[storage.EventPATExpiryNotice] != expiringID {
			t.Errorf("webhook events %v", types)
		}
		var revokedMail, noticeMail bool
		for _, m := range box.got() {
			if !slices.Equal(m.to, []string{"carol@acme.example"}) {
				t.Errorf("mail to %v", m.to)
			}
			body := strings.ReplaceAll(m.data, "=\r\n", "")
			switch {
			case strings.Contains(body, "deploy bot") && strings.Contains(body, "/console/tokens/"+patID):
				revokedMail = true
			case strings.Contains(body, "nightly") && strings.Contains(body, "/console/tokens/"+expiringID):
				noticeMail = true
			}
		}
		if !revokedMail || !noticeMail {
			t.Errorf("mails: revocation %t, expiry notice %t: %+v", revokedMail, noticeMail, box.got())
		}

		// The receiver's side: the transmitter configuration, then the JWKS.
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		r := e.do(mustRequest(t, "GET", e.url+ssf.MetadataPath))
		if r.StatusCode != http.StatusOK || json.Unmarshal(r.body, &meta) != nil || meta.Issuer != e.url {
			t.Fatalf("transmitter configuration: %d %s", r.StatusCode, r.body)
		}
		kf, err := keyfunc.NewDefaultCtx(t.Context(), []string{meta.JWKSURI})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]string{}
		for _, token := range pushed {
			claims := jwt.MapClaims{}
			parsed, err := jwt.ParseWithClaims(token, claims, kf.Keyfunc, jwt.WithIssuer(e.url),
				jwt.WithAudience("https://siem.example.com"), jwt.WithValidMethods([]string{"ES256"}))
			if err != nil {
				t.Fatalf("the receiver refuses a SET: %v", err)
			}
			if parsed.Header["typ"] != "secevent+jwt" {
				t.Errorf("typ %v", parsed.Header["typ"])
			}
			ev, ok := want[claims["jti"].(string)]
			if !ok {
				t.Fatalf("a SET with an unknown jti %v", claims["jti"])
			}
			sub := claims["sub_id"].(map[string]any)
			if user := sub["user"].(map[string]any); user["iss"] != e.url || user["sub"] != ev.UserID {
				t.Errorf("%s: user subject %v", ev.Type, user)
			}
			for uri, body := range claims["events"].(map[string]any) {
				seen[ev.Type] = uri
				if ev.Type == storage.EventPATRevoked {
					b := body.(map[string]any)
					if b["change_type"] != "revoke" || b["initiating_entity"] != "admin" || b["friendly_name"] != "deploy bot" {
						t.Errorf("revocation event %v", b)
					}
					if c := sub["credential"].(map[string]any); c["id"] != patID {
						t.Errorf("credential subject %v, want the PAT %s", c, patID)
					}
				}
			}
		}
		wantSeen := map[string]string{storage.EventPATCreated: ssf.CredentialChange, storage.EventPATRevoked: ssf.CredentialChange,
			storage.EventUserDeactivated: ssf.AccountDisabled}
		if len(seen) != len(wantSeen) {
			t.Errorf("event types %v, want %v", seen, wantSeen)
		}
		for k, v := range wantSeen {
			if seen[k] != v {
				t.Errorf("%s sent as %q, want %q", k, seen[k], v)
			}
		}
	})
}

// Without a receiver there is no Shared Signals sink and no transmitter
// configuration; the e-mail sink is there and sends nothing without SMTP.
func TestNoSharedSignalsWithoutReceivers(t *testing.T) {
	e := newEnv(t, envOptions{})
	if r := e.do(mustRequest(t, "GET", e.url+ssf.MetadataPath)); r.StatusCode != http.StatusNotFound {
		t.Errorf("transmitter configuration without receivers: %d", r.StatusCode)
	}
	var kinds []string
	for _, s := range authserver.EventSinks(e.srv) {
		kinds = append(kinds, s.Kind())
	}
	if !slices.Equal(kinds, []string{"webhook", "mail"}) {
		t.Errorf("sinks %v, want webhook and mail", kinds)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
