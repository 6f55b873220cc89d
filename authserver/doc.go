// Package authserver holds the HTTP surfaces of the server: the OAuth 2.0
// token, introspection and revocation endpoints (on fosite), JWKS and
// discovery metadata, the management API and the web console, all wired in
// one New.
//
// It must never hold the only copy of shared state: every replica serves the
// same answers from the database, and a revocation made anywhere is honoured
// by the next request here. What it does keep in memory trails the request
// and is drained on Shutdown (last-use times, refused-exchange audit events,
// leaked-token reports, each in a bounded queue), or is per process by
// design (rate-limit buckets).
package authserver
