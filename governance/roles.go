package governance

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"authserver/exchange"
	"authserver/internal/names"
	"authserver/storage"
)

// MaxPermissions bounds one role's permission list.
const MaxPermissions = 200

// RoleRequest creates or changes a role.
type RoleRequest struct {
	Name        string
	Permissions []string
}

func checkRole(req RoleRequest) error {
	if err := names.Check(req.Name); err != nil {
		return invalid("name", "name-invalid", "%s", err)
	}
	if len(req.Permissions) == 0 {
		return invalid("permissions", "permissions-empty", "must name at least one permission")
	}
	if len(req.Permissions) > MaxPermissions {
		return invalid("permissions", "permissions-too-many", "may name at most %d permissions", MaxPermissions)
	}
	for i, p := range req.Permissions {
		if !names.ValidScope(p) {
			// By position, not quoted: the value is the client's text.
			return invalid("permissions", "permission-invalid", "permission %d (counting from 1) is not a dotted permission name such as OR.Jobs.Read", i+1)
		}
	}
	return nil
}

// checkPermissions refuses permissions that no audience understands. A
// permission is known when it shares something with a scope of the
// catalogue: it is one, lies under one (OR.Jobs.Read under OR.Jobs, a
// narrower right) or covers one (OR covering OR.Jobs). The management
// audience's scopes come from a user's admin flag and from being a local
// user, never from a role, so a permission touching them is refused.
// held are the permissions the role holds already: they stay allowed,
// so that a role the configuration file declared, or whose audience was
// removed since, can still be renamed. Unknown permissions are named by
// position, never quoted.
func (s *Service) checkPermissions(ctx context.Context, perms, held []string) error {
	audiences, err := s.catalog.List(ctx)
	if err != nil {
		return storeErr(err, "catalogue")
	}
	mgmt := s.catalog.ManagementAudience()
	var known, reserved []string
	for _, a := range audiences {
		if a.ID == mgmt {
			reserved = append(reserved, a.Scopes...)
		} else {
			known = append(known, a.Scopes...)
		}
	}
	var unknown []string
	for i, p := range perms {
		switch {
		case overlaps(p, reserved):
			return invalid("permissions", "permission-reserved",
				"permission %d (counting from 1) is a management scope: Identity.Admin comes from the admin flag and Identity.PATs from being a local user, never from a role", i+1)
		case slices.Contains(held, p):
		case !overlaps(p, known):
			if len(unknown) < 5 {
				unknown = append(unknown, strconv.Itoa(i+1))
			}
		}
	}
	switch {
	case len(unknown) == 1:
		return invalid("permissions", "permission-unknown", "no audience understands permission %s (counting from 1): choose permissions from the scope catalogue", unknown[0])
	case len(unknown) > 1:
		return invalid("permissions", "permission-unknown", "no audience understands permissions %s (counting from 1): choose permissions from the scope catalogue", strings.Join(unknown, ", "))
	}
	return nil
}

// overlaps reports whether p covers or lies under some scope of set.
func overlaps(p string, set []string) bool {
	for _, s := range set {
		if exchange.Covers(p, s) || exchange.Covers(s, p) {
			return true
		}
	}
	return false
}

// ListRoles lists an organization's roles, for its admins.
func (s *Service) ListRoles(ctx context.Context, a Actor, orgID string) ([]storage.Role, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	roles, err := s.store.ListRoles(ctx, orgID)
	return roles, storeErr(err, "role")
}

// CreateRole creates a role, for admins.
func (s *Service) CreateRole(ctx context.Context, a Actor, orgID string, req RoleRequest) (*storage.Role, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if err := checkRole(req); err != nil {
		return nil, err
	}
	if err := s.checkPermissions(ctx, req.Permissions, nil); err != nil {
		return nil, err
	}
	r := &storage.Role{OrgID: orgID, Name: req.Name, Permissions: dedupe(req.Permissions)}
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.CreateRole(ctx, r); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "role.create", r.ID, "name "+quote(r.Name)+" permissions "+strings.Join(r.Permissions, " "))
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, conflict("role-name-taken", "a role with this name exists in the organization")
	}
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	return r, nil
}

// UpdateRole renames a role or changes its permissions, for admins. The
// change applies to every holder's next exchange.
func (s *Service) UpdateRole(ctx context.Context, a Actor, orgID, roleID string, req RoleRequest) (*storage.Role, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if err := checkRole(req); err != nil {
		return nil, err
	}
	if !plausibleID(roleID) {
		return nil, notFound("role")
	}
	var out *storage.Role
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRole(ctx, orgID, roleID)
		if err != nil {
			return err
		}
		if err := s.checkPermissions(ctx, req.Permissions, r.Permissions); err != nil {
			return err
		}
		r.Name, r.Permissions = req.Name, dedupe(req.Permissions)
		if err := tx.UpdateRole(ctx, r); err != nil {
			return err
		}
		out = r
		if err := s.emit(ctx, tx, storage.EventRoleChanged, orgID, "", "", map[string]string{"role": r.ID, "change": "updated"}); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "role.update", r.ID, "name "+quote(r.Name)+" permissions "+strings.Join(r.Permissions, " "))
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, conflict("role-name-taken", "a role with this name exists in the organization")
	}
	if err != nil {
		return nil, storeErr(err, "role")
	}
	return out, nil
}

