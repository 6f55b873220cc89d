package console

import (
	"errors"
	"net/http"
	"strings"

	"authserver/governance"
	"authserver/internal/duration"
	"authserver/storage"
)

// webhookSection is the webhooks part of the settings page.
type webhookSection struct {
	Webhooks []storage.Webhook
	// URL and EventTypes refill the add form after a refusal.
	URL, EventTypes string
	// WebhookField names the add form's field at fault.
	WebhookField string
	// NewWebhook is the webhook just added, with its secret: shown this
	// once.
	NewWebhook *governance.NewWebhook
	// WebhookError and WebhookNotice are said next to the webhooks, not
	// at the top of the page with the policy's.
	WebhookError, WebhookNotice string
}

func (c *console) loadWebhooks(r *http.Request, v *visit, d *webhookSection) error {
	ws, err := c.gov.ListWebhooks(r.Context(), v.actor, v.actor.OrgID)
	if err != nil {
		return err
	}
	d.Webhooks = ws
	return nil
}

// renderWebhooks renders the settings page with d's webhook section.
func (c *console) renderWebhooks(w http.ResponseWriter, r *http.Request, v *visit, status int, d *settingsPage) error {
	s, err := c.gov.Settings(r.Context(), v.actor, v.actor.OrgID)
	if err != nil {
		return err
	}
	d.PATsEnabled, d.MaxLifetime = s.PATsEnabled, duration.Format(s.PATMaxLifetime)
	if err := c.loadWebhooks(r, v, &d.webhookSection); err != nil {
		return err
	}
	p := v.page("org-settings", d)
	if d.NewWebhook != nil {
		p.Notice = "Webhook added. Copy its signing secret under Webhooks below now: it is shown only this once."
	}
	c.render(w, r, status, "org_settings", p)
	return nil
}

// orgCreateWebhook adds a webhook and shows its secret, once, on the
// settings page.
func (c *console) orgCreateWebhook(w http.ResponseWriter, r *http.Request, v *visit) error {
	d := &settingsPage{}
	d.URL = c.refill(strings.TrimSpace(r.PostForm.Get("url")))
	d.EventTypes = c.refill(strings.TrimSpace(r.PostForm.Get("event_types")))
	types := strings.FieldsFunc(r.PostForm.Get("event_types"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
	nw, err := c.gov.CreateWebhook(r.Context(), v.actor, v.actor.OrgID,
		governance.WebhookRequest{URL: strings.TrimSpace(r.PostForm.Get("url")), EventTypes: types})
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		var ge *governance.Error
		if errors.As(err, &ge) {
			d.WebhookField = ge.Field
		}
		d.WebhookError = webhookMessage(err)
		return c.renderWebhooks(w, r, v, statusOf(err), d)
	}
	d.NewWebhook = nw
	d.URL, d.EventTypes = "", ""
	return c.renderWebhooks(w, r, v, http.StatusOK, d)
}

// orgDeleteWebhook removes a webhook.
func (c *console) orgDeleteWebhook(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := c.gov.DeleteWebhook(r.Context(), v.actor, v.actor.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	d := &settingsPage{}
	d.WebhookNotice = "Webhook removed. Events not yet delivered to it are dropped."
	return c.renderWebhooks(w, r, v, http.StatusOK, d)
}

// webhookMessage says a refusal in the words of the form.
func webhookMessage(err error) string {
	var ge *governance.Error
	if errors.As(err, &ge) {
		switch ge.Field {
		case "url":
			return "URL: " + sentence(ge.Message)
		case "event_types":
			return "Event types: " + sentence(ge.Message)
		}
	}
	return messageOf(err)
}
