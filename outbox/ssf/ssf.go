// Package ssf delivers lifecycle events to Shared Signals receivers as
// Security Event Tokens (RFC 8417) pushed over HTTP (RFC 8935), following
// the Shared Signals Framework 1.0 and its CAEP 1.0 and RISC event types.
//
// Each receiver is one configured stream: a URL, the aud its SETs carry,
// an optional Authorization header, and optionally the event types it
// wants. Every SET is signed by the server's signing keys with typ
// secevent+jwt, so receivers verify it through the server's JWKS.
//
// What is sent for which event (see docs/events.md):
//
//   - pat.created, pat.regenerated (the new PAT): CAEP credential-change,
//     change_type create.
//   - pat.revoked, every reason (the old PAT of a regeneration too): CAEP
//     credential-change, change_type revoke.
//   - user.deactivated, user.reactivated: RISC account-disabled,
//     account-enabled.
//
// Nothing else is sent. An expiry (pat.expired) is not a revocation and
// CAEP has no change type for a credential reaching the end of the life
// it was given; role and organization changes have no Shared Signals
// event that fits (CAEP token-claims-change needs the new claim values,
// which a role change does not determine on its own).
package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"authserver/outbox"
	"authserver/storage"
)

// Kind is the sink's name in the outbox.
const Kind = "ssf"

// The event type URIs this package sends.
const (
	CredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
	AccountDisabled  = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	AccountEnabled   = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
)

// CredentialType is the credential_type of every credential-change event.
// CAEP lists password, pin, x509, the FIDO kinds, verifiable-credential,
// the phone kinds and app, "or any other credential type supported
// mutually"; a PAT is a secret an application holds to act for its owner,
// which app, the one listed type not tied to an authenticator technology
// or to something a person remembers, describes best.
const CredentialType = "app"

// MediaType is the Content-Type of a pushed SET (RFC 8935 §2).
const MediaType = "application/secevent+jwt"

// PushMethod is the delivery method URI of push delivery (SSF 1.0).
const PushMethod = "urn:ietf:rfc:8935"

// EventTypes are the lifecycle event types that have a Shared Signals form.
var EventTypes = []string{
	storage.EventPATCreated, storage.EventPATRegenerated, storage.EventPATRevoked,
	storage.EventUserDeactivated, storage.EventUserReactivated,
}

// Receiver is one Shared Signals receiver.
type Receiver struct {
	// Name identifies the receiver: the destination in the outbox.
	Name string
	// URL is the receiver's push endpoint.
	URL string
	// Audience is the aud claim of the SETs sent to it.
	Audience string
	// Authorization is the Authorization header value of every push; ""
	// sends none.
	Authorization string
	// Events are the event types it wants; empty: every one in EventTypes.
	Events []string
}

// Config is the configuration of the sink.
type Config struct {
	Receivers []Receiver
	// Timeout bounds one push; 0 means 10 seconds.
	Timeout time.Duration
}

// Signer signs a SET's payload into a compact JWS with typ secevent+jwt;
// signing.Keyring is one.
type Signer interface {
	SignEvent(payload []byte) (string, error)
}

// Sink pushes SETs to the configured receivers.
type Sink struct {
	issuer    string
	signer    Signer
	client    *http.Client
	timeout   time.Duration
	receivers map[string]Receiver
	now       func() time.Time
}

var _ outbox.Sink = (*Sink)(nil)

