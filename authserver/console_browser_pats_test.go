package authserver_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"authserver/authserver"
	"authserver/storage"
)

// Browser tests of the PAT pages, the audit log and phone widths. Each runs
// at a desktop and a phone size; on the phone, buttons are tapped (touch
// events), not clicked.

// press clicks (desktop) or taps (phone) what sel finds.
func (b *browserTab) press(s screen, sel string) {
	b.t.Helper()
	if s.phone {
		b.do("tap "+sel, chromedp.ScrollIntoView(chromedp.CSS(sel)), chromedp.Tap(chromedp.CSS(sel), chromedp.NodeVisible))
		return
	}
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// pressAndLoad presses what sel finds and waits for the page it loads.
func (b *browserTab) pressAndLoad(s screen, sel string) {
	b.t.Helper()
	if !s.phone {
		b.submit(sel)
		return
	}
	b.do("scroll to "+sel, chromedp.ScrollIntoView(chromedp.CSS(sel)))
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Tap(chromedp.CSS(sel), chromedp.NodeVisible))); err != nil {
		b.t.Fatalf("tap %s: %v", sel, err)
	}
}

// eval evaluates a JavaScript expression to a string.
func (b *browserTab) eval(expr string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// dialogFitsJS checks the open dialog: inside the viewport, and each of
// its buttons and links reachable (inside the viewport once scrolled to)
// and large enough to tap. It answers "" or what is wrong.
const dialogFitsJS = `(() => {
  const d = document.querySelector('dialog[open]');
  if (!d) return 'no dialog is open';
  const vw = window.innerWidth, vh = window.innerHeight;
  const r = d.getBoundingClientRect();
  const bad = [];
  if (r.left < 0 || r.top < 0 || r.right > vw + 0.5 || r.bottom > vh + 0.5) bad.push('dialog ' + JSON.stringify([r.left, r.top, r.right, r.bottom]) + ' outside ' + vw + 'x' + vh);
  if (d.scrollWidth > d.clientWidth + 1) bad.push('dialog content ' + d.scrollWidth + 'px wide in ' + d.clientWidth + 'px');
  for (const el of d.querySelectorAll('button, a[href], input:not([type=hidden])')) {
    el.scrollIntoView({block: 'nearest'});
    const b = el.getBoundingClientRect();
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' "' + (el.textContent || '').trim() + '"';
    if (b.width === 0 || b.height === 0) { bad.push(name + ' is not shown'); continue; }
    if (b.left < 0 || b.right > vw + 0.5 || b.top < 0 || b.bottom > vh + 0.5) bad.push(name + ' is cut off: ' + JSON.stringify([b.left, b.top, b.right, b.bottom]));
    if (el.tagName !== 'INPUT' && b.height < 24) bad.push(name + ' is ' + Math.round(b.height) + 'px high');
    const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
    if (hit && el !== hit && !el.contains(hit) && !(el.labels && [...el.labels].some(l => l.contains(hit)))) bad.push(name + ' is covered by ' + hit.tagName.toLowerCase());
  }
  return bad.join('; ');
})()`

// openersJS lists one selector per kind of dialog opener on the page: a
// button that asks for confirmation (by its label), a link that opens a
// form dialog.
const openersJS = `(() => {
  const seen = new Set(), out = [];
  document.querySelectorAll('[data-confirm], a[data-dialog]').forEach((el, i) => {
    const key = el.getAttribute('data-dialog') || el.getAttribute('data-confirm-label') || 'confirm';
    if (seen.has(key) || el.getClientRects().length === 0) return;
    seen.add(key);
    el.setAttribute('data-test-opener', String(i));
    out.push('[data-test-opener="' + i + '"]');
  });
  return out.join('\n');
})()`

// wantDialogsFit opens every kind of dialog the page has, checks that it
// fits the viewport with every button reachable, and closes it with
// Escape, which must leave the page where it was.
func (b *browserTab) wantDialogsFit(s screen, what string) {
	b.t.Helper()
	openers := b.eval(openersJS)
	if openers == "" {
		return
	}
	for _, sel := range strings.Split(openers, "\n") {
		url := b.eval(`location.href`)
		b.press(s, sel)
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`!!document.querySelector('dialog[open]')`)); err != nil {
			b.t.Errorf("%s: %s opens no dialog: %v", what, sel, err)
			continue
		}
		if got := b.eval(dialogFitsJS); got != "" {
			b.t.Errorf("%s at %dpx, dialog of %s: %s", what, s.width, sel, got)
		}
		b.do("press Escape", chromedp.KeyEvent(kb.Escape))
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`!document.querySelector('dialog[open]')`)); err != nil {
			b.t.Errorf("%s: Escape does not close the dialog of %s", what, sel)
		}
		if now := b.eval(`location.href`); now != url {
			b.t.Fatalf("%s: closing the dialog of %s left the page for %s", what, sel, now)
		}
	}
}

