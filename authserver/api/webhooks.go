package api

import (
	"net/http"

	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/storage"
)

// webhookJSON is one webhook as listed: never its secret.
type webhookJSON struct {
	ID         string   `json:"id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	CreatedAt  string   `json:"created_at"`
}

func toWebhook(w *storage.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, URL: w.URL, EventTypes: nonNil(w.EventTypes), CreatedAt: stamp(w.CreatedAt)}
}

// newWebhookJSON is a webhook just created, with its secret: the only
// answer that ever holds it.
type newWebhookJSON struct {
	webhookJSON
	Secret string `json:"secret"`
}

// webhookRequest is the body of POST /admin/webhooks.
type webhookRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
}

func (a *api) listWebhooks(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	ws, err := a.gov.ListWebhooks(r.Context(), p.actor, p.actor.OrgID)
	if err != nil {
		return err
	}
	out := list[webhookJSON]{Items: make([]webhookJSON, 0, len(ws))}
	for i := range ws {
		out.Items = append(out.Items, toWebhook(&ws[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// createWebhook adds a webhook; 201 with its secret, shown this once.
func (a *api) createWebhook(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body webhookRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	nw, err := a.gov.CreateWebhook(r.Context(), p.actor, p.actor.OrgID,
		governance.WebhookRequest{URL: body.URL, EventTypes: body.EventTypes})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, newWebhookJSON{webhookJSON: toWebhook(&nw.Webhook), Secret: nw.Secret})
	return nil
}

// deleteWebhook removes a webhook; 204.
func (a *api) deleteWebhook(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	if err := a.gov.DeleteWebhook(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
