package console

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"authserver/authserver/session"
	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/internal/ratelimit"
	"authserver/storage"
)

// Users and passwords: the organization's users page (search, filters,
// the create form), an admin's password reset, a user's own password
// change, and the public page that redeems a set-password link. Every
// rule (the password rule, who may do what) is governance's. A password
// is never shown again in a form, and a set-password link is shown once,
// on the page that issued it.

// orgUsersPage is the data of the users page.
type orgUsersPage struct {
	Items []storage.User
	// The filters.
	Q, Status, Kind string
	// FirstURL and NextURL page through the list under the filters.
	FirstURL, NextURL template.URL
	Paged             bool
	// Self is the signed-in admin, who cannot deactivate themself.
	Self string
	// New refills the create form after a refusal (never the password).
	New newUserForm
	// Field is the create form's field at fault.
	Field string
}

// newUserForm is the create form as submitted.
type newUserForm struct {
	Username, Kind string
	Admin          bool
	// Mode is how a local user gets a password: "password", "link" or
	// "none".
	Mode string

	Email string
}

// usersURL is the users page under filters, at cursor.
func usersURL(q, status, kind, cursor string) template.URL {
	v := url.Values{}
	for k, x := range map[string]string{"q": q, "status": status, "kind": kind, "cursor": cursor} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if len(v) == 0 {
		return "/console/org/users"
	}
	// Built from fixed names and encoded values only.
	return template.URL("/console/org/users?" + v.Encode())
}

func (c *console) orgUsers(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderOrgUsers(w, r, v, http.StatusOK, "", "", nil)
}

// renderOrgUsers lists the organization's users under the filters of the
// request's query (after a form post: none, from the first page).
func (c *console) renderOrgUsers(w http.ResponseWriter, r *http.Request, v *visit, status int, notice, errMsg string, d *orgUsersPage) error {
	if d == nil {
		d = &orgUsersPage{New: newUserForm{Kind: "local", Mode: "password"}}
	}
	d.Self = v.actor.UserID
	q := r.URL.Query()
	cursor := q.Get("cursor")
	if r.Method == http.MethodGet {
		d.Q, d.Status, d.Kind = strings.TrimSpace(q.Get("q")), q.Get("status"), q.Get("kind")
	} else {
		cursor = "" // after an action, start over: the page may have changed
	}
	p := v.page("org-users", d)
	p.Notice, p.Error = notice, errMsg
	list, err := c.gov.ListUsers(r.Context(), v.actor, v.actor.OrgID, governance.UserFilter{
		Search: d.Q, Status: storage.UserStatus(d.Status), Kind: storage.UserKind(d.Kind), Cursor: cursor})
	if governance.KindOf(err) == governance.Invalid {
		d.Q = c.refill(d.Q)
		p.Error = fieldMessage(err)
		c.render(w, r, http.StatusBadRequest, "org_users", p)
		return nil
	}
	if err != nil {
		return err
	}
	d.Items, d.Paged = list.Items, cursor != ""
	d.FirstURL = usersURL(d.Q, d.Status, d.Kind, "")
	if list.Next != "" {
		d.NextURL = usersURL(d.Q, d.Status, d.Kind, list.Next)
	}
	d.Q = c.refill(d.Q)
	c.render(w, r, status, "org_users", p)
	return nil
}

// linkPage is the data of the page that shows a set-password link once.
type linkPage struct {
	Username string
	URL      string
	Expires  time.Time
	// Created: the user was just created (else their password was reset).
	Created bool
}

// revealLink rotates the session, so that the form that issued the link
// cannot be submitted again, and shows the link once.
func (c *console) revealLink(w http.ResponseWriter, r *http.Request, v *visit, username string, l *governance.SetPasswordLink, created bool) {
	if s, err := c.sessions.Rotate(r.Context(), w, v.sess); err != nil {
		c.log.WarnContext(r.Context(), "console session not rotated after a set-password link was shown", "err", err)
	} else {
		v.sess = s
	}
	c.render(w, r, http.StatusOK, "user_link", v.page("org-users", &linkPage{Username: username,
		URL: governance.PasswordLinkURL(c.issuer, l.Secret), Expires: l.ExpiresAt, Created: created}))
}

