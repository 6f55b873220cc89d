package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ory/fosite"

	"authserver/authserver/accesstoken"
	"authserver/authserver/dpop"
	"authserver/exchange"
	"authserver/internal/httpx"
	"authserver/internal/rfc8693"
	"authserver/storage"
)

// This file is the RFC 8693 token-exchange grant as fosite sees it: it
// reads the request, looks up what package exchange decides from, and
// answers with fosite's errors. What is granted or refused, and why, is
// decided in exchange.

// errInvalidTarget is RFC 8693's invalid_target, which fosite lacks.
var errInvalidTarget = &fosite.RFC6749Error{
	ErrorField:       "invalid_target",
	DescriptionField: "The requested target is unknown, not allowed for this client, or ambiguous.",
	CodeField:        400,
}

// errDPoPRequired refuses a request without a DPoP proof from a client
// that must send one (its configuration says dpop: required).
var errDPoPRequired = &fosite.RFC6749Error{
	ErrorField:       dpop.CodeInvalidProof,
	DescriptionField: "This client must send a DPoP proof with every token request.",
	CodeField:        400,
}

// refusalErrors answers each kind of refusal: the one place a decision of
// package exchange becomes an OAuth error.
var refusalErrors = map[exchange.Kind]*fosite.RFC6749Error{
	exchange.InvalidRequest:     fosite.ErrInvalidRequest,
	exchange.InvalidTarget:      errInvalidTarget,
	exchange.InvalidScope:       fosite.ErrInvalidScope,
	exchange.UnauthorizedClient: fosite.ErrUnauthorizedClient,
}

// refusalError is the error fosite answers ref with. A refusal with a cause
// carries it in the error chain (fosite's WithWrap) for the token
// endpoint's logs, metrics and audit log; the client sees only the kind and
// the description.
func refusalError(ref *exchange.Refusal) error {
	base, ok := refusalErrors[ref.Kind]
	if !ok {
		return fosite.ErrServerError.WithWrap(fmt.Errorf("token exchange: refusal of unknown kind %d", ref.Kind))
	}
	e := errWith(base, ref.Description)
	if ref.Cause == exchange.CauseNone {
		return e
	}
	return e.WithWrap(ref)
}

// PATGrants reads a PAT's grant at every exchange: by the PAT's hash for
// a PAT's exchange, by its id (the subject JWT's pat_id) for a chained one.
type PATGrants interface {
	GetPATGrant(ctx context.Context, hash []byte) (*storage.PATGrant, error)
	GetPATGrantByID(ctx context.Context, id string) (*storage.PATGrant, error)
}

// SubjectVerifier verifies the subject_token of a chained exchange: the
// one verifier of this server's access tokens (accesstoken.Verifier).
type SubjectVerifier interface {
	VerifyAnyOf(ctx context.Context, raw string, audiences []string) (*accesstoken.Claims, error)
}

// ClientCatalog lists the OAuth clients by id (the cached catalogue), for
// the may_act claim, which names the delegate acting for an audience.
type ClientCatalog interface {
	Clients(ctx context.Context) (map[string]*storage.Client, error)
}

// AudienceResolver resolves audience ids, the built-in management audience
// included. It returns storage.ErrNotFound for an unknown id.
type AudienceResolver interface {
	Audience(ctx context.Context, id string) (*storage.Audience, error)
}

// TokenSigner signs the marshalled claims of an access token.
type TokenSigner interface {
	Sign(payload []byte) (string, error)
}

// TokenExchangeGrant is the RFC 8693 token-exchange grant as a fosite
// TokenEndpointHandler. HandleTokenEndpointRequest decides everything from
// the database as it is now (no cache may serve a revoked PAT);
// PopulateTokenEndpointResponse signs the token it decided on.
type TokenExchangeGrant struct {
	Rules     exchange.Rules
	Store     PATGrants
	Audiences AudienceResolver
	Signer    TokenSigner
	// Subjects verify a chained exchange's subject JWT; Clients say which
	// audiences each of a PAT's delegates acts for.
	Subjects SubjectVerifier
	Clients  ClientCatalog
	Now      func() time.Time
	// Used records a PAT's use (time, client address, OAuth client id),
	// behind the hot path, given the last use as read: the use of the PAT
	// itself, so not a chained exchange, where a JWT is presented.
	// Optional.
	Used func(patID string, last storage.PATUse, at time.Time, addr, client string)
	// Signals takes a PAT's first use from a new network. Optional.
	Signals PATSignals
}

var _ fosite.TokenEndpointHandler = (*TokenExchangeGrant)(nil)

