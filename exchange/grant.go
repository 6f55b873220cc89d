package exchange

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"authserver/internal/rfc8693"
	"authserver/storage"
)

// The built-in management audience's scopes. Every active local
// user holds ScopePATs; every admin also holds ScopeAdmin.
const (
	ScopePATs  = "Identity.PATs"
	ScopeAdmin = "Identity.Admin"
)

// MaxRequestedScopes bounds the scope parameter: more entries than any
// catalogue holds are a malformed request, not work to do.
const MaxRequestedScopes = 100

// ErrInvalidTarget is RFC 8693's invalid_target, which fosite lacks.
var ErrInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested target is unknown, not allowed for this client, or ambiguous.",
	CodeField:        400,
}

// UnusableDescription is the one description of every unusable-PAT cause,
// so that the answer reveals nothing about why (no oracle).
const UnusableDescription = "The subject_token is not a usable personal access token."

// errWith returns base with an exact description and no hint.
func errWith(base *fosite.RFC6749Error, description string) *fosite.RFC6749Error {
	return base.WithDescription(description).WithHint("")
}

// Refusal is the precise reason an exchange was refused, carried in the
// error chain (fosite's WithWrap) for logs, metrics and the audit log. It is
// never written to the client.
type Refusal struct {
	Cause    Cause
	ClientID string
	OrgID    string
	UserID   string
	PATID    string
}

func (r *Refusal) Error() string { return "exchange refused: " + string(r.Cause) }

// refuse wraps a client-facing error with the refusal's cause.
func refuse(e *fosite.RFC6749Error, r *Refusal) error { return e.WithWrap(r) }

// GrantStore is what the grant reads from the database at every exchange.
type GrantStore interface {
	GetPATGrant(ctx context.Context, hash []byte) (*storage.PATGrant, error)
}

// Audiences resolves audience ids, the built-in management audience
// included. It returns storage.ErrNotFound for an unknown id.
type Audiences interface {
	Audience(ctx context.Context, id string) (*storage.Audience, error)
}

// Signer signs the marshalled claims of an access token.
type Signer interface {
	Sign(payload []byte) (string, error)
}

// Client is what the grant needs of an authenticated OAuth client beyond
// fosite.Client: the audiences it may request.
type Client interface {
	fosite.Client
	AllowedAudience(id string) bool
}

// Handler is the RFC 8693 token-exchange grant as a fosite
// TokenEndpointHandler. HandleTokenEndpointRequest decides everything from
// the database as it is now (no cache may serve a revoked PAT);
// PopulateTokenEndpointResponse signs the token it decided on.
type Handler struct {
	Store     GrantStore
	Audiences Audiences
	Signer    Signer
	// Issuer is the iss claim and the id of the management audience.
	Issuer    string
	PATPrefix string
	// AccessTokenTTL is the lifetime of tokens for audiences without their own.
	AccessTokenTTL  time.Duration
	DefaultAudience string
	Now             func() time.Time
	// Used records a PAT's use, behind the hot path. Optional.
	Used func(patID string, at time.Time)
}

var _ fosite.TokenEndpointHandler = (*Handler)(nil)

// Session carries the decision from HandleTokenEndpointRequest to
// PopulateTokenEndpointResponse. It implements fosite.Session.
type Session struct {
	Subject string
	Expiry  time.Time
	// Claims is the marshalled JWT claims set, signed as is.
	Claims []byte
	// Scope is the granted organization-wide scope.
	Scope []string
	// AuthorizationDetails are the folder rights beyond Scope.
	AuthorizationDetails []AuthorizationDetail
	IssuedTokenType      string
	ExpiresIn            time.Duration
}

var _ fosite.Session = (*Session)(nil)

func (s *Session) SetExpiresAt(_ fosite.TokenType, exp time.Time) { s.Expiry = exp }
func (s *Session) GetExpiresAt(fosite.TokenType) time.Time        { return s.Expiry }
func (s *Session) GetUsername() string                            { return "" }
func (s *Session) GetSubject() string                             { return s.Subject }

// Clone copies the session; the slices it holds are never modified.
func (s *Session) Clone() fosite.Session {
	c := *s
	return &c
}

// Claims is the RFC 9068 claims set of an issued access token.
type Claims struct {
	Issuer               string                `json:"iss"`
	Subject              string                `json:"sub"`
	Audience             string                `json:"aud"`
	Expiry               int64                 `json:"exp"`
	IssuedAt             int64                 `json:"iat"`
	NotBefore            int64                 `json:"nbf"`
	ID                   string                `json:"jti"`
	ClientID             string                `json:"client_id"`
	Scope                string                `json:"scope"`
	OrgID                string                `json:"org_id"`
	PATID                string                `json:"pat_id"`
	AuthorizationDetails []AuthorizationDetail `json:"authorization_details,omitempty"`
}

