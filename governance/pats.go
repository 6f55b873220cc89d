package governance

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"authserver/exchange"
	"authserver/internal/duration"
	"authserver/internal/names"
	"authserver/storage"
)

// Page sizes of every list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// MaxBulkRevoke bounds one bulk revocation.
const MaxBulkRevoke = 1000

// PATView is a PAT as people see it: never its token or hash.
type PATView struct {
	ID         string
	Name       string
	Scopes     []string
	Status     storage.PATStatus
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	// LastUsedAddr and LastUsedClient are the client address and OAuth
	// client of the last exchange ("" before the first).
	LastUsedAddr   string
	LastUsedClient string
	RevokedAt      *time.Time
	// EndsAt is when the PAT stops working unless revoked first: the
	// earlier of ExpiresAt and CreatedAt + the organization's maximum
	// lifetime; nil when neither applies.
	EndsAt  *time.Time
	Hint    string
	OwnerID string
	Owner   string // username
	// Delegates are the clients allowed to exchange the PAT's access
	// tokens on the owner's behalf (chained exchange); empty for none.
	Delegates []string

	// Rotation and networks.
	//
	// OverlapUntil is, for a PAT replaced by regeneration with an overlap,
	// when its old secret stops working (nil: no overlap was given).
	// InOverlap says the old secret still works now.
	OverlapUntil *time.Time
	InOverlap    bool
	// ReplacedBy is the id of the PAT that replaced this one ("" for none).
	ReplacedBy string
	// AllowedCIDRs are the networks the PAT may be exchanged from; empty
	// allows any address.
	AllowedCIDRs []string
	// RecentNetworks are the last networks the PAT was exchanged from,
	// most recent first.
	RecentNetworks []string
}

// ExpiresInDays is the number of whole days, rounded up, until an active
// PAT stops working, when that is within ExpiringSoon; else -1.
func (v *PATView) ExpiresInDays(now time.Time) int {
	if v.Status != storage.PATActive || v.EndsAt == nil {
		return -1
	}
	left := v.EndsAt.Sub(now)
	if left <= 0 || left > ExpiringSoon {
		return -1
	}
	return int((left + 24*time.Hour - 1) / (24 * time.Hour))
}

// ExpiringSoon is how close to its end a PAT counts as expiring soon (the
// "expiring" list filter, the console's badge).
const ExpiringSoon = 7 * 24 * time.Hour

func view(p *storage.PAT, owner string, now time.Time, maxLifetime time.Duration) PATView {
	v := PATView{
		ID: p.ID, Name: p.Name, Scopes: p.Scopes, Status: p.Status(now, maxLifetime),
		CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, LastUsedAt: p.LastUsedAt,
		LastUsedAddr: p.LastUsedAddr, LastUsedClient: p.LastUsedClient, RevokedAt: p.RevokedAt,
		EndsAt: p.ExpiresAt, Hint: p.Hint, OwnerID: p.UserID, Owner: owner, Delegates: p.Delegates,
	}
	if v.Delegates == nil {
		v.Delegates = []string{}
	}
	rotationView(&v, p, now)
	if maxLifetime > 0 {
		if limit := p.CreatedAt.Add(maxLifetime); v.EndsAt == nil || limit.Before(*v.EndsAt) {
			v.EndsAt = &limit
		}
	}
	return v
}

// NewToken is a PAT just created or regenerated, with its token: the only
// time the token exists outside the caller's hands.
type NewToken struct {
	PATView
	Token string
}

