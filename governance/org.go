package governance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"authserver/exchange"
	"authserver/internal/duration"
	"authserver/internal/names"
	"authserver/internal/patpolicy"
	"authserver/storage"
)

// Settings are an organization's PAT policy.
type Settings struct {
	PATsEnabled    bool
	PATMaxLifetime time.Duration // 0 = no limit

	// ExpiryNoticeDays are the whole days before a PAT's expiry at which
	// its owner is notified, largest first; empty: no notices. At most
	// patpolicy.MaxExpiryNotices, each 1 to patpolicy.MaxExpiryNoticeDay.
	// In UpdateSettings nil keeps the current days (an empty list that is
	// not nil turns the notices off); Settings never returns nil.
	ExpiryNoticeDays []int
	// PATIdleRevokeAfter revokes PATs unused for that long; 0: never,
	// else at least patpolicy.MinIdleRevokeAfter.
	PATIdleRevokeAfter time.Duration
}

// settingsOf is an organization's policy as Settings.
func settingsOf(o *storage.Organization) *Settings {
	return &Settings{PATsEnabled: o.PATsEnabled, PATMaxLifetime: o.PATMaxLifetime,
		ExpiryNoticeDays:   patpolicy.NormalizeExpiryNoticeDays(o.ExpiryNoticeDays),
		PATIdleRevokeAfter: o.PATIdleRevokeAfter}
}

// formatDays shows expiry notice days in an audit detail: "30,7,1", or
// "none".
func formatDays(days []int) string {
	if len(days) == 0 {
		return "none"
	}
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, ",")
}

// Settings reads an organization's policy, for its admins.
func (s *Service) Settings(ctx context.Context, a Actor, orgID string) (*Settings, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	return settingsOf(o), nil
}

// UpdateSettings changes an organization's policy. Disabling PATs blocks
// every PAT of the organization at its next use; a lowered maximum
// lifetime applies to existing PATs at use time. Both cut off the API
// tokens derived from the organization's PATs, the acting admin's own
// included: that is the intended kill switch, and the console, which signs
// in with a password, stays usable to undo it. The maximum is 0 (no limit)
// or between patpolicy.MinMaxLifetime and patpolicy.MaxMaxLifetime, the
// rule the configuration file's bootstrap organizations follow too; so do
// the expiry notice days and the idle revocation time (patpolicy).
func (s *Service) UpdateSettings(ctx context.Context, a Actor, orgID string, in Settings) (*Settings, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if err := patpolicy.CheckMaxLifetime(in.PATMaxLifetime); err != nil {
		return nil, invalid("pat_max_lifetime", "max-lifetime-invalid", "%s", err)
	}
	if err := patpolicy.CheckExpiryNoticeDays(in.ExpiryNoticeDays); err != nil {
		return nil, invalid("expiry_notice_days", "expiry-notice-days-invalid", "%s", err)
	}
	if err := patpolicy.CheckIdleRevokeAfter(in.PATIdleRevokeAfter); err != nil {
		return nil, invalid("pat_idle_revoke_after", "idle-revoke-after-invalid", "%s", err)
	}
	keepDays := in.ExpiryNoticeDays == nil
	in.ExpiryNoticeDays = patpolicy.NormalizeExpiryNoticeDays(in.ExpiryNoticeDays)
	var out *Settings
	err := s.store.Update(ctx, func(tx Tx) error {
		o, err := tx.GetOrganization(ctx, orgID)
		if err != nil {
			return err
		}
		var changes []string
		if o.PATsEnabled != in.PATsEnabled {
			changes = append(changes, fmt.Sprintf("pats_enabled %t→%t", o.PATsEnabled, in.PATsEnabled))
		}
		if o.PATMaxLifetime != in.PATMaxLifetime {
			changes = append(changes, fmt.Sprintf("pat_max_lifetime %s→%s",
				duration.Format(o.PATMaxLifetime), duration.Format(in.PATMaxLifetime)))
		}
		if keepDays {
			in.ExpiryNoticeDays = o.ExpiryNoticeDays
		}
		if cur := patpolicy.NormalizeExpiryNoticeDays(o.ExpiryNoticeDays); !slices.Equal(cur, patpolicy.NormalizeExpiryNoticeDays(in.ExpiryNoticeDays)) {
			changes = append(changes, fmt.Sprintf("expiry_notice_days %s→%s", formatDays(cur), formatDays(in.ExpiryNoticeDays)))
		}
		if o.PATIdleRevokeAfter != in.PATIdleRevokeAfter {
			changes = append(changes, fmt.Sprintf("pat_idle_revoke_after %s→%s",
				duration.Format(o.PATIdleRevokeAfter), duration.Format(in.PATIdleRevokeAfter)))
		}
		out = settingsOf(o)
		if len(changes) == 0 {
			return nil
		}
		toggled := o.PATsEnabled != in.PATsEnabled
		o.PATsEnabled, o.PATMaxLifetime = in.PATsEnabled, in.PATMaxLifetime
		o.ExpiryNoticeDays, o.PATIdleRevokeAfter = in.ExpiryNoticeDays, in.PATIdleRevokeAfter
		out = settingsOf(o)
		if err := tx.UpdateOrganization(ctx, o); err != nil {
			return err
		}
		if toggled {
			typ := storage.EventOrgPATsEnabled
			if !o.PATsEnabled {
				typ = storage.EventOrgPATsDisabled
			}
			if err := s.emit(ctx, tx, typ, orgID, "", "", nil); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, a, orgID, "org.settings", orgID, strings.Join(changes, ", "))
	})
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	return out, nil
}

