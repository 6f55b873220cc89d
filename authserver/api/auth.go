package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"authserver/authserver/accesstoken"
	"authserver/authserver/session"
	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/storage"
)

// How the management API authenticates:
//
//   - A bearer JWT this server issued for its own audience (the issuer URL),
//     obtained by exchanging a PAT with audience=<issuer>. It is verified by
//     accesstoken, by the rules introspection applies, with aud the issuer;
//     and then, unlike by an offline resource server, against the database
//     on every request: the PAT it came from (claim pat_id) must still be
//     usable now, so revoking that PAT, deactivating its owner or disabling
//     PATs in the organization ends the token's API access at once; and
//     admin-ness is the owner's current admin flag AND Identity.Admin in the
//     token's scope.
//   - A console session cookie, checked by the console's sessions
//     (session.Sessions.ForAPI), which also enforce CSRF for unsafe methods.
//     The session's user is read from the database on every request too.
//
// A request with an Authorization header is judged by it alone: a bad
// bearer token never falls back to a cookie.

// AuthStore is what authentication reads on every request.
type AuthStore interface {
	GetPATGrantByID(ctx context.Context, id string) (*storage.PATGrant, error)
	GetUser(ctx context.Context, orgID, id string) (*storage.User, error)
}

// SessionLookup resolves the console session a request carries
// (session.Sessions). It returns (nil, nil) when the request carries no
// session at all, errBadCredentials when it carries one that is unknown or
// expired, and another error when it could not tell (the database is
// unavailable). The sessions also own CSRF protection for
// cookie-authenticated state changes: a lookup must refuse
// (errBadCredentials) an unsafe method without a valid CSRF token.
type SessionLookup interface {
	ForAPI(r *http.Request) (*session.User, error)
}

// Authentication failures. errNoCredentials: nothing was presented;
// errBadCredentials: something was presented and refused.
var (
	errNoCredentials  = errors.New("no credentials")
	errBadCredentials = session.ErrInvalid
)

// principal is who an API request acts as, established from the database
// at the time of the request.
type principal struct {
	actor governance.Actor
	// scopes are the management scopes the credential holds now:
	// Identity.PATs for an active local user, plus Identity.Admin when the
	// user is an admin now (and, for a bearer token, the token carries it).
	scopes []string
	// method is "bearer" or "session".
	method string
	// patID and expiresAt describe a bearer token.
	patID     string
	expiresAt time.Time
	// sessionID is the console session of a "session" principal.
	sessionID string
}

func (p *principal) has(scope string) bool { return slices.Contains(p.scopes, scope) }

// authenticator establishes the principal of an API request: bearer token
// first, then the console session when there are sessions.
type authenticator struct {
	// issuer is the audience a bearer token must name.
	issuer string
	tokens *accesstoken.Verifier
	store  AuthStore
	now    func() time.Time
	// sessions check the console's cookie; nil accepts bearer tokens only.
	sessions SessionLookup
}

// authenticate returns the request's principal, or errNoCredentials,
// errBadCredentials, or a storage error (unavailable, unexpected).
func (a *authenticator) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return nil, errBadCredentials
		}
		scheme, token, _ := strings.Cut(h[0], " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return nil, errNoCredentials
		}
		return a.bearer(r, strings.TrimSpace(token))
	}
	if a.sessions != nil {
		s, err := a.sessions.ForAPI(r)
		if err != nil {
			return nil, err
		}
		if s != nil {
			return a.fromSession(r, s)
		}
	}
	return nil, errNoCredentials
}

// bearer verifies a token and the PAT behind it.
func (a *authenticator) bearer(r *http.Request, token string) (*principal, error) {
	c, err := a.tokens.Verify(r.Context(), token, a.issuer)
	if err != nil {
		return nil, errBadCredentials
	}
	g, err := a.store.GetPATGrantByID(r.Context(), c.PATID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if g.Owner.ID != c.Subject || g.Org.ID != c.OrgID || exchange.CheckUsable(g, a.now()) != exchange.CauseNone {
		return nil, errBadCredentials
	}
	p := &principal{
		actor:  governance.UserActor(g.Org.ID, g.Owner.ID, false, httpx.ClientAddrOf(r)),
		method: "bearer", patID: g.PAT.ID, expiresAt: time.Unix(c.Expiry, 0).UTC(),
	}
	granted := strings.Fields(c.Scope)
	// CheckUsable has established an active local owner: Identity.PATs is
	// theirs to use if the token carries it.
	if slices.Contains(granted, exchange.ScopePATs) {
		p.scopes = append(p.scopes, exchange.ScopePATs)
	}
	if slices.Contains(granted, exchange.ScopeAdmin) && g.Owner.Admin {
		p.scopes = append(p.scopes, exchange.ScopeAdmin)
		p.actor.Admin = true
	}
	return p, nil
}

// fromSession reads the session's user as it is now.
func (a *authenticator) fromSession(r *http.Request, s *session.User) (*principal, error) {
	u, err := a.store.GetUser(r.Context(), s.OrgID, s.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if u.Status != storage.UserActive {
		return nil, errBadCredentials
	}
	p := &principal{
		actor:  governance.UserActor(u.OrgID, u.ID, false, httpx.ClientAddrOf(r)),
		method: "session", sessionID: s.SessionID,
	}
	if u.Kind == storage.UserLocal {
		p.scopes = append(p.scopes, exchange.ScopePATs)
	}
	if u.Admin {
		p.scopes = append(p.scopes, exchange.ScopeAdmin)
		p.actor.Admin = true
	}
	return p, nil
}

// Answers to authentication failures (RFC 6750 §3).
const (
	wwwAuthenticate             = `Bearer realm="authserver"`
	wwwAuthenticateInvalidToken = `Bearer realm="authserver", error="invalid_token"`
)

// unauthorized answers a request whose credentials are missing or refused.
func (a *authenticator) unauthorized(w http.ResponseWriter, err error) {
	if errors.Is(err, errBadCredentials) {
		w.Header().Set("WWW-Authenticate", wwwAuthenticateInvalidToken)
		writeProblem(w, newProblem(http.StatusUnauthorized, codeInvalidToken,
			"the access token is invalid, expired, or its personal access token is no longer usable"))
		return
	}
	w.Header().Set("WWW-Authenticate", wwwAuthenticate)
	writeProblem(w, newProblem(http.StatusUnauthorized, codeUnauthorized,
		"authenticate with a bearer token obtained by exchanging a personal access token for audience %s", a.issuer))
}

// insufficientScope answers a principal that lacks the scope a route needs.
func insufficientScope(w http.ResponseWriter, p *principal, scope string) {
	if p.method == "bearer" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authserver", error="insufficient_scope", scope="`+scope+`"`)
	}
	writeProblem(w, newProblem(http.StatusForbidden, codeInsufficientScope, "this route needs %s", scope))
}
