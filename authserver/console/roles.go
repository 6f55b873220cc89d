package console

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"

	"authserver/exchange"
	"authserver/governance"
)

// The roles pages and a user's page, for administrators: roles with their
// permissions, who holds them where, and what that lets a user do now.
// As on every page, the rules are governance's.

// permissionGroup is one audience of the permission picker: its scopes, each
// a checkbox.
type permissionGroup struct {
	ID, Name string
	Scopes   []string
}

// picker is the permission picker: the catalogue grouped by audience (the
// management audience left out: its scopes never come from a role), the
// permissions checked, and those the role holds that are no scope of the
// catalogue (a narrower or broader right from the configuration file or
// the API), shown apart so that saving keeps them unless unticked. A
// refused form's other values are not shown again: they are the client's
// text.
type picker struct {
	Groups  []permissionGroup
	Checked []string
	Other   []string
}

// newPicker builds the picker with checked ticked; held are the role's
// current permissions (none for a new role).
func (c *console) newPicker(ctx context.Context, checked, held []string) (*picker, error) {
	audiences, err := c.catalog.List(ctx)
	if err != nil {
		return nil, err
	}
	p := &picker{Checked: checked}
	var all []string
	for _, a := range audiences {
		if a.ID == c.catalog.ManagementAudience() {
			continue
		}
		p.Groups = append(p.Groups, permissionGroup{ID: a.ID, Name: a.Name, Scopes: a.Scopes})
		all = append(all, a.Scopes...)
	}
	for _, perm := range held {
		if !slices.Contains(all, perm) && !slices.Contains(p.Other, perm) && slices.Contains(checked, perm) {
			p.Other = append(p.Other, perm)
		}
	}
	return p, nil
}

// rolesPage is the data of the roles list and its create form.
type rolesPage struct {
	Items  []governance.RoleSummary
	Name   string
	Picker *picker
	Field  string
}

func (c *console) orgRoles(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderRoles(w, r, v, http.StatusOK, &rolesPage{}, "", "")
}

func (c *console) renderRoles(w http.ResponseWriter, r *http.Request, v *visit, status int, d *rolesPage, notice, errMsg string) error {
	ctx := r.Context()
	list, err := c.gov.RoleSummaries(ctx, v.actor, v.actor.OrgID)
	if err != nil {
		return err
	}
	var checked []string
	if d.Picker != nil {
		checked = d.Picker.Checked
	}
	if d.Picker, err = c.newPicker(ctx, checked, nil); err != nil {
		return err
	}
	d.Items = list
	p := v.page("org-roles", d)
	p.Notice, p.Error = notice, errMsg
	c.render(w, r, status, "org_roles", p)
	return nil
}

// roleForm reads the name and the ticked permissions of a role form.
func (c *console) roleForm(r *http.Request) governance.RoleRequest {
	return governance.RoleRequest{Name: strings.TrimSpace(r.PostForm.Get("name")), Permissions: r.PostForm["permissions"]}
}

func (c *console) orgCreateRole(w http.ResponseWriter, r *http.Request, v *visit) error {
	req := c.roleForm(r)
	role, err := c.gov.CreateRole(r.Context(), v.actor, v.actor.OrgID, req)
	if err != nil {
		if governance.KindOf(err) == 0 {
			return err
		}
		d := &rolesPage{Name: c.refill(req.Name), Picker: &picker{Checked: req.Permissions}, Field: fieldOf(err)}
		return c.renderRoles(w, r, v, statusOf(err), d, "", messageOf(err))
	}
	return c.renderRoles(w, r, v, http.StatusOK, &rolesPage{}, "Role “"+role.Name+"” is created. Assign it to users from their pages.", "")
}

// rolePage is the data of one role's page.
type rolePage struct {
	Role    *governance.RoleSummary
	Holders []holder
	Name    string
	Picker  *picker
	Field   string
}

// holder is one assignment of a role: who holds it, and where.
type holder struct {
	UserID, Username, Folder string
}

func (c *console) orgRole(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderRole(w, r, v, http.StatusOK, nil, "", "")
}

