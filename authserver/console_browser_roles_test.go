package authserver_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestConsoleBrowserRoles: on a desktop and on a phone, an admin creates a
// role with the permission picker and assigns it to a user at a folder;
// that user signs in, generates a token and exchanges it; deleting the
// assigned role asks first, by keyboard or touch, and saying how many
// assignments go with it. No page is wider than the screen.
func TestConsoleBrowserRoles(t *testing.T) {
	t.Parallel() // the tabs share one Chromium; each test has its own server
	for _, vp := range screens {
		suffix := "" // of the docs screenshots
		if vp.phone {
			suffix = "-phone"
		}
		t.Run(vp.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})

			// press taps on a phone and clicks on a desktop.
			press := func(b *browserTab, sel string) chromedp.Action[chromedp.Void] {
				if vp.phone {
					return chromedp.Tap(chromedp.CSS(sel), chromedp.NodeVisible)
				}
				return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
			}

			b := e.browser(t)
			b.emulate(vp)
			b.signIn("acme", "alice", "alice-password")

			// Create the user rita with a password, in the console.
			b.open("/console/org/users")
			b.fill("new-username", "rita", "new-password", "r1ta-password-1", "new-password-confirm", "r1ta-password-1")
			b.submit("#create-user")
			b.wantText("#notice", "User rita is created.")
			rita := e.user("acme", "rita")

			// Create a role with the picker: no free text, a checkbox per scope.
			b.open("/console/org/roles")
			b.wantFits("the roles page")
			b.do("fill the role form",
				typeText(chromedp.ID("name"), "Deployers"),
				press(b, `#new-role-form input[name="permissions"][value="OR.Jobs"]`),
				press(b, `#new-role-form input[name="permissions"][value="OR.Execution"]`))
			b.submit("#create-role")
			b.wantText("#notice", "Role “Deployers” is created.")
			b.wantText(`tr[data-role="Deployers"]`, "OR.Jobs")
			b.wantFits("the roles page with a new role")
			b.docsScreenshot("console-roles" + suffix)
			role, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "Deployers")
			if err != nil {
				t.Fatal(err)
			}
			if len(role.Permissions) != 2 {
				t.Fatalf("the role holds %v", role.Permissions)
			}

			// Assign it to rita at a folder, from her page.
			b.open("/console/org/users/" + rita.ID)
			b.wantFits("the user page")
			b.wantText("#no-roles", "rita holds no role")
			b.do("fill the assign form",
				chromedp.SetValue(chromedp.ID("role_id"), role.ID),
				typeText(chromedp.ID("folder"), "Deploy/Production"))
			b.submit("#assign")
			b.wantText("#notice", "The role is assigned at Deploy/Production and below.")
			b.wantText(`#assignments tr[data-role="Deployers"]`, "Deploy/Production")
			b.wantText("#folders", "Deploy/Production")
			b.wantText(`#access tr[data-audience="orchestrator"]`, "Deploy/Production")
			b.wantFits("the user page with a role")
			b.docsScreenshot("console-user" + suffix)

			// Deleting the assigned role asks first; cancelling keeps it.
			b.open("/console/org/roles/" + role.ID)
			b.wantFits("the role page")
			if vp.phone {
				b.do("tap delete", chromedp.Tap(chromedp.ID("delete-role"), chromedp.NodeVisible),
					chromedp.WaitVisible(chromedp.ID("confirm-dialog")))
				b.wantText("#confirm-message", "Its 1 assignment goes with it.")
				b.wantFits("the confirmation dialog")
				b.do("tap cancel", chromedp.Tap(chromedp.ID("confirm-cancel"), chromedp.NodeVisible),
					chromedp.WaitNotVisible(chromedp.ID("confirm-dialog")))
			} else {
				b.do("delete by keyboard", chromedp.Focus(chromedp.ID("delete-role")), chromedp.KeyEvent(kb.Enter),
					chromedp.WaitVisible(chromedp.ID("confirm-dialog")))
				b.wantText("#confirm-message", "Its 1 assignment goes with it.")
				if focused, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "confirm-cancel" {
					t.Fatalf("the dialog opens with %q focused, want Cancel", focused)
				}
				b.do("escape", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("confirm-dialog")))
			}
			if _, err := e.store.GetRole(ctx, e.orgIDs["acme"], role.ID); err != nil {
				t.Fatalf("a cancelled deletion deleted the role: %v", err)
			}

			// Rita signs in, generates a token and exchanges it: the role
			// at the folder is what it grants.
			rb := e.browser(t)
			rb.emulate(vp)
			rb.signIn("acme", "rita", "r1ta-password-1")
			rb.open("/console/tokens/new")
			rb.wantFits("the generate page")
			rb.do("fill the generate form",
				typeText(chromedp.ID("name"), "deploy"),
				chromedp.Click(chromedp.CSS(`input[name="scopes"][value="OR.Jobs"]`)))
			rb.submit("#generate")
			token := rb.value("#token-value")
			if !patRE.MatchString(token) {
				t.Fatalf("the reveal shows %q, not a PAT", token)
			}
			resp := e.exchange(token, map[string][]string{"audience": {"orchestrator"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("rita's token does not exchange: %d %s", resp.StatusCode, resp.body)
			}
			if !e.exchangeJWT(t, token) {
				t.Fatal("rita's token does not give a JWT")
			}

			// The admin deletes the role, confirming; rita's token then
			// grants nothing.
			b.open("/console/org/roles/" + role.ID)
			b.confirm("#delete-role", "Its 1 assignment goes with it.")
			b.wantText("#notice", "Role “Deployers” and its 1 assignment are deleted.")
			b.wantFits("the roles page after a deletion")
			if e.exchangeJWT(t, token) {
				t.Fatal("a token still exchanges after its owner's only role was deleted")
			}
		})
	}
}