// orgCreateUser creates a user from the users page's form.
func (c *console) orgCreateUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	f := newUserForm{Username: strings.TrimSpace(r.PostForm.Get("username")), Kind: r.PostForm.Get("kind"),
		Admin: r.PostForm.Get("admin") != "", Mode: r.PostForm.Get("password_mode"), Email: strings.TrimSpace(r.PostForm.Get("email"))}
	if f.Kind == "" {
		f.Kind = string(storage.UserLocal)
	}
	again := func(status int, field, msg string) error {
		f.Username, f.Email = c.refill(f.Username), c.refill(f.Email)
		if field == "email" {
			f.Email = "" // not an address: it may hold anything
		}
		return c.renderOrgUsers(w, r, v, status, "", msg, &orgUsersPage{New: f, Field: field})
	}
	req := governance.UserRequest{Username: f.Username, Kind: storage.UserKind(f.Kind), Admin: f.Admin, Email: f.Email}
	if f.Kind == string(storage.UserLocal) {
		switch f.Mode {
		case "password":
			pw := r.PostForm.Get("password")
			if pw == "" {
				return again(http.StatusBadRequest, "password", "Initial password: enter a password, or choose a set-password link.")
			}
			if pw != r.PostForm.Get("password_confirm") {
				return again(http.StatusBadRequest, "password", "Initial password: the two passwords differ. Type the same password twice.")
			}
			req.Password = pw
		case "link":
			req.Link = true
		case "none":
		default:
			return again(http.StatusBadRequest, "password_mode", "Password: choose an initial password, a set-password link or none.")
		}
	}
	u, err := c.gov.CreateUser(r.Context(), v.actor, v.actor.OrgID, req)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return again(statusOf(err), fieldOf(err), fieldMessage(err))
	}
	if u.Link != nil {
		c.revealLink(w, r, v, u.Username, u.Link, true)
		return nil
	}
	notice := "User " + u.Username + " is created."
	if req.Password != "" {
		notice += " They can sign in with the password you set."
	}
	return c.renderOrgUsers(w, r, v, http.StatusOK, notice, "", nil)
}

// fieldMessage is a refusal as a person reads it, led by the form field it
// is about.
func fieldMessage(err error) string {
	labels := map[string]string{"username": "Username", "kind": "Kind", "password": "Password",
		"current_password": "Current password", "q": "Search", "status": "Status", "email": "E-mail address"}
	if l, ok := labels[fieldOf(err)]; ok {
		var ge *governance.Error
		if errors.As(err, &ge) {
			return l + ": " + ge.Message + "."
		}
	}
	return messageOf(err)
}

// resetPage is the data of an admin's password reset form.
type resetPage struct {
	Target storage.User
	Mode   string
	Field  string
}

// orgUserPassword shows the reset form of a user's password.
func (c *console) orgUserPassword(w http.ResponseWriter, r *http.Request, v *visit) error {
	u, err := c.gov.UserByID(r.Context(), v.actor, v.actor.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	p := v.page("org-users", &resetPage{Target: *u, Mode: "password"})
	status := http.StatusOK
	if u.Kind != storage.UserLocal {
		p.Error = u.Username + " is a " + string(u.Kind) + " user: only local users have a password here."
		status = http.StatusConflict
	}
	c.render(w, r, status, "user_password", p)
	return nil
}

// orgResetPassword sets a new password, or issues a set-password link.
func (c *console) orgResetPassword(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	u, err := c.gov.UserByID(ctx, v.actor, v.actor.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := &resetPage{Target: *u, Mode: r.PostForm.Get("password_mode")}
	p := v.page("org-users", d)
	again := func(status int, field, msg string) error {
		d.Field, p.Error = field, msg
		c.render(w, r, status, "user_password", p)
		return nil
	}
	var reset governance.PasswordReset
	switch d.Mode {
	case "password":
		pw := r.PostForm.Get("password")
		if pw == "" {
			return again(http.StatusBadRequest, "password", "New password: enter a password, or choose a set-password link.")
		}
		if pw != r.PostForm.Get("password_confirm") {
			return again(http.StatusBadRequest, "password", "New password: the two passwords differ. Type the same password twice.")
		}
		reset.Password = pw
	case "link":
		reset.Link = true
	default:
		d.Mode = "password"
		return again(http.StatusBadRequest, "password_mode", "Choose a new password or a set-password link.")
	}
	l, err := c.gov.ResetPassword(ctx, v.actor, v.actor.OrgID, u.ID, reset)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return again(statusOf(err), fieldOf(err), fieldMessage(err))
	}
	if u.ID == v.actor.UserID {
		// An admin who reset their own password has ended this session too.
		c.sessions.ClearCookie(w)
		http.Redirect(w, r, "/console/login?expired=1", http.StatusSeeOther)
		return nil
	}
	if l != nil {
		c.revealLink(w, r, v, u.Username, l, false)
		return nil
	}
	return c.renderOrgUsers(w, r, v, http.StatusOK,
		"The password of "+u.Username+" is reset: the old one no longer works and their console sessions have ended.", "", nil)
}

// passwordPage is the data of the change-password form.
type passwordPage struct {
	Field string
	// Email is the address the e-mail form shows.
	Email string
}

// password shows the signed-in user's change-password form.
func (c *console) password(w http.ResponseWriter, r *http.Request, v *visit) error {
	c.render(w, r, http.StatusOK, "password", v.page("password", &passwordPage{Email: v.me.User.Email}))
	return nil
}

// changePassword changes the signed-in user's own password. The session
// it was changed in stays (with a new id and CSRF token); every other one
// ends.
func (c *console) changePassword(w http.ResponseWriter, r *http.Request, v *visit) error {
	d := &passwordPage{Email: v.me.User.Email}
	p := v.page("password", d)
	again := func(status int, field, msg string) error {
		d.Field, p.Error = field, msg
		c.render(w, r, status, "password", p)
		return nil
	}
	next := r.PostForm.Get("password")
	if next != r.PostForm.Get("password_confirm") {
		return again(http.StatusBadRequest, "password", "New password: the two passwords differ. Type the same password twice.")
	}
	// A wrong current password is a guess at the account's password: it
	// spends the sign-in budget of the account and the address, so that a
	// stolen session cannot guess faster than sign-in allows.
	refund, wait := c.limits.Take(c.now(), ratelimit.Account(v.me.Organization.Name, v.me.User.Username), httpx.ClientAddrOf(r))
	if wait > 0 {
		secs := ratelimit.RetryAfter(wait)
		w.Header().Set("Retry-After", secs)
		return again(http.StatusTooManyRequests, "current_password", "Too many attempts. Wait "+secs+" seconds, then try again.")
	}
	err := c.gov.ChangePassword(r.Context(), v.actor, r.PostForm.Get("current_password"), next, v.sess.ID)
	if governance.CodeOf(err) != "current-password-wrong" {
		refund()
	}
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return again(statusOf(err), fieldOf(err), fieldMessage(err))
	}
	if s, err := c.sessions.Rotate(r.Context(), w, v.sess); err != nil {
		c.log.WarnContext(r.Context(), "console session not rotated after a password change", "err", err)
	} else {
		v.sess = s
	}
	p = v.page("password", d)
	p.Notice = "Your password is changed. Your other console sessions have ended."
	c.render(w, r, http.StatusOK, "password", p)
	return nil
}