// TokenExchangeSession carries the decision from
// HandleTokenEndpointRequest to PopulateTokenEndpointResponse.
type TokenExchangeSession struct {
	Subject string
	Expiry  time.Time
	// Claims is the marshalled JWT claims set, signed as is.
	Claims []byte
	// Scope is the granted organization-wide scope.
	Scope []string
	// AuthorizationDetails are the folder rights beyond Scope.
	AuthorizationDetails []exchange.AuthorizationDetail
	IssuedTokenType      string
	ExpiresIn            time.Duration
	// JKT is the thumbprint of the key of the request's DPoP proof, which
	// the token endpoint checked before the grant runs; the token is bound
	// to it (cnf.jkt). Empty: no proof, a bearer token.
	JKT string
}

// TokenType is the token_type of the issued token: DPoP for a token bound
// to a key, else Bearer.
func (s *TokenExchangeSession) TokenType() string {
	if s.JKT != "" {
		return "DPoP"
	}
	return "Bearer"
}

var _ fosite.Session = (*TokenExchangeSession)(nil)

func (s *TokenExchangeSession) SetExpiresAt(_ fosite.TokenType, exp time.Time) { s.Expiry = exp }
func (s *TokenExchangeSession) GetExpiresAt(fosite.TokenType) time.Time        { return s.Expiry }
func (s *TokenExchangeSession) GetUsername() string                            { return "" }
func (s *TokenExchangeSession) GetSubject() string                             { return s.Subject }

// Clone copies the session; the slices it holds are never modified.
func (s *TokenExchangeSession) Clone() fosite.Session {
	c := *s
	return &c
}

// CanSkipClientAuth is false: a failed client authentication must never
// become an anonymous exchange.
func (h *TokenExchangeGrant) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool {
	return false
}

// CanHandleTokenEndpointRequest claims requests whose grant_type is exactly
// the token-exchange grant.
func (h *TokenExchangeGrant) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(rfc8693.GrantType)
}

// HandleTokenEndpointRequest validates the exchange and decides its result:
// parse the request, authorize its audience, decide from the PAT as it is
// now, and keep the decision in the session for the response.
func (h *TokenExchangeGrant) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := r.GetSession().(*TokenExchangeSession)
	if !ok {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: session is not a *TokenExchangeSession"))
	}
	client := r.GetClient()
	if client == nil {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: no authenticated client"))
	}
	if c, ok := client.(*oauthClient); ok && c.c.DPoPRequired && sess.JKT == "" {
		return errDPoPRequired.WithWrap(&exchange.Refusal{Cause: exchange.CauseClient, ClientID: client.GetID()})
	}
	addr := httpx.ClientAddrFrom(ctx)
	req, ref := h.Rules.Parse(grantClient(client, addr), grantParams(r))
	if ref != nil {
		return refusalError(ref)
	}
	admitted, err := h.authorize(ctx, req)
	if err != nil {
		return err
	}
	if admitted.Chained() {
		if err := h.chain(ctx, admitted); err != nil {
			return err
		}
	}
	d, now, err := h.decide(ctx, admitted)
	if err != nil {
		return err
	}
	if err := respond(r, sess, d); err != nil {
		return err
	}
	if h.Used != nil && !admitted.Chained() {
		h.Used(d.Claims.PATID, d.LastUse, now, addr, client.GetID())
	}
	if h.Signals != nil && d.NewNetwork != "" {
		h.Signals.NewNetwork(d.Claims.OrgID, d.Claims.PATID, client.GetID(), d.NewNetwork)
	}
	return nil
}

// grantClient is what the exchange needs of the authenticated client and
// its address (as the trusted-proxy rules name it; "" for unknown).
func grantClient(c fosite.Client, addr string) exchange.Client {
	ec := exchange.Client{ID: c.GetID(), Grant: c.GetGrantTypes().Has(rfc8693.GrantType), Audiences: c.GetAudience(), Public: c.IsPublic()}
	if a, err := netip.ParseAddr(addr); err == nil {
		ec.Addr = a
	}
	if oc, ok := c.(*oauthClient); ok {
		ec.OnBehalfOf = oc.c.OnBehalfOf
	}
	return ec
}

// grantParams reads the exchange's parameters from the form.
func grantParams(r fosite.AccessRequester) exchange.Params {
	form := r.GetRequestForm()
	return exchange.Params{
		SubjectToken:       form.Get("subject_token"),
		SubjectTokenType:   form.Get("subject_token_type"),
		RequestedTokenType: form.Get("requested_token_type"),
		ActorToken:         form.Get("actor_token"),
		ActorTokenType:     form.Get("actor_token_type"),
		Audience:           form["audience"],
		Resource:           form["resource"],
		Scope:              form.Get("scope"),
	}
}

// authorize reads the audience the request names and admits the request
// against it.
func (h *TokenExchangeGrant) authorize(ctx context.Context, req *exchange.Request) (*exchange.Admitted, error) {
	aud, err := h.Audiences.Audience(ctx, req.Target)
	if errors.Is(err, storage.ErrNotFound) {
		aud, err = nil, nil
	}
	if err != nil {
		return nil, errUnavailable(err)
	}
	admitted, ref := h.Rules.Admit(req, aud)
	if ref != nil {
		return nil, refusalError(ref)
	}
	return admitted, nil
}