// renderRole shows a role; d carries a refused form's values (nil: the
// role's own).
func (c *console) renderRole(w http.ResponseWriter, r *http.Request, v *visit, status int, d *rolePage, notice, errMsg string) error {
	ctx := r.Context()
	role, err := c.gov.Role(ctx, v.actor, v.actor.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if d == nil {
		d = &rolePage{Name: role.Name, Picker: &picker{Checked: role.Permissions}}
	}
	d.Role = role
	if d.Picker, err = c.newPicker(ctx, d.Picker.Checked, role.Permissions); err != nil {
		return err
	}
	if role.Assignments > 0 {
		all, err := c.gov.ListAssignments(ctx, v.actor, v.actor.OrgID, "")
		if err != nil {
			return err
		}
		names, err := c.usernames(ctx, v)
		if err != nil {
			return err
		}
		for _, x := range all {
			if x.RoleID == role.ID {
				d.Holders = append(d.Holders, holder{UserID: x.UserID, Username: cmp.Or(names[x.UserID], x.UserID), Folder: x.Folder})
			}
		}
		slices.SortFunc(d.Holders, func(a, b holder) int {
			return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(a.Folder, b.Folder))
		})
	}
	p := v.page("org-roles", d)
	p.Notice, p.Error = notice, errMsg
	c.render(w, r, status, "org_role", p)
	return nil
}

func (c *console) orgUpdateRole(w http.ResponseWriter, r *http.Request, v *visit) error {
	req := c.roleForm(r)
	role, err := c.gov.UpdateRole(r.Context(), v.actor, v.actor.OrgID, r.PathValue("id"), req)
	switch governance.KindOf(err) {
	case 0:
		if err != nil {
			return err
		}
	case governance.NotFound:
		return err
	default:
		d := &rolePage{Name: c.refill(req.Name), Picker: &picker{Checked: req.Permissions}, Field: fieldOf(err)}
		return c.renderRole(w, r, v, statusOf(err), d, "", messageOf(err))
	}
	return c.renderRole(w, r, v, http.StatusOK, nil, "Role “"+role.Name+"” is saved: its holders get the new permissions at their next exchange.", "")
}

// orgDeleteRole deletes a role. The form says confirm=yes once the admin
// has confirmed in the dialog, which names how many assignments go with
// the role; without it (no script) an assigned role is not deleted and the
// role's page says why and offers the confirmed deletion.
func (c *console) orgDeleteRole(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	id := r.PathValue("id")
	role, err := c.gov.Role(ctx, v.actor, v.actor.OrgID, id)
	if err != nil {
		return err
	}
	err = c.gov.DeleteRole(ctx, v.actor, v.actor.OrgID, id, r.PostForm.Get("confirm") == "yes")
	switch governance.KindOf(err) {
	case 0:
		if err != nil {
			return err
		}
	case governance.Conflict:
		return c.renderRole(w, r, v, http.StatusConflict, nil, "", messageOf(err))
	default:
		return err
	}
	notice := "Role “" + role.Name + "” is deleted."
	if role.Assignments > 0 {
		notice = "Role “" + role.Name + "” and its " + plural(role.Assignments, "assignment are", "assignments are") + " deleted."
	}
	return c.renderRoles(w, r, v, http.StatusOK, &rolesPage{}, notice, "")
}

// userPage is the data of a user's page.
type userPage struct {
	Access *governance.UserAccess
	// Reason says why none of the user's tokens could be exchanged now.
	Reason string
	// Roles fill the assign form's select; RoleID and Folder refill it.
	Roles          []governance.RoleSummary
	RoleID, Folder string
	Field          string

	// Email fills the e-mail form: the stored address, unless a refusal
	// of the address left it empty.
	Email string
}

// userCauseText says in words why none of a user's tokens could be
// exchanged now.
var userCauseText = map[exchange.Cause]string{
	exchange.CauseOrgDisabled:     "personal access tokens are disabled in the organization",
	exchange.CauseUserDeactivated: "the user is deactivated",
	exchange.CauseNonLocal:        "only local users' tokens can be exchanged",
}

func (c *console) orgUser(w http.ResponseWriter, r *http.Request, v *visit) error {
	return c.renderUser(w, r, v, http.StatusOK, &userPage{}, "", "")
}

