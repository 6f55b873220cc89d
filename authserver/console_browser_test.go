package authserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"authserver/internal/storetest"
	"authserver/internal/testenv"
	"authserver/storage"
)

// Browser tests: headless Chromium, driven by chromedp, against the real
// server. Chromium's headless shell (Debian's chromium-headless-shell: the
// same engine without the browser around it) is preferred; it takes a
// fraction of the full browser's CPU, which matters on the suite's two
// cores. Without a browser they skip, except with CI=true, where they
// fail. A failing test saves a screenshot under testdata/screenshots/ and
// prints its path. AUTHSERVER_UPDATE_SCREENSHOTS=1 also rewrites the
// screenshots of the README (docs/console-*.png).

// chromiumPath finds Chromium's headless shell, or else a Chromium or
// Chrome binary.
func chromiumPath() string {
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserTab is one tab of a headless browser pointed at env's server.
type browserTab struct {
	t *testing.T
	e *env
	// ctx bounds the test's actions; tab is the tab without that bound.
	ctx, tab context.Context
	// width is the viewport's width set by emulate (0: the default).
	width int64
}

// The browser tests share one headless Chromium per test binary, started
// by the first of them: starting one takes a second or two, and there are
// dozens of tabs. Each tab lives in a browser context of its own (like a
// private window: its own cookies and storage), so no test sees another's
// session.
var chromium struct {
	once sync.Once
	ctx  context.Context // the browser; its first tab stays blank
	stop context.CancelFunc
	err  error
}

// startChromium starts the shared browser at path, once.
func startChromium(path string) (context.Context, error) {
	chromium.once.Do(func() {
		profile, err := os.MkdirTemp("", "authserver-chromium-")
		if err != nil {
			chromium.err = err
			return
		}
		// chromedp's defaults (headless, and Puppeteer's flags for automation),
		// plus ours.
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-quic", true),
			chromedp.UserDataDir(profile),
			chromedp.WindowSize(1280, 900),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		chromium.ctx = ctx
		chromium.stop = func() {
			cancel()
			cancelAlloc() // waits for the browser to exit
			os.RemoveAll(profile)
		}
		if err := chromedp.Do(ctx); err != nil { // starts the browser
			chromium.err = fmt.Errorf("start %s: %w", path, err)
		}
	})
	return chromium.ctx, chromium.err
}

// stopChromium stops the shared browser, if one was started (TestMain).
func stopChromium() {
	if chromium.stop != nil {
		chromium.stop()
	}
}

// browser opens a tab, in a fresh browser context, for this test.
func (e *env) browser(t *testing.T) *browserTab {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if testenv.CI() {
			t.Fatal("no Chromium or Chrome on PATH, and CI=true: the browser tests must run")
		}
		t.Skip("no Chromium or Chrome on PATH: the browser tests skip (install Debian's chromium-headless-shell, or chromium, to run them)")
	}
	shared, err := startChromium(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := chromedp.NewContext(shared, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel) // closes the tab and disposes of its browser context
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(tcancel)
	b := &browserTab{t: t, e: e, ctx: tctx, tab: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			b.saveScreenshot(filepath.Join("testdata", "screenshots", screenshotName(t.Name())+".png"))
		}
	})
	return b
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func screenshotName(test string) string { return unsafeName.ReplaceAllString(test, "_") }

// saveScreenshot writes a full-page PNG of the tab and prints where.
func (b *browserTab) saveScreenshot(path string) {
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("no screenshot: %v", err)
		return
	}
	abs, _ := filepath.Abs(path)
	b.t.Logf("screenshot: %s", abs)
}

// docsScreenshot rewrites docs/<name>.png when AUTHSERVER_UPDATE_SCREENSHOTS=1
// (from the SQLite run only: the pages are the same on PostgreSQL).
func (b *browserTab) docsScreenshot(name string) {
	if os.Getenv("AUTHSERVER_UPDATE_SCREENSHOTS") != "1" || strings.HasSuffix(b.t.Name(), "/postgres") {
		return
	}
	b.saveScreenshot(filepath.Join("..", "docs", name+".png"))
}

// do runs actions, failing the test on an error.
func (b *browserTab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open loads a console path.
func (b *browserTab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.e.url+path))
}

