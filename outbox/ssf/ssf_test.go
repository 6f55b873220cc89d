package ssf_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"authserver/authserver/discovery"
	"authserver/config"
	"authserver/internal/storetest"
	"authserver/outbox"
	"authserver/outbox/ssf"
	"authserver/signing"
	"authserver/storage"
)

// transmitter is this server as a Shared Signals receiver meets it: an
// issuer URL that serves the transmitter configuration and the real JWKS
// endpoint, backed by a real keyring.
type transmitter struct {
	issuer string
	keys   *signing.Keyring
}

func newTransmitter(t *testing.T, alg string) *transmitter {
	t.Helper()
	st := storetest.Open(t, "sqlite")
	kek := make([]byte, 32)
	rand.Read(kek)
	keys, err := signing.New(context.Background(), storage.Narrow[signing.KeyTx](st), signing.Options{
		Algorithm: alg, RotationPeriod: 30 * 24 * time.Hour, PublishAhead: time.Hour, MaxTokenTTL: 5 * time.Minute, KEK: kek,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	tr := &transmitter{issuer: "http://" + ts.Listener.Addr().String(), keys: keys}
	mux := http.NewServeMux()
	(&discovery.JWKS{Keys: keys}).Mount(mux)
	(&ssf.Metadata{Issuer: tr.issuer}).Mount(mux)
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	return tr
}

// receiverKeys is what an independent receiver does: read the transmitter
// configuration at the issuer, then verify SETs with keys from its
// jwks_uri, with a JOSE library the server itself does not use.
func (tr *transmitter) receiverKeys(t *testing.T) keyfunc.Keyfunc {
	t.Helper()
	resp, err := http.Get(tr.issuer + ssf.MetadataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var meta struct {
		SpecVersion     string   `json:"spec_version"`
		Issuer          string   `json:"issuer"`
		JWKSURI         string   `json:"jwks_uri"`
		DeliveryMethods []string `json:"delivery_methods_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("transmitter configuration Content-Type %q", ct)
	}
	if meta.Issuer != tr.issuer || meta.SpecVersion != "1_0" || !slices.Equal(meta.DeliveryMethods, []string{"urn:ietf:rfc:8935"}) {
		t.Errorf("transmitter configuration: %+v", meta)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{meta.JWKSURI})
	if err != nil {
		t.Fatal(err)
	}
	return kf
}

// verify parses a SET as a receiver would and returns its claims.
func verify(t *testing.T, kf keyfunc.Keyfunc, token, issuer, audience string) jwt.MapClaims {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(token, claims, kf.Keyfunc,
		jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("the receiver refuses the SET: %v", err)
	}
	if typ := parsed.Header["typ"]; typ != "secevent+jwt" {
		t.Errorf("typ %v, want secevent+jwt", typ)
	}
	return claims
}

const (
	orgID  = "0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d41"
	userID = "0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d3f"
	patID  = "0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d42"
)

func patEvent(typ string, data map[string]string) storage.Event {
	return storage.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ,
		Time: time.Unix(1893456000, 0), OrgID: orgID, UserID: userID, PATID: patID, Data: data}
}

func userEvent(typ string) storage.Event {
	return storage.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: typ, Time: time.Unix(1893456000, 0),
		OrgID: orgID, UserID: userID, Data: map[string]string{"username": "alice"}}
}

// roundTrip re-encodes v so it compares with decoded JSON.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEachMappedEventIsASignedSETPerSpec(t *testing.T) {
	ts := float64(1893456000)
	credential := func(change string, extra map[string]any) map[string]any {
		b := map[string]any{"credential_type": "app", "change_type": change, "friendly_name": "deploy bot", "event_timestamp": ts}
		for k, v := range extra {
			b[k] = v
		}
		return map[string]any{ssf.CredentialChange: b}
	}
	tests := []struct {
		name       string
		e          storage.Event
		events     map[string]any
		credential bool
	}{
		{"pat.created", patEvent(storage.EventPATCreated, map[string]string{"name": "deploy bot"}), credential("create", nil), true},
		{"pat.regenerated", patEvent(storage.EventPATRegenerated, map[string]string{"name": "deploy bot", "replaces": "x"}), credential("create", nil), true},
		{"pat.revoked by its owner", patEvent(storage.EventPATRevoked, map[string]string{"name": "deploy bot", "reason": "owner"}),
			credential("revoke", map[string]any{"initiating_entity": "user", "reason_admin": map[string]any{"en": "Revoked by its owner"}}), true},
		{"pat.revoked by an admin", patEvent(storage.EventPATRevoked, map[string]string{"name": "deploy bot", "reason": "admin"}),
			credential("revoke", map[string]any{"initiating_entity": "admin", "reason_admin": map[string]any{"en": "Revoked by an administrator"}}), true},
		{"pat.revoked leaked", patEvent(storage.EventPATRevoked, map[string]string{"name": "deploy bot", "reason": "leaked"}),
			credential("revoke", map[string]any{"initiating_entity": "system", "reason_admin": map[string]any{"en": "Reported leaked"}}), true},
		{"pat.revoked idle", patEvent(storage.EventPATRevoked, map[string]string{"name": "deploy bot", "reason": "idle"}),
			credential("revoke", map[string]any{"initiating_entity": "policy", "reason_admin": map[string]any{"en": "Unused for longer than the organization allows"}}), true},
		{"pat.revoked regenerated", patEvent(storage.EventPATRevoked, map[string]string{"name": "deploy bot", "reason": "regenerated"}),
			credential("revoke", map[string]any{"reason_admin": map[string]any{"en": "Replaced by a regenerated token"}}), true},
		{"user.deactivated", userEvent(storage.EventUserDeactivated), map[string]any{ssf.AccountDisabled: map[string]any{}}, false},
		{"user.reactivated", userEvent(storage.EventUserReactivated), map[string]any{ssf.AccountEnabled: map[string]any{}}, false},
	}
	for _, alg := range []string{signing.ES256, signing.RS256, signing.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			tr := newTransmitter(t, alg)
			kf := tr.receiverKeys(t)
			sink, err := ssf.New(ssf.Config{}, tr.keys, tr.issuer, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := time.Now().Unix()
					token, err := sink.Token(tt.e, "https://receiver.example.com")
					if err != nil {
						t.Fatal(err)
					}
					c := verify(t, kf, token, tr.issuer, "https://receiver.example.com")
					if c["jti"] != tt.e.ID || c["txn"] != tt.e.ID {
						t.Errorf("jti %v, txn %v: want the event id %s", c["jti"], c["txn"], tt.e.ID)
					}
					if iat, _ := c["iat"].(float64); int64(iat) < before || int64(iat) > time.Now().Unix() {
						t.Errorf("iat %v is not the time of signing", c["iat"])
					}
					if c["aud"] != "https://receiver.example.com" {
						t.Errorf("aud %v: want one string", c["aud"])
					}
					// SSF 1.0: no sub, no exp in a SET.
					for _, forbidden := range []string{"sub", "exp", "nbf"} {
						if _, ok := c[forbidden]; ok {
							t.Errorf("claim %s must not be present", forbidden)
						}
					}
					sub := map[string]any{
						"format": "complex",
						"user":   map[string]any{"format": "iss_sub", "iss": tr.issuer, "sub": userID},
						"tenant": map[string]any{"format": "opaque", "id": orgID},
					}
					if tt.credential {
						sub["credential"] = map[string]any{"format": "opaque", "id": patID}
					}
					if !reflect.DeepEqual(c["sub_id"], sub) {
						t.Errorf("sub_id:\ngot  %v\nwant %v", c["sub_id"], sub)
					}
					if want := roundTrip(t, tt.events); !reflect.DeepEqual(c["events"], want) {
						t.Errorf("events:\ngot  %v\nwant %v", c["events"], want)
					}
					if len(c) != 7 {
						t.Errorf("claims %v: want exactly iss, iat, jti, txn, aud, sub_id, events", c)
					}
				})
			}
			// The keyring's own verifier never takes a SET for an access token.
			token, err := sink.Token(tests[0].e, "aud")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.keys.Verify(token); !errors.Is(err, signing.ErrInvalidToken) {
				t.Errorf("Keyring.Verify accepted a SET: %v", err)
			}
		})
	}
}

func TestDestinations(t *testing.T) {
	tr := newTransmitter(t, signing.ES256)
	sink, err := ssf.New(ssf.Config{Receivers: []ssf.Receiver{
		{Name: "siem", URL: "https://siem.example.com/events", Audience: "siem"},
		{Name: "idp", URL: "https://idp.example.com/ssf", Audience: "idp", Events: []string{storage.EventPATRevoked, storage.EventUserDeactivated}},
	}}, tr.keys, tr.issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sink.Kind() != "ssf" {
		t.Errorf("Kind %q", sink.Kind())
	}
	for _, tt := range []struct {
		e    storage.Event
		want []string
	}{
		{patEvent(storage.EventPATCreated, nil), []string{"siem"}},
		{patEvent(storage.EventPATRevoked, map[string]string{"reason": "owner"}), []string{"idp", "siem"}},
		{userEvent(storage.EventUserDeactivated), []string{"idp", "siem"}},
		{userEvent(storage.EventUserReactivated), []string{"siem"}},
		// No Shared Signals form: sent nowhere.
		{patEvent(storage.EventPATExpired, nil), nil},
		{patEvent("pat.expiry_notice", nil), nil},
		{storage.Event{ID: "e", Type: storage.EventRoleChanged, OrgID: orgID, UserID: userID}, nil},
		{storage.Event{ID: "e", Type: storage.EventOrgPATsDisabled, OrgID: orgID}, nil},
	} {
		got, err := sink.Destinations(context.Background(), tt.e)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.e.Type, got, err, tt.want)
		}
	}
}

// The event types the configuration accepts are exactly those the sink maps.
func TestConfigEventTypesAreTheMappedOnes(t *testing.T) {
	if !slices.Equal(config.SSFEventTypes, ssf.EventTypes) {
		t.Errorf("config.SSFEventTypes %v, ssf.EventTypes %v", config.SSFEventTypes, ssf.EventTypes)
	}
}

func TestPushDelivery(t *testing.T) {
	tr := newTransmitter(t, signing.ES256)
	kf := tr.receiverKeys(t)
	type push struct {
		contentType, accept, authorization, body string
	}
	var got []push
	status, answer := http.StatusAccepted, ""
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost {
			t.Errorf("method %s", r.Method)
		}
		got = append(got, push{r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Header.Get("Authorization"), string(b)})
		if answer != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer receiver.Close()
	sink, err := ssf.New(ssf.Config{Receivers: []ssf.Receiver{
		{Name: "siem", URL: receiver.URL + "/events", Audience: "siem", Authorization: "Bearer receiver-token"},
	}, Timeout: 2 * time.Second}, tr.keys, tr.issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := patEvent(storage.EventPATRevoked, map[string]string{"name": "deploy bot", "reason": "admin"})
	ctx := context.Background()

	// 202: delivered.
	if err := sink.Deliver(ctx, "siem", e); err != nil {
		t.Fatalf("202: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("%d pushes", len(got))
	}
	p := got[0]
	if p.contentType != "application/secevent+jwt" || p.accept != "application/json" || p.authorization != "Bearer receiver-token" {
		t.Errorf("push headers: %+v", p)
	}
	if c := verify(t, kf, p.body, tr.issuer, "siem"); c["jti"] != e.ID {
		t.Errorf("pushed SET jti %v", c["jti"])
	}

	// 400 with an RFC 8935 error: permanent, the code named, nothing else.
	status, answer = http.StatusBadRequest, `{"err":"invalid_audience","description":"`+"receiver-said-this"+`"}`
	err = sink.Deliver(ctx, "siem", e)
	if !outbox.IsPermanent(err) || !strings.Contains(err.Error(), "invalid_audience") || strings.Contains(err.Error(), "receiver-said-this") {
		t.Errorf("400: got %v, want a permanent error naming invalid_audience only", err)
	}
	status, answer = http.StatusBadRequest, `{"err":"made-up code <script>"}`
	if err = sink.Deliver(ctx, "siem", e); !outbox.IsPermanent(err) || strings.Contains(err.Error(), "made-up") {
		t.Errorf("400 with an unregistered code: %v", err)
	}

	// 503, 429, 401, 403: retried.
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusUnauthorized, http.StatusForbidden} {
		status, answer = code, ""
		if err := sink.Deliver(ctx, "siem", e); err == nil || outbox.IsPermanent(err) {
			t.Errorf("%d: got %v, want a retryable error", code, err)
		}
	}
	// Any 2xx is delivered.
	status = http.StatusOK
	if err := sink.Deliver(ctx, "siem", e); err != nil {
		t.Errorf("200: %v", err)
	}

	// A receiver removed from the configuration since the fan-out.
	if err := sink.Deliver(ctx, "gone", e); !outbox.IsPermanent(err) {
		t.Errorf("unknown receiver: %v", err)
	}
	// No Shared Signals form: permanent.
	if err := sink.Deliver(ctx, "siem", patEvent(storage.EventPATExpired, nil)); !outbox.IsPermanent(err) {
		t.Errorf("unmapped event: %v", err)
	}
}

func TestPushNetworkFailuresAndTimeoutsAreRetried(t *testing.T) {
	tr := newTransmitter(t, signing.EdDSA)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	sink, err := ssf.New(ssf.Config{Receivers: []ssf.Receiver{
		{Name: "slow", URL: slow.URL, Audience: "a"},
		{Name: "down", URL: closedURL + "/events?key=query-secret", Audience: "a"},
	}, Timeout: 200 * time.Millisecond}, tr.keys, tr.issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := userEvent(storage.EventUserDeactivated)
	start := time.Now()
	if err := sink.Deliver(context.Background(), "slow", e); err == nil || outbox.IsPermanent(err) {
		t.Errorf("timeout: got %v, want a retryable error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the push took %s despite a 200ms timeout", d)
	}
	err = sink.Deliver(context.Background(), "down", e)
	if err == nil || outbox.IsPermanent(err) {
		t.Errorf("connection refused: got %v, want a retryable error", err)
	}
	if err != nil && strings.Contains(err.Error(), "query-secret") {
		t.Errorf("the error quotes the receiver's URL: %v", err)
	}
}

func TestPushFollowsNoRedirect(t *testing.T) {
	tr := newTransmitter(t, signing.ES256)
	var leaked bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = r.Header.Get("Authorization") != "" || r.ContentLength > 0
		w.WriteHeader(http.StatusAccepted)
	}))
	defer elsewhere.Close()
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	}))
	defer redirecting.Close()
	sink, err := ssf.New(ssf.Config{Receivers: []ssf.Receiver{
		{Name: "r", URL: redirecting.URL, Audience: "a", Authorization: "Bearer x"},
	}}, tr.keys, tr.issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Deliver(context.Background(), "r", userEvent(storage.EventUserReactivated)); err == nil {
		t.Error("a redirect counted as delivered")
	}
	if leaked {
		t.Error("the SET or its authorization followed a redirect")
	}
}

func TestNewRefusesBadReceivers(t *testing.T) {
	tr := newTransmitter(t, signing.ES256)
	for name, cfg := range map[string]ssf.Config{
		"no audience":  {Receivers: []ssf.Receiver{{Name: "a", URL: "https://a.example.com"}}},
		"twice":        {Receivers: []ssf.Receiver{{Name: "a", URL: "https://a", Audience: "a"}, {Name: "a", URL: "https://b", Audience: "b"}}},
		"unknown type": {Receivers: []ssf.Receiver{{Name: "a", URL: "https://a", Audience: "a", Events: []string{"role.changed"}}}},
	} {
		if _, err := ssf.New(cfg, tr.keys, tr.issuer, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ssf.New(ssf.Config{}, nil, tr.issuer, nil); err == nil {
		t.Error("no signer: accepted")
	}
}