// CanSkipClientAuth is false: a failed client authentication must never
// become an anonymous exchange.
func (h *Handler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// CanHandleTokenEndpointRequest claims requests whose grant_type is exactly
// the token-exchange grant.
func (h *Handler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(rfc8693.GrantType)
}

// HandleTokenEndpointRequest validates the exchange and decides its result.
func (h *Handler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: session is not an *exchange.Session"))
	}
	client, ok := r.GetClient().(Client)
	if !ok {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: client does not implement exchange.Client"))
	}
	ref := &Refusal{ClientID: client.GetID()}
	if !client.GetGrantTypes().Has(rfc8693.GrantType) {
		ref.Cause = CauseClient
		return refuse(errWith(fosite.ErrUnauthorizedClient, "The client is not allowed the token-exchange grant."), ref)
	}
	form := r.GetRequestForm()
	if form.Get("actor_token") != "" || form.Get("actor_token_type") != "" {
		return errWith(fosite.ErrInvalidRequest, "actor_token is not supported.")
	}
	token := form.Get("subject_token")
	if token == "" {
		return errWith(fosite.ErrInvalidRequest, "The subject_token parameter is required.")
	}
	switch form.Get("subject_token_type") {
	case rfc8693.TokenTypeAccessToken:
	case "":
		return errWith(fosite.ErrInvalidRequest, "The subject_token_type parameter is required.")
	default:
		return errWith(fosite.ErrInvalidRequest, "The subject_token_type is not supported: use "+rfc8693.TokenTypeAccessToken+".")
	}
	issued := rfc8693.TokenTypeAccessToken
	switch rt := form.Get("requested_token_type"); rt {
	case "", rfc8693.TokenTypeAccessToken:
	case rfc8693.TokenTypeJWT:
		issued = rt
	default:
		return errWith(fosite.ErrInvalidRequest, "The requested_token_type is not supported.")
	}

	aud, terr := h.target(ctx, form, client)
	if terr != nil {
		if terr.CodeField == fosite.ErrTemporarilyUnavailable.CodeField {
			return terr
		}
		ref.Cause = CauseTarget
		return refuse(terr, ref)
	}
	requested, serr := parseScope(form.Get("scope"))
	if serr != nil {
		ref.Cause = CauseScope
		return refuse(serr, ref)
	}

	// The format check answers exactly like an unknown token, before any
	// database access.
	if CheckPAT(h.PATPrefix, token) != nil {
		ref.Cause = CauseMalformed
		return refuse(errWith(fosite.ErrInvalidRequest, UnusableDescription), ref)
	}
	g, err := h.Store.GetPATGrant(ctx, HashPAT(token))
	if errors.Is(err, storage.ErrNotFound) {
		ref.Cause = CauseUnknown
		return refuse(errWith(fosite.ErrInvalidRequest, UnusableDescription), ref)
	}
	if err != nil {
		// Never issue a token on stale data: no database, no token.
		return errWith(fosite.ErrTemporarilyUnavailable, "The authorization server is temporarily unavailable.").WithWrap(err)
	}
	ref.OrgID, ref.UserID, ref.PATID = g.Org.ID, g.Owner.ID, g.PAT.ID
	now := h.Now()
	if cause := CheckUsable(g, now); cause != CauseNone {
		ref.Cause = cause
		return refuse(errWith(fosite.ErrInvalidRequest, UnusableDescription), ref)
	}

	rights, err := Effective(g.PAT.Scopes, aud.Scopes, requested, IdentityGrants(g))
	if err != nil {
		ref.Cause = CauseScope
		return refuse(errWith(fosite.ErrInvalidScope, scopeDescription(err)), ref)
	}

	ttl := h.AccessTokenTTL
	if aud.AccessTokenTTL > 0 {
		ttl = aud.AccessTokenTTL
	}
	exp := now.Add(ttl)
	if until, ok := UsableUntil(g); ok && until.Before(exp) {
		exp = until
	}
	// JWT times are whole seconds: round the expiry down so the token never
	// outlives the PAT.
	exp = exp.Truncate(time.Second)
	iat := now.Unix()
	details := rights.AuthorizationDetails(aud.ID)
	claims, err := json.Marshal(Claims{
		Issuer: h.Issuer, Subject: g.Owner.ID, Audience: aud.ID,
		Expiry: exp.Unix(), IssuedAt: iat, NotBefore: iat, ID: newJTI(),
		ClientID: client.GetID(), Scope: strings.Join(rights.Scope, " "),
		OrgID: g.Org.ID, PATID: g.PAT.ID, AuthorizationDetails: details,
	})
	if err != nil {
		return fosite.ErrServerError.WithWrap(fmt.Errorf("marshal claims: %w", err))
	}
	sess.Subject = g.Owner.ID
	sess.Expiry = exp
	sess.ExpiresIn = exp.Sub(now)
	sess.Claims = claims
	sess.Scope = rights.Scope
	sess.AuthorizationDetails = details
	sess.IssuedTokenType = issued
	for _, s := range rights.Scope {
		r.GrantScope(s)
	}
	r.GrantAudience(aud.ID)
	if h.Used != nil {
		h.Used(g.PAT.ID, now)
	}
	return nil
}