// UserFilter lists users. Zero fields do not filter.
type UserFilter struct {
	Status storage.UserStatus
	Kind   storage.UserKind
	// Search keeps the usernames that contain it, ignoring case; it is
	// matched literally (no wildcards).
	Search string
	Cursor string
	Limit  int
}

// UserPage is one page of users.
type UserPage struct {
	Items []storage.User
	Next  string
}

// ListUsers lists an organization's users by username, for its admins.
// Password hashes are cleared.
func (s *Service) ListUsers(ctx context.Context, a Actor, orgID string, f UserFilter) (*UserPage, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	switch f.Status {
	case "", storage.UserActive, storage.UserDeactivated:
	default:
		return nil, invalid("status", "status-invalid", "must be active or deactivated")
	}
	switch f.Kind {
	case "", storage.UserLocal, storage.UserDirectory, storage.UserSAML:
	default:
		return nil, invalid("kind", "kind-invalid", "must be local, directory or saml")
	}
	if utf8.RuneCountInString(f.Search) > names.MaxLen || !names.PlainText(f.Search) {
		return nil, invalid("q", "q-invalid", "must be plain text of at most %d characters", names.MaxLen)
	}
	limit, err := pageSize(f.Limit)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, err
	}
	list, err := s.store.ListUsers(ctx, storage.UserFilter{OrgID: orgID, Status: f.Status, Kind: f.Kind,
		Search: f.Search, After: after, Limit: limit + 1})
	if err != nil {
		return nil, storeErr(err, "user")
	}
	page := &UserPage{Items: list}
	if len(list) > limit {
		page.Items = list[:limit]
		page.Next = encodeCursor(list[limit-1].Username)
	}
	for i := range page.Items {
		page.Items[i].PasswordHash = ""
	}
	return page, nil
}

// UserRequest creates a user.
type UserRequest struct {
	Username string
	Kind     storage.UserKind // default local
	Admin    bool
	// Password is the console password of a local user; empty for none.
	Password string
	// Link asks for a set-password link instead of a password (local
	// users only; not with Password).
	Link bool

	// Email is where the user's notices go (CheckEmail); "" for none.
	Email string
}

// NewUser is a user just created, with its set-password link when one was
// asked for (shown once, never stored).
type NewUser struct {
	storage.User
	Link *SetPasswordLink
}

