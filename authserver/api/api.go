// Package api is the management REST API under /api/v1: it decodes
// requests, authenticates them (bearer tokens of this server, or the
// console's session cookie), asks governance, and renders the answer.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver/accesstoken"
	"authserver/authserver/discovery"
	"authserver/authserver/dpop"
	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/internal/ratelimit"
)

// api serves the management REST API under /api/v1. It
// decodes requests, authenticates them, asks governance, and renders the
// answer: every lifecycle and governance rule lives in governance.Service,
// never here.
type api struct {
	gov     *governance.Service
	catalog *governance.Catalog
	auth    *authenticator
	log     *slog.Logger
	now     func() time.Time
	// leaks processes reports to the public leaked-tokens route.
	leaks *leakWorker
	// public limits requests to public routes per client address; nil
	// limits nothing (Options.NoRateLimits).
	public *ratelimit.Limiter
	// passwords is the budget of password guesses shared with the
	// console; nil limits nothing.
	passwords *ratelimit.Passwords
}

// Options are the dependencies and settings of the management API; all
// but NoRateLimits are required.
type Options struct {
	Gov     *governance.Service
	Catalog *governance.Catalog
	// Tokens verify bearer tokens.
	Tokens *accesstoken.Verifier
	// Store is read on every request to check the PAT behind a token (or a
	// session's user).
	Store AuthStore
	// Sessions check the console's cookie, which the API accepts too.
	Sessions SessionLookup
	// Issuer is the audience a bearer token must name.
	Issuer string
	Now    func() time.Time
	Log    *slog.Logger
	// Metrics receives the leaked-token worker's metrics.
	Metrics prometheus.Registerer
	// NoRateLimits turns the leaked-token budget off (tests and
	// benchmarks).
	NoRateLimits bool
	// Passwords is the budget of password guesses, shared with the
	// console: a change of one's own password spends it when the current
	// password is wrong. Nil limits nothing.
	Passwords *ratelimit.Passwords
	// DPoP checks the proofs of DPoP-bound tokens (the token endpoint's
	// checker); nil refuses such tokens.
	DPoP *dpop.Checker
}

// Handler serves the management API under /api/v1 and runs the worker
// behind its leaked-token route.
type Handler struct {
	a *api
}

// New wires the management API.
func New(o Options) *Handler {
	a := &api{gov: o.Gov, catalog: o.Catalog, log: o.Log, now: o.Now, passwords: o.Passwords,
		auth: &authenticator{issuer: o.Issuer, tokens: o.Tokens, store: o.Store, sessions: o.Sessions, now: o.Now,
			dpop: o.DPoP, resourceMetadata: o.Issuer + discovery.ProtectedResourcePath},
		leaks: newLeakWorker(o.Gov, o.Log, o.Metrics, o.Now)}
	if !o.NoRateLimits {
		a.public = ratelimit.New(leakedEvery, leakedBurst, ratelimit.MaxAddrLimiters)
	}
	return &Handler{a: a}
}

// Mount serves the API's routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) { h.a.routes(mux) }

// Run processes recorded leaked-token reports until ctx is done.
func (h *Handler) Run(ctx context.Context) { h.a.leaks.Run(ctx) }

// Route is a method and a path pattern of the management API.
type Route struct{ Method, Path string }

// Routes lists every route the management API serves, from the same table
// the mux is built from.
func Routes() []Route {
	out := make([]Route, 0, len(apiRoutes))
	for _, rt := range apiRoutes {
		out = append(out, Route{Method: rt.method, Path: rt.path})
	}
	return out
}

// access is what a route requires of its principal.
type access int

const (
	// accessAny: any management scope (who am I, the scope catalogue).
	accessAny access = iota
	// accessPublic: no credentials at all (reporting leaked tokens); any
	// presented are ignored. Requests are rate-limited per client address.
	accessPublic
	// accessPATs: Identity.PATs, managing one's own PATs.
	accessPATs
	// accessAdmin: Identity.Admin in the credential and the user an admin
	// now.
	accessAdmin
)

// apiRoute is one route of the API.
type apiRoute struct {
	method string
	// path is a net/http pattern path: {name} matches one segment.
	path   string
	access access
	handle func(a *api, w http.ResponseWriter, r *http.Request, p *principal, q map[string]string) error
	// query names the query parameters the route takes; any other is a
	// 400 problem before the handler runs, which gets the values in q.
	query []string
}

