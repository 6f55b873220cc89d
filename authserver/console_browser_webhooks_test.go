package authserver_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleBrowserWebhooks: on a desktop and on a phone, an admin adds
// a webhook on the settings page, sees its secret once, finds it listed
// without the secret, and removes it after confirming. The page, with a
// long URL in it, is never wider than the screen.
func TestConsoleBrowserWebhooks(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	long := "https://hooks.example/" + strings.Repeat("deliveries/", 12) + "in?team=identity"
	for _, s := range screens {
		t.Run(s.name, func(t *testing.T) {
			b := e.browser(t)
			b.emulate(s)
			b.signIn("acme", "alice", "alice-password")
			b.open("/console/org/settings")
			b.wantText("#webhooks", "The organization has no webhooks.")
			b.wantFits("the settings page")

			b.fill("webhook-url", "http://hooks.example/in")
			b.submit("#add-webhook")
			b.wantText("#webhook-error", "URL: Must be https")
			if got := b.value("#webhook-url"); got != "http://hooks.example/in" {
				t.Fatalf("the refused URL is not refilled: %q", got)
			}

			b.do("replace the URL, name event types", chromedp.SetValue(chromedp.ID("webhook-url"), long),
				typeText(chromedp.ID("webhook-types"), "pat.revoked user.deactivated"))
			b.submit("#add-webhook")
			b.wantText("#notice", "Webhook added.")
			b.wantText("#webhook-secret-warning", "This secret will not be shown again")
			secret := b.value("#webhook-secret")
			if !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("secret %q", secret)
			}
			b.wantText("#webhook-list", "pat.revoked")
			b.wantFits("the settings page with a new webhook's secret")
			if s.phone {
				b.docsScreenshot("console-webhooks-phone")
			} else {
				b.docsScreenshot("console-webhooks")
			}

			b.open("/console/org/settings")
			if strings.Contains(b.html(), secret) {
				t.Fatal("the secret is shown again")
			}
			b.wantText("#webhook-list", "hooks.example")
			b.wantFits("the settings page with a webhook")
			b.confirm("#webhook-list button.remove-webhook", "Remove this webhook?")
			b.wantText("#webhook-notice", "Webhook removed.")
			b.wantText("#webhooks", "The organization has no webhooks.")
		})
	}
}
