package exchange

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

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

// UnusableDescription is the one description of every unusable-PAT cause,
// so that the answer reveals nothing about why (no oracle).
const UnusableDescription = "The subject_token is not a usable personal access token."

// Kind is the OAuth error a refusal is answered with. The token endpoint
// maps each kind to its wire error; the codes are not spelled here.
type Kind int

// The kinds of refusal.
const (
	// InvalidRequest: RFC 6749's invalid_request.
	InvalidRequest Kind = iota + 1
	// InvalidTarget: RFC 8693's invalid_target.
	InvalidTarget
	// InvalidScope: RFC 6749's invalid_scope.
	InvalidScope
	// UnauthorizedClient: RFC 6749's unauthorized_client.
	UnauthorizedClient
)

// Refusal is a refused exchange: what the client is told (Kind and
// Description, exact and safe to send) and, for logs, metrics and the
// audit log only, the precise Cause and who was involved. A malformed
// request has no Cause: there is nothing about a PAT or a user to record.
type Refusal struct {
	Kind        Kind
	Description string
	Cause       Cause
	ClientID    string
	OrgID       string
	UserID      string
	PATID       string
	// Chained: the subject_token was an access token, not a PAT.
	Chained bool
	// Depth is the hop a chained exchange asked for (1 for the first
	// exchange of a PAT's token); 0 when the subject was not verified.
	Depth int
}

func (r *Refusal) Error() string { return "exchange refused: " + string(r.Cause) }

// about records whose PAT was refused, once it has been read.
func (r *Refusal) about(g *storage.PATGrant) *Refusal {
	r.OrgID, r.UserID, r.PATID = g.Org.ID, g.Owner.ID, g.PAT.ID
	return r
}

// Rules are the installation's settings an exchange is decided under.
//
// An exchange is decided in three steps, each taking what the one before it
// made and what has been read since, so that nothing is read from the
// database for a request already refused: Parse needs the request alone;
// Admit needs the audience Parse named; Decide needs the PAT's grant as
// read now. The refusals come in the order of the checks.
type Rules struct {
	// Issuer is the iss claim and the id of the management audience.
	Issuer    string
	PATPrefix string
	// AccessTokenTTL is the lifetime of tokens for audiences without their own.
	AccessTokenTTL  time.Duration
	DefaultAudience string
	// MaxDelegationDepth is how many chained exchanges may follow a PAT's
	// exchange (the deepest act nesting a token may carry); 0 refuses every
	// chained exchange.
	MaxDelegationDepth int
}

// Client is the authenticated client as the exchange sees it.
type Client struct {
	ID string
	// Grant: the client is allowed the token-exchange grant.
	Grant bool
	// Audiences are the audiences configured for the client.
	Audiences []string
	// Public: the client has no secret (it proved nothing by
	// authenticating).
	Public bool
	// OnBehalfOf are the audiences whose access tokens the client may
	// present as subject_token (chained exchange).
	OnBehalfOf []string
	// Addr is the client's address as the trusted-proxy rules name it
	// (invalid when unknown): a PAT's allowed networks are checked
	// against it, and its recent networks record it.
	Addr netip.Addr
}

// allows reports whether c may request the audience id: its configured
// audiences, plus, for a PAT's exchange, the management audience for every
// client allowed the grant, so that any such client can obtain an API
// token. A chained exchange is for the client's configured audiences only,
// and never for the management audience, even when configured: a delegate
// acting for the owner must not manage the owner's PATs (a PAT it created
// would outlive every chain).
func (c *Client) allows(id, issuer string, chained bool) bool {
	if id == issuer {
		return c.Grant && !chained
	}
	return slices.Contains(c.Audiences, id)
}

// Params are the token-exchange parameters as the client sent them.
type Params struct {
	SubjectToken       string
	SubjectTokenType   string
	RequestedTokenType string
	ActorToken         string
	ActorTokenType     string
	// Audience and Resource hold every value sent: more than one target
	// in all is refused, not a choice to make.
	Audience []string
	Resource []string
	Scope    string
}

// Request is a parsed exchange, waiting for its audience to be looked up.
type Request struct {
	// Target is the id of the one audience asked for.
	Target string
	// Chained: the subject_token is an access token (a JWT), not a PAT.
	// Its verification (Rules.Chain) comes between Admit and Decide.
	Chained bool
	client  Client
	token   string
	issued  string
	scope   string
}