// PATRequest creates or regenerates a PAT. Expiry is ExpiresAt when set;
// NoExpiry asks explicitly for none (JSON null); neither means the default
// (now + the organization's maximum lifetime when it has one, else none —
// for regeneration, the original lifetime length from now, capped).
type PATRequest struct {
	Name      string
	Scopes    []string
	ExpiresAt *time.Time
	NoExpiry  bool
	// AtMaximum asks for the organization's maximum lifetime from now
	// (refused when it has none).
	AtMaximum bool
	// Delegates are the clients the owner allows to exchange the PAT's
	// access tokens on their behalf: each one of DelegateClients. Empty,
	// the default, allows no chained exchange. Creation only: a
	// regenerated PAT keeps the delegates of the one it replaces.
	Delegates []string

	// Rotation and networks.
	//
	// Overlap is, for a regeneration, how long the old secret keeps
	// working (0, the default, ends it at once; at most MaxOverlap).
	Overlap time.Duration
	// AllowedCIDRs are the networks (CIDRs or single addresses) the PAT
	// may be exchanged from, at most exchange.MaxAllowedCIDRs; empty
	// allows any. Creation only: a regenerated PAT keeps those of the one
	// it replaces.
	AllowedCIDRs []string
}

// PATFilter lists PATs, newest first.
type PATFilter struct {
	OwnerID string
	Status  storage.PATStatus
	// Name keeps PATs whose name contains it, ignoring case.
	Name string
	// Audience keeps PATs holding at least one of the audience's scopes.
	Audience string
	// Expiring keeps active PATs that stop working within ExpiringSoon
	// (by their expiry or the organization's maximum lifetime).
	Expiring bool
	Cursor   string
	Limit    int
}

// PATPage is one page of PATs; Next is empty on the last page.
type PATPage struct {
	Items []PATView
	Next  string
}

// owner reads the user who will own or owns a PAT, in the actor's
// organization.
func (s *Service) user(ctx context.Context, orgID, userID string) (*storage.User, error) {
	u, err := s.store.GetUser(ctx, orgID, userID)
	return u, storeErr(err, "user")
}

// checkOwner applies the rule that only active local users own PATs and
// that the organization must have PATs enabled.
func checkOwner(o *storage.Organization, u *storage.User) error {
	switch {
	case u.Kind != storage.UserLocal:
		return forbidden("non-local-user", "only local users can own personal access tokens; "+string(u.Kind)+" users cannot")
	case u.Status != storage.UserActive:
		return forbidden("user-deactivated", "the user is deactivated")
	case !o.PATsEnabled:
		return forbidden("pats-disabled", "personal access tokens are disabled in this organization")
	}
	return nil
}

// expiry decides a new PAT's expiry under the organization's maximum.
// fallback is the default when the request names none.
func expiry(req PATRequest, now time.Time, maxLifetime time.Duration, fallback *time.Time) (*time.Time, error) {
	switch {
	case req.ExpiresAt != nil:
		at := req.ExpiresAt.UTC()
		if !at.After(now) {
			return nil, invalid("expires_at", "expiry-in-past", "must be in the future")
		}
		if maxLifetime > 0 && at.After(now.Add(maxLifetime)) {
			return nil, invalid("expires_at", "expiry-beyond-maximum",
				"is beyond the organization's maximum lifetime of %s (latest %s)",
				duration.Format(maxLifetime), now.Add(maxLifetime).UTC().Format(time.RFC3339))
		}
		return &at, nil
	case req.AtMaximum:
		if maxLifetime == 0 {
			return nil, invalid("expires_at", "no-maximum", "cannot be the organization's maximum lifetime: it has none")
		}
		return ptr(now.Add(maxLifetime)), nil
	case req.NoExpiry:
		if maxLifetime > 0 {
			return nil, invalid("expires_at", "expiry-required",
				"must be set: the organization's maximum lifetime is %s", duration.Format(maxLifetime))
		}
		return nil, nil
	}
	return fallback, nil
}