// submit clicks what sel finds and waits for the page it loads.
func (b *browserTab) submit(sel string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil,
		chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))); err != nil {
		b.t.Fatalf("submit %s: %v", sel, err)
	}
}

// confirm clicks a button that asks for confirmation, checks the dialog
// says what it will do, and confirms.
func (b *browserTab) confirm(sel, wantInDialog string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.ID("confirm-dialog")))
	if got := b.text("#confirm-message"); !strings.Contains(got, wantInDialog) {
		b.t.Fatalf("the confirmation says %q, want it to mention %q", got, wantInDialog)
	}
	b.submit("#confirm-ok")
}

// text is the visible text of what sel finds, waiting for it.
func (b *browserTab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// value is the value of a form field.
func (b *browserTab) value(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

// html is the whole document as the browser holds it now.
func (b *browserTab) html() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Fatalf("page HTML: %v", err)
	}
	return s
}

// wantText fails unless what sel finds contains want.
func (b *browserTab) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Fatalf("%s says %q, want it to contain %q", sel, got, want)
	}
}

// typeText enters text into the field sel finds in one step, as a paste
// or an input method does (Input.insertText): the page gets its input
// event, and the test one round trip to the browser rather than three per
// character, which chromedp.SendKeys takes.
func typeText[S chromedp.Selectable](sel S, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Focus(sel, chromedp.NodeVisible)(ctx, t); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// signIn fills and submits the sign-in form.
func (b *browserTab) signIn(org, user, password string) {
	b.t.Helper()
	b.open("/console/login")
	b.do("fill the sign-in form",
		typeText(chromedp.ID("organization"), org),
		typeText(chromedp.ID("username"), user),
		typeText(chromedp.ID("password"), password))
	b.submit("#sign-in")
}

// screen is a viewport the tests run at.
type screen struct {
	name          string
	width, height int64
	phone         bool
}

var screens = []screen{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}}

// eachScreen runs fn at every screen size, in one browser each.
func eachScreen(t *testing.T, e *env, fn func(t *testing.T, b *browserTab, s screen)) {
	for _, s := range screens {
		t.Run(s.name, func(t *testing.T) {
			b := e.browser(t)
			opts := []chromedp.EmulateViewportOption{}
			if s.phone {
				opts = append(opts, chromedp.EmulateTouch)
			}
			b.do("set the viewport", chromedp.EmulateViewport(s.width, s.height, opts...))
			fn(t, b, s)
		})
	}
}

// emulate sizes the tab to s: a desktop window, or a phone (mobile
// emulation, so that the page's viewport meta applies, with touch events).
func (b *browserTab) emulate(s screen) {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if s.phone {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	b.do(fmt.Sprintf("viewport %dx%d", s.width, s.height), chromedp.EmulateViewport(s.width, s.height, opts...))
	b.width = s.width
}

// overflowJS describes what sticks out of the viewport on the right
// ("" when the page fits): the document's width and the widest elements.
// The layout viewport must be as wide as the emulated screen (the format's
// argument, 0 for any): a page without its viewport meta would be laid out
// 980px wide on a phone, and fit that.
const overflowJS = `(() => {
  const want = %d, vw = window.innerWidth, de = document.documentElement;
  if (want && vw !== want) return 'the layout viewport is ' + vw + 'px wide, not the screen\'s ' + want + 'px';
  if (de.scrollWidth <= vw) return '';
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right > vw + 0.5 && r.width > 0) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') + ' right=' + Math.round(r.right));
    }
  }
  return 'scrollWidth ' + de.scrollWidth + ' > innerWidth ' + vw + ': ' + wide.slice(0, 8).join(', ');
})()`

// wantFits fails when the page is wider than the viewport: something is
// cut off or needs sideways scrolling.
func (b *browserTab) wantFits(what string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(overflowJS, b.width)))
	if err != nil {
		b.t.Fatalf("measure %s: %v", what, err)
	}
	if got != "" {
		b.t.Errorf("%s: %s", what, got)
	}
}

// exchangeJWT reports whether a PAT can be exchanged for an Orchestrator
// token now, checking that what comes back is a JWT.
func (e *env) exchangeJWT(t *testing.T, token string) bool {
	t.Helper()
	resp := e.exchange(token, url.Values{"audience": {"orchestrator"}})
	if resp.StatusCode != http.StatusOK {
		return false
	}
	jwt, _ := resp.json(t)["access_token"].(string)
	if strings.Count(jwt, ".") != 2 {
		t.Fatalf("the exchange answered an access token that is not a JWT: %q", jwt)
	}
	return true
}