// DeleteRole deletes a role, for admins. A role that is assigned is
// deleted, with all its assignments, only when confirmed is set; otherwise
// the refusal is a Conflict with code "role-assigned" that says how many
// assignments would go, so that every surface can ask first.
func (s *Service) DeleteRole(ctx context.Context, a Actor, orgID, roleID string, confirmed bool) error {
	if err := requireAdmin(a, orgID); err != nil {
		return err
	}
	if !plausibleID(roleID) {
		return notFound("role")
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		r, err := tx.GetRole(ctx, orgID, roleID)
		if err != nil {
			return err
		}
		all, err := tx.ListRoleAssignments(ctx, orgID, "")
		if err != nil {
			return err
		}
		n := 0
		for _, x := range all {
			if x.RoleID == roleID {
				n++
			}
		}
		if n > 0 && !confirmed {
			return &Error{Kind: Conflict, Code: "role-assigned", Message: "the role has " + assignments(n) +
				"; deleting it removes them too, so confirm the deletion"}
		}
		if err := tx.DeleteRole(ctx, orgID, roleID); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, storage.EventRoleChanged, orgID, "", "", map[string]string{"role": roleID, "change": "deleted"}); err != nil {
			return err
		}
		detail := "name " + quote(r.Name)
		if n > 0 {
			detail += " with " + assignments(n)
		}
		return s.audit(ctx, tx, a, orgID, "role.delete", roleID, detail)
	})
	return storeErr(err, "role")
}

// assignments is "1 assignment" or "n assignments".
func assignments(n int) string {
	if n == 1 {
		return "1 assignment"
	}
	return strconv.Itoa(n) + " assignments"
}

// RoleSummary is a role with the number of its assignments.
type RoleSummary struct {
	storage.Role
	Assignments int
}

// RoleSummaries lists an organization's roles, by name, each with how many
// assignments it has, for admins.
func (s *Service) RoleSummaries(ctx context.Context, a Actor, orgID string) ([]RoleSummary, error) {
	roles, err := s.ListRoles(ctx, a, orgID)
	if err != nil {
		return nil, err
	}
	all, err := s.store.ListRoleAssignments(ctx, orgID, "")
	if err != nil {
		return nil, storeErr(err, "role assignment")
	}
	count := map[string]int{}
	for _, x := range all {
		count[x.RoleID]++
	}
	out := make([]RoleSummary, len(roles))
	for i, r := range roles {
		out[i] = RoleSummary{Role: r, Assignments: count[r.ID]}
	}
	slices.SortFunc(out, func(x, y RoleSummary) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// Role reads one role of the organization with its assignment count, for
// admins.
func (s *Service) Role(ctx context.Context, a Actor, orgID, roleID string) (*RoleSummary, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if !plausibleID(roleID) {
		return nil, notFound("role")
	}
	list, err := s.RoleSummaries(ctx, a, orgID)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == roleID {
			return &list[i], nil
		}
	}
	return nil, notFound("role")
}

// RoleByName finds a role of the organization by name (CLI).
func (s *Service) RoleByName(ctx context.Context, a Actor, orgID, name string) (*RoleSummary, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	list, err := s.RoleSummaries(ctx, a, orgID)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i], nil
		}
	}
	return nil, notFound("role")
}

// ListAssignments lists an organization's role assignments, of one user
// when userID is set, for admins.
func (s *Service) ListAssignments(ctx context.Context, a Actor, orgID, userID string) ([]storage.RoleAssignment, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if userID != "" {
		// As for ListPATs: a user of another organization is not found.
		if !plausibleID(userID) {
			return nil, notFound("user")
		}
		if _, err := s.user(ctx, orgID, userID); err != nil {
			return nil, err
		}
	}
	list, err := s.store.ListRoleAssignments(ctx, orgID, userID)
	return list, storeErr(err, "role assignment")
}

// AssignmentRequest assigns a role to a user at a folder ("" =
// organization-wide).
type AssignmentRequest struct {
	UserID string
	RoleID string
	Folder string
}

