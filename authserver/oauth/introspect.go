package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"authserver/authserver/accesstoken"
	"authserver/exchange"
	"authserver/internal/httpx"
	"authserver/storage"
)

// This file is POST /oauth2/introspect (RFC 7662).
//
// fosite's NewIntrospectionRequest is not used: it authenticates callers
// with HTTP Basic only (no client_secret_post), accepts any active bearer
// token as the caller's authorization, answers a database failure while
// reading the client as 401, and turns every introspector error — a
// database failure included — into {"active": false}. Its
// WriteIntrospectionResponse is not used either: it never writes
// token_type, turns aud into an array and takes iat from the request time.
// So the endpoint authenticates the caller through fosite's
// AuthenticateClient (our client authentication strategy, as at the token
// endpoint), runs fosite's IntrospectToken over the one registered
// introspector below, and writes the RFC 7662 JSON itself.

// introspectionResults are the values of the introspections metric's
// result label: active, inactive, or the error the caller got.
var introspectionResults = []string{
	"active", "inactive", "invalid_request", "invalid_client", "unauthorized_client",
	"temporarily_unavailable", "server_error", "request_too_large", "rate_limited",
}

// clientAuthChallenge is the WWW-Authenticate of every 401 (RFC 6749
// §5.2): HTTP Basic is the scheme a confidential client may use. A caller
// that tried another scheme (Bearer) is told which one works rather than
// invited to retry its own.
const clientAuthChallenge = `Basic realm="authserver", charset="UTF-8"`

// errUnavailable is the answer to a database failure: never a guess.
func errUnavailable(err error) *fosite.RFC6749Error {
	return errWith(fosite.ErrTemporarilyUnavailable, "The authorization server is temporarily unavailable.").WithWrap(err)
}

// errNotIntrospector refuses an authenticated confidential client that may
// not introspect. RFC 7662 §2.3 only defines 403 insufficient_scope for
// callers authorized by a bearer token, which we do not accept; for an
// authenticated client without the right, RFC 6749's unauthorized_client
// ("the authenticated client is not authorized to use" this) is the
// registered code whose meaning fits, and client libraries already know
// it. 403 rather than 401: the credentials are good, retrying them with
// another scheme would not help.
var errNotIntrospector = &fosite.RFC6749Error{
	ErrorField:       fosite.ErrUnauthorizedClient.ErrorField,
	DescriptionField: "The client is not allowed to introspect tokens.",
	CodeField:        http.StatusForbidden,
}

// introspectionEndpoint serves POST /oauth2/introspect. Callers are
// confidential clients whose storage flag Introspection is set, with HTTP
// Basic or client_secret_post; a bearer token is never accepted as the
// caller's authorization.
type introspectionEndpoint struct {
	p       *provider
	log     *slog.Logger
	metrics *oauthMetrics
	limits  *oauthLimits // nil: no limits
}

func (e *introspectionEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.metrics.introspections.WithLabelValues(serveOAuth(w, r, e.limits, introspectionParams, e.serve)).Inc()
}

