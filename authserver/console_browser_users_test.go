package authserver_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// fill types into form fields by id.
func (b *browserTab) fill(fields ...string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, typeText(chromedp.ID(fields[i]), fields[i+1]))
	}
	b.do("fill "+strings.Join(fields[:1], ""), steps...)
}

// TestConsoleBrowserUsers: at a desktop width and at a phone's, an admin
// creates a user with a password and that user signs in; the admin
// resets the password, which ends the user's session, and the new one
// works; a set-password link is created, shown once, and redeemed. No
// page is wider than the viewport.
func TestConsoleBrowserUsers(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	for _, vp := range screens {
		shot := "console-users" // the docs screenshot
		if vp.phone {
			shot += "-phone"
		}
		t.Run(vp.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			admin, user := e.browser(t), e.browser(t)
			for _, b := range []*browserTab{admin, user} {
				b.emulate(vp)
			}
			admin.signIn("acme", "alice", "alice-password")
			admin.wantFits("my tokens")

			// Create a user with a password; they sign in.
			admin.open("/console/org/users")
			admin.wantFits("the users page")
			admin.fill("new-username", "frank", "new-password", "frank's first pw is long", "new-password-confirm", "frank's first pw is long")
			admin.submit("#create-user")
			admin.wantText("#error", "Password: must not contain the username.")
			if strings.Contains(admin.html(), "first pw is long") {
				t.Fatal("the refused form shows the password again")
			}
			admin.wantFits("the users page with an error")
			admin.fill("new-password", "correct horse battery", "new-password-confirm", "correct horse battery")
			admin.submit("#create-user")
			admin.wantText("#notice", "User frank is created.")
			admin.wantText(`tr[data-username="frank"] a.username`, "frank")
			user.signIn("acme", "frank", "correct horse battery")
			user.wantText(".who", "frank")
			user.wantFits("the new user's tokens")

			// Search and filters.
			admin.fill("q", "FRA")
			admin.submit("#filter-users")
			admin.wantText("#users", "frank")
			if strings.Contains(admin.text("#users"), "carol") {
				t.Fatal("the search for FRA lists carol")
			}
			admin.open("/console/org/users?kind=directory")
			admin.wantText("#users", "dora")

			// Reset the password: the user's session ends, the new one works.
			admin.open("/console/org/users")
			admin.submit(`tr[data-username="frank"] a.reset-password`)
			admin.wantText("h1", "Reset the password of frank")
			admin.wantFits("the reset page")
			admin.fill("password", "a second good one", "password-confirm", "a second good one")
			admin.submit("#reset-password")
			admin.wantText("#notice", "The password of frank is reset")
			user.open("/console/tokens")
			user.wantText("h1", "Sign in")
			user.signIn("acme", "frank", "correct horse battery")
			user.wantText("#error", "the organization, username or password is wrong")
			user.signIn("acme", "frank", "a second good one")
			user.wantText(".who", "frank")

			// The user changes their own password from the header.
			user.submit("#change-password-link")
			user.wantText("h1", "Change your password")
			user.wantFits("the change-password page")
			user.fill("current-password", "a second good one", "password", "my very own secret", "password-confirm", "my very own secret")
			user.submit("#change-password")
			user.wantText("#notice", "Your password is changed.")
			user.submit("#sign-out")

			// A set-password link, shown once, redeemed by the new user.
			admin.open("/console/org/users")
			admin.fill("new-username", "grace")
			admin.do("choose a link", chromedp.Click(chromedp.ID("mode-link")))
			admin.submit("#create-user")
			admin.wantText("#link-warning", "This link will not be shown again.")
			admin.wantFits("the link page")
			link := admin.value("#link-value")
			if !strings.HasPrefix(link, e.url+"/console/set-password#") {
				t.Fatalf("the page shows %q, not a set-password link", link)
			}
			admin.do("copy", chromedp.Click(chromedp.ID("copy-link")))
			if _, err := chromedp.Run(admin.ctx, chromedp.Poll[bool](`document.getElementById('copy-status').textContent !== ''`)); err != nil {
				t.Fatalf("the copy button says nothing: %v", err)
			}
			admin.open("/console/org/users")
			admin.docsScreenshot(shot)
			if strings.Contains(admin.html(), link) {
				t.Fatal("the users page shows the link again")
			}

			user.do("open the link", chromedp.Navigate(link))
			user.wantText("h1", "Set your password")
			user.wantFits("the set-password page")
			if loc, _ := chromedp.Run(user.ctx, chromedp.Location()); strings.Contains(loc, "#") {
				t.Fatalf("the code stays in the address bar: %s", loc)
			}
			if visible, _ := chromedp.Run(user.ctx, chromedp.Evaluate[bool](`!document.getElementById('code-field').hidden`)); visible {
				t.Fatal("the code field is shown although the link filled it in")
			}
			user.fill("password", "a good pick of hers", "password-confirm", "a good pick of hers")
			user.submit("#set-password")
			user.wantText("#notice", "Your password is set.")
			user.signIn("acme", "grace", "a good pick of hers")
			user.wantText(".who", "grace")

			// The link works once.
			user.submit("#sign-out")
			user.do("open the link again", chromedp.Navigate(link))
			user.fill("password", "someone else's try", "password-confirm", "someone else's try")
			user.submit("#set-password")
			user.wantText("#error", "This set-password link does not work")
			user.wantFits("the set-password page with an error")
		})
	}
}
