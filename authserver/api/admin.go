package api

import (
	"net/http"
	"strconv"

	"authserver/governance"
	"authserver/internal/duration"
	"authserver/internal/httpx"
	"authserver/storage"
)

// Administration of the caller's own organization. Every handler acts in
// p.actor.OrgID: another organization's users, PATs, roles and assignments
// are "not found" there, so nothing crosses organizations.

// settingsJSON is the organization's PAT policy.
type settingsJSON struct {
	PATsEnabled    bool   `json:"pats_enabled"`
	PATMaxLifetime string `json:"pat_max_lifetime"`

	// The PAT hygiene settings: expiry notice days (largest first, [] for
	// none) and the idle time after which PATs are revoked ("0": never).
	ExpiryNoticeDays   []int  `json:"expiry_notice_days"`
	PATIdleRevokeAfter string `json:"pat_idle_revoke_after"`
}

// settingsRequest is the body of PUT /api/v1/admin/settings: pats_enabled
// and pat_max_lifetime are required (PUT replaces the policy); the hygiene
// settings, added later, keep their current values when absent, so that a
// client written before them changes nothing it does not know about.
type settingsRequest struct {
	PATsEnabled    *bool   `json:"pats_enabled"`
	PATMaxLifetime *string `json:"pat_max_lifetime"`

	ExpiryNoticeDays   *[]int  `json:"expiry_notice_days"`
	PATIdleRevokeAfter *string `json:"pat_idle_revoke_after"`
}

func toSettings(s *governance.Settings) settingsJSON {
	return settingsJSON{PATsEnabled: s.PATsEnabled, PATMaxLifetime: duration.Format(s.PATMaxLifetime),
		ExpiryNoticeDays: nonNil(s.ExpiryNoticeDays), PATIdleRevokeAfter: duration.Format(s.PATIdleRevokeAfter)}
}

func (a *api) getSettings(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	s, err := a.gov.Settings(r.Context(), p.actor, p.actor.OrgID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toSettings(s))
	return nil
}

func (a *api) putSettings(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body settingsRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.PATsEnabled == nil {
		return fieldProblem(codeInvalidField, "pats_enabled", "is required")
	}
	if body.PATMaxLifetime == nil {
		return fieldProblem(codeInvalidField, "pat_max_lifetime", "is required (\"0\" for no limit)")
	}
	lifetime, err := duration.Parse(*body.PATMaxLifetime)
	if err != nil {
		return fieldProblem(codeInvalidField, "pat_max_lifetime", "must be a duration such as 90d, 720h or \"0\" for no limit")
	}
	in := governance.Settings{PATsEnabled: *body.PATsEnabled, PATMaxLifetime: lifetime}
	if body.ExpiryNoticeDays != nil {
		in.ExpiryNoticeDays = nonNil(*body.ExpiryNoticeDays)
	}
	if body.PATIdleRevokeAfter != nil {
		if in.PATIdleRevokeAfter, err = duration.Parse(*body.PATIdleRevokeAfter); err != nil {
			return fieldProblem(codeInvalidField, "pat_idle_revoke_after", "must be a duration such as 90d or 2160h, or \"0\" for never")
		}
	} else {
		cur, err := a.gov.Settings(r.Context(), p.actor, p.actor.OrgID)
		if err != nil {
			return err
		}
		in.PATIdleRevokeAfter = cur.PATIdleRevokeAfter
	}
	s, err := a.gov.UpdateSettings(r.Context(), p.actor, p.actor.OrgID, in)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toSettings(s))
	return nil
}

func (a *api) listPATs(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	f, err := patFilterQuery(q)
	if err != nil {
		return err
	}
	f.OwnerID = q["owner"]
	page, err := a.gov.ListPATs(r.Context(), p.actor, p.actor.OrgID, f)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toPATPage(page))
	return nil
}

type revokeRequest struct {
	IDs []string `json:"ids"`
}

