package authserver_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"authserver/internal/storetest"
)

var webhookSecretRE = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)

// TestConsoleWebhooks: an admin adds a webhook on the settings page and
// sees its secret once; the page lists it afterwards without the secret;
// a bad URL is refused without being echoed in the error; a non-admin
// cannot add one; another organization's webhook is not found; removal
// works.
func TestConsoleWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		alice := e.consoleClient().signIn("acme", "alice")
		wantPage(t, alice.get("/console/org/settings"), http.StatusOK, `id="webhooks"`, "The organization has no webhooks.")

		r := alice.post("/console/org/webhooks", url.Values{"url": {"http://hooks.example/secret-path"}})
		wantPage(t, r, http.StatusBadRequest, `id="webhook-error"`, "URL: Must be https", `value="http://hooks.example/secret-path"`)
		if errText := regexp.MustCompile(`id="webhook-error">([^<]*)<`).FindSubmatch(r.body); errText == nil ||
			strings.Contains(string(errText[1]), "hooks.example") {
			t.Fatalf("the error echoes the URL: %s", errText)
		}
		r = alice.post("/console/org/webhooks", url.Values{"url": {"https://hooks.example/in"}, "event_types": {"Not a type"}})
		wantPage(t, r, http.StatusBadRequest, "Event types: Item 1 must be an event type")

		r = alice.post("/console/org/webhooks", url.Values{"url": {"https://hooks.example/in"}, "event_types": {"pat.revoked, user.deactivated"}})
		wantPage(t, r, http.StatusOK, `id="webhook-reveal"`, "This secret will not be shown again", "<code>pat.revoked</code>", "<code>user.deactivated</code>")
		// The page escapes + in the attribute; read it as the browser does.
		secret := webhookSecretRE.FindString(html.UnescapeString(string(r.body)))
		if secret == "" {
			t.Fatalf("no secret on the page: %s", r.body)
		}
		page := alice.get("/console/org/settings")
		wantPage(t, page, http.StatusOK, "https://hooks.example/in")
		if text := html.UnescapeString(string(page.body)); webhookSecretRE.MatchString(text) || strings.Contains(text, secret[6:]) {
			t.Fatal("the secret is shown again")
		}
		ws, err := e.store.ListWebhooks(ctx, e.orgIDs["acme"])
		if err != nil || len(ws) != 1 {
			t.Fatalf("stored %v %v", ws, err)
		}
		id := ws[0].ID

		carol := e.consoleClient().signIn("acme", "carol")
		if r := carol.post("/console/org/webhooks", url.Values{"url": {"https://hooks.example/other"}}); r.StatusCode != http.StatusForbidden {
			t.Fatalf("non-admin add: %d", r.StatusCode)
		}
		if r := carol.post("/console/org/webhooks/"+id+"/delete", nil); r.StatusCode != http.StatusForbidden {
			t.Fatalf("non-admin remove: %d", r.StatusCode)
		}
		eve := e.consoleClient().signIn("globex", "eve")
		if r := eve.post("/console/org/webhooks/"+id+"/delete", nil); r.StatusCode != http.StatusNotFound {
			t.Fatalf("another organization's webhook: %d", r.StatusCode)
		}
		if strings.Contains(string(eve.get("/console/org/settings").body), "hooks.example") {
			t.Fatal("another organization sees the webhook")
		}
		wantPage(t, alice.post("/console/org/webhooks/"+id+"/delete", nil), http.StatusOK, "Webhook removed.", "The organization has no webhooks.")
		if ws, _ := e.store.ListWebhooks(ctx, e.orgIDs["acme"]); len(ws) != 0 {
			t.Fatal("not removed")
		}
	})
}
