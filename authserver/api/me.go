package api

import (
	"net/http"
	"strings"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/duration"
	"authserver/internal/httpx"
	"authserver/internal/ratelimit"
	"authserver/storage"
)

// Self-service: who am I, my PATs, the scope catalogue, the dry run.

// patJSON is a PAT as the API shows it: never its token or hash.
type patJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	Status     string   `json:"status"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  *string  `json:"expires_at"`
	LastUsedAt *string  `json:"last_used_at"`
	// LastUsedAddr and LastUsedClient are the client address and the
	// OAuth client id of the last exchange; "" before the first.
	LastUsedAddr   string    `json:"last_used_addr"`
	LastUsedClient string    `json:"last_used_client"`
	RevokedAt      *string   `json:"revoked_at"`
	Hint           string    `json:"hint"`
	Owner          ownerJSON `json:"owner"`
	// Delegates are the clients allowed to exchange the PAT's access
	// tokens on the owner's behalf; [] for none.
	Delegates []string `json:"delegates"`

	// Rotation and networks.
	//
	// OverlapUntil is, for a PAT replaced by regeneration with an overlap,
	// when its old secret stops (or stopped) working; null otherwise.
	// ReplacedBy is the id of the PAT that replaced it ("" for none).
	OverlapUntil *string `json:"overlap_until"`
	ReplacedBy   string  `json:"replaced_by"`
	// AllowedCIDRs are the networks the PAT may be exchanged from ([]:
	// any); RecentNetworks the last networks it was exchanged from, most
	// recent first.
	AllowedCIDRs   []string `json:"allowed_cidrs"`
	RecentNetworks []string `json:"recent_networks"`
}

type ownerJSON struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

// newTokenJSON is a PAT just created or regenerated: the only answer that
// ever holds a token.
type newTokenJSON struct {
	patJSON
	Token string `json:"token"`
}

func toPAT(v *governance.PATView) patJSON {
	scopes := v.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	return patJSON{
		ID: v.ID, Name: v.Name, Scopes: scopes, Status: string(v.Status),
		CreatedAt: stamp(v.CreatedAt), ExpiresAt: stampPtr(v.ExpiresAt), LastUsedAt: stampPtr(v.LastUsedAt),
		LastUsedAddr: v.LastUsedAddr, LastUsedClient: v.LastUsedClient, RevokedAt: stampPtr(v.RevokedAt), Hint: v.Hint, Owner: ownerJSON{ID: v.OwnerID, Username: v.Owner},
		Delegates:    nonNil(v.Delegates),
		OverlapUntil: stampPtr(v.OverlapUntil), ReplacedBy: v.ReplacedBy,
		AllowedCIDRs: nonNil(v.AllowedCIDRs), RecentNetworks: nonNil(v.RecentNetworks),
	}
}

func toPATPage(page *governance.PATPage) list[patJSON] {
	out := list[patJSON]{Items: make([]patJSON, 0, len(page.Items)), NextCursor: page.Next}
	for i := range page.Items {
		out.Items = append(out.Items, toPAT(&page.Items[i]))
	}
	return out
}

// meJSON answers GET /api/v1/me.
type meJSON struct {
	User         userJSON   `json:"user"`
	Organization orgJSON    `json:"organization"`
	Roles        []roleAt   `json:"roles"`
	Permissions  []string   `json:"permissions"`
	Credential   credential `json:"credential"`
}

type orgJSON struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	PATsEnabled    bool   `json:"pats_enabled"`
	PATMaxLifetime string `json:"pat_max_lifetime"`
}

type roleAt struct {
	AssignmentID string   `json:"assignment_id"`
	RoleID       string   `json:"role_id"`
	Role         string   `json:"role"`
	Folder       string   `json:"folder"`
	Permissions  []string `json:"permissions"`
}

// credential says how the request authenticated and what it may do with
// this API: scopes are the management scopes it holds now.
type credential struct {
	Type      string   `json:"type"`
	Scopes    []string `json:"scopes"`
	PATID     string   `json:"pat_id,omitempty"`
	ExpiresAt *string  `json:"expires_at,omitempty"`
}

func (a *api) getMe(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	me, err := a.gov.Me(r.Context(), p.actor)
	if err != nil {
		return err
	}
	out := meJSON{
		User: toUser(&me.User),
		Organization: orgJSON{ID: me.Organization.ID, Name: me.Organization.Name,
			PATsEnabled: me.Organization.PATsEnabled, PATMaxLifetime: duration.Format(me.Organization.PATMaxLifetime)},
		Roles:       make([]roleAt, 0, len(me.Roles)),
		Permissions: nonNil(me.Permissions),
		Credential:  credential{Type: p.method, Scopes: nonNil(p.scopes), PATID: p.patID},
	}
	if !p.expiresAt.IsZero() {
		out.Credential.ExpiresAt = stampPtr(&p.expiresAt)
	}
	for _, ra := range me.Roles {
		out.Roles = append(out.Roles, roleAt{AssignmentID: ra.AssignmentID, RoleID: ra.RoleID, Role: ra.Role,
			Folder: ra.Folder, Permissions: nonNil(ra.Permissions)})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// audienceJSON is one audience of the scope catalogue.
type audienceJSON struct {
	Audience string   `json:"audience"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
	// Descriptions say what scopes are for, by scope name; scopes without
	// a description are absent.
	Descriptions map[string]string `json:"descriptions"`
	// Management marks the built-in audience of this API.
	Management bool `json:"management"`
}

