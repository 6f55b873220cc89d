// Package authserver holds the HTTP surfaces of the server: the OAuth 2.0
// token, introspection and revocation endpoints (on fosite), JWKS and
// discovery metadata, the management API and the web console, all wired in
// one New.
//
// It must never hold the only copy of shared state: every replica serves the
// same answers from the database, and a revocation made anywhere is honoured
// by the next request here.
package authserver
