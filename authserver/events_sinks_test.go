package authserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"authserver/authserver"
	"authserver/exchange"
	"authserver/outbox"
	"authserver/outbox/ssf"
	"authserver/storage"
)

// ssfSink is the Shared Signals sink the server built from its
// configuration.
func ssfSink(t *testing.T, e *env) outbox.Sink {
	t.Helper()
	for _, s := range authserver.EventSinks(e.srv) {
		if s.Kind() == "ssf" {
			return s
		}
	}
	t.Fatal("the server built no Shared Signals sink")
	return nil
}

// Changes made through the API become events; the server's Shared Signals
// sink pushes each as a SET that a receiver verifies through the server's
// own JWKS and transmitter configuration, with a JOSE library the server
// does not use.
func TestSharedSignalsFromAPIChangesVerifyThroughTheServersJWKS(t *testing.T) {
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
	e := newEnv(t, envOptions{config: `
events:
  ssf:
    receivers:
      - name: siem
        url: ` + receiver.URL + `/events
        audience: https://siem.example.com
        authorization: Bearer receiver-secret
`})
	sink := ssfSink(t, e)

	carol := e.apiToken("acme", "carol")
	admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
	created := wantStatus(t, e.call("POST", "/api/v1/me/pats", carol, map[string]any{"name": "deploy bot", "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
	patID := created["id"].(string)
	wantStatus(t, e.call("POST", "/api/v1/admin/pats/revoke", admin, map[string]any{"ids": []string{patID}}), http.StatusOK)
	bob := e.user("acme", "bob")
	wantStatus(t, e.call("POST", "/api/v1/admin/users/"+bob.ID+"/deactivate", admin, nil), http.StatusOK)

	events, err := e.store.ListEvents(ctx, e.orgIDs["acme"], time.Time{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]storage.Event{}
	for _, ev := range events {
		dests, err := sink.Destinations(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dests, []string{"siem"}) {
			continue
		}
		if err := sink.Deliver(ctx, "siem", ev); err != nil {
			t.Fatalf("deliver %s: %v", ev.Type, err)
		}
		want[ev.ID] = ev
	}
	if len(want) != 3 {
		t.Fatalf("%d events went to the receiver, want pat.created, pat.revoked and user.deactivated: %v", len(want), events)
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
	if !slices.Equal(kinds, []string{"mail"}) {
		t.Errorf("sinks %v, want only mail", kinds)
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