// apiRoutes is the one table of the API's routes: the mux is built from it
// and the OpenAPI test checks docs/openapi.yaml against it, so the two
// cannot drift.
var apiRoutes = []apiRoute{
	{http.MethodGet, "/api/v1/me", accessAny, (*api).getMe, nil},
	{http.MethodGet, "/api/v1/scopes", accessAny, (*api).listScopes, nil},
	{http.MethodGet, "/api/v1/me/pats", accessPATs, (*api).listMyPATs, []string{"status", "name", "audience", "expiring", "limit", "cursor"}},
	{http.MethodPost, "/api/v1/me/pats", accessPATs, (*api).createMyPAT, nil},
	{http.MethodGet, "/api/v1/me/pats/{id}", accessPATs, (*api).getMyPAT, nil},
	{http.MethodDelete, "/api/v1/me/pats/{id}", accessPATs, (*api).revokeMyPAT, nil},
	{http.MethodPost, "/api/v1/me/pats/{id}/regenerate", accessPATs, (*api).regenerateMyPAT, nil},
	{http.MethodGet, "/api/v1/me/pats/{id}/effective", accessPATs, (*api).explainMyPAT, []string{"audience", "scope"}},
	{http.MethodPut, "/api/v1/me/password", accessAny, (*api).changeMyPassword, nil},
	{http.MethodPut, "/api/v1/me/email", accessAny, (*api).setMyEmail, nil},

	{http.MethodGet, "/api/v1/admin/settings", accessAdmin, (*api).getSettings, nil},
	{http.MethodPut, "/api/v1/admin/settings", accessAdmin, (*api).putSettings, nil},
	{http.MethodGet, "/api/v1/admin/pats", accessAdmin, (*api).listPATs, []string{"owner", "status", "name", "audience", "expiring", "limit", "cursor"}},
	{http.MethodPost, "/api/v1/admin/pats/revoke", accessAdmin, (*api).revokePATs, nil},
	{http.MethodPost, "/api/v1/admin/pats/revoke-by-value", accessAdmin, (*api).revokeByValue, nil},
	{http.MethodGet, "/api/v1/admin/users", accessAdmin, (*api).listUsers, []string{"q", "status", "kind", "limit", "cursor"}},
	{http.MethodPost, "/api/v1/admin/users", accessAdmin, (*api).createUser, nil},
	{http.MethodPost, "/api/v1/admin/users/{id}/password", accessAdmin, (*api).resetPassword, nil},
	{http.MethodPost, "/api/v1/admin/users/{id}/deactivate", accessAdmin, (*api).deactivateUser, nil},
	{http.MethodPost, "/api/v1/admin/users/{id}/reactivate", accessAdmin, (*api).reactivateUser, nil},
	{http.MethodGet, "/api/v1/admin/users/{id}/access", accessAdmin, (*api).userAccess, nil},
	{http.MethodPut, "/api/v1/admin/users/{id}/email", accessAdmin, (*api).setUserEmail, nil},
	{http.MethodGet, "/api/v1/admin/roles", accessAdmin, (*api).listRoles, nil},
	{http.MethodPost, "/api/v1/admin/roles", accessAdmin, (*api).createRole, nil},
	{http.MethodPut, "/api/v1/admin/roles/{id}", accessAdmin, (*api).updateRole, nil},
	{http.MethodDelete, "/api/v1/admin/roles/{id}", accessAdmin, (*api).deleteRole, []string{"confirm"}},
	{http.MethodGet, "/api/v1/admin/assignments", accessAdmin, (*api).listAssignments, []string{"user_id"}},
	{http.MethodPost, "/api/v1/admin/assignments", accessAdmin, (*api).createAssignment, nil},
	{http.MethodDelete, "/api/v1/admin/assignments/{id}", accessAdmin, (*api).deleteAssignment, nil},
	{http.MethodGet, "/api/v1/admin/audit", accessAdmin, (*api).listAudit, []string{"actor", "action", "target", "since", "until", "limit", "cursor"}},
	{http.MethodGet, "/api/v1/admin/webhooks", accessAdmin, (*api).listWebhooks, nil},
	{http.MethodPost, "/api/v1/admin/webhooks", accessAdmin, (*api).createWebhook, nil},
	{http.MethodDelete, "/api/v1/admin/webhooks/{id}", accessAdmin, (*api).deleteWebhook, nil},

	{http.MethodPost, "/api/v1/leaked-tokens", accessPublic, (*api).reportLeaked, nil},
}