type revokeJSON struct {
	Revoked  []string `json:"revoked"`
	NotFound []string `json:"not_found"`
}

// revokePATs revokes PATs of the organization by id, all in one
// transaction; ids that are not the organization's PATs are listed as not
// found.
func (a *api) revokePATs(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body revokeRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	res, err := a.gov.RevokePATs(r.Context(), p.actor, p.actor.OrgID, body.IDs)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, revokeJSON{Revoked: nonNil(res.Revoked), NotFound: nonNil(res.NotFound)})
	return nil
}

type revokeByValueRequest struct {
	Token string `json:"token"`
}

// revokeByValue revokes a leaked token of the organization and answers
// with its PAT (owner and name), or 404 when the value matches no PAT of the
// organization — another organization's PAT included.
func (a *api) revokeByValue(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body revokeByValueRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	if body.Token == "" {
		return fieldProblem(codeInvalidField, "token", "is required")
	}
	v, err := a.gov.RevokeByValue(r.Context(), p.actor, p.actor.OrgID, body.Token)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toPAT(v))
	return nil
}

// userJSON is a user as the API shows it: never a password hash.
type userJSON struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Kind      string `json:"kind"`
	Status    string `json:"status"`
	Admin     bool   `json:"admin"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`

	// Email is where the user's notices go; "" for none.
	Email string `json:"email"`
}

