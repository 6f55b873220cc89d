// Package webhook delivers lifecycle events to organizations' webhooks,
// signed as Standard Webhooks define: a JSON body {type, id, timestamp,
// data} POSTed with the headers webhook-id (the event id, the same on
// every retry, for the receiver to deduplicate by), webhook-timestamp and
// webhook-signature (v1, base64 HMAC-SHA256 of id.timestamp.body under the
// webhook's secret).
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"golang.org/x/net/http/httpproxy"

	"authserver/outbox"
	"authserver/storage"
)

// Kind is the sink kind of webhooks.
const Kind = "webhook"

// SecretPrefix starts every webhook secret as shown to its creator.
const SecretPrefix = "whsec_"

// SecretPurpose is what the key that seals webhook secrets is derived
// for (signing.NewSealer).
const SecretPurpose = "webhook secret"

// secretSize is the length of a secret's key: 32 random bytes.
const secretSize = 32

// MaxURLLength bounds a webhook's URL.
const MaxURLLength = 2048

// DefaultTimeout bounds one POST: connection, TLS, headers and body.
const DefaultTimeout = 10 * time.Second

// NewSecret makes a webhook secret: the key stored (sealed) and the
// whsec_ form shown to its creator once.
func NewSecret() (key []byte, shown string) {
	key = make([]byte, secretSize)
	rand.Read(key)
	return key, SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// CheckURL reports what is wrong with a webhook URL, in words that never
// quote it: it must be absolute https with a host and no credentials, or
// plain http to the loopback host (127.0.0.1, [::1] or localhost), which
// is for tests and development on one machine.
func CheckURL(raw string) error {
	if raw == "" {
		return errors.New("is required")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute https URL")
	}
	if u.User != nil {
		return errors.New("must not hold credentials")
	}
	if u.Fragment != "" {
		return errors.New("must not have a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if Loopback(u.Hostname()) {
			return nil
		}
		return errors.New("must be https (plain http only to 127.0.0.1, [::1] or localhost)")
	}
	return errors.New("must be an absolute https URL")
}

// ErrPrivateAddress is why CheckDestination refuses a webhook URL: it
// names a loopback, private, link-local or other non-public address. A
// delivery refused for the address it dials fails as "address not
// allowed (not public)" instead (failure).
var ErrPrivateAddress = errors.New("points at a loopback, private or other non-public address, which this server does not deliver webhooks to")

// guard tells public addresses from the others: loopback, the private
// ranges, link-local (cloud metadata services among them), shared and
// reserved space, multicast, and IPv6 outside global unicast.
var guard = ssrf.New(ssrf.WithAnyPort())

// CheckDestination refuses a webhook URL (one CheckURL accepts) whose host
// is a non-public address named literally, or localhost: where deliveries
// to such addresses are not allowed, the admin hears it when adding the
// webhook rather than from its failed deliveries. A host name is only
// checked when a delivery connects, against the address it resolves to.
func CheckDestination(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("must be an absolute https URL")
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if Loopback(host) || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return ErrPrivateAddress
	}
	if ip, err := netip.ParseAddr(host); err == nil && guard.SafeAddr(ip.WithZone("")) != nil {
		return ErrPrivateAddress
	}
	return nil
}