// apiPrefix is the subtree the API owns: anything under it that no route
// serves is a problem-details 404 or 405, never the mux's plain text.
const apiPrefix = "/api/v1/"

// routes mounts every route of apiRoutes on mux, and the 404/405 fallback
// for the rest of the subtree.
func (a *api) routes(mux *http.ServeMux) {
	for _, rt := range apiRoutes {
		mux.Handle(rt.method+" "+rt.path, a.serve(rt))
	}
	mux.HandleFunc(apiPrefix, a.notRouted)
	mux.HandleFunc(strings.TrimSuffix(apiPrefix, "/"), a.notRouted)
}

// serve authenticates a request, checks the route's access and runs it.
func (a *api) serve(rt apiRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setAPIHeaders(w)
		if rt.access == accessPublic {
			a.servePublic(w, r, rt)
			return
		}
		p, err := a.auth.authenticate(r)
		if err != nil {
			if errors.Is(err, errNoCredentials) || errors.Is(err, errBadCredentials) {
				a.auth.unauthorized(w, r, err)
				return
			}
			a.fail(w, r, err)
			return
		}
		switch {
		case rt.access == accessAny && len(p.scopes) == 0:
			insufficientScope(w, p, exchange.ScopePATs)
			return
		case rt.access == accessPATs && !p.has(exchange.ScopePATs):
			insufficientScope(w, p, exchange.ScopePATs)
			return
		case rt.access == accessAdmin && !p.has(exchange.ScopeAdmin):
			insufficientScope(w, p, exchange.ScopeAdmin)
			return
		}
		a.run(w, r, rt, p)
	})
}

// run checks the query string against the route's parameters and runs its
// handler.
func (a *api) run(w http.ResponseWriter, r *http.Request, rt apiRoute, p *principal) {
	q, err := queryParams(r, rt.query...)
	if err == nil {
		err = rt.handle(a, w, r, p, q)
	}
	if err != nil {
		a.fail(w, r, err)
	}
}

// servePublic runs a public route: no credentials, one request of the
// client address's budget.
func (a *api) servePublic(w http.ResponseWriter, r *http.Request, rt apiRoute) {
	if a.public != nil {
		if _, wait := a.public.Take(a.now(), ratelimit.AddrKey(httpx.ClientAddrOf(r))); wait > 0 {
			w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
			writeProblem(w, newProblem(http.StatusTooManyRequests, codeRateLimited,
				"too many requests from this address; retry after the number of seconds in Retry-After"))
			return
		}
	}
	a.run(w, r, rt, nil)
}

// fail answers a handler's error as a problem. Unexpected errors are logged
// and answered 500 with a generic detail: their text never reaches the
// client.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, unexpected := problemOf(err)
	switch {
	case unexpected:
		a.log.ErrorContext(r.Context(), "management API request failed", "method", r.Method, "route", r.Pattern, "err", err)
	case p.Status == http.StatusServiceUnavailable:
		a.log.WarnContext(r.Context(), "management API request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	writeProblem(w, p)
}

// notRouted answers what no route serves under /api/v1: 405 with Allow when
// the path is a route's but the method is not, else 404.
func (a *api) notRouted(w http.ResponseWriter, r *http.Request) {
	setAPIHeaders(w)
	var allow []string
	for _, rt := range apiRoutes {
		if pathMatches(rt.path, r.URL.EscapedPath()) && !slices.Contains(allow, rt.method) {
			allow = append(allow, rt.method)
			if rt.method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		writeProblem(w, newProblem(http.StatusNotFound, codeRouteNotFound, "no route of the management API has this path"))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeProblem(w, newProblem(http.StatusMethodNotAllowed, codeMethodNotAllowed, "this route allows %s", strings.Join(allow, ", ")))
}

// pathMatches reports whether a request path matches a route pattern path,
// {name} matching one non-empty segment.
func pathMatches(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if qs[i] == "" {
				return false
			}
			continue
		}
		if p != qs[i] {
			return false
		}
	}
	return true
}

// setAPIHeaders sets the headers of every API answer: nothing is cached
// (create and regenerate answers hold a token) or sniffed.
func setAPIHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}