// CreateUser creates a user in an organization, for its admins. A local
// user gets a console password (CheckPassword), a set-password link, or
// neither (then it cannot sign in to the console until an admin resets
// its password).
func (s *Service) CreateUser(ctx context.Context, a Actor, orgID string, req UserRequest) (*NewUser, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if err := names.Check(req.Username); err != nil {
		return nil, invalid("username", "username-invalid", "%s", err)
	}
	if req.Kind == "" {
		req.Kind = storage.UserLocal
	}
	switch req.Kind {
	case storage.UserLocal, storage.UserDirectory, storage.UserSAML:
	default:
		return nil, invalid("kind", "kind-invalid", "must be local, directory or saml")
	}
	u := &storage.User{OrgID: orgID, Username: req.Username, Kind: req.Kind, Status: storage.UserActive, Admin: req.Admin}
	if err := CheckEmail(req.Email); err != nil {
		return nil, err
	}
	u.Email = req.Email
	if req.Password != "" || req.Link {
		if req.Kind != storage.UserLocal {
			return nil, invalid("password", "password-not-local", "only local users have a password")
		}
		if req.Password != "" && req.Link {
			return nil, invalid("password", "password-or-link", "give either a password or ask for a set-password link, not both")
		}
	}
	if req.Password != "" {
		h, err := s.hashPassword(req.Username, req.Password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = h
	}
	out := &NewUser{}
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.CreateUser(ctx, u); err != nil {
			return err
		}
		detail := "username " + quote(u.Username)
		switch {
		case req.Link:
			l, err := s.newPasswordLink(ctx, tx, u)
			if err != nil {
				return err
			}
			out.Link = l
			detail += ", set-password link until " + l.ExpiresAt.Format(time.RFC3339)
		case req.Password != "":
			detail += ", with a password"
		case req.Kind == storage.UserLocal:
			detail += ", no password"
		}
		if u.Email != "" {
			detail += ", with an e-mail address"
		}
		return s.audit(ctx, tx, a, orgID, "user.create", u.ID, detail)
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, conflict("username-taken", "a user with this username exists in the organization")
	}
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	u.PasswordHash = ""
	out.User = *u
	return out, nil
}

// SetUserStatus deactivates or reactivates a user, for admins. A
// deactivated user's PATs stop working at their next use, their console
// sessions end and their set-password link stops working; reactivation restores PATs that are otherwise valid. Admins
// cannot deactivate themselves (that could leave an organization with no
// one to undo it).
func (s *Service) SetUserStatus(ctx context.Context, a Actor, orgID, userID string, status storage.UserStatus) (*storage.User, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if status != storage.UserActive && status != storage.UserDeactivated {
		return nil, invalid("status", "status-invalid", "must be active or deactivated")
	}
	if !plausibleID(userID) {
		return nil, notFound("user")
	}
	if a.Kind == ActorUser && a.UserID == userID && status == storage.UserDeactivated {
		return nil, conflict("self-deactivation", "you cannot deactivate yourself")
	}
	var out *storage.User
	err := s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.GetUser(ctx, orgID, userID)
		if err != nil {
			return err
		}
		out = u
		if u.Status == status {
			return nil
		}
		u.Status = status
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		action, typ := "user.reactivate", storage.EventUserReactivated
		if status == storage.UserDeactivated {
			action, typ = "user.deactivate", storage.EventUserDeactivated
			if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
				return err
			}
			if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
				return err
			}
		}
		if err := s.emit(ctx, tx, typ, orgID, u.ID, "", map[string]string{"username": u.Username}); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, action, u.ID, "username "+quote(u.Username))
	})
	if err != nil {
		return nil, storeErr(err, "user")
	}
	out.PasswordHash = ""
	return out, nil
}

// UserByName finds a user of an organization by username (CLI).
func (s *Service) UserByName(ctx context.Context, a Actor, orgID, username string) (*storage.User, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	u, err := s.store.GetUserByUsername(ctx, orgID, username)
	if err != nil {
		return nil, storeErr(err, "user")
	}
	u.PasswordHash = ""
	return u, nil
}

