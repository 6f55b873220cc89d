package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"authserver/authserver/accesstoken"
	"authserver/authserver/dpop"
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
//
// A token bound to a key (cnf.jkt, RFC 9449) is accepted only under the
// DPoP scheme, "Authorization: DPoP <token>", with a DPoP proof of that
// key for this request (htm, htu, and ath the token's hash), checked by
// the same dpop.Checker as at the token endpoint: its jti is spent once,
// on every replica. Presented as Bearer, it is refused (invalid_token with
// a DPoP challenge); a bearer token presented under the DPoP scheme is
// refused too.

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
	// method is "bearer", "dpop" (a DPoP-bound token with its proof) or
	// "session".
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
	// dpop checks the proofs of DPoP-bound tokens; nil refuses them.
	dpop *dpop.Checker
	// resourceMetadata is the URL of the API's RFC 9728 metadata, named in
	// every challenge.
	resourceMetadata string
}

// authFailure is a refused credential (it matches errBadCredentials) with
// what the challenge tells: the scheme at fault and the RFC 6750 or RFC
// 9449 error code.
type authFailure struct {
	// dpop is true when the challenge is DPoP's: the token is bound to a
	// key, or was presented under the DPoP scheme.
	dpop bool
	// code is invalid_token, invalid_dpop_proof or use_dpop_nonce.
	code string
	// detail is the problem's detail, in fixed words.
	detail string
}

func (e *authFailure) Error() string        { return "credentials refused: " + e.code }
func (e *authFailure) Is(target error) bool { return target == errBadCredentials }

// The detail of a refused token, whatever the reason.
const invalidTokenDetail = "the access token is invalid, expired, or its personal access token is no longer usable"

// authenticate returns the request's principal, or errNoCredentials,
// errBadCredentials, or a storage error (unavailable, unexpected).
func (a *authenticator) authenticate(r *http.Request) (*principal, error) {
	if h := r.Header.Values("Authorization"); len(h) > 0 {
		if len(h) > 1 {
			return nil, errBadCredentials
		}
		scheme, token, _ := strings.Cut(h[0], " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			return a.bearer(r, strings.TrimSpace(token), false)
		case strings.EqualFold(scheme, "DPoP") && a.dpop != nil:
			return a.bearer(r, strings.TrimSpace(token), true)
		}
		return nil, errNoCredentials
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

// bearer verifies a token, its DPoP proof when it is bound to a key
// (presented under the DPoP scheme, dpopScheme), and the PAT behind it.
func (a *authenticator) bearer(r *http.Request, token string, dpopScheme bool) (*principal, error) {
	c, err := a.tokens.Verify(r.Context(), token, a.issuer)
	if err != nil {
		return nil, &authFailure{dpop: dpopScheme, code: "invalid_token", detail: invalidTokenDetail}
	}
	switch {
	case c.Cnf != nil && !dpopScheme:
		return nil, &authFailure{dpop: true, code: "invalid_token",
			detail: "the access token is bound to a DPoP key: present it as Authorization: DPoP with a DPoP proof"}
	case c.Cnf == nil && dpopScheme:
		return nil, &authFailure{dpop: true, code: "invalid_token",
			detail: "the access token is not bound to a DPoP key: present it as Authorization: Bearer"}
	case c.Cnf != nil:
		_, err := a.dpop.Check(r.Context(), r.Header.Values(dpop.Header), dpop.Request{
			Method: r.Method, URL: a.issuer + r.URL.EscapedPath(), AccessToken: token, JKT: c.Cnf.JKT})
		var refused *dpop.Error
		if errors.As(err, &refused) {
			return nil, &authFailure{dpop: true, code: refused.Code, detail: refused.Description}
		}
		if err != nil {
			return nil, err
		}
	}
	g, err := a.store.GetPATGrantByID(r.Context(), c.PATID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, &authFailure{dpop: dpopScheme, code: "invalid_token", detail: invalidTokenDetail}
	}
	if err != nil {
		return nil, err
	}
	if g.Owner.ID != c.Subject || g.Org.ID != c.OrgID || exchange.CheckUsable(g, a.now()) != exchange.CauseNone {
		return nil, &authFailure{dpop: dpopScheme, code: "invalid_token", detail: invalidTokenDetail}
	}
	p := &principal{
		actor:  governance.UserActor(g.Org.ID, g.Owner.ID, false, httpx.ClientAddrOf(r)),
		method: "bearer", patID: g.PAT.ID, expiresAt: time.Unix(c.Expiry, 0).UTC(),
	}
	if c.Cnf != nil {
		p.method = "dpop"
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

// The API problem code of each RFC 6750 and RFC 9449 error.
var authProblemCodes = map[string]string{
	"invalid_token":       codeInvalidToken,
	dpop.CodeInvalidProof: codeInvalidDPoPProof,
	dpop.CodeUseNonce:     codeUseDPoPNonce,
}

// bearerChallenge and dpopChallenge are the WWW-Authenticate challenges
// (RFC 6750 §3, RFC 9449 §7.1) with params added, and the RFC 9728
// resource_metadata URL.
func (a *authenticator) bearerChallenge(params string) string {
	return `Bearer realm="authserver"` + params + `, resource_metadata="` + a.resourceMetadata + `"`
}

func (a *authenticator) dpopChallenge(params string) string {
	return `DPoP realm="authserver"` + params + `, algs="` + strings.Join(dpop.Algorithms(), " ") +
		`", resource_metadata="` + a.resourceMetadata + `"`
}

// unauthorized answers a request whose credentials are missing or refused.
func (a *authenticator) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	var f *authFailure
	switch {
	case errors.As(err, &f):
	case errors.Is(err, errBadCredentials): // a refused session
		f = &authFailure{code: "invalid_token", detail: invalidTokenDetail}
	default:
		h.Add("WWW-Authenticate", a.bearerChallenge(""))
		if a.dpop != nil {
			h.Add("WWW-Authenticate", a.dpopChallenge(""))
		}
		writeProblem(w, newProblem(http.StatusUnauthorized, codeUnauthorized,
			"authenticate with a bearer token obtained by exchanging a personal access token for audience %s", a.issuer))
		return
	}
	params := `, error="` + f.code + `"`
	if f.dpop {
		h.Set("WWW-Authenticate", a.dpopChallenge(params))
		if f.code == dpop.CodeUseNonce {
			if n, err := a.dpop.Nonce(r.Context()); err == nil {
				h.Set(dpop.NonceHeader, n)
			}
		}
	} else {
		h.Set("WWW-Authenticate", a.bearerChallenge(params))
	}
	writeProblem(w, newProblem(http.StatusUnauthorized, authProblemCodes[f.code], "%s", f.detail))
}

// insufficientScope answers a principal that lacks the scope a route needs.
func insufficientScope(w http.ResponseWriter, p *principal, scope string) {
	switch p.method {
	case "bearer":
		w.Header().Set("WWW-Authenticate", `Bearer realm="authserver", error="insufficient_scope", scope="`+scope+`"`)
	case "dpop":
		w.Header().Set("WWW-Authenticate", `DPoP realm="authserver", error="insufficient_scope", scope="`+scope+`"`)
	}
	writeProblem(w, newProblem(http.StatusForbidden, codeInsufficientScope, "this route needs %s", scope))
}