// serve answers a well-formed request and returns the result label for
// metrics. Failed introspections are limited like failed exchanges; an
// inactive token is an answer, not a failure.
func (e *introspectionEndpoint) serve(w http.ResponseWriter, r *http.Request, form url.Values, charge *string) (result string) {
	ctx := r.Context()
	if otherAuthScheme(r) {
		// fosite would take a bearer token as the caller's authorization
		// and let any holder of an active token scan tokens; the contract wants
		// client authentication only.
		return e.refuse(w, r, "", errWith(fosite.ErrInvalidClient,
			"Authenticate as a confidential client (HTTP Basic or client_secret_post), not with a bearer token."))
	}
	r.PostForm, r.Form = form, form
	c, err := e.p.f.AuthenticateClient(ctx, r, form)
	if err != nil {
		return e.refuse(w, r, "", fosite.ErrorToRFC6749Error(err))
	}
	client, ok := c.(*oauthClient)
	if ok {
		*charge = client.GetID()
	}
	switch {
	case !ok:
		return e.refuse(w, r, "", fosite.ErrServerError.WithWrap(errors.New("introspection: client is not an *oauthClient")))
	case client.IsPublic():
		return e.refuse(w, r, client.GetID(), errWith(fosite.ErrInvalidClient, "The introspection endpoint requires a confidential client."))
	case !client.c.Introspection:
		return e.refuse(w, r, client.GetID(), errNotIntrospector)
	}
	token := form.Get("token")
	if token == "" {
		return e.refuse(w, r, client.GetID(), errWith(fosite.ErrInvalidRequest, "The token parameter is required."))
	}

	// token_type_hint is ignored (RFC 7662 §2.1 allows it): the one
	// introspector tells PATs and JWTs apart by their shape. fosite's
	// non-standard scope parameter is not passed on: RFC 7662 has none.
	_, ar, err := e.p.f.IntrospectToken(ctx, token, fosite.AccessToken, &introspectionSession{})
	var why *inactiveToken
	switch {
	case err == nil:
		sess, ok := ar.GetSession().(*introspectionSession)
		if !ok || sess.result == nil {
			return e.refuse(w, r, client.GetID(), fosite.ErrServerError.WithWrap(errors.New("introspection: no result in the session")))
		}
		writeIntrospection(w, sess.result)
		return "active"
	case errors.As(err, &why):
		e.log.DebugContext(ctx, "introspected token is inactive", "cause", why.cause, "client_id", client.GetID(), "pat_id", why.patID)
		writeIntrospection(w, struct {
			Active bool `json:"active"`
		}{false})
		return "inactive"
	default:
		return e.refuse(w, r, client.GetID(), fosite.ErrorToRFC6749Error(err))
	}
}

// refuse answers an error, logs it without any credential or token, and
// returns the metric label. clientID is the authenticated caller, if any.
func (e *introspectionEndpoint) refuse(w http.ResponseWriter, r *http.Request, clientID string, rfc *fosite.RFC6749Error) string {
	logRefusal(r, e.log, "introspection", clientID, rfc)
	writeClientError(w, rfc)
	return rfc.ErrorField
}

// logRefusal logs a refused introspection or revocation: server-side
// failures as errors with their cause, client mistakes at info level. The
// caller's client_id is logged only once authenticated (a failed attempt
// may carry a secret pasted into the wrong field).
func logRefusal(r *http.Request, log *slog.Logger, endpoint, clientID string, rfc *fosite.RFC6749Error) {
	if rfc.CodeField >= http.StatusInternalServerError {
		log.ErrorContext(r.Context(), endpoint+" failed", "error", rfc.ErrorField, "err", errors.Unwrap(rfc))
		return
	}
	log.InfoContext(r.Context(), endpoint+" refused", "error", rfc.ErrorField, "client_id", clientID, "client_addr", httpx.ClientAddrOf(r))
}

// writeClientError writes an RFC 6749 §5.2 error with its status; a 401
// names the scheme to use.
func writeClientError(w http.ResponseWriter, rfc *fosite.RFC6749Error) {
	status := rfc.CodeField
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", clientAuthChallenge)
	}
	writeOAuthError(w, status, rfc)
}

// otherAuthScheme reports an Authorization header whose scheme is not
// Basic (Bearer, DPoP, …). Such credentials are refused, never ignored.
func otherAuthScheme(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		return false
	}
	scheme, _, _ := strings.Cut(h, " ")
	return !strings.EqualFold(scheme, "Basic")
}

// writeIntrospection writes a 200 introspection response.
func writeIntrospection(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	httpx.WriteJSONBody(w, v)
}

// patTokenType is the token_type of an introspected PAT. RFC 7662 takes
// token_type from the OAuth Access Token Types registry (RFC 6749 §7.1).
// A PAT is not an access token: resource servers never accept one, it is
// only exchanged for a JWT, whose rights are narrowed by the user's roles
// at that moment. RFC 8693 §2.2.1 registered "N_A" for exactly this — a
// token that is not usable as an access token — so a resource server that
// checks token_type == "Bearer" will not mistake an introspected PAT (whose
// scope is the PAT's, not what the user's roles grant) for one.
const patTokenType = "N_A"