func (a *api) listScopes(w http.ResponseWriter, r *http.Request, _ *principal, _ map[string]string) error {
	auds, err := a.catalog.List(r.Context())
	if err != nil {
		return err
	}
	out := list[audienceJSON]{Items: make([]audienceJSON, 0, len(auds))}
	for _, aud := range auds {
		desc := aud.ScopeDescriptions
		if desc == nil {
			desc = map[string]string{}
		}
		out.Items = append(out.Items, audienceJSON{Audience: aud.ID, Name: aud.Name, Scopes: nonNil(aud.Scopes),
			Descriptions: desc, Management: aud.ID == a.catalog.ManagementAudience()})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) listMyPATs(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	f, err := patFilterQuery(q)
	if err != nil {
		return err
	}
	page, err := a.gov.ListMyPATs(r.Context(), p.actor, f)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toPATPage(page))
	return nil
}

// patFilterQuery reads the filters every PAT list takes: status, name
// (a case-insensitive substring), audience, expiring (true: active PATs
// that stop working within 7 days), limit and cursor.
func patFilterQuery(q map[string]string) (governance.PATFilter, error) {
	limit, cursor, err := pageQuery(q)
	if err != nil {
		return governance.PATFilter{}, err
	}
	f := governance.PATFilter{Status: storage.PATStatus(q["status"]), Name: q["name"], Audience: q["audience"],
		Limit: limit, Cursor: cursor}
	switch q["expiring"] {
	case "", "false":
	case "true":
		f.Expiring = true
	default:
		return f, fieldProblem(codeInvalidParameter, "expiring", "must be true or false")
	}
	return f, nil
}

// createPATRequest is the body of POST /api/v1/me/pats.
type createPATRequest struct {
	Name      string       `json:"name"`
	Scopes    []string     `json:"scopes"`
	ExpiresAt optionalTime `json:"expires_at"`
	Delegates []string     `json:"delegates"`
	// AllowedCIDRs are the networks the PAT may be exchanged from.
	AllowedCIDRs []string `json:"allowed_cidrs"`
}