// checkScopes validates requested PAT scopes against the catalogue and
// returns them de-duplicated in request order.
func (s *Service) checkScopes(ctx context.Context, scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, invalid("scopes", "scopes-empty", "must name at least one scope")
	}
	if len(scopes) > exchange.MaxRequestedScopes {
		return nil, invalid("scopes", "scopes-too-many", "may name at most %d scopes", exchange.MaxRequestedScopes)
	}
	catalogue, err := s.catalog.Scopes(ctx)
	if err != nil {
		return nil, storeErr(err, "catalogue")
	}
	// Unknown scopes are named by position, never quoted: a value outside
	// the catalogue is whatever the client sent, a token pasted into the
	// wrong field included, and the message reaches API answers and pages.
	var unknown []string
	out := make([]string, 0, len(scopes))
	for i, sc := range scopes {
		if _, found := slices.BinarySearch(catalogue, sc); !found {
			if len(unknown) < 5 {
				unknown = append(unknown, strconv.Itoa(i+1))
			}
			continue
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	switch {
	case len(unknown) == 1:
		return nil, invalid("scopes", "scope-unknown", "not in the scope catalogue: scope %s (counting from 1)", unknown[0])
	case len(unknown) > 1:
		return nil, invalid("scopes", "scope-unknown", "not in the scope catalogue: scopes %s (counting from 1)", strings.Join(unknown, ", "))
	}
	return out, nil
}

// CreatePAT creates a PAT owned by ownerID in orgID, acting as a. Users
// create their own; the CLI may create for anyone.
func (s *Service) CreatePAT(ctx context.Context, a Actor, orgID, ownerID string, req PATRequest) (*NewToken, error) {
	if a.Kind != ActorCLI && (a.Kind != ActorUser || a.UserID != ownerID || a.OrgID != orgID) {
		return nil, notFound("user")
	}
	if err := names.Check(req.Name); err != nil {
		return nil, invalid("name", "name-invalid", "%s", err)
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	u, err := s.user(ctx, orgID, ownerID)
	if err != nil {
		return nil, err
	}
	if err := checkOwner(o, u); err != nil {
		return nil, err
	}
	scopes, err := s.checkScopes(ctx, req.Scopes)
	if err != nil {
		return nil, err
	}
	delegates, err := s.checkDelegates(ctx, req.Delegates)
	if err != nil {
		return nil, err
	}
	cidrs, err := checkCIDRs(req.AllowedCIDRs)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var fallback *time.Time
	if o.PATMaxLifetime > 0 {
		fallback = ptr(now.Add(o.PATMaxLifetime))
	}
	exp, err := expiry(req, now, o.PATMaxLifetime, fallback)
	if err != nil {
		return nil, err
	}
	token, p, err := s.newPAT(orgID, ownerID, req.Name, scopes, now, exp)
	if err != nil {
		return nil, err
	}
	p.Delegates = delegates
	p.AllowedCIDRs = cidrs
	detail := "name " + quote(p.Name)
	if len(delegates) > 0 {
		detail += "; delegates " + strings.Join(delegates, " ")
	}
	if len(cidrs) > 0 {
		detail += "; networks " + strings.Join(cidrs, " ")
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := tx.CreatePAT(ctx, p); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, storage.EventPATCreated, orgID, ownerID, p.ID, map[string]string{"name": p.Name}); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "pat.create", p.ID, detail)
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, conflict("name-taken", "an active personal access token with this name exists")
	}
	if err != nil {
		return nil, storeErr(err, "pat")
	}
	s.event("created")
	return &NewToken{PATView: view(p, u.Username, now, o.PATMaxLifetime), Token: token}, nil
}

func (s *Service) newPAT(orgID, ownerID, name string, scopes []string, now time.Time, exp *time.Time) (string, *storage.PAT, error) {
	token, err := exchange.NewPAT(s.prefix, nil)
	if err != nil {
		return "", nil, fmt.Errorf("generate pat: %w", err)
	}
	return token, &storage.PAT{
		OrgID: orgID, UserID: ownerID, Name: name, Scopes: scopes,
		Hash: exchange.HashPAT(token), Hint: exchange.PATHint(token), CreatedAt: now, ExpiresAt: exp,
	}, nil
}