// introspection is an RFC 7662 response for an active token. Fields that
// do not apply are omitted.
type introspection struct {
	Active               bool                           `json:"active"`
	Scope                string                         `json:"scope,omitempty"`
	ClientID             string                         `json:"client_id,omitempty"`
	Subject              string                         `json:"sub,omitempty"`
	Audience             accesstoken.Audience           `json:"aud,omitempty"`
	Issuer               string                         `json:"iss,omitempty"`
	Expiry               int64                          `json:"exp,omitempty"`
	IssuedAt             int64                          `json:"iat,omitempty"`
	NotBefore            int64                          `json:"nbf,omitempty"`
	ID                   string                         `json:"jti,omitempty"`
	TokenType            string                         `json:"token_type"`
	OrgID                string                         `json:"org_id"`
	PATID                string                         `json:"pat_id"`
	Act                  *exchange.Actor                `json:"act,omitempty"`
	MayAct               *exchange.Actor                `json:"may_act,omitempty"`
	AuthorizationDetails []exchange.AuthorizationDetail `json:"authorization_details,omitempty"`
	// Cnf is the key a DPoP-bound token is bound to (RFC 9449 §6.2).
	Cnf *exchange.Confirmation `json:"cnf,omitempty"`
}

// introspectionSession carries the introspector's answer out of fosite's
// IntrospectToken. It implements fosite.Session.
type introspectionSession struct {
	result *introspection
}

var _ fosite.Session = (*introspectionSession)(nil)

func (s *introspectionSession) SetExpiresAt(fosite.TokenType, time.Time) {}
func (s *introspectionSession) GetExpiresAt(fosite.TokenType) time.Time {
	if s.result == nil || s.result.Expiry == 0 {
		return time.Time{}
	}
	return time.Unix(s.result.Expiry, 0)
}
func (s *introspectionSession) GetUsername() string { return "" }
func (s *introspectionSession) GetSubject() string {
	if s.result == nil {
		return ""
	}
	return s.result.Subject
}
func (s *introspectionSession) Clone() fosite.Session {
	c := *s
	return &c
}

// inactiveToken is why a token is inactive, wrapped in
// fosite.ErrInactiveToken. It is for logs only: the caller gets
// {"active": false} whatever the cause.
type inactiveToken struct {
	cause string
	patID string
}

func (e *inactiveToken) Error() string { return "token inactive: " + e.cause }

func errInactive(cause, patID string) error {
	return fosite.ErrInactiveToken.WithWrap(&inactiveToken{cause: cause, patID: patID})
}

// inactiveClaims is the inactive cause of a JWT whose claims do not name
// its PAT consistently (its owner or organization is not the PAT's). The
// other causes are exchange.Cause values, for PATs, and accesstoken.Reason
// values, for JWTs.
const inactiveClaims = string(accesstoken.ReasonClaims)

// introspectionStore is what introspection reads.
type introspectionStore interface {
	GetPATGrant(ctx context.Context, hash []byte) (*storage.PATGrant, error)
	GetPATGrantByID(ctx context.Context, id string) (*storage.PATGrant, error)
}

// tokenIntrospector is the one fosite.TokenIntrospector. fosite runs every
// registered introspector and any error but ErrUnknownRequest aborts, so
// one introspector dispatches on the token's shape: the PAT prefix → the
// database; three dot-separated parts → JWT verification, then the
// database for its PAT. Anything else is inactive.
//
// It answers nil (active, the session holds the response),
// fosite.ErrInactiveToken wrapping an *inactiveToken, or
// temporarily_unavailable when the database could not say: a database
// failure is never reported as an inactive token.
type tokenIntrospector struct {
	store introspectionStore
	// tokens verify JWTs for any audience the server knows: introspection
	// answers for every resource server.
	tokens TokenVerifier
	prefix string
	now    func() time.Time
	// used records a PAT's use, behind the hot path (introspection
	// updates last_used_at, not the address and client of the last
	// exchange: the caller is the resource server). May be nil.
	used func(patID string, last storage.PATUse, at time.Time, addr, client string)
}

var _ fosite.TokenIntrospector = (*tokenIntrospector)(nil)

