// Package storage holds the domain model and the one Store the rest of the
// server uses. A single sqlx implementation serves SQLite and PostgreSQL,
// with numbered, embedded migrations per database.
//
// It must never store a token, a client secret or a password in clear: only
// their SHA-256 (tokens, secrets) or argon2id (passwords) hashes.
//
// # Transactions
//
// Store.WithTx hands its closure the whole Store, bound to the
// transaction: that is the one primitive, and the conformance suite tests
// it. Consumers do not take it. Each declares, next to itself, the few
// methods it calls inside a transaction as an interface (signing.KeyTx,
// governance.Tx, bootstrap.Tx), and an Update method that runs a closure
// over it:
//
//	type KeyTx interface {
//		Lock(ctx context.Context, name string) error
//		ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
//		…
//	}
//	type Store interface {
//		Update(ctx context.Context, fn func(tx KeyTx) error) error
//	}
//
// Narrow[T] turns any Store into one whose Update hands the closure the
// transaction-bound store as T, so the wiring reads
// signing.New(ctx, storage.Narrow[signing.KeyTx](st), …). A test fake then
// implements Update and the consumer's few methods, nothing else, and a
// reader of the consumer sees at once what its transactions touch. Go
// cannot check "every Store is a T" as a type constraint, so Narrow checks
// it once, at construction, and each consumer states var _ T =
// storage.Store(nil) for the compiler.
//
// The alternatives were weaker: a method per consumer on Store would make
// storage know its consumers; a Tx struct with every method is WithTx under
// another name; and an adapter written by each consumer repeats the same
// ten lines.
package storage