// chain verifies a chained exchange's subject JWT with the one verifier,
// for any audience the client acts for, and admits it. The verifier's
// reason for a refusal is the log's; the client gets one description.
func (h *TokenExchangeGrant) chain(ctx context.Context, a *exchange.Admitted) error {
	if h.Subjects == nil {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: no verifier for subject tokens"))
	}
	var s *exchange.Subject
	c, err := h.Subjects.VerifyAnyOf(ctx, a.SubjectToken(), a.OnBehalfOf())
	switch {
	case err == nil:
		s = &exchange.Subject{Audience: c.Audience, UserID: c.Subject, OrgID: c.OrgID, PATID: c.PATID,
			Expiry: time.Unix(c.Expiry, 0), Act: c.Act}
	case accesstoken.ReasonOf(err) == "":
		return errUnavailable(err)
	}
	if ref := h.Rules.Chain(a, s); ref != nil {
		return refusalError(ref)
	}
	return nil
}

// decide reads the PAT's grant — by its hash, or for a chained exchange by
// the subject's pat_id — and decides the exchange from it at now, the
// instant after the read.
func (h *TokenExchangeGrant) decide(ctx context.Context, a *exchange.Admitted) (_ *exchange.Decision, now time.Time, _ error) {
	var (
		g   *storage.PATGrant
		err error
	)
	if a.Chained() {
		g, err = h.Store.GetPATGrantByID(ctx, a.SubjectPATID())
	} else {
		g, err = h.Store.GetPATGrant(ctx, a.PATHash())
	}
	if errors.Is(err, storage.ErrNotFound) {
		g, err = nil, nil
	}
	if err != nil {
		// Never issue a token on stale data: no database, no token.
		return nil, now, errUnavailable(err)
	}
	actsFor, err := h.actsFor(ctx, g)
	if err != nil {
		return nil, now, errUnavailable(err)
	}
	now = h.Now()
	d, ref := h.Rules.Decide(a, g, actsFor, now)
	if ref != nil {
		return nil, now, refusalError(ref)
	}
	return d, now, nil
}

// actsFor answers, for the delegates of g's PAT, which audiences each acts
// for, for may_act. A PAT without delegates needs no client read.
func (h *TokenExchangeGrant) actsFor(ctx context.Context, g *storage.PATGrant) (func(string) []string, error) {
	if g == nil || len(g.PAT.Delegates) == 0 || h.Clients == nil {
		return nil, nil
	}
	clients, err := h.Clients.Clients(ctx)
	if err != nil {
		return nil, err
	}
	return func(id string) []string {
		if c := clients[id]; c != nil {
			return c.OnBehalfOf
		}
		return nil
	}, nil
}

// respond keeps d in the session for PopulateTokenEndpointResponse and
// grants its scope and audience on the request.
func respond(r fosite.AccessRequester, sess *TokenExchangeSession, d *exchange.Decision) error {
	if sess.JKT != "" {
		// Whatever the subject token was, the new token is bound to the
		// key the presenting client proved it holds.
		d.Claims.Cnf = &exchange.Confirmation{JKT: sess.JKT}
	}
	claims, err := json.Marshal(d.Claims)
	if err != nil {
		return fosite.ErrServerError.WithWrap(fmt.Errorf("marshal claims: %w", err))
	}
	sess.Subject = d.Claims.Subject
	sess.Expiry = d.Expiry
	sess.ExpiresIn = d.ExpiresIn
	sess.Claims = claims
	sess.Scope = d.Scope
	sess.AuthorizationDetails = d.AuthorizationDetails
	sess.IssuedTokenType = d.IssuedTokenType
	for _, s := range d.Scope {
		r.GrantScope(s)
	}
	r.GrantAudience(d.Claims.Audience)
	return nil
}

// PopulateTokenEndpointResponse signs the decided claims. fosite calls it
// for every handler: requests that are not ours get ErrUnknownRequest.
func (h *TokenExchangeGrant) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	sess, ok := r.GetSession().(*TokenExchangeSession)
	if !ok || sess.Claims == nil {
		return fosite.ErrServerError.WithWrap(errors.New("token exchange: nothing decided to sign"))
	}
	token, err := h.Signer.Sign(sess.Claims)
	if err != nil {
		return fosite.ErrServerError.WithWrap(fmt.Errorf("sign access token: %w", err))
	}
	resp.SetAccessToken(token)
	resp.SetTokenType(sess.TokenType())
	resp.SetExpiresIn(sess.ExpiresIn)
	resp.SetScopes(sess.Scope)
	resp.SetExtra("issued_token_type", sess.IssuedTokenType)
	if len(sess.AuthorizationDetails) > 0 {
		resp.SetExtra("authorization_details", sess.AuthorizationDetails)
	}
	return nil
}
