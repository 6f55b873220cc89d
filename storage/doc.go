// Package storage holds the domain model and the one Store the rest of the
// server uses. A single sqlx implementation serves SQLite and PostgreSQL,
// with numbered, embedded migrations per database.
//
// It must never store a token, a client secret or a password in clear: only
// their SHA-256 (tokens, secrets) or argon2id (passwords) hashes.
package storage
