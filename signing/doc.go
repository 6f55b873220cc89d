// Package signing owns the keys that sign this server's RFC 9068 JWT access
// tokens: it generates them, keeps their private halves encrypted at rest,
// rotates them on a schedule every replica agrees on, publishes the public
// halves as a JWK Set, and signs and verifies compact JWS.
//
// # Keys at rest
//
// A key is generated from crypto/rand for ES256 (P-256), RS256 (RSA 2048 by
// default) or EdDSA (Ed25519). Its kid is the RFC 7638 SHA-256 thumbprint of
// the public key. The private key is serialized as PKCS#8 DER and sealed with
// AES-256-GCM under a 32-byte key-encryption key (KEK): one version byte, a
// 12-byte random nonce, then the ciphertext, with the kid as additional
// authenticated data so a ciphertext cannot be moved to another row. The
// public JWK is stored beside it, but what is published is always derived
// from the decrypted private key, and a row whose stored public JWK does not
// match its private key is never published.
//
// # Rotation
//
// The key active at time t is the non-retired key with the latest
// activates_at ≤ t (ties broken by the greater kid). Keyring.Maintain applies
// these rules inside one transaction holding the "signing-keys" lock, so
// replicas sharing a database never create two keys for one rotation:
//
//   - no key at all: create one that is active at once. This is the only
//     key that signs without having been published PublishAhead before:
//     nothing was ever published, so no resource server can hold a stale
//     JWKS. Its activation is back-dated by a one-minute clock-skew margin
//     so that a replica whose clock is slightly behind agrees it is active.
//   - no pending key, and the active key is within PublishAhead of the end
//     of its RotationPeriod (or has an algorithm other than the configured
//     one): create the next key, activating at
//     max(now+PublishAhead, active.activates_at+RotationPeriod)
//     (now+PublishAhead for an algorithm change).
//   - every key that has a successor retires at
//     successor.activates_at + MaxTokenTTL + one minute, when every token it
//     can have signed has expired; it is published until then, and deleted
//     once retired.
//
// Replicas agree because they read the same rows and apply the same rules;
// a pending key is in the database PublishAhead before it activates, so a
// replica that refreshes more often than that publishes it before anyone
// signs with it.
//
// # What this package must never do
//
//   - log, return, or put in an error message any private key material or
//     the KEK: errors name keys by kid only;
//   - sign with a key that has not been published for PublishAhead (the
//     first key of an installation and an operator's immediate rotation, for
//     a compromised key, are the documented exceptions);
//   - sign with a key whose tokens could outlive its publication;
//   - accept a token whose alg is none or HS*, whose alg differs from its
//     key's, whose typ is not at+jwt, or whose kid is not published.
//
// Sign is the hot path: keys are decrypted and parsed only when the key set
// changes, and Sign reads an immutable snapshot through an atomic pointer,
// without locks. Each key's protected header is encoded once, when it is
// loaded (by go-jose, so the bytes are go-jose's); a token is then that
// header, the base64url payload and the standard library's signature over
// them (compact.go). go-jose parses the keys, publishes the JWKS and
// verifies.
//
// SignEvent signs Security Event Tokens (RFC 8417) for Shared Signals
// receivers with the same keys, so receivers verify them through the same
// JWKS. Each key has a second protected header for them, with typ
// secevent+jwt, encoded once like the first: an event token is never taken
// for an access token (Verify refuses it by its typ), and Sign is untouched.
package signing