// New builds the sink. issuer is the iss of every SET and the iss of the
// user subjects; client makes the pushes (nil: a client that follows no
// redirect, so the Authorization header never goes anywhere but the
// configured URL).
func New(cfg Config, signer Signer, issuer string, client *http.Client) (*Sink, error) {
	if signer == nil || issuer == "" {
		return nil, errors.New("ssf: a signer and an issuer are required")
	}
	s := &Sink{issuer: issuer, signer: signer, client: client, timeout: cfg.Timeout,
		receivers: make(map[string]Receiver, len(cfg.Receivers)), now: time.Now}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if s.client == nil {
		s.client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	for _, r := range cfg.Receivers {
		if r.Name == "" || r.URL == "" || r.Audience == "" {
			return nil, errors.New("ssf: every receiver needs a name, a URL and an audience")
		}
		if _, dup := s.receivers[r.Name]; dup {
			return nil, fmt.Errorf("ssf: receiver %q is configured twice", r.Name)
		}
		for _, t := range r.Events {
			if !slices.Contains(EventTypes, t) {
				return nil, fmt.Errorf("ssf: receiver %q: event type %q has no Shared Signals form", r.Name, t)
			}
		}
		s.receivers[r.Name] = r
	}
	return s, nil
}

// Kind is "ssf".
func (s *Sink) Kind() string { return Kind }

// Destinations names every receiver that wants e, when e has a Shared
// Signals form.
func (s *Sink) Destinations(_ context.Context, e storage.Event) ([]string, error) {
	if _, ok := eventOf(e); !ok {
		return nil, nil
	}
	var out []string
	for name, r := range s.receivers {
		if len(r.Events) == 0 || slices.Contains(r.Events, e.Type) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Deliver signs e's SET for the receiver dest and pushes it. A receiver
// that answers 400 (the SET itself refused, RFC 8935 §2.3) or that is no
// longer configured ends the delivery; any other failure is retried —
// 401 and 403 too, since they mean the receiver's credentials are wrong in
// the configuration, and fixing the configuration should deliver what
// waited meanwhile.
func (s *Sink) Deliver(ctx context.Context, dest string, e storage.Event) error {
	r, ok := s.receivers[dest]
	if !ok {
		return outbox.Permanent(errors.New("ssf: the receiver is no longer configured"))
	}
	token, err := s.Token(e, r.Audience)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewBufferString(token))
	if err != nil {
		return outbox.Permanent(fmt.Errorf("ssf: receiver %s: the URL does not make a request", r.Name))
	}
	req.Header.Set("Content-Type", MediaType)
	req.Header.Set("Accept", "application/json")
	if r.Authorization != "" {
		req.Header.Set("Authorization", r.Authorization)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// Without the URL, whose query could hold a credential: the
		// receiver's name says which one failed.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("ssf: receiver %s: push failed: %w", r.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return outbox.Permanent(fmt.Errorf("ssf: receiver %s refused the SET: %s", r.Name, errorCode(resp.Header.Get("Content-Type"), body)))
	default:
		return fmt.Errorf("ssf: receiver %s answered %d", r.Name, resp.StatusCode)
	}
}

// The error codes of RFC 8935 §2.4 (the Security Event Token Error Codes
// registry). Only these are quoted from a receiver's answer; anything else
// it says stays out of the logs.
var errorCodes = []string{"invalid_request", "invalid_key", "invalid_issuer", "invalid_audience",
	"authentication_failed", "access_denied"}

// errorCode is the err member of an RFC 8935 error answer, when it is a
// registered code.
func errorCode(contentType string, body []byte) string {
	var v struct {
		Err string `json:"err"`
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/json" || json.Unmarshal(body, &v) != nil {
		return "no error object"
	}
	if !slices.Contains(errorCodes, v.Err) {
		return "an unregistered error code"
	}
	return "err " + v.Err
}

// Token is e's SET for a receiver whose aud is audience, signed. It fails
// for an event that has no Shared Signals form.
func (s *Sink) Token(e storage.Event, audience string) (string, error) {
	payload, err := s.payload(e, audience)
	if err != nil {
		return "", err
	}
	token, err := s.signer.SignEvent(payload)
	if err != nil {
		return "", fmt.Errorf("ssf: sign: %w", err)
	}
	return token, nil
}

// payload is the claims of e's SET for audience, as JSON.
func (s *Sink) payload(e storage.Event, audience string) ([]byte, error) {
	ev, ok := eventOf(e)
	if !ok {
		return nil, outbox.Permanent(fmt.Errorf("ssf: event type %s has no Shared Signals form", strconv.Quote(e.Type)))
	}
	sub := map[string]any{
		"format": "complex",
		"user":   map[string]string{"format": "iss_sub", "iss": s.issuer, "sub": e.UserID},
		"tenant": map[string]string{"format": "opaque", "id": e.OrgID},
	}
	if e.PATID != "" {
		sub["credential"] = map[string]string{"format": "opaque", "id": e.PATID}
	}
	return json.Marshal(map[string]any{
		"iss":    s.issuer,
		"iat":    s.now().Unix(),
		"jti":    e.ID,
		"txn":    e.ID,
		"aud":    audience,
		"sub_id": sub,
		"events": map[string]any{ev.uri: ev.body},
	})
}

// event is one SSF event: its type URI and its object.
type event struct {
	uri  string
	body map[string]any
}

// eventOf maps a lifecycle event to its Shared Signals event.
func eventOf(e storage.Event) (event, bool) {
	if e.UserID == "" {
		return event{}, false
	}
	switch e.Type {
	case storage.EventPATCreated, storage.EventPATRegenerated:
		if e.PATID == "" {
			return event{}, false
		}
		return event{CredentialChange, credentialChange(e, "create", "", "")}, true
	case storage.EventPATRevoked:
		if e.PATID == "" {
			return event{}, false
		}
		entity, reason := revocation(e.Data["reason"])
		return event{CredentialChange, credentialChange(e, "revoke", entity, reason)}, true
	case storage.EventUserDeactivated:
		return event{AccountDisabled, map[string]any{}}, true
	case storage.EventUserReactivated:
		return event{AccountEnabled, map[string]any{}}, true
	}
	return event{}, false
}

// credentialChange is a CAEP credential-change object.
func credentialChange(e storage.Event, change, entity, reason string) map[string]any {
	b := map[string]any{
		"credential_type": CredentialType,
		"change_type":     change,
		"event_timestamp": e.Time.Unix(),
	}
	if name := e.Data["name"]; name != "" {
		b["friendly_name"] = name
	}
	if entity != "" {
		b["initiating_entity"] = entity
	}
	if reason != "" {
		b["reason_admin"] = map[string]string{"en": reason}
	}
	return b
}

// revocation is the CAEP initiating_entity and the administrative reason
// of a revocation reason (storage.PAT.RevokedReason). The entity is left
// out where the reason does not say who acted: a regeneration may be the
// owner's or an administrator's, and whoever holds a token may revoke it.
func revocation(reason string) (entity, text string) {
	switch reason {
	case "owner":
		return "user", "Revoked by its owner"
	case "admin":
		return "admin", "Revoked by an administrator"
	case "value":
		return "admin", "Revoked by an administrator who presented its value"
	case "cli":
		return "admin", "Revoked by an operator on the command line"
	case "holder":
		return "", "Revoked by a holder of the token through the OAuth revocation endpoint"
	case "leaked":
		return "system", "Reported leaked"
	case "regenerated":
		return "", "Replaced by a regenerated token"
	case "idle":
		return "policy", "Unused for longer than the organization allows"
	}
	return "", "Revoked"
}
