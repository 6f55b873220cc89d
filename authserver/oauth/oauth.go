// Package oauth is the OAuth 2.0 surface of the server and the only code
// that imports fosite: the token endpoint and its one grant, RFC 8693 token
// exchange (grant_tokenexchange.go), introspection (RFC 7662), revocation
// (RFC 7009), the client catalogue and client authentication, and the
// failure budget of the three endpoints.
//
// Every answer it writes is an RFC 6749 §5.2 error or the endpoint's own
// success document; the precise cause of a refusal goes to the log, the
// metrics and the audit log, never to the client.
package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver/accesstoken"
	"authserver/authserver/dpop"
	"authserver/exchange"
	"authserver/storage"
)

// Store is what the OAuth endpoints read from the database: the clients
// (cached, catalog.go) and PATs with their owner and organization.
type Store interface {
	ListClients(ctx context.Context) ([]storage.Client, error)
	GetPATGrant(ctx context.Context, hash []byte) (*storage.PATGrant, error)
	GetPATGrantByID(ctx context.Context, id string) (*storage.PATGrant, error)
}

// TokenVerifier verifies this server's JWTs (accesstoken.Verifier): the
// one verdict introspection, revocation and the chained exchange give a
// token.
type TokenVerifier interface {
	VerifyKnownAudience(ctx context.Context, raw string) (*accesstoken.Claims, error)
	VerifyAnyOf(ctx context.Context, raw string, audiences []string) (*accesstoken.Claims, error)
}

// Auditor takes the audit event of a refused exchange, written behind the
// request.
type Auditor interface {
	Add(e storage.AuditEvent)
}

// PATSignals takes what an exchange notices about a PAT, to be recorded
// behind the request (in the audit log and the outbox): the reuse of a
// rotated secret, and a PAT's first use from a network not among its
// recent ones (exchange.NetworkOf: never the address). Neither call may
// block on I/O.
type PATSignals interface {
	Reused(orgID, patID, clientID, addr string)
	NewNetwork(orgID, patID, clientID, network string)
}

// Options are the settings and dependencies of the OAuth endpoints. All
// but Used and NoRateLimits are required.
type Options struct {
	// Rules are the exchange's settings: issuer, PAT prefix, access-token
	// lifetime, default audience and maximum delegation depth.
	Rules exchange.Rules
	Store Store
	// Audiences resolves an exchange's target (governance.Catalog).
	Audiences AudienceResolver
	// Signer signs the access tokens (signing.Keyring).
	Signer      TokenSigner
	Tokens      TokenVerifier
	Revocations HolderRevocations
	Audit       Auditor
	// Used records that a PAT was used (exchanges and introspections),
	// given its last use as read; nil records nothing.
	Used func(patID string, last storage.PATUse, at time.Time, addr, client string)
	// Signals takes what an exchange notices about a PAT for the audit
	// log and the outbox; nil records nothing.
	Signals PATSignals
	// Metrics receives the endpoints' metrics.
	Metrics prometheus.Registerer
	Log     *slog.Logger
	Now     func() time.Time
	// NoRateLimits turns the failure budget off (tests and benchmarks).
	NoRateLimits bool
	// DPoP checks the DPoP proofs of token requests (RFC 9449); nil: the
	// server does not support DPoP and a DPoP header is ignored.
	DPoP *dpop.Checker
}

// Handler serves /oauth2/token, /oauth2/introspect and /oauth2/revoke.
type Handler struct {
	token         *tokenEndpoint
	introspection *introspectionEndpoint
	revocation    *revocationEndpoint
}

// New builds the OAuth endpoints on fosite and registers their metrics.
func New(o Options) (*Handler, error) {
	if o.Store == nil || o.Audiences == nil || o.Signer == nil || o.Tokens == nil || o.Revocations == nil ||
		o.Audit == nil || o.Metrics == nil || o.Log == nil || o.Now == nil {
		return nil, errors.New("oauth: a required option is missing")
	}
	clients := &clientStore{clients: newClientCache(o.Store, o.Now)}
	grant := &TokenExchangeGrant{Rules: o.Rules, Store: o.Store, Audiences: o.Audiences, Signer: o.Signer,
		Subjects: o.Tokens, Clients: clients.clients, Now: o.Now, Used: o.Used, Signals: o.Signals}
	introspector := &tokenIntrospector{store: o.Store, tokens: o.Tokens, prefix: o.Rules.PATPrefix, now: o.Now, used: o.Used}
	revoker := &holderRevoker{gov: o.Revocations, tokens: o.Tokens, prefix: o.Rules.PATPrefix}
	p := newProvider(clients, grant, introspector, revoker)
	var limits *oauthLimits // nil: no limits
	if !o.NoRateLimits {
		limits = newOAuthLimits(o.Now)
	}
	m := newOAuthMetrics(o.Metrics)
	return &Handler{
		token: &tokenEndpoint{p: p, log: o.Log, metrics: m, audit: o.Audit, signals: o.Signals, now: o.Now, limits: limits,
			dpop: o.DPoP, url: o.Rules.Issuer + "/oauth2/token"},
		introspection: &introspectionEndpoint{p: p, log: o.Log, metrics: m, limits: limits},
		revocation:    &revocationEndpoint{p: p, log: o.Log, metrics: m, limits: limits},
	}, nil
}

// Mount serves the three endpoints on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("/oauth2/token", h.token)
	mux.Handle("/oauth2/introspect", h.introspection)
	mux.Handle("/oauth2/revoke", h.revocation)
}