// publicOnly is a DialContext that connects only to public addresses
// (guard), checked on the address each connection is about to use, after
// name resolution, so that a name that resolves, or later re-resolves, to
// an internal address is refused too. The egress proxies named in the
// environment are the exception: the transport dials them for requests it
// proxies, and what a proxy then reaches is the proxy's to decide.
func publicOnly(proxies map[string]bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	direct := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	guarded := *direct
	guarded.Control = guard.Safe
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if proxies[addr] {
			return direct.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// proxyAddrs are the host:port of the HTTP and HTTPS proxies the
// environment names (HTTPS_PROXY, HTTP_PROXY), as the transport dials them.
func proxyAddrs() map[string]bool {
	out := map[string]bool{}
	cfg := httpproxy.FromEnvironment()
	for _, p := range []string{cfg.HTTPSProxy, cfg.HTTPProxy} {
		if p == "" {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			// The transport reads a bare host:port as an http URL.
			if u, err = url.Parse("http://" + p); err != nil || u.Host == "" {
				continue
			}
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		out[net.JoinHostPort(u.Hostname(), port)] = true
	}
	return out
}

// Loopback reports whether host is the loopback host named literally.
func Loopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

// Secrets opens sealed webhook secrets (signing.Sealer).
type Secrets interface {
	Open(id string, sealed []byte) ([]byte, error)
}

// Store is what the sink reads.
type Store interface {
	ListWebhooks(ctx context.Context, orgID string) ([]storage.Webhook, error)
	GetWebhook(ctx context.Context, id string) (*storage.Webhook, error)
}

var _ Store = storage.Store(nil)

// Options configure the sink. Store and Secrets are required.
type Options struct {
	Store   Store
	Secrets Secrets
	// Timeout bounds one POST; 0 means DefaultTimeout.
	Timeout time.Duration
	// Transport replaces the default transport (tests trust their own
	// TLS server with it); nil uses a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// PrivateNetworks lets deliveries reach loopback, private, link-local
	// and other non-public addresses. Off, a webhook's connection to such
	// an address is refused when it is made, whatever name led to it
	// (CheckDestination refuses the URLs that name one literally, before
	// they are stored). It does not apply to a Transport given here.
	PrivateNetworks bool
	Now             func() time.Time
}

// Sink is the webhook sink.
type Sink struct {
	o      Options
	client *http.Client
}

var _ outbox.Sink = (*Sink)(nil)

// New builds the sink.
func New(o Options) (*Sink, error) {
	if o.Store == nil || o.Secrets == nil {
		return nil, errors.New("webhook: Store and Secrets are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if !o.PrivateNetworks {
			t.DialContext = publicOnly(proxyAddrs())
		}
		tr = t
	}
	return &Sink{o: o, client: &http.Client{
		Transport: tr,
		Timeout:   o.Timeout,
		// Redirects are never followed: the event goes where the admin
		// said, or nowhere. A 3xx answer counts as a failure (retried),
		// and its status shows in the delivery's last error.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Kind is "webhook".
func (*Sink) Kind() string { return Kind }

// Destinations are the ids of the event's organization's webhooks that
// take its type.
func (s *Sink) Destinations(ctx context.Context, e storage.Event) ([]string, error) {
	all, err := s.BatchDestinations(ctx, []storage.Event{e})
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// BatchDestinations is Destinations for a batch of events, reading each
// organization's webhooks once.
func (s *Sink) BatchDestinations(ctx context.Context, es []storage.Event) ([][]string, error) {
	byOrg := map[string][]storage.Webhook{}
	out := make([][]string, len(es))
	for i, e := range es {
		ws, ok := byOrg[e.OrgID]
		if !ok {
			var err error
			if ws, err = s.o.Store.ListWebhooks(ctx, e.OrgID); err != nil {
				return nil, err
			}
			byOrg[e.OrgID] = ws
		}
		for _, w := range ws {
			if len(w.EventTypes) == 0 || slices.Contains(w.EventTypes, e.Type) {
				out[i] = append(out[i], w.ID)
			}
		}
	}
	return out, nil
}

// Payload is the JSON body of a delivery.
type Payload struct {
	Type      string            `json:"type"`
	ID        string            `json:"id"`
	Timestamp time.Time         `json:"timestamp"`
	Data      map[string]string `json:"data"`
}

// PayloadOf is the body sent for e: its data with the ids of the
// organization, user and PAT it concerns (those present).
func PayloadOf(e storage.Event) Payload {
	data := make(map[string]string, len(e.Data)+3)
	for k, v := range e.Data {
		data[k] = v
	}
	for k, v := range map[string]string{"org_id": e.OrgID, "user_id": e.UserID, "pat_id": e.PATID} {
		if v != "" {
			data[k] = v
		}
	}
	return Payload{Type: e.Type, ID: e.ID, Timestamp: e.Time.UTC(), Data: data}
}

// Deliver POSTs e to the webhook dest. A 2xx answer delivers it; 410 and
// the other 4xx answers but 408 and 429 refuse it for good (Permanent);
// anything else is retried. A webhook deleted since the fan-out, or of
// another organization, ends the delivery (a deleted one as
// outbox.ErrDestinationGone). Errors are short causes
// ("HTTP 503", "connection refused") that never quote the URL.
func (s *Sink) Deliver(ctx context.Context, dest string, e storage.Event) error {
	w, err := s.o.Store.GetWebhook(ctx, dest)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("webhook %w", outbox.ErrDestinationGone)
	}
	if err != nil {
		return errors.New("database unavailable")
	}
	if w.OrgID != e.OrgID {
		return outbox.Permanent(errors.New("webhook of another organization"))
	}
	key, err := s.o.Secrets.Open(w.ID, w.Secret)
	if err != nil {
		// A replica with another key-encryption key: another may succeed.
		return errors.New("webhook secret does not open")
	}
	signer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return outbox.Permanent(errors.New("webhook secret empty"))
	}
	body, err := json.Marshal(PayloadOf(e))
	if err != nil {
		return outbox.Permanent(fmt.Errorf("encode event: %w", err))
	}
	now := s.o.Now()
	sig, err := signer.Sign(e.ID, now, body)
	if err != nil {
		return outbox.Permanent(errors.New("sign event"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return outbox.Permanent(errors.New("webhook URL unusable"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authserver-webhook")
	req.Header.Set(standardwebhooks.HeaderWebhookID, e.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return errors.New(failure(err))
	}
	// The answer's body is read (so the connection is reused) and
	// dropped: it is never stored or logged.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return verdict(resp.StatusCode)
}

// verdict classifies an HTTP status.
func verdict(code int) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return fmt.Errorf("HTTP %d", code)
	case code >= 300 && code < 400:
		return fmt.Errorf("HTTP %d (redirects are not followed)", code)
	case code >= 400 && code < 500:
		return outbox.Permanent(fmt.Errorf("HTTP %d", code))
	}
	return fmt.Errorf("HTTP %d", code)
}

// failure names why a request got no answer, without its URL (which
// net/http's errors quote).
func failure(err error) string {
	var ne net.Error
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case errors.Is(err, ssrf.ErrProhibitedIP):
		return "address not allowed (not public)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &dns):
		return "host not found"
	case errors.As(err, &cert), errors.As(err, &rec):
		return "TLS failure"
	}
	return "request failed"
}
