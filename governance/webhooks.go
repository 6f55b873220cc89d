package governance

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"authserver/outbox/webhook"
	"authserver/storage"
)

// Sealer seals secrets the server must read back (signing.Sealer).
type Sealer interface {
	Seal(id string, plaintext []byte) ([]byte, error)
}

// MaxWebhooks is how many webhooks one organization may have.
const MaxWebhooks = 20

// maxEventTypes bounds a webhook's event-type filter.
const maxEventTypes = 32

// eventType is the shape of an event type: "pat.created",
// "org.pats_disabled". Types are not checked against a fixed list, so a
// webhook can name a type a newer version emits.
var eventType = regexp.MustCompile(`^[a-z][a-z_]{0,31}\.[a-z][a-z_]{0,31}$`)

// WebhookRequest creates a webhook.
type WebhookRequest struct {
	URL string
	// EventTypes are the event types sent; empty: every type.
	EventTypes []string
}

// NewWebhook is a webhook just created with its secret, shown this once.
type NewWebhook struct {
	Webhook storage.Webhook
	// Secret is the Standard Webhooks secret ("whsec_…") receivers verify
	// signatures with. It is never shown again.
	Secret string
}

// ListWebhooks lists an organization's webhooks, for its admins, without
// their secrets.
func (s *Service) ListWebhooks(ctx context.Context, a Actor, orgID string) ([]storage.Webhook, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	ws, err := s.store.ListWebhooks(ctx, orgID)
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	for i := range ws {
		ws[i].Secret = nil
	}
	return ws, nil
}

// CreateWebhook adds a webhook to an organization, for its admins. The
// URL must be https (plain http only to the loopback host, for tests and
// development), and unless the server allows private networks it must
// not name a loopback, private or other non-public address (deliveries
// check the address a name resolves to). The secret is made here and
// returned once, and stored sealed with the key-encryption key. The audit detail names the URL's
// host only: a URL's path or query may carry a receiver's own token.
func (s *Service) CreateWebhook(ctx context.Context, a Actor, orgID string, req WebhookRequest) (*NewWebhook, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if err := webhook.CheckURL(req.URL); err != nil {
		return nil, invalid("url", "webhook-url-invalid", "%s", err)
	}
	if !s.privateWebhooks {
		if err := webhook.CheckDestination(req.URL); err != nil {
			return nil, invalid("url", "webhook-url-not-public", "%s", err)
		}
	}
	types, err := checkEventTypes(req.EventTypes)
	if err != nil {
		return nil, err
	}
	if s.secrets == nil {
		return nil, &Error{Kind: Unavailable, Code: "webhooks-unavailable",
			Message: "webhooks need the key-encryption key, which this server was started without"}
	}
	key, shown := webhook.NewSecret()
	w := &storage.Webhook{ID: uuid.Must(uuid.NewV7()).String(), OrgID: orgID, URL: req.URL, EventTypes: types, CreatedAt: s.now()}
	if w.Secret, err = s.secrets.Seal(w.ID, key); err != nil {
		return nil, err
	}
	clear(key)
	err = s.store.Update(ctx, func(tx Tx) error {
		ws, err := tx.ListWebhooks(ctx, orgID)
		if err != nil {
			return err
		}
		if len(ws) >= MaxWebhooks {
			return conflict("too-many-webhooks", "the organization has the most webhooks it may have; delete one first")
		}
		if err := tx.CreateWebhook(ctx, w); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "webhook.create", w.ID, webhookDetail(w))
	})
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	out := *w
	out.Secret = nil
	return &NewWebhook{Webhook: out, Secret: shown}, nil
}

// DeleteWebhook removes one of an organization's webhooks, for its
// admins. Deliveries to it still pending end at their next attempt.
func (s *Service) DeleteWebhook(ctx context.Context, a Actor, orgID, id string) error {
	if err := requireAdmin(a, orgID); err != nil {
		return err
	}
	if !plausibleID(id) {
		return notFound("webhook")
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		w, err := tx.GetWebhook(ctx, id)
		if err != nil {
			return err
		}
		if w.OrgID != orgID {
			return storage.ErrNotFound
		}
		if err := tx.DeleteWebhook(ctx, orgID, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "webhook.delete", id, webhookDetail(w))
	})
	return storeErr(err, "webhook")
}

// checkEventTypes checks and dedupes a webhook's event-type filter.
func checkEventTypes(types []string) ([]string, error) {
	if len(types) > maxEventTypes {
		return nil, invalid("event_types", "event-types-invalid", "must name at most %d event types", maxEventTypes)
	}
	out := []string{}
	for i, t := range types {
		if !eventType.MatchString(t) {
			return nil, invalid("event_types", "event-types-invalid",
				"item %d must be an event type such as pat.created", i+1)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// webhookDetail is the audit detail of a webhook: its URL's host and its
// filter, never its path, query or secret.
func webhookDetail(w *storage.Webhook) string {
	host := ""
	if u, err := url.Parse(w.URL); err == nil {
		host = u.Host
	}
	d := "host " + quote(host)
	if len(w.EventTypes) > 0 {
		d += " event_types " + strings.Join(w.EventTypes, " ")
	}
	return d
}