func (t *tokenIntrospector) IntrospectToken(ctx context.Context, token string, _ fosite.TokenUse, ar fosite.AccessRequester, _ []string) (fosite.TokenUse, error) {
	sess, ok := ar.GetSession().(*introspectionSession)
	if !ok {
		return "", fosite.ErrServerError.WithWrap(errors.New("introspection: session is not an *introspectionSession"))
	}
	var (
		res *introspection
		err error
	)
	// A PAT never holds a dot, whatever the configured prefix.
	switch {
	case strings.Count(token, ".") == 2:
		res, err = t.jwt(ctx, token)
	case strings.HasPrefix(token, t.prefix):
		res, err = t.pat(ctx, token)
	default:
		err = errInactive(string(exchange.CauseMalformed), "")
	}
	if err != nil {
		return "", err
	}
	sess.result = res
	// Keep fosite's request consistent with the answer, so that nothing
	// reading it (fosite's own writer, say) finds a nil client or the time
	// of this request as the token's issue time.
	if req, ok := ar.(*fosite.AccessRequest); ok {
		req.Client = &fosite.DefaultClient{ID: res.ClientID}
		req.RequestedAt = time.Unix(res.IssuedAt, 0).UTC()
	}
	for _, s := range strings.Fields(res.Scope) {
		ar.GrantScope(s)
	}
	for _, aud := range res.Audience {
		ar.GrantAudience(aud)
	}
	return fosite.AccessToken, nil
}

// pat introspects a PAT: the answer is the PAT itself (its scopes, owner,
// lifetime), as usable now.
func (t *tokenIntrospector) pat(ctx context.Context, token string) (*introspection, error) {
	if exchange.CheckPAT(t.prefix, token) != nil {
		return nil, errInactive(string(exchange.CauseMalformed), "")
	}
	g, err := t.store.GetPATGrant(ctx, exchange.HashPAT(token))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInactive(string(exchange.CauseUnknown), "")
	}
	if err != nil {
		return nil, errUnavailable(err)
	}
	now := t.now()
	if cause := exchange.CheckUsable(g, now); cause != exchange.CauseNone {
		return nil, errInactive(string(cause), g.PAT.ID)
	}
	if t.used != nil {
		t.used(g.PAT.ID, g.PAT.LastUse(), now, "", "")
	}
	res := &introspection{
		Active: true, Scope: strings.Join(g.PAT.Scopes, " "), Subject: g.Owner.ID,
		IssuedAt: g.PAT.CreatedAt.Unix(), TokenType: patTokenType, OrgID: g.Org.ID, PATID: g.PAT.ID,
	}
	if until, ok := exchange.UsableUntil(g); ok {
		res.Expiry = until.Unix()
	}
	return res, nil
}

// jwt introspects an access token this server issued: verified by the
// rules the management API applies, for any audience the server knows,
// then its PAT, which must still be usable. A JWT whose PAT has been
// revoked, whose owner has been deactivated or whose organization has
// disabled PATs since is inactive, though its signature and exp are fine.
// So is a chained token (one with act): its pat_id names the PAT at the
// root of the chain, whatever the number of hops.
//
// Using the JWT does not count as using its PAT: last_used_at is when the
// PAT itself was last presented (exchanged or introspected).
func (t *tokenIntrospector) jwt(ctx context.Context, token string) (*introspection, error) {
	c, err := t.tokens.VerifyKnownAudience(ctx, token)
	if reason := accesstoken.ReasonOf(err); reason != "" {
		return nil, errInactive(string(reason), "")
	}
	if err != nil {
		return nil, errUnavailable(err) // the audiences could not be read
	}
	g, err := t.store.GetPATGrantByID(ctx, c.PATID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInactive(string(exchange.CauseUnknown), c.PATID)
	}
	if err != nil {
		return nil, errUnavailable(err)
	}
	if g.Org.ID != c.OrgID || g.Owner.ID != c.Subject {
		return nil, errInactive(inactiveClaims, c.PATID)
	}
	if cause := exchange.CheckUsable(g, t.now()); cause != exchange.CauseNone {
		return nil, errInactive(string(cause), c.PATID)
	}
	tokenType := "Bearer"
	if c.Cnf != nil {
		tokenType = "DPoP" // RFC 9449 §6.2
	}
	return &introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, Subject: c.Subject, Audience: c.Audience,
		Issuer: c.Issuer, Expiry: c.Expiry, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, ID: c.ID,
		TokenType: tokenType, OrgID: c.OrgID, PATID: c.PATID, Act: c.Act, MayAct: c.MayAct, AuthorizationDetails: c.AuthorizationDetails, Cnf: c.Cnf,
	}, nil
}
