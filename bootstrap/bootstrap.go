package bootstrap

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"

	"authserver/config"
	"authserver/internal/password"
	"authserver/storage"
)

// Result counts what Apply changed, for the start-up log.
type Result struct {
	Created int
	Updated int
}

// Changed reports whether anything was written.
func (r Result) Changed() bool { return r.Created+r.Updated > 0 }

// Options tune Apply; the zero value is right for production.
type Options struct {
	// PasswordParams are the argon2id costs for new password hashes.
	PasswordParams *password.Params
}

// Tx is what Apply does inside its transaction: take the bootstrap lock,
// then read and write the installation's audiences and clients and the
// organizations' roles, users and assignments.
type Tx interface {
	Lock(ctx context.Context, name string) error
	GetAudience(ctx context.Context, id string) (*storage.Audience, error)
	CreateAudience(ctx context.Context, a *storage.Audience) error
	UpdateAudience(ctx context.Context, a *storage.Audience) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	CreateClient(ctx context.Context, c *storage.Client) error
	UpdateClient(ctx context.Context, c *storage.Client) error
	GetOrganizationByName(ctx context.Context, name string) (*storage.Organization, error)
	CreateOrganization(ctx context.Context, o *storage.Organization) error
	GetRoleByName(ctx context.Context, orgID, name string) (*storage.Role, error)
	CreateRole(ctx context.Context, r *storage.Role) error
	UpdateRole(ctx context.Context, r *storage.Role) error
	GetUserByUsername(ctx context.Context, orgID, username string) (*storage.User, error)
	CreateUser(ctx context.Context, u *storage.User) error
	UpdateUser(ctx context.Context, u *storage.User) error
	ListRoleAssignments(ctx context.Context, orgID, userID string) ([]storage.RoleAssignment, error)
	CreateRoleAssignment(ctx context.Context, a *storage.RoleAssignment) error
}

// Store runs Apply's transaction; storage.Narrow[Tx] of any storage.Store
// is one.
type Store interface {
	// Update runs fn in one transaction: all of fn's writes land, or none.
	Update(ctx context.Context, fn func(tx Tx) error) error
}

var (
	_ Tx    = storage.Store(nil)
	_ Store = storage.Narrowed[Tx]{}
)