// ListMyPATs lists the actor's own PATs, newest first.
func (s *Service) ListMyPATs(ctx context.Context, a Actor, f PATFilter) (*PATPage, error) {
	if a.Kind != ActorUser {
		return nil, forbidden("user-required", "only users have personal access tokens")
	}
	f.OwnerID = a.UserID
	return s.listPATs(ctx, a.OrgID, f)
}

// ListPATs lists every PAT of an organization, for its admins (and the
// CLI), filtered by owner and status. An owner that is not a user of the
// organization is "not found", not an empty list: the answer is the same
// whether the id is unknown or another organization's.
func (s *Service) ListPATs(ctx context.Context, a Actor, orgID string, f PATFilter) (*PATPage, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if f.OwnerID != "" {
		if !plausibleID(f.OwnerID) {
			return nil, notFound("user")
		}
		if _, err := s.user(ctx, orgID, f.OwnerID); err != nil {
			return nil, err
		}
	}
	return s.listPATs(ctx, orgID, f)
}

func (s *Service) listPATs(ctx context.Context, orgID string, f PATFilter) (*PATPage, error) {
	switch f.Status {
	case "", storage.PATActive, storage.PATExpired, storage.PATRevoked:
	default:
		return nil, invalid("status", "status-invalid", "must be active, expired or revoked")
	}
	for _, c := range []struct{ field, v string }{{"owner", f.OwnerID}, {"name", f.Name}, {"audience", f.Audience}} {
		if err := checkFilter(c.field, c.v); err != nil {
			return nil, err
		}
	}
	var anyScope []string
	if f.Audience != "" {
		aud, err := s.catalog.Audience(ctx, f.Audience)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, invalid("audience", "audience-unknown", "is not an audience of this server")
		}
		if err != nil {
			return nil, storeErr(err, "audience")
		}
		if anyScope = aud.Scopes; len(anyScope) == 0 {
			return &PATPage{Items: []PATView{}}, nil
		}
	}
	limit, err := pageSize(f.Limit)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return nil, err
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	sf := storage.PATFilter{
		OrgID: orgID, UserID: f.OwnerID, Status: f.Status, Now: now, MaxLifetime: o.PATMaxLifetime,
		Name: f.Name, AnyScope: anyScope, After: after, Limit: limit + 1,
	}
	if f.Expiring {
		sf.ExpiringBefore = now.Add(ExpiringSoon)
	}
	list, err := s.store.ListPATs(ctx, sf)
	if err != nil {
		return nil, storeErr(err, "pat")
	}
	page := &PATPage{Items: []PATView{}}
	if len(list) > limit {
		list = list[:limit]
		page.Next = encodeCursor(list[limit-1].ID)
	}
	// The owners' usernames, in one read.
	ids := make([]string, 0, len(list))
	for i := range list {
		if !slices.Contains(ids, list[i].UserID) {
			ids = append(ids, list[i].UserID)
		}
	}
	owners, err := s.store.NamesOf(ctx, orgID, storage.NamesOfUsers, ids)
	if err != nil {
		return nil, storeErr(err, "user")
	}
	for i := range list {
		p := &list[i]
		page.Items = append(page.Items, view(p, owners[p.UserID], now, o.PATMaxLifetime))
	}
	return page, nil
}

// GetMyPAT reads one of the actor's PATs.
func (s *Service) GetMyPAT(ctx context.Context, a Actor, id string) (*PATView, error) {
	p, o, u, err := s.myPAT(ctx, a, id)
	if err != nil {
		return nil, err
	}
	v := view(p, u.Username, s.now().UTC(), o.PATMaxLifetime)
	return &v, nil
}

// myPAT reads a PAT that must belong to the actor: anyone else's is "not
// found".
func (s *Service) myPAT(ctx context.Context, a Actor, id string) (*storage.PAT, *storage.Organization, *storage.User, error) {
	if a.Kind != ActorUser || !plausibleID(id) {
		return nil, nil, nil, notFound("personal access token")
	}
	p, err := s.store.GetPAT(ctx, a.OrgID, id)
	if err != nil {
		return nil, nil, nil, storeErr(err, "personal access token")
	}
	if p.UserID != a.UserID {
		return nil, nil, nil, notFound("personal access token")
	}
	o, err := s.org(ctx, a.OrgID)
	if err != nil {
		return nil, nil, nil, err
	}
	u, err := s.user(ctx, a.OrgID, a.UserID)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, o, u, nil
}

