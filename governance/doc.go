// Package governance holds the rules people and administrators act under:
// the PAT lifecycle (create, list, revoke — by its owner, an admin, its
// value, a leak report or whoever holds it —, regenerate, the dry run),
// organization policy, users, roles and assignments, and the audit log. The
// management API, the web console and the command line all call it, so a
// rule lives in one place.
//
// Every change writes its audit event in the same transaction as the
// change. It must never return or record a token value, a token hash or a
// password; the only token it hands out is the one it has just created, in
// NewToken. Nothing crosses organizations: what belongs to another
// organization is "not found".
package governance
