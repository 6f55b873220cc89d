package console

import (
	"errors"
	"net/http"
	"time"

	"authserver/authserver/session"
	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/internal/ratelimit"
	"authserver/storage"
)

// Sign-in. What a failed sign-in says: one generic message for an unknown
// organization, an unknown user, a wrong password, a directory or SAML user
// and a local user without a password, so that the answer never tells
// which part was wrong or whether a username exists (governance.SignIn
// also evens out the time). The message and the page always add that
// directory and SAML users cannot sign in here: they learn why without the
// page confirming their username to anyone else. Only after the password
// has been verified is a deactivated user told so. The precise cause goes
// to the log and, when the organization exists and the attempt was not
// rate-limited, to its audit log.

// signInFailed is the one message of a failed sign-in.
const signInFailed = "Sign-in failed: the organization, username or password is wrong. " +
	"(Directory and SAML users cannot sign in here: they sign in through their identity provider.)"

// loginPage is the data of the sign-in page.
type loginPage struct {
	Org, Username string
	// Token is the sign-in form's CSRF token (double-submitted in the
	// authserver_login cookie).
	Token string
}

// loginPage shows the sign-in form, or sends a signed-in user on.
func (c *console) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := c.sessions.Get(r); err == nil && s != nil {
		http.Redirect(w, r, "/console/tokens", http.StatusSeeOther)
		return
	}
	p := &page{Data: loginPage{Token: c.loginToken(w, r)}}
	switch {
	case r.URL.Query().Has("signed_out"):
		p.Notice = "You have signed out."
	case r.URL.Query().Has("expired"):
		p.Notice = "Your session has ended. Sign in again."
	case r.URL.Query().Has("password_set"):
		p.Notice = "Your password is set. Sign in with it."
	}
	c.render(w, r, http.StatusOK, "login", p)
}

// loginToken returns the sign-in form's CSRF token: the one in the
// request's login cookie, or a new one set in a new cookie. The session
// does not exist yet, so the token is double-submitted (cookie and form
// field) rather than stored.
func (c *console) loginToken(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(c.sessions.CookieName(session.LoginCookie)); err == nil && session.WellFormedSecret(ck.Value) {
		return ck.Value
	}
	v := session.NewSecret()
	c.sessions.SetCookie(w, session.LoginCookie, v, 0)
	return v
}

// login reads the sign-in form and, when it is complete and not forged,
// signs in.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxConsoleForm)
	if err := r.ParseForm(); err != nil {
		c.badForm(w, r, nil, err)
		return
	}
	org, username, password := r.PostForm.Get("organization"), r.PostForm.Get("username"), r.PostForm.Get("password")
	again := func(status int, msg string) {
		c.render(w, r, status, "login", &page{Error: msg,
			Data: loginPage{Org: c.refill(org), Username: c.refill(username), Token: c.loginToken(w, r)}})
	}
	ck, err := r.Cookie(c.sessions.CookieName(session.LoginCookie))
	if err != nil || !session.TokenEqual(r.PostForm.Get(session.CSRFField), ck.Value) {
		again(http.StatusForbidden, "The sign-in form has expired. Sign in again.")
		return
	}
	if org == "" || username == "" || password == "" {
		again(http.StatusBadRequest, "Enter the organization, your username and your password.")
		return
	}
	c.signIn(w, r, org, username, password, again)
}

// signIn spends an attempt of the sign-in budget, checks the credentials
// and starts a session. A refusal shows the form again with its message.
func (c *console) signIn(w http.ResponseWriter, r *http.Request, org, username, password string, again func(status int, msg string)) {
	addr := httpx.ClientAddrOf(r)
	refund, wait := c.limits.take(c.now(), org+"\x00"+username, addr)
	if wait > 0 {
		// Logged, not audited: an audit event needs the organization's
		// id, and a caller out of budget is refused before any database
		// work, so that a flood costs no query. The failures that spent
		// the budget were each audited.
		c.log.InfoContext(r.Context(), "console sign-in refused", "addr", addr, "cause", string(governance.SignInRateLimited))
		secs := ratelimit.RetryAfter(wait)
		w.Header().Set("Retry-After", secs)
		again(http.StatusTooManyRequests, "Too many sign-in attempts. Wait "+secs+" seconds, then try again.")
		return
	}
	u, err := c.gov.SignIn(r.Context(), org, username, password)
	if err == nil || !governance.IsSignInFailed(err) && governance.KindOf(err) != governance.Forbidden {
		// Only refused credentials use the budget: a sign-in that worked,
		// or that the database could not decide, gives its attempt back.
		refund()
	}
	var ref *governance.SignInRefusal
	if errors.As(err, &ref) {
		c.signInRefused(r, ref)
	}
	switch {
	case governance.IsSignInFailed(err):
		again(http.StatusForbidden, signInFailed)
		return
	case governance.KindOf(err) == governance.Forbidden:
		again(http.StatusForbidden, messageOf(err))
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	}
	if err := c.sessions.Start(w, r, u.ID, u.OrgID); err != nil {
		c.fail(w, r, nil, err)
		return
	}
	c.auditEvent(r, u.OrgID, u.ID, "console.login")
	http.Redirect(w, r, "/console/tokens", http.StatusSeeOther)
}

// logout ends the session.
func (c *console) logout(w http.ResponseWriter, r *http.Request, v *visit) error {
	if err := c.sessions.Delete(r.Context(), v.sess); err != nil {
		return err
	}
	c.sessions.ClearCookie(w)
	c.auditEvent(r, v.sess.OrgID, v.sess.UserID, "console.logout")
	http.Redirect(w, r, "/console/login?signed_out=1", http.StatusSeeOther)
	return nil
}

// signInRefused logs and audits a refused sign-in with its cause, which
// the page never shows. Neither holds the organization or username as
// typed: only the ids of those that exist (a username field often holds a
// mistyped password). The audit event is queued, off the request path,
// like refused exchanges; a refusal that named no organization is only
// logged (see governance.SignInRefusal.AuditEvent).
func (c *console) signInRefused(r *http.Request, ref *governance.SignInRefusal) {
	addr := httpx.ClientAddrOf(r)
	c.log.InfoContext(r.Context(), "console sign-in refused", "addr", addr, "cause", string(ref.Cause),
		"org_id", ref.OrgID, "user_id", ref.UserID)
	if e, ok := ref.AuditEvent(c.now().UTC(), addr); ok {
		c.audit.Add(e)
	}
}

// auditEvent queues a sign-in or sign-out event (off the request path,
// like refused exchanges: sign-in is where floods happen).
func (c *console) auditEvent(r *http.Request, orgID, userID, action string) {
	c.audit.Add(governance.UserActor(orgID, userID, false, httpx.ClientAddrOf(r)).Attribute(storage.AuditEvent{
		Time: c.now().UTC(), OrgID: orgID, Action: action, Target: userID, Outcome: "success"}))
}

// home is /console/: my tokens.
func (c *console) home(w http.ResponseWriter, r *http.Request, v *visit) error {
	http.Redirect(w, r, "/console/tokens", http.StatusSeeOther)
	return nil
}

// orgHome is /console/org/: the organization's tokens.
func (c *console) orgHome(w http.ResponseWriter, r *http.Request, v *visit) error {
	http.Redirect(w, r, "/console/org/tokens", http.StatusSeeOther)
	return nil
}

// dayStart is midnight UTC of t's day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