// RevokeMyPAT revokes one of the actor's PATs at once. Revoking a revoked
// PAT is not an error and changes nothing, but for a regenerated PAT
// whose old secret still works: that secret stops now.
func (s *Service) RevokeMyPAT(ctx context.Context, a Actor, id string) (*PATView, error) {
	p, o, u, err := s.myPAT(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if p, err = s.revoke(ctx, a, p, "owner", "by owner"); err != nil {
		return nil, err
	}
	v := view(p, u.Username, s.now().UTC(), o.PATMaxLifetime)
	return &v, nil
}

// revoke revokes p with its audit event, unless it is already revoked:
// then it ends the overlap of a regenerated PAT whose old secret still
// works (endOverlap), and changes nothing else.
func (s *Service) revoke(ctx context.Context, a Actor, p *storage.PAT, reason, detail string) (*storage.PAT, error) {
	if p.RevokedAt != nil {
		return s.endOverlap(ctx, a, p, detail)
	}
	var (
		out  *storage.PAT
		mine bool
	)
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		out, mine, err = s.revokeIn(ctx, tx, a, p, reason, detail)
		return err
	})
	if err != nil {
		return nil, storeErr(err, "personal access token")
	}
	if mine {
		s.event("revoked_" + reason)
	}
	return out, nil
}

// revokeIn revokes p and audits it inside tx, and reports whether this
// call revoked it. A PAT revoked by someone else since p was read keeps
// that first revocation (storage.Store.RevokePAT), which is theirs to
// audit and count: an event here would record a revocation that did not
// happen. The caller counts the event once tx has committed.
func (s *Service) revokeIn(ctx context.Context, tx Tx, a Actor, p *storage.PAT, reason, detail string) (*storage.PAT, bool, error) {
	now := s.now().UTC().Truncate(time.Microsecond) // storage precision
	out, err := tx.RevokePAT(ctx, p.OrgID, p.ID, now, reason)
	if err != nil {
		return nil, false, err
	}
	if out.RevokedAt == nil || !out.RevokedAt.Equal(now) || out.RevokedReason != reason {
		return out, false, nil
	}
	if err := s.emitRevoked(ctx, tx, out); err != nil {
		return nil, false, err
	}
	return out, true, s.audit(ctx, tx, a, p.OrgID, "pat.revoke", p.ID, detail)
}

// emitRevoked writes the event of p's revocation.
func (s *Service) emitRevoked(ctx context.Context, tx Tx, p *storage.PAT) error {
	return s.emit(ctx, tx, storage.EventPATRevoked, p.OrgID, p.UserID, p.ID,
		map[string]string{"name": p.Name, "reason": p.RevokedReason})
}

// HolderReason is the revocation reason (storage.PAT.RevokedReason) of a
// PAT revoked by whoever holds its token.
const HolderReason = "holder"

// HolderOutcome is what RevokeByHolder did.
type HolderOutcome string

// The outcomes of a holder revocation. The caller answers all three alike
// (RFC 7009 §2.2: an invalid token is no error); they differ for metrics.
const (
	HolderRevoked        HolderOutcome = "revoked"
	HolderAlreadyRevoked HolderOutcome = "already_revoked"
	HolderNotFound       HolderOutcome = "not_found"
)

// HolderRevocation is the outcome of RevokeByHolder, naming the PAT by id
// only (empty when no PAT matched).
type HolderRevocation struct {
	Outcome HolderOutcome
	OrgID   string
	PATID   string
}

