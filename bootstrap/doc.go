// Package bootstrap applies the configuration file's bootstrap: section to
// the store, idempotently, in one transaction.
//
// The file is the source of truth for what it declares: audiences and
// clients are created or updated to match it, organizations and roles are
// created and roles' permissions updated, users are created and their kind,
// admin flag, password and declared role assignments kept as the file says.
// Two things are only initial values, because administrators own them at
// run time: an organization's settings (pats_enabled, pat_max_lifetime) are
// applied when the organization is created, and a user's status is never
// changed. Bootstrap never deletes anything: removing an entry from the file
// leaves the installation's copy alone.
//
// Entries are found by their key in the file (an id, a name, a username),
// so a role renamed or deleted at run time is created again under the
// file's name, with the file's assignments, at the next start; the renamed
// role is left alone. docs/configuration.md lists every case.
package bootstrap