func toUser(u *storage.User) userJSON {
	return userJSON{ID: u.ID, Username: u.Username, Kind: string(u.Kind), Status: string(u.Status), Admin: u.Admin,
		CreatedAt: stamp(u.CreatedAt), UpdatedAt: stamp(u.UpdatedAt), Email: u.Email}
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	limit, cursor, err := pageQuery(q)
	if err != nil {
		return err
	}
	page, err := a.gov.ListUsers(r.Context(), p.actor, p.actor.OrgID, governance.UserFilter{
		Status: storage.UserStatus(q["status"]), Kind: storage.UserKind(q["kind"]), Search: q["q"],
		Limit: limit, Cursor: cursor,
	})
	if err != nil {
		return err
	}
	out := list[userJSON]{Items: make([]userJSON, 0, len(page.Items)), NextCursor: page.Next}
	for i := range page.Items {
		out.Items = append(out.Items, toUser(&page.Items[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// createUserRequest is the body of POST /api/v1/admin/users. kind defaults
// to local; a local user gets a console password, or a set-password link
// (SetPasswordLink), or neither.
type createUserRequest struct {
	Username        string `json:"username"`
	Kind            string `json:"kind"`
	Admin           bool   `json:"admin"`
	Password        string `json:"password"`
	SetPasswordLink bool   `json:"set_password_link"`

	Email string `json:"email"`
}

// passwordLinkJSON is a set-password link just issued: the only answer
// that ever holds one.
type passwordLinkJSON struct {
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// newUserJSON is a user just created, with its set-password link when one
// was asked for.
type newUserJSON struct {
	userJSON
	SetPasswordLink *passwordLinkJSON `json:"set_password_link,omitempty"`
}

func (a *api) linkJSON(l *governance.SetPasswordLink) *passwordLinkJSON {
	if l == nil {
		return nil
	}
	return &passwordLinkJSON{URL: governance.PasswordLinkURL(a.auth.issuer, l.Secret), ExpiresAt: stamp(l.ExpiresAt)}
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body createUserRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	u, err := a.gov.CreateUser(r.Context(), p.actor, p.actor.OrgID, governance.UserRequest{
		Username: body.Username, Kind: storage.UserKind(body.Kind), Admin: body.Admin, Password: body.Password,
		Link: body.SetPasswordLink, Email: body.Email,
	})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, newUserJSON{userJSON: toUser(&u.User), SetPasswordLink: a.linkJSON(u.Link)})
	return nil
}

// resetPasswordRequest is the body of POST …/users/{id}/password: a new
// password, or set_password_link true, exactly one.
type resetPasswordRequest struct {
	Password        string `json:"password"`
	SetPasswordLink bool   `json:"set_password_link"`
}

// passwordResetJSON answers a reset: the user's sessions have ended; the
// link is there when one was asked for.
type passwordResetJSON struct {
	UserID          string            `json:"user_id"`
	SetPasswordLink *passwordLinkJSON `json:"set_password_link,omitempty"`
}

// resetPassword sets a local user's password, or issues a set-password
// link (which clears the password). Either way the user's console
// sessions end.
func (a *api) resetPassword(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body resetPasswordRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	id := r.PathValue("id")
	l, err := a.gov.ResetPassword(r.Context(), p.actor, p.actor.OrgID, id,
		governance.PasswordReset{Password: body.Password, Link: body.SetPasswordLink})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, passwordResetJSON{UserID: id, SetPasswordLink: a.linkJSON(l)})
	return nil
}

func (a *api) deactivateUser(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	return a.setUserStatus(w, r, p, storage.UserDeactivated)
}

func (a *api) reactivateUser(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	return a.setUserStatus(w, r, p, storage.UserActive)
}

// setUserStatus answers 200 with the user. Deactivation stops the user's
// PATs, API tokens and console sessions at once.
func (a *api) setUserStatus(w http.ResponseWriter, r *http.Request, p *principal, status storage.UserStatus) error {
	u, err := a.gov.SetUserStatus(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id"), status)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toUser(u))
	return nil
}

type roleJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	CreatedAt   string   `json:"created_at"`
	UpdatedAt   string   `json:"updated_at"`
}

func toRole(r *storage.Role) roleJSON {
	return roleJSON{ID: r.ID, Name: r.Name, Permissions: nonNil(r.Permissions), CreatedAt: stamp(r.CreatedAt), UpdatedAt: stamp(r.UpdatedAt)}
}

// roleRequest is the body of POST and PUT on roles.
type roleRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

func (a *api) listRoles(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	roles, err := a.gov.ListRoles(r.Context(), p.actor, p.actor.OrgID)
	if err != nil {
		return err
	}
	out := list[roleJSON]{Items: make([]roleJSON, 0, len(roles))}
	for i := range roles {
		out.Items = append(out.Items, toRole(&roles[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) createRole(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body roleRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	role, err := a.gov.CreateRole(r.Context(), p.actor, p.actor.OrgID, governance.RoleRequest{Name: body.Name, Permissions: body.Permissions})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, toRole(role))
	return nil
}

func (a *api) updateRole(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body roleRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	role, err := a.gov.UpdateRole(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id"),
		governance.RoleRequest{Name: body.Name, Permissions: body.Permissions})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toRole(role))
	return nil
}

// deleteRole deletes a role; 204. A role that is assigned needs
// ?confirm=true, and its assignments go with it; without it the answer is a
// 409 problem saying how many assignments it has.
func (a *api) deleteRole(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	confirmed := false
	if v, ok := q["confirm"]; ok {
		switch v {
		case "true":
			confirmed = true
		case "false":
		default:
			return fieldProblem(codeInvalidParameter, "confirm", "must be true or false")
		}
	}
	if err := a.gov.DeleteRole(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id"), confirmed); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type assignmentJSON struct {
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	RoleID    string `json:"role_id"`
	Folder    string `json:"folder"`
	CreatedAt string `json:"created_at"`
}

func toAssignment(ra *storage.RoleAssignment) assignmentJSON {
	return assignmentJSON{ID: ra.ID, UserID: ra.UserID, RoleID: ra.RoleID, Folder: ra.Folder, CreatedAt: stamp(ra.CreatedAt)}
}

// assignmentRequest is the body of POST /api/v1/admin/assignments; folder
// "" (or omitted) is organization-wide.
type assignmentRequest struct {
	UserID string `json:"user_id"`
	RoleID string `json:"role_id"`
	Folder string `json:"folder"`
}

func (a *api) listAssignments(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	as, err := a.gov.ListAssignments(r.Context(), p.actor, p.actor.OrgID, q["user_id"])
	if err != nil {
		return err
	}
	out := list[assignmentJSON]{Items: make([]assignmentJSON, 0, len(as))}
	for i := range as {
		out.Items = append(out.Items, toAssignment(&as[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) createAssignment(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body assignmentRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	ra, err := a.gov.CreateAssignment(r.Context(), p.actor, p.actor.OrgID,
		governance.AssignmentRequest{UserID: body.UserID, RoleID: body.RoleID, Folder: body.Folder})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusCreated, toAssignment(ra))
	return nil
}

// deleteAssignment removes an assignment; 204.
func (a *api) deleteAssignment(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	if err := a.gov.DeleteAssignment(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditJSON is one audit event. It never holds a token value: governance
// and the token endpoint record ids, never secrets.
type auditJSON struct {
	ID         string `json:"id"`
	Time       string `json:"time"`
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	Target     string `json:"target"`
	ClientAddr string `json:"client_addr"`
	Outcome    string `json:"outcome"`
	Detail     string `json:"detail"`
	// ActorName and TargetName name the actor (a user's username) and the
	// target (a PAT's name, a user's username, a role's name, the
	// organization's name, as the action implies); "" when the actor or
	// target is none of these or no longer exists.
	ActorName  string `json:"actor_name"`
	TargetName string `json:"target_name"`
}

// listAudit reads the organization's audit log, newest first, filtered by
// actor, action, target and time (since inclusive, until exclusive).
func (a *api) listAudit(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	limit, cursor, err := pageQuery(q)
	if err != nil {
		return err
	}
	since, err := timeQuery(q, "since")
	if err != nil {
		return err
	}
	until, err := timeQuery(q, "until")
	if err != nil {
		return err
	}
	page, err := a.gov.ListAudit(r.Context(), p.actor, p.actor.OrgID, governance.AuditFilter{
		Actor: q["actor"], Action: q["action"], Target: q["target"], Since: since, Until: until,
		Limit: limit, Cursor: cursor,
	})
	if err != nil {
		return err
	}
	names, err := a.gov.AuditNames(r.Context(), p.actor, p.actor.OrgID, page.Items)
	if err != nil {
		return err
	}
	out := list[auditJSON]{Items: make([]auditJSON, 0, len(page.Items)), NextCursor: page.Next}
	for i, e := range page.Items {
		out.Items = append(out.Items, auditJSON{ID: strconv.FormatInt(e.ID, 10), Time: stamp(e.Time), Actor: e.Actor,
			Action: e.Action, Target: e.Target, ClientAddr: e.ClientAddr, Outcome: e.Outcome, Detail: e.Detail,
			ActorName: names[i].Actor, TargetName: names[i].Target})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// emailRequest is the body of PUT …/email: the address, "" to remove it.
type emailRequest struct {
	Email *string `json:"email"`
}

// readEmail reads an emailRequest; email is required ("" removes).
func readEmail(w http.ResponseWriter, r *http.Request) (string, error) {
	var body emailRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return "", err
	}
	if body.Email == nil {
		return "", fieldProblem(codeInvalidField, "email", "is required (\"\" removes the address)")
	}
	return *body.Email, nil
}

// setUserEmail sets or removes a user's e-mail address and answers 200
// with the user.
func (a *api) setUserEmail(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	email, err := readEmail(w, r)
	if err != nil {
		return err
	}
	u, err := a.gov.SetUserEmail(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id"), email)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toUser(u))
	return nil
}

// setMyEmail sets or removes the caller's own e-mail address and answers
// 200 with the user.
func (a *api) setMyEmail(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	email, err := readEmail(w, r)
	if err != nil {
		return err
	}
	u, err := a.gov.SetMyEmail(r.Context(), p.actor, email)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toUser(u))
	return nil
}