// RevokeByHolder revokes the PAT whose token is value, in whichever
// organization it is, and audits it (actor a, detail "by holder"):
// possession of the token is the authority, as with a credential
// revocation API, so no role is asked of a. A malformed or unknown value,
// or a PAT already revoked, changes nothing — but the old secret of a
// regenerated PAT in its overlap stops working (HolderRevoked): the holder
// asked for it to stop. An error means the database
// could not say: the caller must not answer as if the PAT were revoked.
func (s *Service) RevokeByHolder(ctx context.Context, a Actor, value string) (*HolderRevocation, error) {
	if exchange.CheckPAT(s.prefix, value) != nil {
		return &HolderRevocation{Outcome: HolderNotFound}, nil
	}
	// Read first, outside a transaction: unknown and already revoked
	// tokens (scans, retries) cost one indexed read, not a write lock.
	p, err := s.store.GetPATByHash(ctx, exchange.HashPAT(value))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return &HolderRevocation{Outcome: HolderNotFound}, nil
	case err != nil:
		return nil, storeErr(err, "personal access token")
	case p.InOverlap(s.now()):
		// A regenerated PAT whose old secret still works: revoking it
		// is stopping that secret now.
		ended, err := s.endOverlapTx(ctx, a, p, "by holder")
		if err != nil {
			return nil, err
		}
		if ended {
			return &HolderRevocation{Outcome: HolderRevoked, OrgID: p.OrgID, PATID: p.ID}, nil
		}
		return &HolderRevocation{Outcome: HolderAlreadyRevoked, OrgID: p.OrgID, PATID: p.ID}, nil
	case p.RevokedAt != nil:
		return &HolderRevocation{Outcome: HolderAlreadyRevoked, OrgID: p.OrgID, PATID: p.ID}, nil
	}
	res := &HolderRevocation{Outcome: HolderAlreadyRevoked, OrgID: p.OrgID, PATID: p.ID}
	err = s.store.Update(ctx, func(tx Tx) error {
		_, mine, err := s.revokeIn(ctx, tx, a, p, HolderReason, "by holder")
		if mine {
			res.Outcome = HolderRevoked
		}
		return err
	})
	switch {
	case errors.Is(err, storage.ErrNotFound): // deleted since the first read
		return &HolderRevocation{Outcome: HolderNotFound}, nil
	case err != nil:
		return nil, storeErr(err, "personal access token")
	}
	if res.Outcome == HolderRevoked {
		s.event("revoked_" + HolderReason)
	}
	return res, nil
}