// Admitted is an exchange that passed every check made before the
// database is asked about the PAT.
type Admitted struct {
	req       *Request
	audience  *storage.Audience
	requested []string
	// subject is the verified subject JWT of a chained exchange, set by
	// Chain; nil for a PAT's exchange.
	subject *Subject
}

// refuse is a refusal of r with a cause, recorded against its client.
func (r *Request) refuse(kind Kind, description string, cause Cause) *Refusal {
	return &Refusal{Kind: kind, Description: description, Cause: cause, ClientID: r.client.ID, Chained: r.Chained}
}

// PATHash is the hash to read the PAT's grant by, for a PAT's exchange.
func (a *Admitted) PATHash() []byte { return HashPAT(a.req.token) }

// Chained reports a chained exchange: its PAT is read by SubjectPATID,
// once Chain has admitted the subject.
func (a *Admitted) Chained() bool { return a.req.Chained }

// SubjectToken is the subject_token of a chained exchange, for the one
// verifier of this server's access tokens.
func (a *Admitted) SubjectToken() string { return a.req.token }

// SubjectPATID is the id of the PAT at the root of a chained exchange
// (the subject JWT's pat_id); "" before Chain admitted the subject.
func (a *Admitted) SubjectPATID() string {
	if a.subject == nil {
		return ""
	}
	return a.subject.PATID
}

// OnBehalfOf are the audiences the client acts for: those a chained
// exchange's subject JWT may be for.
func (a *Admitted) OnBehalfOf() []string { return a.req.client.OnBehalfOf }

