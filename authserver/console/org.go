package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"authserver/governance"
	"authserver/internal/duration"
	"authserver/storage"
)

// The organization pages, for its administrators: every PAT of the
// organization, users, settings and the audit log. Every rule — who may do
// what, in which organization — is governance's; these handlers only read
// forms and render answers.

// orgTokensPage is the data of the organization's tokens.
type orgTokensPage struct {
	Items []tokenRow
	// The filters, the owner's username among them.
	patFilters
	Next  string
	Paged bool
	// PagerQuery is the filters as the pager's links carry them.
	PagerQuery template.URL
	// Placeholder shows what a token value looks like.
	Placeholder string
}

func (c *console) orgTokens(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderOrgTokens(w, r, v, http.StatusOK, "", "")
}

// renderOrgTokens lists the organization's tokens under the filters of the
// request (its query, or the hidden fields of the form that led here).
func (c *console) renderOrgTokens(w http.ResponseWriter, r *http.Request, v *visit, status int, notice, errMsg string) error {
	ctx := r.Context()
	fs, err := c.readPATFilters(r)
	if err != nil {
		return err
	}
	fs.Owner, fs.ByOwner = strings.TrimSpace(r.FormValue("owner")), true
	d := &orgTokensPage{patFilters: fs, Placeholder: c.prefix + "…", PagerQuery: fs.query()}
	cursor := r.FormValue("cursor")
	if r.Method != http.MethodGet {
		cursor = "" // after an action, start over: the page may have changed
	}
	p := v.page("org-tokens", d)
	p.Notice, p.Error = notice, errMsg
	f := fs.filter(cursor)
	if d.Owner != "" {
		u, err := c.gov.UserByName(ctx, v.actor, v.actor.OrgID, d.Owner)
		if governance.KindOf(err) == governance.NotFound {
			p.Error = "Owner: there is no user with this username in this organization."
			c.render(w, r, http.StatusNotFound, "org_tokens", p)
			return nil
		}
		if err != nil {
			return err
		}
		f.OwnerID = u.ID
	}
	list, err := c.gov.ListPATs(ctx, v.actor, v.actor.OrgID, f)
	if governance.KindOf(err) == governance.Invalid {
		p.Error = messageOf(err)
		c.render(w, r, http.StatusBadRequest, "org_tokens", p)
		return nil
	}
	if err != nil {
		return err
	}
	d.Items, d.Next, d.Paged = tokenRows(list.Items, c.now().UTC()), list.Next, cursor != ""
	c.render(w, r, status, "org_tokens", p)
	return nil
}

// orgRevoke revokes the selected tokens.
func (c *console) orgRevoke(w http.ResponseWriter, r *http.Request, v *visit) error {
	ids := r.PostForm["ids"]
	if len(ids) == 0 {
		return c.renderOrgTokens(w, r, v, http.StatusBadRequest, "", "Select at least one token to revoke.")
	}
	res, err := c.gov.RevokePATs(r.Context(), v.actor, v.actor.OrgID, ids)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return c.renderOrgTokens(w, r, v, statusOf(err), "", messageOf(err))
	}
	notice := plural(len(res.Revoked), "token is", "tokens are") + " revoked."
	if n := len(res.NotFound); n > 0 {
		notice += " " + plural(n, "selected token was", "selected tokens were") + " not found."
	}
	return c.renderOrgTokens(w, r, v, http.StatusOK, notice, "")
}

// orgRevokeByValue revokes the token whose value an admin pasted (a leaked
// one), naming its owner and name. The value is never echoed back.
func (c *console) orgRevokeByValue(w http.ResponseWriter, r *http.Request, v *visit) error {
	value := strings.TrimSpace(r.PostForm.Get("token"))
	if value == "" {
		return c.renderOrgTokens(w, r, v, http.StatusBadRequest, "", "Token value: paste the value of the token to revoke.")
	}
	pat, err := c.gov.RevokeByValue(r.Context(), v.actor, v.actor.OrgID, value)
	switch governance.KindOf(err) {
	case 0:
		if err != nil {
			return err
		}
	case governance.NotFound:
		return c.renderOrgTokens(w, r, v, http.StatusNotFound, "",
			"Token value: no personal access token of this organization has this value. Check that it was pasted whole.")
	default:
		return c.renderOrgTokens(w, r, v, statusOf(err), "", messageOf(err))
	}
	return c.renderOrgTokens(w, r, v, http.StatusOK,
		"Token “"+pat.Name+"” of "+pat.Owner+" is revoked: anything using it stops working now.", "")
}

// plural writes n with the singular or plural words that follow it.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (c *console) orgDeactivate(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.setUserStatus(w, r, v, storage.UserDeactivated)
}

func (c *console) orgReactivate(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.setUserStatus(w, r, v, storage.UserActive)
}

