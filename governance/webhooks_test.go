package governance_test

import (
	"crypto/rand"
	"encoding/base64"
	neturl "net/url"
	"strings"
	"testing"

	"authserver/governance"
	"authserver/internal/storetest"
	"authserver/signing"
	"authserver/storage"
)

// webhookGov is f's service with a sealer for webhook secrets.
func webhookGov(t *testing.T, f *fixture) (*governance.Service, *signing.Sealer) {
	t.Helper()
	kek := make([]byte, signing.KEKSize)
	rand.Read(kek)
	sealer, err := signing.NewSealer(kek, "webhook secret")
	if err != nil {
		t.Fatal(err)
	}
	return governance.New(governance.Options{Store: storage.Narrow[governance.Tx](f.st), Now: f.clock.Now,
		WebhookSecrets: sealer}), sealer
}

func TestWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		f := newFixture(t, driver)
		gov, sealer := webhookGov(t, f)
		const url = "https://hooks.example/in?token=receiver-own-token"
		nw, err := gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: url,
			EventTypes: []string{"pat.revoked", "pat.revoked", "user.deactivated"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(nw.Secret, "whsec_") || nw.Webhook.Secret != nil || nw.Webhook.URL != url ||
			strings.Join(nw.Webhook.EventTypes, " ") != "pat.revoked user.deactivated" {
			t.Fatalf("created %+v", nw)
		}
		// Stored sealed: the row opens to the secret shown, and holds no
		// plaintext.
		w, err := f.st.GetWebhook(ctx, nw.Webhook.ID)
		if err != nil {
			t.Fatal(err)
		}
		key, err := sealer.Open(w.ID, w.Secret)
		if err != nil || "whsec_"+base64.StdEncoding.EncodeToString(key) != nw.Secret || strings.Contains(string(w.Secret), string(key)) {
			t.Fatalf("stored secret: %v", err)
		}
		ws, err := gov.ListWebhooks(ctx, f.aliceA, f.acme.ID)
		if err != nil || len(ws) != 1 || ws[0].Secret != nil || ws[0].ID != nw.Webhook.ID {
			t.Fatalf("list %+v %v", ws, err)
		}
		// Refusals: a bad URL (never quoted), not an admin, another
		// organization's webhook, too many, bad event types.
		for _, bad := range []string{"http://hooks.example/x", "https://u:pw@hooks.example/", "not a url", ""} {
			_, err := gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: bad})
			wantRefusal(t, err, governance.Invalid, "webhook-url-invalid")
			if bad != "" && strings.Contains(err.Error(), bad) {
				t.Fatalf("the refusal quotes the URL: %v", err)
			}
		}
		_, err = gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: "https://h.example", EventTypes: []string{"PAT created"}})
		wantRefusal(t, err, governance.Invalid, "event-types-invalid")
		_, bobA := f.member(t, f.acme, storage.User{Username: "bob"})
		_, err = gov.CreateWebhook(ctx, bobA, f.acme.ID, governance.WebhookRequest{URL: "https://h.example"})
		wantRefusal(t, err, governance.Forbidden, "admin-required")
		_, err = gov.ListWebhooks(ctx, bobA, f.acme.ID)
		wantRefusal(t, err, governance.Forbidden, "admin-required")
		_, err = gov.ListWebhooks(ctx, f.eveA, f.acme.ID)
		wantRefusal(t, err, governance.NotFound, "not-found")
		wantRefusal(t, gov.DeleteWebhook(ctx, f.eveA, f.globex.ID, nw.Webhook.ID), governance.NotFound, "not-found")
		wantRefusal(t, gov.DeleteWebhook(ctx, bobA, f.acme.ID, nw.Webhook.ID), governance.Forbidden, "admin-required")
		// Addresses that are not public, named literally, are refused
		// unless the server allows private networks; plain http is for
		// the loopback host only, so it needs them allowed.
		for _, internal := range []string{"http://127.0.0.1:9/h", "https://127.0.0.1/h", "https://10.1.2.3/h",
			"https://192.168.0.7:8443/h", "https://169.254.169.254/latest/meta-data", "https://[::1]/h",
			"https://[::ffff:127.0.0.1]/h", "https://[fd00::1]/h", "https://100.64.0.1/h", "https://0.0.0.0/h",
			"https://localhost/h", "https://LOCALHOST.:8443/h", "https://api.localhost/h"} {
			_, err := gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: internal})
			wantRefusal(t, err, governance.Invalid, "webhook-url-not-public")
			if u, _ := neturl.Parse(internal); strings.Contains(err.Error(), u.Hostname()) {
				t.Fatalf("the refusal quotes the host: %v", err)
			}
		}
		private := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](f.st), Now: f.clock.Now,
			WebhookSecrets: sealer, WebhookPrivateNetworks: true})
		if _, err := private.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: "http://127.0.0.1:9/h"}); err != nil {
			t.Fatal(err)
		}
		// A public address named literally is a destination like any.
		if _, err := gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: "https://93.184.215.14/h"}); err != nil {
			t.Fatal(err)
		}
		for i := 3; i < governance.MaxWebhooks; i++ {
			if _, err := gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: "https://h.example"}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = gov.CreateWebhook(ctx, f.aliceA, f.acme.ID, governance.WebhookRequest{URL: "https://h.example"})
		wantRefusal(t, err, governance.Conflict, "too-many-webhooks")

		if err := gov.DeleteWebhook(ctx, f.aliceA, f.acme.ID, nw.Webhook.ID); err != nil {
			t.Fatal(err)
		}
		wantRefusal(t, gov.DeleteWebhook(ctx, f.aliceA, f.acme.ID, nw.Webhook.ID), governance.NotFound, "not-found")
		// Audited, with the host only: never the path, query or secret.
		var seen []string
		for _, e := range f.audit(t, f.acme.ID) {
			if strings.HasPrefix(e.Action, "webhook.") {
				seen = append(seen, e.Action)
				if strings.Contains(e.Detail, "receiver-own-token") || strings.Contains(e.Detail, "whsec_") ||
					strings.Contains(e.Detail, nw.Secret[6:]) {
					t.Fatalf("audit detail leaks: %q", e.Detail)
				}
				if e.Target == nw.Webhook.ID && !strings.Contains(e.Detail, `host "hooks.example"`) {
					t.Fatalf("audit detail %q", e.Detail)
				}
			}
		}
		if strings.Count(strings.Join(seen, " "), "webhook.create") != governance.MaxWebhooks || !strings.Contains(strings.Join(seen, " "), "webhook.delete") {
			t.Fatalf("audited %v", seen)
		}
		// Without the key-encryption key webhooks cannot be created.
		plain := governance.New(governance.Options{Store: storage.Narrow[governance.Tx](f.st), Now: f.clock.Now})
		_, err = plain.CreateWebhook(ctx, f.eveA, f.globex.ID, governance.WebhookRequest{URL: "https://h.example"})
		wantRefusal(t, err, governance.Unavailable, "webhooks-unavailable")
	})
}