// TestConsoleBrowserEveryPageFits opens every GET page of the console's
// route table as an admin, at a desktop and a phone width: none is wider
// than the viewport, and every dialog, once opened, fits it with its
// buttons reachable. Pages added to the table are checked too; a new
// {id} segment needs a fixture id below.
func TestConsoleBrowserEveryPageFits(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	alice, carol := e.user("acme", "alice"), e.user("acme", "carol")
	// Long names, scopes and addresses: what widens pages in practice.
	_, mine := e.pat(patSpec{org: "acme", user: "alice", name: "nightly deployment of the invoicing pipeline",
		scopes: []string{"OR.Jobs", "OR.Execution", "OR.Folders", "API.Read", "API.Write"}, expires: ptr(time.Now().Add(3 * 24 * time.Hour)),
		cidrs: []string{"2001:db8:85a3:1234:5678:8a2e:370:7334/128", "203.0.113.0/24", "2001:db8:85a3::/48"}})
	if _, err := e.store.SetPATRecentNetworks(ctx, mine.OrgID, mine.ID, nil, []string{"2001:db8:85a3:1234::/64",
		"2001:db8:85a3:1235::/64", "203.0.113.0/24", "198.51.100.0/24", "2001:db8:ffff:ffff::/64"}); err != nil {
		t.Fatal(err)
	}
	_, carols := e.pat(patSpec{org: "acme", user: "carol", name: "carol's build agent", scopes: []string{"OR.Jobs"}})
	if err := e.store.TouchPATs(ctx, map[string]storage.PATUse{
		mine.ID:   {At: time.Now(), Addr: "2001:db8:85a3:1234:5678:8a2e:370:7334", Client: "gateway"},
		carols.ID: {At: time.Now(), Addr: "203.0.113.250", Client: "cli"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RevokePAT(ctx, carols.OrgID, carols.ID, time.Now(), "admin"); err != nil {
		t.Fatal(err)
	}
	roles, err := e.store.ListRoles(ctx, alice.OrgID)
	if err != nil || len(roles) == 0 {
		t.Fatalf("roles: %v %v", roles, err)
	}
	// The id each kind of {id} segment stands for, by the path before it.
	ids := map[string]string{"/console/tokens/": mine.ID, "/console/org/users/": carol.ID, "/console/org/roles/": roles[0].ID}
	var paths []string
	for _, rt := range authserver.ConsoleRoutes() {
		if rt.Method != http.MethodGet {
			continue
		}
		p := strings.ReplaceAll(rt.Path, "{$}", "")
		if before, _, ok := strings.Cut(p, "{id}"); ok {
			id, known := ids[before]
			if !known {
				t.Errorf("no fixture id for %s: add one to this test", rt.Path)
				continue
			}
			p = strings.Replace(p, "{id}", id, 1)
		}
		if strings.Contains(p, "{") {
			t.Errorf("a path segment of %s has no fixture value", rt.Path)
			continue
		}
		paths = append(paths, p)
	}
	eachScreen(t, e, func(t *testing.T, b *browserTab, s screen) {
		b.signIn("acme", "alice", "alice-password")
		for _, p := range paths {
			resp, err := chromedp.RunResponse(b.ctx, chromedp.Navigate(e.url+p))
			if err != nil {
				t.Fatalf("open %s: %v", p, err)
			}
			if resp.Status != http.StatusOK || strings.Contains(resp.URL, "/console/login") {
				t.Errorf("%s: status %d at %s, want 200", p, resp.Status, resp.URL)
				continue
			}
			b.wantFits(p)
			b.wantDialogsFit(s, p)
		}
		if s.phone {
			b.open("/console/tokens/" + mine.ID)
			b.docsScreenshot("console-token-phone")
		}
	})
}

// TestConsoleBrowserExpiryPresets: a token created with the 7-day preset
// expires 7 days out; under a maximum, "no expiry" is not offered and the
// default follows the maximum.
func TestConsoleBrowserExpiryPresets(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	eachScreen(t, e, func(t *testing.T, b *browserTab, s screen) {
		e.setSettings("acme", true, "0")
		b.signIn("acme", "carol", "carol-password")
		b.open("/console/tokens/new")
		if got := b.eval(`document.querySelector('input[name=expiry]:checked').value`); got != "30" {
			t.Fatalf("default expiry %q, want 30 days", got)
		}
		if b.eval(`String(!!document.getElementById('expiry-never'))`) != "true" {
			t.Fatal("no expiry is not offered without a maximum")
		}
		b.wantFits("the generate form")
		name := "week " + s.name
		b.do("name the token", typeText(chromedp.ID("name"), name))
		b.press(s, `input[name="scopes"][value="OR.Execution"]`)
		if !strings.Contains(b.text(`label[for="`+b.eval(`document.querySelector('input[value="OR.Execution"]').id`)+`"]`), "Start and stop processes") {
			t.Error("the scope's description is not shown beside it")
		}
		b.press(s, "#expiry-7")
		b.pressAndLoad(s, "#generate")
		want := time.Now().UTC().AddDate(0, 0, 7).Format("2006-01-02")
		b.wantText(".details", want)
		for _, p := range e.patsOf("acme", "carol") {
			if p.Name == name && (p.ExpiresAt == nil || p.ExpiresAt.Sub(p.CreatedAt).Round(time.Minute) != 7*24*time.Hour) {
				t.Fatalf("expires %v, created %v: want 7 days", p.ExpiresAt, p.CreatedAt)
			}
		}
		if s.phone {
			b.open("/console/tokens/new")
			b.docsScreenshot("console-new-token-phone")
		}

		e.setSettings("acme", true, "20d")
		b.open("/console/tokens/new")
		for _, id := range []string{"expiry-never", "expiry-30", "expiry-60", "expiry-90"} {
			if b.eval(`String(!!document.getElementById('`+id+`'))`) != "false" {
				t.Errorf("%s is offered under a 20-day maximum", id)
			}
		}
		if got := b.eval(`document.querySelector('input[name=expiry]:checked').value`); got != "max" {
			t.Errorf("default under a 20-day maximum %q, want the maximum", got)
		}
		e.setSettings("acme", true, "0")
	})
}

// TestConsoleBrowserExpiringSoon: a token ending within 7 days carries a
// badge, and the "expiring within 7 days" filter lists only such tokens,
// counting the organization's maximum lifetime.
func TestConsoleBrowserExpiringSoon(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	now := time.Now()
	e.pat(patSpec{org: "acme", user: "alice", name: "soon", scopes: []string{"OR.Jobs"}, expires: ptr(now.Add(3*24*time.Hour + time.Hour))})
	e.pat(patSpec{org: "acme", user: "alice", name: "later", scopes: []string{"OR.Jobs"}, expires: ptr(now.Add(40 * 24 * time.Hour))})
	e.pat(patSpec{org: "acme", user: "alice", name: "old", scopes: []string{"API.Read"}, created: now.Add(-55 * 24 * time.Hour)})
	eachScreen(t, e, func(t *testing.T, b *browserTab, s screen) {
		e.setSettings("acme", true, "0")
		b.signIn("acme", "alice", "alice-password")
		b.open("/console/tokens")
		b.wantText(`tr[data-name="soon"] .badge-expiring`, "expires in 4 days")
		if b.eval(`String(document.querySelectorAll('.badge-expiring').length)`) != "1" {
			t.Fatal("a badge on a token that does not end within a week")
		}
		b.press(s, "#filter-expiring")
		b.pressAndLoad(s, "#filter")
		if got := b.eval(`[...document.querySelectorAll('#tokens tbody tr')].map(r => r.dataset.name).join(',')`); got != "soon" {
			t.Fatalf("expiring within 7 days lists %q, want soon", got)
		}
		b.wantFits("my tokens, filtered")

		// Under a 60-day maximum, the 55-day-old token ends in 5 days.
		e.setSettings("acme", true, "60d")
		b.open("/console/org/tokens?expiring=true")
		if got := b.eval(`[...document.querySelectorAll('#org-tokens tbody tr')].map(r => r.dataset.name).sort().join(',')`); got != "old,soon" {
			t.Fatalf("the organization's tokens expiring within 7 days: %q, want old,soon", got)
		}
		b.wantText(`tr[data-name="old"] .badge-expiring`, "expires in 5 days")
		b.wantFits("organization tokens, filtered")
		if s.phone {
			b.docsScreenshot("console-organization-phone")
		} else {
			b.docsScreenshot("console-expiring")
		}
		e.setSettings("acme", true, "0")
	})
}

// TestConsoleBrowserRegenerateDialog: on the token page, Regenerate opens
// a dialog with the expiry presets; Escape closes it and gives focus
// back; choosing 60 days and pressing Regenerate (tapped on a phone)
// reveals a token that expires 60 days out.
func TestConsoleBrowserRegenerateDialog(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	eachScreen(t, e, func(t *testing.T, b *browserTab, s screen) {
		tok, p := e.pat(patSpec{org: "acme", user: "carol", name: "agent " + s.name, scopes: []string{"OR.Jobs"}, expires: ptr(time.Now().Add(24 * time.Hour))})
		b.signIn("acme", "carol", "carol-password")
		b.open("/console/tokens/" + p.ID)
		b.wantFits("the token page")

		b.press(s, "#regenerate")
		b.do("wait for the dialog", chromedp.WaitVisible(chromedp.ID("regenerate-dialog")))
		if got := b.eval(dialogFitsJS); got != "" {
			t.Fatalf("the regenerate dialog at %dpx: %s", s.width, got)
		}
		if got := b.eval(`document.activeElement.id`); got != "regenerate-title" {
			t.Errorf("focus is on %q when the dialog opens, want its title", got)
		}
		if got := b.eval(`document.querySelector('#regenerate-dialog input[name=expiry]:checked').value`); got != "30" {
			t.Errorf("the dialog's default expiry is %q, want 30 days", got)
		}
		b.do("press Escape", chromedp.KeyEvent(kb.Escape))
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`!document.getElementById('regenerate-dialog').open && document.activeElement.id === 'regenerate'`)); err != nil {
			t.Fatal("Escape does not close the dialog and give focus back to Regenerate")
		}
		if !e.exchangeJWT(t, tok) {
			t.Fatal("closing the dialog regenerated the token")
		}
		if s.phone {
			b.press(s, "#regenerate")
			b.do("wait for the dialog", chromedp.WaitVisible(chromedp.ID("regenerate-dialog")))
			b.docsScreenshot("console-regenerate-phone")
			b.do("press Escape", chromedp.KeyEvent(kb.Escape))
		}

		// By keyboard on the desktop: Enter on the focused link opens it.
		if !s.phone {
			b.do("focus and press Enter", chromedp.Focus(chromedp.ID("regenerate")), chromedp.KeyEvent(kb.Enter))
		} else {
			b.press(s, "#regenerate")
		}
		b.do("wait for the dialog", chromedp.WaitVisible(chromedp.ID("regenerate-dialog")))
		if !s.phone {
			// Tab from the title reaches the choices; arrows move between them.
			b.do("Tab to the expiry", chromedp.KeyEvent(kb.Tab))
			if got := b.eval(`document.activeElement.name`); got != "expiry" {
				t.Fatalf("Tab from the dialog's title focuses %q, want an expiry choice", got)
			}
		}
		b.press(s, "#expiry-60")
		b.pressAndLoad(s, "#regenerate-ok")
		b.wantText("h1", "Token regenerated")
		fresh := b.value("#token-value")
		if !patRE.MatchString(fresh) || fresh == tok || e.exchangeJWT(t, tok) || !e.exchangeJWT(t, fresh) {
			t.Fatal("the regenerated token does not replace the old one")
		}
		b.wantText(".details", time.Now().UTC().AddDate(0, 0, 60).Format("2006-01-02"))
		b.wantFits("the reveal")
	})
}

// TestConsoleBrowserRegenerateWithoutScript: with JavaScript off, the
// Regenerate link leads to a page with the same form, which works.
func TestConsoleBrowserRegenerateWithoutScript(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	_, p := e.pat(patSpec{org: "acme", user: "carol", name: "no script", scopes: []string{"OR.Jobs"}})
	b.signIn("acme", "carol", "carol-password")
	b.do("turn JavaScript off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	b.open("/console/tokens/" + p.ID)
	b.submit("#regenerate") // the link, followed: no dialog without script
	b.wantText("#regenerate-title", "Regenerate “no script”")
	b.do("choose 90 days", chromedp.Click(chromedp.ID("expiry-90")))
	b.submit("#regenerate-ok")
	b.wantText(".details", time.Now().UTC().AddDate(0, 0, 90).Format("2006-01-02"))
}

// uuidRE matches a UUID, as ids are.
var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// brokenWordsJS lists the words of the audit table that wrap across lines
// inside themselves: a word may wrap only at spaces and hyphens.
const brokenWordsJS = `(() => {
  const out = [];
  const walker = document.createTreeWalker(document.querySelector('#audit tbody'), NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const re = /[^\s\-]+/g;
    let m;
    while ((m = re.exec(n.data))) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top)));
      if (tops.size > 1) out.push(m[0]);
    }
  }
  return out.join(' ');
})()`

// TestConsoleBrowserAuditNames: the audit log names actors and targets
// (users, tokens, roles) instead of ids, filters by action, actor and
// days, and never wraps inside a word.
func TestConsoleBrowserAuditNames(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	carol := e.consoleClient().signIn("acme", "carol")
	created := carol.post("/console/tokens", map[string][]string{"name": {"release train"}, "scopes": {"OR.Jobs"}, "expiry": {"7"}})
	if created.StatusCode != http.StatusOK {
		t.Fatalf("create: %d", created.StatusCode)
	}
	pats := e.patsOf("acme", "carol")
	if len(pats) != 1 {
		t.Fatal("no PAT")
	}
	if r := carol.post("/console/tokens/"+pats[0].ID+"/revoke", nil); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	eachScreen(t, e, func(t *testing.T, b *browserTab, s screen) {
		b.signIn("acme", "alice", "alice-password")
		b.open("/console/org/audit")
		row := `#audit tr[data-action="pat.create"]`
		b.wantText(row+` td[data-label="Actor"]`, "carol")
		b.wantText(row+` td[data-label="Target"]`, "release train")
		b.wantText(`#audit tr[data-action="pat.revoke"] td[data-label="Target"]`, "release train")
		b.wantText(`#audit tr[data-action="console.login"] td[data-label="Actor"]`, "alice")
		for _, col := range []string{"Actor", "Target"} {
			got := b.eval(`[...document.querySelectorAll('#audit tr[data-action^="pat."] td[data-label="` + col + `"], #audit tr[data-action^="console."] td[data-label="` + col + `"]')].map(td => td.textContent).join('|')`)
			if uuidRE.MatchString(got) {
				t.Errorf("the %s column shows ids: %s", col, got)
			}
		}
		if got := b.eval(brokenWordsJS); got != "" {
			t.Errorf("words wrap inside themselves at %dpx: %s", s.width, got)
		}
		b.wantFits("the audit log")
		if s.phone {
			b.docsScreenshot("console-audit-phone")
		} else {
			b.docsScreenshot("console-audit")
			// Between phone and desktop the table is a table, and narrow:
			// where words used to break ("pat.creat/e").
			mid := screen{name: "tablet", width: 700, height: 900}
			b.emulate(mid)
			b.open("/console/org/audit")
			if got := b.eval(brokenWordsJS); got != "" {
				t.Errorf("words wrap inside themselves at %dpx: %s", mid.width, got)
			}
			b.wantFits("the audit log at 700px")
			b.emulate(s)
		}

		// Filters: action, actor, days.
		b.do("filter", chromedp.SetValue(chromedp.ID("action"), "pat.revoke"), typeText(chromedp.ID("actor"), "carol"))
		b.pressAndLoad(s, "#audit-filter")
		if got := b.eval(`[...document.querySelectorAll('#audit tbody tr')].map(r => r.dataset.action).join(',')`); got != "pat.revoke" {
			t.Fatalf("pat.revoke by carol lists %q", got)
		}
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
		b.open("/console/org/audit?since=" + tomorrow)
		b.wantText(".empty", "No event matches.")
		b.open("/console/org/audit?actor=nobody")
		b.wantText("#error", "Actor: there is no user with this username in this organization.")
	})
}
