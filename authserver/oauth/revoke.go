package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"authserver/authserver/accesstoken"
	"authserver/governance"
	"authserver/internal/httpx"
)

// This file is POST /oauth2/revoke (RFC 7009): the holder of a PAT
// revokes it. Possession is the authority: any authenticated client may
// send it, as with a credential revocation API. The rule, its audit event
// and its metric are governance's (RevokeByHolder); this file reads the
// request and answers it.

// revocationResults are the values of the revocations metric's result
// label.
var revocationResults = []string{
	"revoked", "already_revoked", "not_found", "unsupported_token_type",
	"invalid_request", "invalid_client", "temporarily_unavailable", "server_error", "request_too_large",
	"rate_limited",
}

// errJWTNotRevocable answers a request to revoke one of our JWTs. RFC 7009
// §2.2.1 defines unsupported_token_type for "the authorization server does
// not support the revocation of the presented token type". That is the
// truth here: access tokens are stateless and short-lived (minutes) and
// are not revocable one by one. A 200 would tell the client the token is
// dead while it keeps working until exp; the error tells it what to do
// instead — revoke the PAT, which makes every JWT issued from it inactive
// at introspection and refuses further exchanges. Expired, foreign or
// malformed JWT-shaped strings are invalid tokens, answered 200 as RFC 7009
// §2.2 asks.
var errJWTNotRevocable = &fosite.RFC6749Error{
	ErrorField:       "unsupported_token_type",
	DescriptionField: "Access tokens are short-lived and cannot be revoked individually; revoke the personal access token they were issued from.",
	CodeField:        http.StatusBadRequest,
}

// revocationEndpoint serves POST /oauth2/revoke. Client authentication is
// the token endpoint's, through fosite: public clients send client_id,
// confidential ones Basic or client_secret_post.
type revocationEndpoint struct {
	p       *provider
	log     *slog.Logger
	metrics *oauthMetrics
	limits  *oauthLimits // nil: no limits
}

func (e *revocationEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.metrics.revocations.WithLabelValues(serveOAuth(w, r, e.limits, revocationParams, e.serve)).Inc()
}

// serve answers a well-formed request and returns the result label for
// metrics. Failed revocations (bad requests, failed client authentication)
// are limited like failed exchanges, per address only (charge stays
// empty); an unknown token is an answer (200), not a failure.
func (e *revocationEndpoint) serve(w http.ResponseWriter, r *http.Request, form url.Values, _ *string) (result string) {
	if otherAuthScheme(r) {
		// Credentials in a scheme we do not accept are refused, not
		// ignored in favour of a client_id in the body.
		rfc := errWith(fosite.ErrInvalidClient, "Authenticate as a client (client_id, HTTP Basic or client_secret_post), not with a bearer token.")
		logRefusal(r, e.log, "revocation", "", rfc)
		writeClientError(w, rfc)
		return rfc.ErrorField
	}
	r.PostForm, r.Form = form, form
	note := &revocationNote{addr: httpx.ClientAddrOf(r)}
	ctx := context.WithValue(r.Context(), revocationNoteKey{}, note)

	// fosite writes 200 for any handler error but invalid_request and
	// invalid_client, a database failure included: errors are answered
	// here, and fosite's writer only ever sees success.
	if err := e.p.f.NewRevocationRequest(ctx, r); err != nil {
		rfc := fosite.ErrorToRFC6749Error(err)
		logRefusal(r, e.log, "revocation", note.clientID, rfc)
		writeClientError(w, rfc)
		return rfc.ErrorField
	}
	// governance has counted the revocation (Events), like every other.
	if note.result == "revoked" {
		e.log.InfoContext(ctx, "pat revoked by its holder", "client_id", note.clientID, "org_id", note.orgID,
			"pat_id", note.patID, "client_addr", note.addr)
	}
	e.p.f.WriteRevocationResponse(ctx, w, nil) // 200, Cache-Control: no-store
	if note.result == "" {
		return "server_error" // a handler that succeeded without saying what it did
	}
	return note.result
}

// revocationNote carries the request's client address into the revoker
// and its outcome back out: fosite's NewRevocationRequest returns only an
// error.
type revocationNote struct {
	addr     string
	clientID string
	result   string // one of revocationResults
	orgID    string
	patID    string
}

type revocationNoteKey struct{}

// HolderRevocations applies the holder-revocation rule
// (governance.Service).
type HolderRevocations interface {
	RevokeByHolder(ctx context.Context, a governance.Actor, value string) (*governance.HolderRevocation, error)
}

// holderRevoker is the fosite.RevocationHandler. It never returns
// fosite.ErrUnknownRequest: every token is either revoked, known not to be
// revocable (one of our JWTs), or unknown — and unknown tokens get 200
// (RFC 7009 §2.2).
type holderRevoker struct {
	gov HolderRevocations
	// tokens tell our JWTs, which are not revocable, from other strings, by
	// introspection's rule.
	tokens TokenVerifier
	prefix string
}

var _ fosite.RevocationHandler = (*holderRevoker)(nil)

// RevokeToken ignores token_type_hint (RFC 7009 §2.1 lets the server
// ignore it): the token's shape says what it is.
func (v *holderRevoker) RevokeToken(ctx context.Context, token string, _ fosite.TokenType, client fosite.Client) error {
	note, _ := ctx.Value(revocationNoteKey{}).(*revocationNote)
	if note == nil {
		note = &revocationNote{}
	}
	note.clientID = client.GetID()
	switch {
	case token == "":
		return errWith(fosite.ErrInvalidRequest, "The token parameter is required.")
	case strings.Count(token, ".") == 2: // a PAT never holds a dot
		_, err := v.tokens.VerifyKnownAudience(ctx, token)
		switch {
		case err == nil:
			note.result = "unsupported_token_type"
			return errJWTNotRevocable
		case accesstoken.ReasonOf(err) == "":
			// The audiences could not be read: whether this is one of
			// our JWTs is unknown, and a 200 could be a false one.
			note.result = "temporarily_unavailable"
			return errUnavailable(err)
		}
	case strings.HasPrefix(token, v.prefix):
		return v.revokePAT(ctx, token, note)
	}
	note.result = "not_found"
	return nil
}

// revokePAT revokes the PAT whose token this is, in any organization,
// through governance, which audits it in the same transaction. An unknown
// or malformed token, or a PAT already revoked, changes nothing.
func (v *holderRevoker) revokePAT(ctx context.Context, token string, note *revocationNote) error {
	res, err := v.gov.RevokeByHolder(ctx, governance.ClientActor(note.clientID, note.addr), token)
	if err != nil {
		note.result = "temporarily_unavailable"
		return errUnavailable(err)
	}
	note.result, note.orgID, note.patID = string(res.Outcome), res.OrgID, res.PATID
	return nil
}