// Apply makes the store hold what b declares, in one transaction: either
// everything lands or nothing does.
func Apply(ctx context.Context, st Store, b config.Bootstrap, o Options) (Result, error) {
	params := password.Default
	if o.PasswordParams != nil {
		params = *o.PasswordParams
	}
	var res Result
	err := st.Update(ctx, func(tx Tx) error {
		// One bootstrap at a time when several replicas start together.
		if err := tx.Lock(ctx, "bootstrap"); err != nil {
			return err
		}
		a := applier{tx: tx, params: params, res: &res}
		for _, au := range b.Audiences {
			if err := a.audience(ctx, au); err != nil {
				return fmt.Errorf("audience %q: %w", au.ID, err)
			}
		}
		for _, c := range b.Clients {
			if err := a.client(ctx, c); err != nil {
				return fmt.Errorf("client %q: %w", c.ID, err)
			}
		}
		for _, org := range b.Organizations {
			if err := a.organization(ctx, org); err != nil {
				return fmt.Errorf("organization %q: %w", org.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("bootstrap: %w", err)
	}
	return res, nil
}

type applier struct {
	tx     Tx
	params password.Params
	res    *Result
}

func (a *applier) audience(ctx context.Context, c config.Audience) error {
	want := storage.Audience{ID: c.ID, Name: c.Name, Scopes: c.Scopes.Names(), ScopeDescriptions: c.Scopes.Descriptions(),
		AccessTokenTTL: c.AccessTokenTTL.D()}
	cur, err := a.tx.GetAudience(ctx, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		a.res.Created++
		return a.tx.CreateAudience(ctx, &want)
	}
	if err != nil {
		return err
	}
	if cur.Name == want.Name && slices.Equal(cur.Scopes, want.Scopes) && cur.AccessTokenTTL == want.AccessTokenTTL &&
		maps.Equal(cur.ScopeDescriptions, want.ScopeDescriptions) {
		return nil
	}
	a.res.Updated++
	return a.tx.UpdateAudience(ctx, &want)
}

func (a *applier) client(ctx context.Context, c config.Client) error {
	want := storage.Client{ID: c.ID, Public: c.Public, Audiences: c.Audiences, GrantTypes: c.GrantTypes, Introspection: c.Introspection,
		OnBehalfOf: c.OnBehalfOf, DPoPRequired: c.DPoP == config.DPoPRequired}
	if want.Audiences == nil {
		want.Audiences = []string{}
	}
	if want.OnBehalfOf == nil {
		want.OnBehalfOf = []string{}
	}
	if !c.Public {
		h, err := hex.DecodeString(c.SecretSHA256)
		if err != nil {
			return fmt.Errorf("secret_sha256: %w", err)
		}
		want.SecretHash = h
	}
	cur, err := a.tx.GetClient(ctx, c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		a.res.Created++
		return a.tx.CreateClient(ctx, &want)
	}
	if err != nil {
		return err
	}
	if cur.Public == want.Public && slices.Equal(cur.SecretHash, want.SecretHash) && slices.Equal(cur.Audiences, want.Audiences) &&
		slices.Equal(cur.GrantTypes, want.GrantTypes) && cur.Introspection == want.Introspection &&
		slices.Equal(cur.OnBehalfOf, want.OnBehalfOf) && cur.DPoPRequired == want.DPoPRequired {
		return nil
	}
	a.res.Updated++
	return a.tx.UpdateClient(ctx, &want)
}

func (a *applier) organization(ctx context.Context, c config.Organization) error {
	org, err := a.tx.GetOrganizationByName(ctx, c.Name)
	if errors.Is(err, storage.ErrNotFound) {
		org = &storage.Organization{Name: c.Name, PATsEnabled: c.PATsEnabled == nil || *c.PATsEnabled, PATMaxLifetime: c.PATMaxLifetime.D()}
		// The hygiene settings, like the others, are initial values; nil
		// days take the store's default.
		if c.ExpiryNoticeDays != nil {
			org.ExpiryNoticeDays = append([]int{}, *c.ExpiryNoticeDays...)
		}
		org.PATIdleRevokeAfter = c.PATIdleRevokeAfter.D()
		if err := a.tx.CreateOrganization(ctx, org); err != nil {
			return err
		}
		a.res.Created++
	} else if err != nil {
		return err
	}
	roles := make(map[string]string, len(c.Roles)) // name → id
	for _, r := range c.Roles {
		id, err := a.role(ctx, org.ID, r)
		if err != nil {
			return fmt.Errorf("role %q: %w", r.Name, err)
		}
		roles[r.Name] = id
	}
	for _, u := range c.Users {
		if err := a.user(ctx, org.ID, u, roles); err != nil {
			return fmt.Errorf("user %q: %w", u.Username, err)
		}
	}
	return nil
}

func (a *applier) role(ctx context.Context, orgID string, c config.Role) (string, error) {
	cur, err := a.tx.GetRoleByName(ctx, orgID, c.Name)
	if errors.Is(err, storage.ErrNotFound) {
		r := &storage.Role{OrgID: orgID, Name: c.Name, Permissions: c.Permissions}
		if err := a.tx.CreateRole(ctx, r); err != nil {
			return "", err
		}
		a.res.Created++
		return r.ID, nil
	}
	if err != nil {
		return "", err
	}
	if !slices.Equal(cur.Permissions, c.Permissions) {
		cur.Permissions = c.Permissions
		a.res.Updated++
		if err := a.tx.UpdateRole(ctx, cur); err != nil {
			return "", err
		}
	}
	return cur.ID, nil
}

func (a *applier) user(ctx context.Context, orgID string, c config.User, roles map[string]string) error {
	cur, err := a.tx.GetUserByUsername(ctx, orgID, c.Username)
	if errors.Is(err, storage.ErrNotFound) {
		u := &storage.User{OrgID: orgID, Username: c.Username, Kind: storage.UserKind(c.Kind), Status: storage.UserActive, Admin: c.Admin,
			Email: c.Email}
		if c.Password != "" {
			if u.PasswordHash, err = password.Hash(c.Password.Reveal(), a.params); err != nil {
				return err
			}
		}
		if err := a.tx.CreateUser(ctx, u); err != nil {
			return err
		}
		a.res.Created++
		cur = u
	} else if err != nil {
		return err
	} else if changed, err := a.syncUser(cur, c); err != nil {
		return err
	} else if changed {
		a.res.Updated++
		if err := a.tx.UpdateUser(ctx, cur); err != nil {
			return err
		}
	}
	have, err := a.tx.ListRoleAssignments(ctx, orgID, cur.ID)
	if err != nil {
		return err
	}
	for _, ra := range c.Roles {
		roleID, ok := roles[ra.Role]
		if !ok {
			// config validation refuses this; keep the guard for callers
			// that build a Bootstrap by hand.
			return fmt.Errorf("unknown role %q", ra.Role)
		}
		if slices.ContainsFunc(have, func(h storage.RoleAssignment) bool { return h.RoleID == roleID && h.Folder == ra.Folder }) {
			continue
		}
		if err := a.tx.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: orgID, UserID: cur.ID, RoleID: roleID, Folder: ra.Folder}); err != nil {
			return err
		}
		a.res.Created++
	}
	return nil
}

// syncUser brings the declared attributes of an existing user in line with
// the file and reports whether anything changed. The password is rehashed
// only when the stored hash does not verify against the file's password, so
// a second run with the same file writes nothing.
func (a *applier) syncUser(u *storage.User, c config.User) (bool, error) {
	changed := false
	if kind := storage.UserKind(c.Kind); u.Kind != kind {
		u.Kind = kind
		changed = true
	}
	if u.Admin != c.Admin {
		u.Admin = c.Admin
		changed = true
	}
	// An address in the file is the user's; without one, the address set
	// at run time stays.
	if c.Email != "" && u.Email != c.Email {
		u.Email = c.Email
		changed = true
	}
	if c.Password != "" {
		ok := false
		if u.PasswordHash != "" {
			var err error
			if ok, err = password.Verify(c.Password.Reveal(), u.PasswordHash); err != nil && !errors.Is(err, password.ErrMalformed) {
				return false, err
			}
		}
		if !ok {
			h, err := password.Hash(c.Password.Reveal(), a.params)
			if err != nil {
				return false, err
			}
			u.PasswordHash = h
			changed = true
		}
	} else if u.Kind != storage.UserLocal && u.PasswordHash != "" {
		// Only local users sign in with a password here.
		u.PasswordHash = ""
		changed = true
	}
	return changed, nil
}