// RegenerateMyPAT issues a new secret for one of the actor's PATs with the
// same name, scopes, delegates and allowed networks; the old PAT is
// revoked in the same transaction, and its secret stops working then or,
// with req.Overlap, at the end of the overlap. Only a PAT that is neither
// expired nor revoked can be regenerated. The new PAT has a new id; the
// old one stays listed as revoked (reason "regenerated") and names it
// (ReplacedBy).
func (s *Service) RegenerateMyPAT(ctx context.Context, a Actor, id string, req PATRequest) (*NewToken, error) {
	old, o, u, err := s.myPAT(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.regenerate(ctx, a, old, o, u, req)
}

// RegeneratePAT is RegenerateMyPAT for the operator (the CLI), who may
// regenerate any PAT of any organization; the new token goes to whoever
// runs the command. No other actor may: an admin would otherwise hold a
// token that acts as someone else.
func (s *Service) RegeneratePAT(ctx context.Context, a Actor, orgID, id string, req PATRequest) (*NewToken, error) {
	if a.Kind != ActorCLI {
		return nil, forbidden("cli-required", "only the operator's command line regenerates another user's personal access token")
	}
	if !plausibleID(id) {
		return nil, notFound("personal access token")
	}
	old, err := s.store.GetPAT(ctx, orgID, id)
	if err != nil {
		return nil, storeErr(err, "personal access token")
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	u, err := s.user(ctx, orgID, old.UserID)
	if err != nil {
		return nil, err
	}
	return s.regenerate(ctx, a, old, o, u, req)
}

// regenerate replaces old (of o, owned by u) by a new PAT with the same
// name and scopes, acting as a.
func (s *Service) regenerate(ctx context.Context, a Actor, old *storage.PAT, o *storage.Organization, u *storage.User, req PATRequest) (*NewToken, error) {
	now := s.now().UTC()
	switch old.Status(now, o.PATMaxLifetime) {
	case storage.PATRevoked:
		return nil, conflict("pat-revoked", "a revoked personal access token cannot be regenerated")
	case storage.PATExpired:
		return nil, conflict("pat-expired", "an expired personal access token cannot be regenerated")
	}
	if err := checkOwner(o, u); err != nil {
		return nil, err
	}
	// By default the new PAT lives as long as the old one was meant to,
	// counted from now, and never beyond the organization's maximum.
	var fallback *time.Time
	if old.ExpiresAt != nil {
		fallback = ptr(now.Add(old.ExpiresAt.Sub(old.CreatedAt)))
	}
	if o.PATMaxLifetime > 0 {
		if limit := now.Add(o.PATMaxLifetime); fallback == nil || fallback.After(limit) {
			fallback = &limit
		}
	}
	exp, err := expiry(req, now, o.PATMaxLifetime, fallback)
	if err != nil {
		return nil, err
	}
	overlapUntil, err := overlapEnd(req.Overlap, now)
	if err != nil {
		return nil, err
	}
	token, p, err := s.newPAT(old.OrgID, old.UserID, old.Name, old.Scopes, now, exp)
	if err != nil {
		return nil, err
	}
	p.ID = storage.NewID() // the old PAT names it as its successor
	p.Delegates = old.Delegates
	p.AllowedCIDRs = old.AllowedCIDRs
	err = s.store.Update(ctx, func(tx Tx) error {
		// Revoke first: the name is unique among non-revoked PATs.
		cur, err := tx.RevokePAT(ctx, old.OrgID, old.ID, now, "regenerated")
		if err != nil {
			return err
		}
		if cur.RevokedReason != "regenerated" || !cur.RevokedAt.Equal(now.Truncate(time.Microsecond)) {
			// Revoked concurrently by someone else: do not resurrect it.
			return conflict("pat-revoked", "a revoked personal access token cannot be regenerated")
		}
		if err := s.emitRevoked(ctx, tx, cur); err != nil {
			return err
		}
		if err := tx.CreatePAT(ctx, p); err != nil {
			return err
		}
		if err := tx.SetPATSuccessor(ctx, old.OrgID, old.ID, p.ID, overlapUntil); err != nil {
			return err
		}
		data, detail := map[string]string{"name": p.Name, "replaces": old.ID}, "replaces "+old.ID
		if overlapUntil != nil {
			data["overlap_until"] = overlapUntil.Format(time.RFC3339)
			detail += "; old secret works until " + overlapUntil.Format(time.RFC3339)
		}
		if err := s.emit(ctx, tx, storage.EventPATRegenerated, p.OrgID, p.UserID, p.ID, data); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, old.OrgID, "pat.regenerate", p.ID, detail)
	})
	if err != nil {
		return nil, storeErr(err, "personal access token")
	}
	s.event("regenerated")
	return &NewToken{PATView: view(p, u.Username, now, o.PATMaxLifetime), Token: token}, nil
}

// RevokePATs revokes PATs of an organization by id, for its admins. Ids
// that are not PATs of the organization are reported as not found; PATs
// already revoked are reported as revoked (they are) without a new audit
// event.
func (s *Service) RevokePATs(ctx context.Context, a Actor, orgID string, ids []string) (*storage.RevokeResult, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, invalid("ids", "ids-empty", "must name at least one PAT id")
	}
	if len(ids) > MaxBulkRevoke {
		return nil, invalid("ids", "ids-too-many", "may name at most %d PAT ids", MaxBulkRevoke)
	}
	res := &storage.RevokeResult{Revoked: []string{}, NotFound: []string{}}
	revoked := 0
	err := s.store.Update(ctx, func(tx Tx) error {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			if !plausibleID(id) {
				res.NotFound = append(res.NotFound, id)
				continue
			}
			p, err := tx.GetPAT(ctx, orgID, id)
			if errors.Is(err, storage.ErrNotFound) {
				res.NotFound = append(res.NotFound, id)
				continue
			}
			if err != nil {
				return err
			}
			res.Revoked = append(res.Revoked, id)
			if p.RevokedAt != nil {
				res.AlreadyRevoked = append(res.AlreadyRevoked, id)
				// Regenerated with an overlap: its old secret stops now.
				if _, err := s.endOverlapIn(ctx, tx, a, p, "by admin"); err != nil {
					return err
				}
				continue
			}
			out, err := tx.RevokePAT(ctx, orgID, id, s.now(), "admin")
			if err != nil {
				return err
			}
			if err := s.emitRevoked(ctx, tx, out); err != nil {
				return err
			}
			if err := s.audit(ctx, tx, a, orgID, "pat.revoke", id, "by admin"); err != nil {
				return err
			}
			revoked++
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(err, "personal access token")
	}
	for range revoked {
		s.event("revoked_admin")
	}
	return res, nil
}

// RevokeByValue revokes the PAT whose token is value, if it is a PAT of the
// organization, and answers with it (owner and name included). A value
// that matches no PAT of the organization — malformed, unknown, or another
// organization's — is "not found".
func (s *Service) RevokeByValue(ctx context.Context, a Actor, orgID, value string) (*PATView, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	value = strings.TrimSpace(value)
	if exchange.CheckPAT(s.prefix, value) != nil {
		return nil, notFound("personal access token")
	}
	p, err := s.store.GetPATByHash(ctx, exchange.HashPAT(value))
	if err != nil {
		return nil, storeErr(err, "personal access token")
	}
	if p.OrgID != orgID {
		return nil, notFound("personal access token")
	}
	o, err := s.org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	owner, err := s.user(ctx, orgID, p.UserID)
	if err != nil {
		return nil, err
	}
	if p, err = s.revoke(ctx, a, p, "value", "by value"); err != nil {
		return nil, err
	}
	v := view(p, owner.Username, s.now().UTC(), o.PATMaxLifetime)
	return &v, nil
}

func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultPageSize, nil
	case n < 0 || n > MaxPageSize:
		return 0, invalid("limit", "limit-invalid", "must be between 1 and %d", MaxPageSize)
	}
	return n, nil
}