func (c *console) renderUser(w http.ResponseWriter, r *http.Request, v *visit, status int, d *userPage, notice, errMsg string) error {
	ctx := r.Context()
	acc, err := c.gov.UserAccess(ctx, v.actor, v.actor.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	roles, err := c.gov.RoleSummaries(ctx, v.actor, v.actor.OrgID)
	if err != nil {
		return err
	}
	d.Access, d.Roles = acc, roles
	if d.Field != "email" {
		d.Email = acc.User.Email
	}
	if !acc.Usable {
		if d.Reason = userCauseText[acc.Reason]; d.Reason == "" {
			d.Reason = "the user's tokens cannot be used now"
		}
	}
	p := v.page("org-users", d)
	p.Notice, p.Error = notice, errMsg
	c.render(w, r, status, "org_user", p)
	return nil
}

func (c *console) orgAssign(w http.ResponseWriter, r *http.Request, v *visit) error {
	req := governance.AssignmentRequest{UserID: r.PathValue("id"), RoleID: r.PostForm.Get("role_id"),
		Folder: strings.TrimSpace(r.PostForm.Get("folder"))}
	_, err := c.gov.CreateAssignment(r.Context(), v.actor, v.actor.OrgID, req)
	switch governance.KindOf(err) {
	case 0:
		if err != nil {
			return err
		}
	case governance.NotFound:
		// The user or the role; rendering the user's page answers "not
		// found" itself when it is the user.
		d := &userPage{Folder: c.refill(req.Folder), Field: "role_id"}
		return c.renderUser(w, r, v, http.StatusNotFound, d, "", "Role: the role was not found; it may have been deleted.")
	default:
		msg := messageOf(err)
		if fieldOf(err) == "role_id" {
			msg = "Role: choose a role to assign."
		}
		d := &userPage{RoleID: req.RoleID, Folder: c.refill(req.Folder), Field: fieldOf(err)}
		if d.Field == "folder" {
			d.Folder = "" // not a folder path: it may hold anything, control characters included
		}
		return c.renderUser(w, r, v, statusOf(err), d, "", msg)
	}
	where := "organization-wide"
	if req.Folder != "" {
		where = "at " + req.Folder + " and below"
	}
	return c.renderUser(w, r, v, http.StatusOK, &userPage{}, "The role is assigned "+where+".", "")
}

func (c *console) orgUnassign(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	acc, err := c.gov.UserAccess(ctx, v.actor, v.actor.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	aid := r.PathValue("assignment")
	i := slices.IndexFunc(acc.Roles, func(x governance.RoleAt) bool { return x.AssignmentID == aid })
	if i < 0 {
		return c.renderUser(w, r, v, http.StatusNotFound, &userPage{}, "", "The user does not hold this assignment any more.")
	}
	if err := c.gov.DeleteAssignment(ctx, v.actor, v.actor.OrgID, aid); err != nil {
		if governance.KindOf(err) == governance.NotFound {
			return c.renderUser(w, r, v, http.StatusNotFound, &userPage{}, "", "The user does not hold this assignment any more.")
		}
		return err
	}
	where := "organization-wide"
	if f := acc.Roles[i].Folder; f != "" {
		where = "at " + f
	}
	return c.renderUser(w, r, v, http.StatusOK, &userPage{}, "Role “"+acc.Roles[i].Role+"” "+where+" is unassigned.", "")
}

// orgSetEmail sets or removes ("") a user's e-mail address, on the user's
// page.
func (c *console) orgSetEmail(w http.ResponseWriter, r *http.Request, v *visit) error {
	email := strings.TrimSpace(r.PostForm.Get("email"))
	_, err := c.gov.SetUserEmail(r.Context(), v.actor, v.actor.OrgID, r.PathValue("id"), email)
	switch governance.KindOf(err) {
	case 0:
		if err != nil {
			return err
		}
	case governance.NotFound:
		return err
	default:
		d := &userPage{Field: fieldOf(err)}
		return c.renderUser(w, r, v, statusOf(err), d, "", fieldMessage(err))
	}
	notice := "The e-mail address is saved."
	if email == "" {
		notice = "The e-mail address is removed."
	}
	return c.renderUser(w, r, v, http.StatusOK, &userPage{}, notice, "")
}