func (c *console) setUserStatus(w http.ResponseWriter, r *http.Request, v *visit, status storage.UserStatus) error {
	u, err := c.gov.SetUserStatus(r.Context(), v.actor, v.actor.OrgID, r.PathValue("id"), status)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		return c.renderOrgUsers(w, r, v, statusOf(err), "", messageOf(err), nil)
	}
	notice := u.Username + " is active again: their tokens work again unless revoked or expired."
	if status == storage.UserDeactivated {
		notice = u.Username + " is deactivated: their tokens stop working now and their console sessions have ended."
	}
	return c.renderOrgUsers(w, r, v, http.StatusOK, notice, "", nil)
}

// settingsPage is the data of the settings form.
type settingsPage struct {
	PATsEnabled bool
	MaxLifetime string

	// The hygiene settings as the form shows them: the notice days
	// comma-separated ("" for none), the idle time ("0" for never); Field
	// names the field of a refusal.
	NoticeDays string
	IdleAfter  string
	Field      string
	webhookSection
}

// settingsForm fills the form from s.
func settingsForm(s *governance.Settings) *settingsPage {
	days := make([]string, len(s.ExpiryNoticeDays))
	for i, d := range s.ExpiryNoticeDays {
		days[i] = strconv.Itoa(d)
	}
	return &settingsPage{PATsEnabled: s.PATsEnabled, MaxLifetime: duration.Format(s.PATMaxLifetime),
		NoticeDays: strings.Join(days, ", "), IdleAfter: duration.Format(s.PATIdleRevokeAfter)}
}

func (c *console) orgSettings(w http.ResponseWriter, r *http.Request, v *visit) error {
	s, err := c.gov.Settings(r.Context(), v.actor, v.actor.OrgID)
	if err != nil {
		return err
	}
	d := settingsForm(s)
	if err := c.loadWebhooks(r, v, &d.webhookSection); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "org_settings", v.page("org-settings", d))
	return nil
}

// settingsLabels are the settings form's labels of governance's fields.
var settingsLabels = map[string]string{"pat_max_lifetime": "Maximum lifetime",
	"expiry_notice_days": "Expiry notices", "pat_idle_revoke_after": "Revoke unused tokens after"}

func (c *console) orgUpdateSettings(w http.ResponseWriter, r *http.Request, v *visit) error {
	d := &settingsPage{PATsEnabled: r.PostForm.Get("pats_enabled") != "", MaxLifetime: strings.TrimSpace(r.PostForm.Get("pat_max_lifetime")),
		NoticeDays: strings.TrimSpace(r.PostForm.Get("expiry_notice_days")), IdleAfter: strings.TrimSpace(r.PostForm.Get("pat_idle_revoke_after"))}
	if err := c.loadWebhooks(r, v, &d.webhookSection); err != nil {
		return err
	}
	p := v.page("org-settings", d)
	if d.MaxLifetime == "" {
		d.MaxLifetime = "0"
	}
	if d.IdleAfter == "" {
		d.IdleAfter = "0"
	}
	lifetime, lerr := duration.Parse(d.MaxLifetime)
	idle, ierr := duration.Parse(d.IdleAfter)
	days, derr := formDays(d.NoticeDays)
	d.MaxLifetime, d.IdleAfter, d.NoticeDays = c.refill(d.MaxLifetime), c.refill(d.IdleAfter), c.refill(d.NoticeDays)
	refuse := func(field, msg string) error {
		d.Field, p.Error = field, msg
		c.render(w, r, http.StatusBadRequest, "org_settings", p)
		return nil
	}
	switch {
	case lerr != nil:
		return refuse("pat_max_lifetime", "Maximum lifetime: must be a duration such as 90d or 720h, or 0 for no limit.")
	case derr != nil:
		d.NoticeDays = ""
		return refuse("expiry_notice_days", "Expiry notices: must be whole days separated by commas, such as 30, 7, 1, or empty for none.")
	case ierr != nil:
		return refuse("pat_idle_revoke_after", "Revoke unused tokens after: must be a duration such as 90d or 2160h, or 0 for never.")
	}
	// A form without the hygiene fields (one from a page served before
	// they existed) leaves them as they are.
	if _, ok := r.PostForm["expiry_notice_days"]; !ok {
		days = nil
	}
	if _, ok := r.PostForm["pat_idle_revoke_after"]; !ok {
		cur, err := c.gov.Settings(r.Context(), v.actor, v.actor.OrgID)
		if err != nil {
			return err
		}
		idle = cur.PATIdleRevokeAfter
	}
	s, err := c.gov.UpdateSettings(r.Context(), v.actor, v.actor.OrgID,
		governance.Settings{PATsEnabled: d.PATsEnabled, PATMaxLifetime: lifetime, ExpiryNoticeDays: days, PATIdleRevokeAfter: idle})
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		d.Field, p.Error = fieldOf(err), messageOf(err)
		var ge *governance.Error
		if l, ok := settingsLabels[d.Field]; ok && errors.As(err, &ge) {
			p.Error = l + ": " + ge.Message + "."
		}
		c.render(w, r, statusOf(err), "org_settings", p)
		return nil
	}
	*d = *settingsForm(s)
	p.Notice = "Settings saved."
	if !s.PATsEnabled {
		p.Notice += " Personal access tokens are disabled: none can be generated or exchanged until you enable them again."
	}
	c.render(w, r, http.StatusOK, "org_settings", p)
	return nil
}

