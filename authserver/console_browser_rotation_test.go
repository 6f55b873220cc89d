package authserver_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestConsoleBrowserRotationOverlap: a token generated with allowed
// networks (typed in the text area) shows them; regenerated through the
// dialog with a one-day overlap, its old value keeps working and its page
// says until when, with a button that stops it now. Every page fits a
// desktop and a 390 px phone.
func TestConsoleBrowserRotationOverlap(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	eachScreen(t, e, func(t *testing.T, b *browserTab, s screen) {
		b.signIn("acme", "carol", "carol-password")
		b.open("/console/tokens/new")
		name := "rotating " + s.name
		b.do("name the token", typeText(chromedp.ID("name"), name))
		b.press(s, `input[name="scopes"][value="OR.Jobs"]`)
		b.do("type the networks", typeText(chromedp.ID("allowed_cidrs"), "127.0.0.1/8\n2001:db8:85a3:1234:5678::/80"))
		b.wantFits("the generate form with networks")
		b.press(s, "#expiry-7")
		b.pressAndLoad(s, "#generate")
		old := b.value("#token-value")
		p := e.patByName("acme", "carol", name)
		b.open("/console/tokens/" + p.ID)
		b.wantText("#allowed-networks", "127.0.0.0/8")
		b.wantText("#allowed-networks", "2001:db8:85a3:1234:5678::/80")
		b.wantFits("the token page with networks")

		b.press(s, "#regenerate")
		b.do("wait for the dialog", chromedp.WaitVisible(chromedp.ID("regenerate-dialog")))
		if got := b.eval(dialogFitsJS); got != "" {
			t.Fatalf("the regenerate dialog at %dpx: %s", s.width, got)
		}
		b.do("choose a one-day overlap", chromedp.SetValue(chromedp.ID("overlap"), "1d"))
		b.pressAndLoad(s, "#regenerate-ok")
		b.wantText("h1", "Token regenerated")
		fresh := b.value("#token-value")
		if !e.exchangeJWT(t, old) || !e.exchangeJWT(t, fresh) {
			t.Fatal("during the overlap both values must work")
		}
		b.open("/console/tokens/" + p.ID)
		b.wantText("#overlap-until", "old secret works until")
		b.wantFits("the old token's page in its overlap")
		if s.phone {
			b.docsScreenshot("console-token-overlap-phone")
		}
		b.confirm("#end-overlap", "Stop the old value")
		if !strings.Contains(b.text("body"), "stops working now") {
			t.Error("no notice that the old value stopped")
		}
		if e.exchangeJWT(t, old) || !e.exchangeJWT(t, fresh) {
			t.Fatal("after stopping the overlap only the new value may work")
		}
	})
}