func (a *api) createMyPAT(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body createPATRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	req := governance.PATRequest{Name: body.Name, Scopes: body.Scopes, Delegates: body.Delegates, AllowedCIDRs: body.AllowedCIDRs}
	if err := body.ExpiresAt.apply("expires_at", &req); err != nil {
		return err
	}
	nt, err := a.gov.CreatePAT(r.Context(), p.actor, p.actor.OrgID, p.actor.UserID, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/me/pats/"+nt.ID)
	httpx.WriteJSON(w, http.StatusCreated, newTokenJSON{patJSON: toPAT(&nt.PATView), Token: nt.Token})
	return nil
}

func (a *api) getMyPAT(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	v, err := a.gov.GetMyPAT(r.Context(), p.actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toPAT(v))
	return nil
}

// revokeMyPAT revokes one of the caller's PATs and answers 200 with it
// (status revoked), so that the caller sees the revocation time.
func (a *api) revokeMyPAT(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	v, err := a.gov.RevokeMyPAT(r.Context(), p.actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, toPAT(v))
	return nil
}

// regenerateRequest is the optional body of POST …/regenerate.
type regenerateRequest struct {
	ExpiresAt optionalTime `json:"expires_at"`
	// Overlap is how long the old secret keeps working, a duration such
	// as 24h or 2d; absent or "0" for none.
	Overlap *string `json:"overlap"`
}

// regenerateMyPAT answers 200 with the new PAT (a new id; the old one stays
// listed as revoked) and its token.
func (a *api) regenerateMyPAT(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body regenerateRequest
	if err := decodeBody(w, r, &body, true); err != nil {
		return err
	}
	var req governance.PATRequest
	if err := body.ExpiresAt.apply("expires_at", &req); err != nil {
		return err
	}
	if body.Overlap != nil {
		d, err := duration.Parse(*body.Overlap)
		if err != nil {
			return fieldProblem(codeInvalidField, "overlap", "must be a duration such as 24h, 2d or \"0\" for none")
		}
		req.Overlap = d
	}
	nt, err := a.gov.RegenerateMyPAT(r.Context(), p.actor, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/me/pats/"+nt.ID)
	httpx.WriteJSON(w, http.StatusOK, newTokenJSON{patJSON: toPAT(&nt.PATView), Token: nt.Token})
	return nil
}

// dryRunJSON is the dry run of an exchange, plus whether the
// PAT could be exchanged at all right now and, if not, why. scope is the
// space-separated organization-wide scope, as the token response and the
// JWT claim carry it; the rights are those the exchange would grant were
// the PAT usable.
type dryRunJSON struct {
	Audience             string                         `json:"audience"`
	Usable               bool                           `json:"usable"`
	Reason               string                         `json:"reason,omitempty"`
	Scope                string                         `json:"scope"`
	AuthorizationDetails []exchange.AuthorizationDetail `json:"authorization_details"`
	Dropped              []exchange.Dropped             `json:"dropped"`
}

func (a *api) explainMyPAT(w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error {
	ex, err := a.gov.Explain(r.Context(), p.actor, r.PathValue("id"), q["audience"], strings.Fields(q["scope"])...)
	if err != nil {
		return err
	}
	out := dryRunJSON{
		Audience: ex.Audience, Usable: ex.Usable, Reason: string(ex.Reason),
		Scope:                strings.Join(ex.Scope, " "),
		AuthorizationDetails: nonNil(ex.Rights.AuthorizationDetails(ex.Audience)),
		Dropped:              nonNil(ex.Dropped),
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// changePasswordRequest is the body of PUT /api/v1/me/password.
type changePasswordRequest struct {
	CurrentPassword string `json:"current_password"`
	Password        string `json:"password"`
}

// changeMyPassword changes the caller's own console password and answers
// 204. The caller's other console sessions end; a request made with the
// console's cookie keeps its own session.
func (a *api) changeMyPassword(w http.ResponseWriter, r *http.Request, p *principal, _ map[string]string) error {
	var body changePasswordRequest
	if err := decodeBody(w, r, &body, false); err != nil {
		return err
	}
	// A wrong current password is a guess at the account's password: it
	// spends the same budget as a console sign-in, so that a stolen token
	// cannot guess faster than sign-in allows.
	me, err := a.gov.Me(r.Context(), p.actor)
	if err != nil {
		return err
	}
	refund, wait := a.passwords.Take(a.now(), ratelimit.Account(me.Organization.Name, me.User.Username), httpx.ClientAddrOf(r))
	if wait > 0 {
		w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
		writeProblem(w, newProblem(http.StatusTooManyRequests, codeRateLimited,
			"too many wrong passwords for this account; retry after the number of seconds in Retry-After"))
		return nil
	}
	err = a.gov.ChangePassword(r.Context(), p.actor, body.CurrentPassword, body.Password, p.sessionID)
	if governance.CodeOf(err) != "current-password-wrong" {
		refund()
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// nonNil renders a nil slice as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