// TestConsoleBrowserMyTokens: a user generates a token, copies it from the
// one-time reveal and exchanges it; the reveal does not survive a reload;
// the dry run explains it; regenerating replaces its value; revoking ends
// it.
func TestConsoleBrowserMyTokens(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		b := e.browser(t)
		b.signIn("acme", "carol", "carol-password")
		b.wantText("#no-tokens", "You have no personal access tokens yet")

		b.open("/console/tokens/new")
		expires := time.Now().UTC().AddDate(0, 0, 10).Format("2006-01-02")
		b.do("fill the generate form",
			typeText(chromedp.ID("name"), "nightly deploy"),
			chromedp.Click(chromedp.CSS(`input[name="scopes"][value="OR.Jobs"]`)),
			chromedp.Click(chromedp.ID("expiry-date")),
			chromedp.SetValue(chromedp.ID("expires_on"), expires))
		b.submit("#generate")
		b.wantText("#reveal-warning", "This token will not be shown again")
		token := b.value("#token-value")
		if !patRE.MatchString(token) {
			t.Fatalf("the reveal shows %q, not a PAT", token)
		}
		if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); strings.Contains(loc, token) {
			t.Fatalf("the token is in the URL %s", loc)
		}
		if !e.exchangeJWT(t, token) {
			t.Fatal("the revealed token cannot be exchanged")
		}
		b.do("copy", chromedp.Click(chromedp.ID("copy-token")))
		if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`document.getElementById('copy-status').textContent !== ''`)); err != nil {
			t.Fatalf("the copy button says nothing: %v", err)
		}
		b.docsScreenshot("console-reveal")

		// Reloading the reveal submits its form again: refused, and the
		// token is not shown.
		b.do("reload the reveal", chromedp.Reload())
		if strings.Contains(b.html(), token) {
			t.Fatal("the token is shown again after a reload")
		}
		b.wantText("#error-message", "already submitted")
		b.open("/console/tokens")
		if strings.Contains(b.html(), token) {
			t.Fatal("the token is on My tokens")
		}
		b.wantText(`tr[data-name="nightly deploy"] .status`, "active")
		b.wantText(`tr[data-name="nightly deploy"] [data-label="Expires"]`, expires)
		if pats := e.patsOf("acme", "carol"); len(pats) != 1 {
			t.Fatalf("carol has %d PATs after the reload, want 1", len(pats))
		}

		// The dry run.
		b.submit(`tr[data-name="nightly deploy"] td[data-label="Name"] a`)
		b.do("choose an audience", chromedp.SetValue(chromedp.ID("audience"), "orchestrator"))
		b.submit("#explain")
		b.wantText("#explanation", "OR.Jobs")
		b.do("choose the API audience", chromedp.SetValue(chromedp.ID("audience"), "https://api.example.com"))
		b.submit("#explain")
		b.wantText("#dropped", "not in audience")

		// Regenerate: the old value stops, the new one works.
		b.open("/console/tokens")
		b.submit(`tr[data-name="nightly deploy"] a.regenerate`)
		b.wantText("#regenerate-title", "Regenerate “nightly deploy”")
		b.submit("#regenerate-ok")
		b.wantText("h1", "Token regenerated")
		regenerated := b.value("#token-value")
		if !patRE.MatchString(regenerated) || regenerated == token {
			t.Fatalf("regenerated value %q", regenerated)
		}
		if e.exchangeJWT(t, token) {
			t.Fatal("the old value still works after regeneration")
		}
		if !e.exchangeJWT(t, regenerated) {
			t.Fatal("the regenerated value does not work")
		}

		// A second token for the screenshot of the list, then revoke.
		b.open("/console/tokens/new")
		b.do("fill the generate form",
			typeText(chromedp.ID("name"), "ci pipeline"),
			chromedp.Click(chromedp.CSS(`input[name="scopes"][value="OR.Execution"]`)),
			chromedp.Click(chromedp.CSS(`input[name="scopes"][value="OR.Jobs"]`)))
		b.submit("#generate")
		b.open("/console/tokens")
		b.docsScreenshot("console-tokens")
		b.confirm(`tr[data-name="nightly deploy"][data-status="active"] button.revoke`, "Revoke “nightly deploy”")
		b.wantText("#notice", "Token “nightly deploy” is revoked")
		b.wantText(`tr[data-name="nightly deploy"][data-status="revoked"] .status`, "revoked")
		if e.exchangeJWT(t, regenerated) {
			t.Fatal("a revoked token still works")
		}
	})
}