// Decision is a granted exchange: the claims to sign and the answer's
// members.
type Decision struct {
	Claims Claims
	// Scope is the granted organization-wide scope.
	Scope []string
	// AuthorizationDetails are the folder rights beyond Scope.
	AuthorizationDetails []AuthorizationDetail
	IssuedTokenType      string
	Expiry               time.Time
	ExpiresIn            time.Duration
	// NewNetwork is, for a PAT's own exchange, the client's network
	// (NetworkOf) when it is not among the PAT's recent networks as read,
	// else "".
	NewNetwork string
	// LastUse is, for a PAT's own exchange, the PAT's last use as read
	// (a zero At if it was never used): what decides whether this use
	// needs writing.
	LastUse storage.PATUse
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
	Act                  *Actor                `json:"act,omitempty"`
	MayAct               *Actor                `json:"may_act,omitempty"`
	AuthorizationDetails []AuthorizationDetail `json:"authorization_details,omitempty"`
	// Cnf binds the token to the key of the DPoP proof sent with the
	// request (RFC 9449 §6); nil for a bearer token.
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim of a DPoP-bound token: the RFC 7638
// SHA-256 thumbprint of the key, base64url.
type Confirmation struct {
	JKT string `json:"jkt"`
}

// Parse checks the request alone: the client's right to the grant, the
// token parameters and which one audience is asked for.
func (x *Rules) Parse(c Client, p Params) (*Request, *Refusal) {
	if !c.Grant {
		return nil, &Refusal{Kind: UnauthorizedClient, Description: "The client is not allowed the token-exchange grant.",
			Cause: CauseClient, ClientID: c.ID}
	}
	issued, ref := tokenTypes(p)
	if ref != nil {
		return nil, ref
	}
	chained := IsJWT(p.SubjectToken)
	if chained && (c.Public || len(c.OnBehalfOf) == 0) {
		return nil, &Refusal{Kind: UnauthorizedClient, Description: "The client is not allowed to present an access token as subject_token.",
			Cause: CauseClient, ClientID: c.ID, Chained: true}
	}
	if !chained && p.SubjectTokenType == rfc8693.TokenTypeJWT {
		return nil, &Refusal{Kind: InvalidRequest, Description: "The subject_token_type of a personal access token is " +
			rfc8693.TokenTypeAccessToken + "."}
	}
	target, ref := x.target(p)
	if ref != nil {
		ref.Cause, ref.ClientID, ref.Chained = CauseTarget, c.ID, chained
		return nil, ref
	}
	return &Request{Target: target, Chained: chained, client: c, token: p.SubjectToken, issued: issued, scope: p.Scope}, nil
}

// IsJWT tells a subject_token that is an access token of this server (a
// compact JWS: three dot-separated parts) from a PAT, which never holds a
// dot. It looks at the form alone: verifying is the next step's.
func IsJWT(token string) bool { return strings.Count(token, ".") == 2 }

// tokenTypes checks the token parameters and returns the type of the token
// to issue. Its refusals are malformed requests, with no cause to record.
func tokenTypes(p Params) (issued string, _ *Refusal) {
	malformed := func(description string) (string, *Refusal) {
		return "", &Refusal{Kind: InvalidRequest, Description: description}
	}
	if p.ActorToken != "" || p.ActorTokenType != "" {
		return malformed(ActorTokenDescription)
	}
	if p.SubjectToken == "" {
		return malformed("The subject_token parameter is required.")
	}
	switch p.SubjectTokenType {
	case rfc8693.TokenTypeAccessToken, rfc8693.TokenTypeJWT:
	case "":
		return malformed("The subject_token_type parameter is required.")
	default:
		return malformed("The subject_token_type is not supported: use " + rfc8693.TokenTypeAccessToken + " (or " +
			rfc8693.TokenTypeJWT + " for an access token of this server).")
	}
	switch rt := p.RequestedTokenType; rt {
	case "", rfc8693.TokenTypeAccessToken:
		return rfc8693.TokenTypeAccessToken, nil
	case rfc8693.TokenTypeJWT:
		return rt, nil
	default:
		return malformed("The requested_token_type is not supported.")
	}
}

// target names the one audience the exchange is for: an audience
// parameter, a resource parameter (an absolute URI equal to an audience
// id), or the default audience.
func (x *Rules) target(p Params) (string, *Refusal) {
	auds, ress := nonEmpty(p.Audience), nonEmpty(p.Resource)
	switch {
	case len(auds)+len(ress) > 1:
		return "", &Refusal{Kind: InvalidTarget, Description: "Exactly one audience or resource may be requested."}
	case len(auds) == 1:
		return auds[0], nil
	case len(ress) == 1:
		u, err := url.Parse(ress[0])
		if err != nil || !u.IsAbs() || u.Fragment != "" {
			return "", &Refusal{Kind: InvalidTarget, Description: "The resource must be an absolute URI without a fragment."}
		}
		return ress[0], nil
	case x.DefaultAudience != "":
		return x.DefaultAudience, nil
	default:
		return "", &Refusal{Kind: InvalidRequest, Description: "An audience or resource parameter is required."}
	}
}

// Admit checks r against aud, the audience r.Target names as read now (nil
// when there is none), then the scope parameter and the token's format:
// everything refused before the database is asked about the PAT. A
// malformed token is answered exactly like an unknown one.
func (x *Rules) Admit(r *Request, aud *storage.Audience) (*Admitted, *Refusal) {
	if aud == nil {
		return nil, r.refuse(InvalidTarget, "The requested target is unknown.", CauseTarget)
	}
	if !r.client.allows(aud.ID, x.Issuer, r.Chained) {
		return nil, r.refuse(InvalidTarget, "The client is not allowed to request this target.", CauseTarget)
	}
	requested, description := parseScope(r.scope)
	if description != "" {
		return nil, r.refuse(InvalidScope, description, CauseScope)
	}
	if !r.Chained && CheckPAT(x.PATPrefix, r.token) != nil {
		return nil, r.refuse(InvalidRequest, UnusableDescription, CauseMalformed)
	}
	return &Admitted{req: r, audience: aud, requested: requested}, nil
}

// Decide grants the exchange from g, the PAT's grant as read from the
// database now (nil when no PAT has the token's hash, or, in a chained
// exchange, the subject's pat_id), or refuses it. Every unusable PAT gets
// the same description; the cause says which. actsFor says which
// audiences a client acts for (its on_behalf_of; nil for an unknown
// client), to write may_act; a nil actsFor writes none.
//
// A chained exchange is decided exactly as the PAT's own exchange for the
// same audience would be, and then only if the client is one of the PAT's
// delegates; its token expires no later than the subject JWT.
func (x *Rules) Decide(a *Admitted, g *storage.PATGrant, actsFor func(clientID string) []string, now time.Time) (*Decision, *Refusal) {
	if a.req.Chained && a.subject == nil {
		// Chain must have admitted the subject: fail closed.
		return nil, a.req.refuse(InvalidRequest, SubjectDescription, CauseSubject)
	}
	if g == nil {
		return nil, a.refuse(InvalidRequest, UnusableDescription, CauseUnknown)
	}
	if cause := CheckUsable(g, now); cause != CauseNone {
		return nil, a.refuse(InvalidRequest, UnusableDescription, cause).about(g)
	}
	// The allowed networks bound where the PAT's rights are exercised
	// from: in a chained exchange, the address is the presenting client's
	// (the gateway's), which must be inside them too.
	if !addrAllowed(g.PAT.AllowedCIDRs, a.req.client.Addr) {
		return nil, a.refuse(InvalidRequest, UnusableDescription, CauseNetwork).about(g)
	}
	if s := a.subject; s != nil {
		if !now.Before(s.Expiry) {
			// Expired since it was verified, while the PAT was read.
			return nil, a.refuse(InvalidRequest, SubjectDescription, CauseSubject).about(g)
		}
		if g.PAT.ID != s.PATID || g.Org.ID != s.OrgID || g.Owner.ID != s.UserID {
			// Signed by this server, so not reachable unless the claims
			// and the database disagree: the subject is not usable.
			return nil, a.refuse(InvalidRequest, UnusableDescription, CauseSubject).about(g)
		}
		if !slices.Contains(g.PAT.Delegates, a.req.client.ID) {
			return nil, a.refuse(InvalidRequest, NotDelegateDescription, CauseNotDelegate).about(g)
		}
	}
	rights, err := Effective(g.PAT.Scopes, a.audience.Scopes, a.requested, IdentityGrants(g))
	if err != nil {
		return nil, a.refuse(InvalidScope, scopeDescription(err), CauseScope).about(g)
	}
	exp := x.expiry(a.audience, g, a.subject, now)
	iat := now.Unix()
	details := rights.AuthorizationDetails(a.audience.ID)
	c := Claims{
		Issuer: x.Issuer, Subject: g.Owner.ID, Audience: a.audience.ID,
		Expiry: exp.Unix(), IssuedAt: iat, NotBefore: iat, ID: newJTI(),
		ClientID: a.req.client.ID, Scope: strings.Join(rights.Scope, " "),
		OrgID: g.Org.ID, PATID: g.PAT.ID, AuthorizationDetails: details,
		MayAct: mayAct(g.PAT.Delegates, a.audience.ID, actsFor),
	}
	if a.subject != nil {
		c.Act = &Actor{Subject: a.req.client.ID, Act: a.subject.Act}
	}
	d := &Decision{
		Claims: c, Scope: rights.Scope, AuthorizationDetails: details, IssuedTokenType: a.req.issued,
		Expiry: exp, ExpiresIn: exp.Sub(now),
	}
	if a.subject == nil {
		d.NewNetwork = NewNetwork(&g.PAT, a.req.client.Addr)
		d.LastUse = g.PAT.LastUse()
	}
	return d, nil
}

// expiry is when a token issued now for aud from g expires: the audience's
// lifetime or the default one, but never after the PAT stops being usable
// nor, in a chained exchange, after the subject JWT expires.
func (x *Rules) expiry(aud *storage.Audience, g *storage.PATGrant, s *Subject, now time.Time) time.Time {
	ttl := x.AccessTokenTTL
	if aud.AccessTokenTTL > 0 {
		ttl = aud.AccessTokenTTL
	}
	exp := now.Add(ttl)
	if until, ok := UsableUntil(g); ok && until.Before(exp) {
		exp = until
	}
	if s != nil && s.Expiry.Before(exp) {
		exp = s.Expiry
	}
	// JWT times are whole seconds: round the expiry down so the token never
	// outlives the PAT.
	return exp.Truncate(time.Second)
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
// nil (not requested). A parameter it refuses comes back as the
// description to answer with.
func parseScope(s string) (_ []string, description string) {
	if s == "" {
		return nil, ""
	}
	parts := strings.Split(s, " ")
	if len(parts) > MaxRequestedScopes {
		return nil, fmt.Sprintf("At most %d scopes may be requested.", MaxRequestedScopes)
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p == "" {
			continue // tolerate doubled spaces
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, "The scope parameter holds a character RFC 6749 does not allow."
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
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