// UserByID reads a user of an organization, for its admins (password
// hash cleared).
func (s *Service) UserByID(ctx context.Context, a Actor, orgID, userID string) (*storage.User, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if !plausibleID(userID) {
		return nil, notFound("user")
	}
	u, err := s.user(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	u.PasswordHash = ""
	return u, nil
}

// Me is who the actor is and what it may do.
type Me struct {
	User         storage.User
	Organization storage.Organization
	Roles        []RoleAt
	// Permissions are the organization-wide permissions of the user's
	// roles; FolderPermissions add those held at folders.
	Permissions []string
}

// RoleAt is a role held at a folder ("" = organization-wide).
type RoleAt struct {
	AssignmentID string
	RoleID       string
	Role         string
	Folder       string
	Permissions  []string
}

// Me answers who the actor is and what it may do.
func (s *Service) Me(ctx context.Context, a Actor) (*Me, error) {
	if a.Kind != ActorUser {
		return nil, forbidden("user-required", "only users have a profile")
	}
	u, err := s.user(ctx, a.OrgID, a.UserID)
	if err != nil {
		return nil, err
	}
	o, err := s.org(ctx, a.OrgID)
	if err != nil {
		return nil, err
	}
	roles, err := s.rolesOf(ctx, a.OrgID, a.UserID)
	if err != nil {
		return nil, err
	}
	u.PasswordHash = ""
	me := &Me{User: *u, Organization: *o, Roles: roles, Permissions: []string{exchange.ScopePATs}}
	if u.Admin {
		me.Permissions = append(me.Permissions, exchange.ScopeAdmin)
	}
	for _, r := range roles {
		if r.Folder == "" {
			me.Permissions = append(me.Permissions, r.Permissions...)
		}
	}
	me.Permissions = exchange.Reduce(me.Permissions)
	return me, nil
}

// rolesOf lists a user's roles with their permissions.
func (s *Service) rolesOf(ctx context.Context, orgID, userID string) ([]RoleAt, error) {
	as, err := s.store.ListRoleAssignments(ctx, orgID, userID)
	if err != nil {
		return nil, storeErr(err, "role assignment")
	}
	roles, err := s.store.ListRoles(ctx, orgID)
	if err != nil {
		return nil, storeErr(err, "role")
	}
	byID := make(map[string]storage.Role, len(roles))
	for _, r := range roles {
		byID[r.ID] = r
	}
	out := make([]RoleAt, 0, len(as))
	for _, x := range as {
		r := byID[x.RoleID]
		out = append(out, RoleAt{AssignmentID: x.ID, RoleID: r.ID, Role: r.Name, Folder: x.Folder, Permissions: r.Permissions})
	}
	return out, nil
}

// Explanation is the dry run of an exchange: what it would grant now, and
// what it would drop and why.
type Explanation struct {
	Audience string
	// Usable is false when the PAT could not be exchanged at all right now;
	// Reason then says why (the owner may know what the token endpoint
	// keeps to itself).
	Usable bool
	Reason exchange.Cause
	exchange.Explanation
}

// Explain answers what an exchange of one of the actor's PATs for an
// audience would grant right now, without issuing anything. requested is
// the scope the exchange would ask for (none: no scope parameter); a
// requested scope the PAT or the audience cannot honour is refused as the
// token endpoint would refuse it (invalid_scope there, Invalid here).
func (s *Service) Explain(ctx context.Context, a Actor, patID, audienceID string, requested ...string) (*Explanation, error) {
	if _, _, _, err := s.myPAT(ctx, a, patID); err != nil {
		return nil, err
	}
	if audienceID == "" {
		return nil, invalid("audience", "audience-required", "is required")
	}
	aud, err := s.catalog.Audience(ctx, audienceID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, invalid("audience", "audience-unknown", "is not an audience of this server")
		}
		return nil, storeErr(err, "audience")
	}
	g, err := s.store.GetPATGrantByID(ctx, patID)
	if err != nil {
		return nil, storeErr(err, "personal access token")
	}
	if len(requested) > exchange.MaxRequestedScopes {
		return nil, invalid("scope", "scope-too-many", "may name at most %d scopes", exchange.MaxRequestedScopes)
	}
	cause := exchange.CheckUsable(g, s.now())
	ex, err := exchange.Explain(g.PAT.Scopes, aud.Scopes, requested, exchange.IdentityGrants(g))
	switch {
	case errors.Is(err, exchange.ErrScopeNotCovered):
		return nil, invalid("scope", "scope-not-covered", "asks for a scope the personal access token does not cover")
	case errors.Is(err, exchange.ErrScopeNotInAudience):
		return nil, invalid("scope", "scope-not-in-audience", "asks for a scope the audience does not understand")
	case err != nil:
		return nil, err
	}
	return &Explanation{Audience: aud.ID, Usable: cause == exchange.CauseNone, Reason: cause, Explanation: *ex}, nil
}
