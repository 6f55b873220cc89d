package api

import (
	"net/http"
	"strings"

	"authserver/exchange"
	"authserver/internal/httpx"
)

// userAccessJSON is what a user may do now: their role assignments, the
// folders they hold roles at, and per audience the dry run of an exchange
// by a PAT holding every scope of the audience.
type userAccessJSON struct {
	User      userJSON             `json:"user"`
	Usable    bool                 `json:"usable"`
	Reason    string               `json:"reason,omitempty"`
	Roles     []userRoleJSON       `json:"roles"`
	Folders   []string             `json:"folders"`
	Audiences []audienceAccessJSON `json:"audiences"`
}

// userRoleJSON is one role assignment with the role's name and
// permissions; folder "" is organization-wide.
type userRoleJSON struct {
	AssignmentID string   `json:"assignment_id"`
	RoleID       string   `json:"role_id"`
	Role         string   `json:"role"`
	Folder       string   `json:"folder"`
	Permissions  []string `json:"permissions"`
}

// audienceAccessJSON is one audience's dry run, shaped like the PAT dry run
// (dryRunJSON) without the usability, which is the user's.
type audienceAccessJSON struct {
	Audience             string                         `json:"audience"`
	Name                 string                         `json:"name"`
	Scopes               []string                       `json:"scopes"`
	Scope                string                         `json:"scope"`
	AuthorizationDetails []exchange.AuthorizationDetail `json:"authorization_details"`
	Dropped              []exchange.Dropped             `json:"dropped"`
}

// userAccess answers what a user of the organization may do now, per
// audience.
func (a *api) userAccess(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	acc, err := a.gov.UserAccess(r.Context(), p.actor, p.actor.OrgID, r.PathValue("id"))
	if err != nil {
		return err
	}
	out := userAccessJSON{User: toUser(&acc.User), Usable: acc.Usable, Reason: string(acc.Reason),
		Roles: make([]userRoleJSON, 0, len(acc.Roles)), Folders: nonNil(acc.Folders),
		Audiences: make([]audienceAccessJSON, 0, len(acc.Audiences))}
	for _, x := range acc.Roles {
		out.Roles = append(out.Roles, userRoleJSON{AssignmentID: x.AssignmentID, RoleID: x.RoleID, Role: x.Role,
			Folder: x.Folder, Permissions: nonNil(x.Permissions)})
	}
	for _, x := range acc.Audiences {
		out.Audiences = append(out.Audiences, audienceAccessJSON{
			Audience: x.Audience.ID, Name: x.Audience.Name, Scopes: nonNil(x.Audience.Scopes),
			Scope:                strings.Join(x.Scope, " "),
			AuthorizationDetails: nonNil(x.Rights.AuthorizationDetails(x.Audience.ID)),
			Dropped:              nonNil(x.Dropped),
		})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}