// CreateAssignment assigns a role, for admins. The user and the role must
// both belong to the organization: one that does not (another
// organization's included) is "not found", like every other id of another
// organization.
func (s *Service) CreateAssignment(ctx context.Context, a Actor, orgID string, req AssignmentRequest) (*storage.RoleAssignment, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if !names.ValidFolder(req.Folder) {
		return nil, invalid("folder", "folder-invalid", `must be "" (organization-wide) or names joined by "/", such as Finance/Invoices`)
	}
	if req.UserID == "" {
		return nil, invalid("user_id", "user-required", "is required")
	}
	if req.RoleID == "" {
		return nil, invalid("role_id", "role-required", "is required")
	}
	if !plausibleID(req.UserID) {
		return nil, notFound("user")
	}
	if !plausibleID(req.RoleID) {
		return nil, notFound("role")
	}
	ra := &storage.RoleAssignment{OrgID: orgID, UserID: req.UserID, RoleID: req.RoleID, Folder: req.Folder}
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.GetUser(ctx, orgID, req.UserID); err != nil {
			return storeErr(err, "user")
		}
		if _, err := tx.GetRole(ctx, orgID, req.RoleID); err != nil {
			return storeErr(err, "role")
		}
		if err := tx.CreateRoleAssignment(ctx, ra); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, storage.EventRoleChanged, orgID, ra.UserID, "",
			map[string]string{"role": ra.RoleID, "change": "assigned", "folder": ra.Folder}); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "role.assign", ra.ID, "user "+req.UserID+" role "+req.RoleID+" folder "+quote(req.Folder))
	})
	switch {
	case errors.Is(err, storage.ErrAlreadyExists):
		return nil, conflict("assignment-exists", "the user already holds this role at this folder")
	case errors.Is(err, storage.ErrInvalidReference):
		// Deleted between the checks above and the insert.
		return nil, notFound("user or role")
	case err != nil:
		return nil, storeErr(err, "role assignment")
	}
	return ra, nil
}

// DeleteAssignment removes a role assignment, for admins.
func (s *Service) DeleteAssignment(ctx context.Context, a Actor, orgID, id string) error {
	if err := requireAdmin(a, orgID); err != nil {
		return err
	}
	if !plausibleID(id) {
		return notFound("role assignment")
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		all, err := tx.ListRoleAssignments(ctx, orgID, "")
		if err != nil {
			return err
		}
		var ra *storage.RoleAssignment
		for i := range all {
			if all[i].ID == id {
				ra = &all[i]
			}
		}
		if ra == nil {
			return storage.ErrNotFound
		}
		if err := tx.DeleteRoleAssignment(ctx, orgID, id); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, storage.EventRoleChanged, orgID, ra.UserID, "",
			map[string]string{"role": ra.RoleID, "change": "unassigned", "folder": ra.Folder}); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "role.unassign", id, "")
	})
	return storeErr(err, "role assignment")
}

// AuditFilter lists audit events.
type AuditFilter struct {
	Actor, Action, Target string
	Since, Until          time.Time
	Cursor                string
	Limit                 int
}

// AuditPage is one page of audit events, newest first.
type AuditPage struct {
	Items []storage.AuditEvent
	Next  string
}

// ListAudit reads an organization's audit log, newest first, for admins.
func (s *Service) ListAudit(ctx context.Context, a Actor, orgID string, f AuditFilter) (*AuditPage, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	for _, c := range []struct{ field, v string }{{"actor", f.Actor}, {"action", f.Action}, {"target", f.Target}} {
		if err := checkFilter(c.field, c.v); err != nil {
			return nil, err
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, invalid("until", "until-before-since", "must be later than since")
	}
	limit, err := pageSize(f.Limit)
	if err != nil {
		return nil, err
	}
	// The cursor is the (time, id) of the last event of the previous page.
	var beforeTime time.Time
	var before int64
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		nanos, id, ok := strings.Cut(c, ".")
		n, err1 := strconv.ParseInt(nanos, 10, 64)
		i, err2 := strconv.ParseInt(id, 10, 64)
		if !ok || err1 != nil || err2 != nil || n <= 0 || i <= 0 {
			return nil, invalid("cursor", "cursor-invalid", "is not a cursor this server issued")
		}
		beforeTime, before = time.Unix(0, n).UTC(), i
	}
	list, err := s.store.ListAudit(ctx, storage.AuditFilter{OrgID: orgID, Actor: f.Actor, Action: f.Action, Target: f.Target,
		Since: f.Since, Until: f.Until, BeforeTime: beforeTime, Before: before, Limit: limit + 1})
	if err != nil {
		return nil, storeErr(err, "audit event")
	}
	page := &AuditPage{Items: list}
	if len(list) > limit {
		page.Items = list[:limit]
		last := list[limit-1]
		page.Next = encodeCursor(strconv.FormatInt(last.Time.UnixNano(), 10) + "." + strconv.FormatInt(last.ID, 10))
	}
	return page, nil
}

func dedupe(l []string) []string {
	out := make([]string, 0, len(l))
	for _, v := range l {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
