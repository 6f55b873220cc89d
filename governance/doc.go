// Package governance holds the rules people and administrators act under:
// the PAT lifecycle (create, list, revoke — by its owner, an admin, its
// value, a leak report or whoever holds it —, regenerate, the dry run),
// organization policy, users, roles and assignments, and the audit log. The
// management API, the web console, the OAuth revocation endpoint and the
// command line all call it, so a rule lives in one place.
//
// Every change writes its audit event in the same transaction as the
// change. Events recorded off the request path (refused exchanges and
// sign-ins, sign-in and sign-out) are built by their surface, but their
// actor is always an Actor's (Attribute): the audit log names a user, a
// client, the operator or no one one way.
//
// It must never return or record a token value, a token hash or a
// password; the only token it hands out is the one it has just created, in
// NewToken. Nothing crosses organizations: what belongs to another
// organization is "not found". The one exception is RevokeByHolder, where
// possession of the token is the authority, whichever organization it
// belongs to.
package governance