// formDays reads the expiry notice days of the settings form: whole days
// separated by commas or spaces; empty is none (never nil, which would
// keep the current days).
func formDays(v string) ([]int, error) {
	days := []int{}
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		d, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		days = append(days, d)
	}
	return days, nil
}

// auditPage is the data of the audit log.
type auditPage struct {
	Items []auditRow
	// The filters: an action, an actor (a username, or cli, anonymous,
	// unknown-user, system, client:<id>), and a range of days (UTC, both
	// included).
	Action, Actor, Since, Until string
	Next                        string
	Paged                       bool
	PagerQuery                  template.URL
	// Actions are the choices of the action filter.
	Actions []string
}

// auditActions are the actions the filter offers.
var auditActions = []string{
	"pat.create", "pat.regenerate", "pat.revoke", "exchange.refused",
	"user.create", "user.deactivate", "user.reactivate", "user.email",
	"user.password.reset", "user.password.change", "user.password.link",
	"role.create", "role.update", "role.delete", "role.assign", "role.unassign",
	"org.settings", "console.login", "console.logout", "console.login.refused",
}

// auditRow is an audit event with its actor and target named as people
// read them ("" where there is no name: the id is shown).
type auditRow struct {
	storage.AuditEvent
	ActorName, TargetName string
}

// Any reports whether a filter is set.
func (d *auditPage) Any() bool {
	return d.Action != "" || d.Actor != "" || d.Since != "" || d.Until != ""
}

func (c *console) orgAudit(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	d := &auditPage{Action: strings.TrimSpace(r.FormValue("action")), Actor: strings.TrimSpace(r.FormValue("actor")),
		Since: r.FormValue("since"), Until: r.FormValue("until"), Actions: auditActions}
	cursor := r.FormValue("cursor")
	p := v.page("org-audit", d)
	q := url.Values{"action": {d.Action}, "actor": {d.Actor}, "since": {d.Since}, "until": {d.Until}}
	for k, val := range q {
		if val[0] == "" {
			delete(q, k)
		}
	}
	d.PagerQuery = template.URL(q.Encode())
	refuse := func(msg string) error {
		d.Actor = c.refill(d.Actor)
		p.Error = msg
		c.render(w, r, http.StatusBadRequest, "org_audit", p)
		return nil
	}
	f := governance.AuditFilter{Action: d.Action, Cursor: cursor}
	var err error
	if f.Since, err = dayParam(d.Since, 0); err != nil {
		return refuse("From: choose a date.")
	}
	if f.Until, err = dayParam(d.Until, 1); err != nil {
		return refuse("To: choose a date.")
	}
	switch a := d.Actor; {
	case a == "":
	case a == "cli" || a == string(governance.ActorAnon) || a == string(governance.ActorUnknownUser) || a == string(governance.ActorSystem) || strings.HasPrefix(a, "client:"):
		f.Actor = a
	default:
		u, err := c.gov.UserByName(ctx, v.actor, v.actor.OrgID, a)
		if governance.KindOf(err) == governance.NotFound {
			return refuse("Actor: there is no user with this username in this organization.")
		}
		if err != nil {
			return err
		}
		f.Actor = u.ID
	}
	list, err := c.gov.ListAudit(ctx, v.actor, v.actor.OrgID, f)
	if governance.KindOf(err) == governance.Invalid {
		if fieldOf(err) == "until" {
			return refuse("To: must not be before From.")
		}
		return refuse(messageOf(err))
	}
	if err != nil {
		return err
	}
	names, err := c.gov.AuditNames(ctx, v.actor, v.actor.OrgID, list.Items)
	if err != nil {
		return err
	}
	for i, e := range list.Items {
		d.Items = append(d.Items, auditRow{AuditEvent: e, ActorName: names[i].Actor, TargetName: names[i].Target})
	}
	d.Next, d.Paged = list.Next, cursor != ""
	c.render(w, r, http.StatusOK, "org_audit", p)
	return nil
}

// dayParam reads an optional date of a date input as the start of that day
// plus days, in UTC; zero when empty.
func dayParam(v string, days int) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(dateLayout, v)
	if err != nil {
		return time.Time{}, err
	}
	return d.AddDate(0, 0, days), nil
}

// usernames maps the ids of the organization's users to their usernames,
// for the first few thousand users (beyond that, ids are shown).
func (c *console) usernames(ctx context.Context, v *visit) (map[string]string, error) {
	names := map[string]string{}
	cursor := ""
	for range 10 {
		page, err := c.gov.ListUsers(ctx, v.actor, v.actor.OrgID, governance.UserFilter{Cursor: cursor, Limit: governance.MaxPageSize})
		if err != nil {
			return nil, err
		}
		for _, u := range page.Items {
			names[u.ID] = u.Username
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	return names, nil
}
