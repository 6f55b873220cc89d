// Package authserver composes the HTTP surfaces of the server: New builds
// the parts they share (the store, the keyring, the catalogue, the one JWT
// verifier, governance, the console sessions, the metrics registry, the
// write-behind queues), gives each surface its dependencies at
// construction, and mounts it on one of two muxes; Start and Shutdown run
// and drain the background work. Nothing is set on a surface after it is
// built.
//
// The tests here (package authserver_test, on env_test.go) are tests of
// the composed server through New; the tests of one surface's internals
// live with it.
//
// The surfaces, each a handler built from its dependencies with a Mount:
//
//   - authserver/oauth: the token endpoint and its grant, introspection,
//     revocation, the client catalogue and the OAuth failure budget. The
//     only code that imports fosite.
//   - authserver/discovery: RFC 8414 metadata and the JWKS.
//   - authserver/telemetry: metrics, the access log, health and readiness.
//   - authserver/session: console sessions, their cookies and CSRF; built
//     first and given to the console and to the management API, which
//     accepts the console's cookie.
//   - authserver/api: the management API and the worker behind its
//     leaked-token route.
//   - authserver/console: the web console, its templates and static files
//     (web/, embedded).
//
// authserver/accesstoken is not a surface: it is the one verifier of this
// server's JWTs, which the API, introspection and revocation share.
//
// Shared plumbing lives below internal/: httpx (the client address rule and
// the per-request address in the context, request ids, JSON writing, the
// Retry-After of a 503), ratelimit (the bounded token-bucket sets), refusal
// (the status of a governance refusal, one table for the API and the
// console) and periodic (periodic jobs).
//
// Where the layout is more than one package per surface, and why:
//
//   - The token buckets are internal/ratelimit, not part of authserver/oauth:
//     the console sign-in and the leaked-token route spend them too. Each
//     budget (burst and refill) stays with the surface that spends it.
//   - The status of a governance refusal is internal/refusal: the API and
//     the console answer from the same table, and neither surface imports
//     the other.
//   - The OAuth endpoints register their own metrics (authserver_token_*,
//     authserver_introspections_total, authserver_revocations_total);
//     authserver/telemetry holds the others. Names, help texts and label
//     values are unchanged.
//   - The write-behind queues (last-use times, audit events) stay here: they
//     are shared parts that New builds and Shutdown drains; surfaces see
//     them through a function or a one-method interface.
//
// It must never hold the only copy of shared state: every replica serves the
// same answers from the database, and a revocation made anywhere is honoured
// by the next request here. What it does keep in memory trails the request
// and is drained on Shutdown (last-use times and refused-exchange audit
// events, each in a bounded queue), or is per process by design
// (rate-limit buckets). Leaked-token reports are written to the database
// before they are answered.
package authserver