// TestConsoleBrowserAdmin: an admin disables PATs (generation is refused,
// exchanges fail), enables them again, revokes several tokens at once,
// revokes a leaked one by its value, and deactivates a user.
func TestConsoleBrowserAdmin(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		carolPAT := mustPAT(e, "acme", "carol", "OR.Jobs")
		b := e.browser(t)
		b.signIn("acme", "alice", "alice-password")

		// The settings page warns that they are a total kill switch.
		b.open("/console/org/settings")
		b.wantText("#kill-switch-help", "also cuts off the API tokens derived from them, your own included")
		b.wantText("#kill-switch-help", "This console, where you sign in with your password, stays usable")

		// A maximum under an hour would block every token at once.
		b.do("set a maximum of 1ns", chromedp.SetValue(chromedp.ID("pat_max_lifetime"), "1ns"))
		b.submit("#save-settings")
		b.wantText("#error", "at least 1h")
		if !e.exchangeJWT(t, carolPAT) {
			t.Fatal("a refused maximum of 1ns blocked a PAT")
		}

		// Disable PATs.
		b.open("/console/org/settings")
		b.do("untick enabled", chromedp.Click(chromedp.ID("pats_enabled")))
		b.submit("#save-settings")
		b.wantText("#notice", "Personal access tokens are disabled")
		if e.exchangeJWT(t, carolPAT) {
			t.Fatal("a PAT can be exchanged while PATs are disabled")
		}
		b.open("/console/tokens")
		b.wantText("#pats-disabled", "disabled in your organization")
		b.open("/console/tokens/new")
		b.do("fill the generate form",
			typeText(chromedp.ID("name"), "while disabled"),
			chromedp.Click(chromedp.CSS(`input[name="scopes"][value="OR.Jobs"]`)))
		b.submit("#generate")
		b.wantText("#error", "Personal access tokens are disabled in this organization")
		if pats := e.patsOf("acme", "alice"); len(pats) != 0 {
			t.Fatalf("a token was generated while PATs are disabled: %v", pats)
		}

		// Enable them again.
		b.open("/console/org/settings")
		b.do("tick enabled", chromedp.Click(chromedp.ID("pats_enabled")))
		b.submit("#save-settings")
		b.wantText("#notice", "Settings saved.")
		if !e.exchangeJWT(t, carolPAT) {
			t.Fatal("a PAT cannot be exchanged after PATs are enabled again")
		}

		// Revoke several at once: select all of carol's, keep one.
		c1, p1 := e.pat(patSpec{org: "acme", user: "carol", name: "carol one", scopes: []string{"OR.Jobs"}})
		c2, p2 := e.pat(patSpec{org: "acme", user: "carol", name: "carol two", scopes: []string{"OR.Jobs"}})
		c3, p3 := e.pat(patSpec{org: "acme", user: "carol", name: "carol three", scopes: []string{"OR.Jobs"}})
		mustPAT(e, "acme", "bob", "OR.Execution")
		b.open("/console/org/tokens")
		b.do("filter by owner", typeText(chromedp.ID("owner"), "carol"))
		b.submit("#filter")
		b.do("select all, then keep carol three",
			chromedp.Click(chromedp.ID("select-all")),
			chromedp.Click(chromedp.CSS(`input[name="ids"][value="`+p3.ID+`"]`)))
		if partial, _ := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById('select-all').indeterminate`)); !partial {
			t.Fatal("select-all does not show a partial selection")
		}
		b.docsScreenshot("console-organization")
		b.confirm("#revoke-selected", "Revoke the selected tokens")
		// carol's first PAT (carolPAT), one and two; three was kept.
		b.wantText("#notice", "3 tokens are revoked.")
		for _, c := range []struct {
			token string
			pat   *storage.PAT
			want  bool
		}{{c1, p1, false}, {c2, p2, false}, {c3, p3, true}} {
			if got := e.exchangeJWT(t, c.token); got != c.want {
				t.Fatalf("%s usable %t after the bulk revoke, want %t", c.pat.Name, got, c.want)
			}
		}
		if len(e.patsOf("acme", "bob")) != 1 || e.patsOf("acme", "bob")[0].RevokedAt != nil {
			t.Fatal("the bulk revoke touched a token outside the filter")
		}

		// Revoke by value: the answer names the owner and the token.
		b.do("paste carol three", typeText(chromedp.ID("token-to-revoke"), c3))
		b.submit("#revoke-value")
		b.wantText("#notice", "Token “carol three” of carol is revoked")
		if e.exchangeJWT(t, c3) {
			t.Fatal("a token revoked by value still works")
		}
		if strings.Contains(b.html(), c3) {
			t.Fatal("the revoked value is echoed back")
		}
		evePAT := mustPAT(e, "globex", "eve", "OR.Jobs")
		for _, v := range []string{evePAT, "pat_" + strings.Repeat("x", 36), "not a token"} {
			b.do("paste a value of no acme PAT", typeText(chromedp.ID("token-to-revoke"), v))
			b.submit("#revoke-value")
			b.wantText("#error", "no personal access token of this organization has this value")
		}
		if !e.exchangeJWT(t, evePAT) {
			t.Fatal("another organization's token was revoked")
		}

		// Deactivate carol: her tokens stop and her console session ends.
		carolConsole := e.consoleClient().signIn("acme", "carol")
		carolPAT = mustPAT(e, "acme", "carol", "OR.Jobs")
		b.open("/console/org/users")
		b.confirm(`tr[data-username="carol"] button.deactivate`, "Deactivate carol?")
		b.wantText("#notice", "carol is deactivated")
		b.wantText(`tr[data-username="carol"] .status`, "deactivated")
		if e.exchangeJWT(t, carolPAT) {
			t.Fatal("a deactivated user's token still works")
		}
		if r := carolConsole.get("/console/tokens"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("a deactivated user's session still works: %d", r.StatusCode)
		}
		b.submit(`tr[data-username="carol"] button.reactivate`)
		b.wantText("#notice", "carol is active again")
		if !e.exchangeJWT(t, carolPAT) {
			t.Fatal("a reactivated user's token does not work")
		}

		b.open("/console/org/audit")
		for _, action := range []string{"user.deactivate", "org.settings", "pat.revoke"} {
			b.wantText("#audit", action)
		}
	})
}

// TestConsoleBrowserSignIn: a failed sign-in shows one generic message,
// whichever part was wrong, and a directory user cannot sign in.
func TestConsoleBrowserSignIn(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	e := newEnv(t, envOptions{})
	b := e.browser(t)
	var first string
	for _, c := range []struct{ name, org, user, password string }{
		{"wrong password", "acme", "alice", "not-alices-password"},
		{"unknown user", "acme", "mallory", "alice-password"},
		{"unknown organization", "initech", "alice", "alice-password"},
		{"directory user", "acme", "dora", "dora-password"},
	} {
		b.signIn(c.org, c.user, c.password)
		got := b.text("#error")
		if first == "" {
			first = got
		}
		if got != first || !strings.Contains(got, "the organization, username or password is wrong") {
			t.Fatalf("%s: the sign-in says %q, want the generic %q", c.name, got, first)
		}
		b.wantText("#login-hint", "Directory and SAML users sign in through their identity provider")
	}
	if !strings.Contains(first, "Directory and SAML users cannot sign in here") {
		t.Fatalf("the failure %q does not tell directory users why", first)
	}
	dora := e.user("acme", "dora")
	if n := countSessions(t, e, dora.ID); n != 0 {
		t.Fatalf("the directory user has %d sessions", n)
	}

	b.signIn("acme", "alice", "alice-password")
	b.wantText(".who", "alice")
	b.wantText("#no-tokens", "no personal access tokens yet")
	b.submit("#sign-out")
	b.wantText("#notice", "You have signed out.")
	b.open("/console/tokens")
	b.wantText("h1", "Sign in")
}

// countSessions counts a user's console sessions straight in the
// database.
func countSessions(t *testing.T, e *env, userID string) int {
	t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM sessions WHERE user_id = ?`
	if e.store.Driver() == storage.DriverPostgres {
		q = strings.Replace(q, "?", "$1", 1)
	}
	if err := e.store.DB().QueryRowContext(ctx, q, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