// PopulateTokenEndpointResponse signs the decided claims. fosite calls it
// for every handler: requests that are not ours get ErrUnknownRequest.
func (h *Handler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := r.GetSession().(*Session)
	if !ok || sess.Claims == nil {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: nothing decided to sign"))
	}
	token, err := h.Signer.Sign(sess.Claims)
	if err != nil {
		return fosite.ErrServerError.WithWrap(fmt.Errorf("sign access token: %w", err))
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("Bearer")
	resp.SetExpiresIn(sess.ExpiresIn)
	resp.SetScopes(sess.Scope)
	resp.SetExtra("issued_token_type", sess.IssuedTokenType)
	if len(sess.AuthorizationDetails) > 0 {
		resp.SetExtra("authorization_details", sess.AuthorizationDetails)
	}
	return nil
}

// target resolves the one audience the exchange is for: an audience
// parameter, a resource parameter (an absolute URI equal to an audience
// id), or the default audience.
func (h *Handler) target(ctx context.Context, form url.Values, client Client) (*storage.Audience, *fosite.RFC6749Error) {
	auds, ress := nonEmpty(form["audience"]), nonEmpty(form["resource"])
	var id string
	switch {
	case len(auds)+len(ress) > 1:
		return nil, errWith(ErrInvalidTarget, "Exactly one audience or resource may be requested.")
	case len(auds) == 1:
		id = auds[0]
	case len(ress) == 1:
		u, err := url.Parse(ress[0])
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, errWith(ErrInvalidTarget, "The resource must be an absolute URI without a fragment.")
		}
		id = ress[0]
	case h.DefaultAudience != "":
		id = h.DefaultAudience
	default:
		return nil, errWith(fosite.ErrInvalidRequest, "An audience or resource parameter is required.")
	}
	aud, err := h.Audiences.Audience(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errWith(ErrInvalidTarget, "The requested target is unknown.")
	}
	if err != nil {
		return nil, errWith(fosite.ErrTemporarilyUnavailable, "The authorization server is temporarily unavailable.").WithWrap(err)
	}
	if !client.AllowedAudience(aud.ID) {
		return nil, errWith(ErrInvalidTarget, "The client is not allowed to request this target.")
	}
	return aud, nil
}

func nonEmpty(vs []string) []string {
	out := vs[:0:0]
	for _, v := range vs {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// parseScope splits the scope parameter (RFC 6749 §3.3): scope tokens of
// %x21 / %x23-5B / %x5D-7E separated by single spaces. Absent or empty is
// nil (not requested).
func parseScope(s string) ([]string, *fosite.RFC6749Error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, " ")
	if len(parts) > MaxRequestedScopes {
		return nil, errWith(fosite.ErrInvalidScope, fmt.Sprintf("At most %d scopes may be requested.", MaxRequestedScopes))
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p == "" {
			continue // tolerate doubled spaces
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, errWith(fosite.ErrInvalidScope, "The scope parameter holds a character RFC 6749 does not allow.")
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// scopeDescription says what was wrong with the scope without naming
// anything the caller did not send.
func scopeDescription(err error) string {
	switch {
	case errors.Is(err, ErrScopeNotCovered):
		return "A requested scope is not covered by the personal access token."
	case errors.Is(err, ErrScopeNotInAudience):
		return "A requested scope is not understood by the audience."
	default:
		return "The personal access token grants no rights at this audience."
	}
}

// IdentityGrants returns g's role grants plus the implicit rights every
// user holds at the management audience: Identity.PATs for every active
// local user (the usability check establishes that), Identity.Admin for
// admins.
func IdentityGrants(g *storage.PATGrant) []storage.Grant {
	perms := []string{ScopePATs}
	if g.Owner.Admin {
		perms = append(perms, ScopeAdmin)
	}
	return append(slices.Clip(g.Grants), storage.Grant{Permissions: perms})
}

// newJTI returns a random, URL-safe token id.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}