// setPasswordPage is the data of the public page that redeems a
// set-password link.
type setPasswordPage struct {
	// Token is the form's CSRF token (double-submitted in the login
	// cookie, as on the sign-in page).
	Token string
	// Code is the link's secret, carried in the form after a refusal of
	// the password (never of the link) so that the person can try again.
	Code  string
	Field string
}

// setPasswordForm shows the form that redeems a set-password link. The
// link's secret is in the URL's fragment, which the browser never sends:
// console.js copies it into the form; without script the person pastes it.
func (c *console) setPasswordForm(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "set_password", &page{Data: &setPasswordPage{Token: c.loginToken(w, r)}})
}

// setPassword redeems a set-password link and sends the person to sign
// in.
func (c *console) setPassword(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxConsoleForm)
	if err := r.ParseForm(); err != nil {
		c.badForm(w, r, nil, err)
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	d := &setPasswordPage{}
	again := func(status int, field, msg string) {
		d.Token, d.Field = c.loginToken(w, r), field
		c.render(w, r, status, "set_password", &page{Error: msg, Data: d})
	}
	ck, err := r.Cookie(c.sessions.CookieName(session.LoginCookie))
	if err != nil || !session.TokenEqual(r.PostForm.Get(session.CSRFField), ck.Value) {
		again(http.StatusForbidden, "", "The form has expired. Open your set-password link again.")
		return
	}
	if code == "" {
		again(http.StatusBadRequest, "code", "Code: paste the part of your set-password link after the # sign.")
		return
	}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password_confirm") {
		d.Code = code
		again(http.StatusBadRequest, "password", "New password: the two passwords differ. Type the same password twice.")
		return
	}
	u, err := c.gov.RedeemPasswordLink(r.Context(), code, pw, httpx.ClientAddrOf(r))
	switch {
	case governance.IsPasswordLinkInvalid(err):
		again(http.StatusBadRequest, "code", sentence(err.Error())+".")
		return
	case governance.KindOf(err) == governance.Invalid:
		d.Code = code // the link is good: keep it for the next try
		again(http.StatusBadRequest, fieldOf(err), fieldMessage(err))
		return
	case err != nil:
		c.fail(w, r, nil, err)
		return
	}
	c.log.InfoContext(r.Context(), "console password set with a link", "org_id", u.OrgID, "user_id", u.ID)
	http.Redirect(w, r, "/console/login?password_set=1", http.StatusSeeOther)
}

// changeEmail sets or removes ("") the signed-in user's own e-mail
// address, on the page of the password form.
func (c *console) changeEmail(w http.ResponseWriter, r *http.Request, v *visit) error {
	email := strings.TrimSpace(r.PostForm.Get("email"))
	d := &passwordPage{Email: c.refill(email)}
	p := v.page("password", d)
	u, err := c.gov.SetMyEmail(r.Context(), v.actor, email)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		d.Field, p.Error = fieldOf(err), fieldMessage(err)
		if d.Field == "email" {
			d.Email = ""
		}
		c.render(w, r, statusOf(err), "password", p)
		return nil
	}
	d.Email = u.Email
	p.Notice = "Your e-mail address is removed: you get no notices about your tokens."
	if u.Email != "" {
		p.Notice = "Your e-mail address is saved: notices about your tokens go there."
	}
	c.render(w, r, http.StatusOK, "password", p)
	return nil
}