// Cursors are opaque to clients: the base64 of the last key of a page (a
// PAT id, a username, an audit event id).
func encodeCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte(id)) }

// maxCursorKey bounds a decoded cursor. A username cursor can reach
// names.MaxLen characters of up to 4 bytes each, so 64 bytes (the old
// bound) broke paging past any long non-ASCII username.
const maxCursorKey = 4 * names.MaxLen

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) > maxCursorKey || !names.PlainText(string(b)) {
		return "", invalid("cursor", "cursor-invalid", "is not a cursor this server issued")
	}
	return string(b), nil
}

// maxIDLen bounds anything accepted as an id: every id this server issues
// is a 36-character UUID, so longer input is not one of ours.
const maxIDLen = 64

// plausibleID reports whether id could name a row: short, valid UTF-8,
// without NUL or other control characters. Anything else is "not found"
// without asking the database — PostgreSQL rejects NUL and invalid UTF-8
// in text parameters with an error that would otherwise surface as a 500.
func plausibleID(id string) bool { return id != "" && len(id) <= maxIDLen && names.PlainText(id) }

// checkFilter refuses a list filter value the database cannot be asked
// about (see names.PlainText).
func checkFilter(field, v string) error {
	if len(v) > 1024 || !names.PlainText(v) {
		return invalid(field, field+"-invalid", "must be plain text without control characters")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// quote renders a user-chosen name for an audit detail.
func quote(s string) string { return fmt.Sprintf("%q", s) }
