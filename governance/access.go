package governance

import (
	"context"
	"slices"

	"authserver/exchange"
	"authserver/storage"
)

// UserAccess is what one user may do now, for an admin: their role
// assignments, the folders they hold roles at, and per audience what a PAT
// of theirs holding every scope of that audience would get from an
// exchange now.
type UserAccess struct {
	User  storage.User
	Roles []RoleAt
	// Folders are the folders the user holds a role at, sorted; the
	// organization-wide assignments are not among them.
	Folders []string
	// Usable is false when no PAT of the user could be exchanged now
	// (PATs disabled in the organization, the user deactivated or not a
	// local user); Reason then says why, and Audiences show what an
	// exchange would grant once that changes.
	Usable    bool
	Reason    exchange.Cause
	Audiences []AudienceAccess
}

// AudienceAccess is the dry run of an exchange for one audience by a PAT
// holding all of the audience's scopes and asking for none.
type AudienceAccess struct {
	Audience storage.Audience
	exchange.Explanation
}

// UserAccess answers, for an admin, what userID may do now in each
// audience, by the computation of the exchange itself (the one behind
// Explain): the rights of a PAT that holds every scope of the audience,
// meeting the user's current roles per folder. The management audience
// comes last.
func (s *Service) UserAccess(ctx context.Context, a Actor, orgID, userID string) (*UserAccess, error) {
	u, err := s.UserByID(ctx, a, orgID, userID)
	if err != nil {
		return nil, err
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	roles, err := s.rolesOf(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	audiences, err := s.catalog.List(ctx)
	if err != nil {
		return nil, storeErr(err, "catalogue")
	}
	out := &UserAccess{User: *u, Roles: roles}
	// The grant an exchange would read: a PAT created now, never
	// revoked or expired, so that only the organization and the user can
	// make it unusable.
	g := &storage.PATGrant{PAT: storage.PAT{CreatedAt: s.now()}, Owner: *u, Org: *o}
	for _, r := range roles {
		g.Grants = append(g.Grants, storage.Grant{Folder: r.Folder, Permissions: r.Permissions})
		if r.Folder != "" && !slices.Contains(out.Folders, r.Folder) {
			out.Folders = append(out.Folders, r.Folder)
		}
	}
	slices.Sort(out.Folders)
	out.Reason = exchange.CheckUsable(g, s.now())
	out.Usable = out.Reason == exchange.CauseNone
	grants := exchange.IdentityGrants(g)
	mgmt := s.catalog.ManagementAudience()
	var last *AudienceAccess
	for _, aud := range audiences {
		ex, err := exchange.Explain(aud.Scopes, aud.Scopes, nil, grants)
		if err != nil {
			return nil, err // no scope is requested, so none is refused
		}
		x := AudienceAccess{Audience: aud, Explanation: *ex}
		if aud.ID == mgmt {
			last = &x
			continue
		}
		out.Audiences = append(out.Audiences, x)
	}
	if last != nil {
		out.Audiences = append(out.Audiences, *last)
	}
	return out, nil
}

// OrganizationSummary is an organization with its number of users.
type OrganizationSummary struct {
	storage.Organization
	Users int
}

// Organizations lists every organization by name with its number of
// users, for the operator (the CLI actor) only: a user sees their own
// organization and no other.
func (s *Service) Organizations(ctx context.Context, a Actor) ([]OrganizationSummary, error) {
	if a.Kind != ActorCLI {
		return nil, forbidden("operator-required", "only the operator lists organizations")
	}
	orgs, err := s.store.ListOrganizations(ctx)
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	out := make([]OrganizationSummary, len(orgs))
	for i, o := range orgs {
		out[i].Organization = o
		f := storage.UserFilter{OrgID: o.ID, Limit: MaxPageSize}
		for {
			page, err := s.store.ListUsers(ctx, f)
			if err != nil {
				return nil, storeErr(err, "user")
			}
			out[i].Users += len(page)
			if len(page) < f.Limit {
				break
			}
			f.After = page[len(page)-1].Username
		}
	}
	return out, nil
}
