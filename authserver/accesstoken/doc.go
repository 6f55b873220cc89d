// Package accesstoken is the one verifier of the JWT access tokens this
// server signs (RFC 9068). Every surface that reads one of them — the
// management API, introspection, revocation — verifies it here, so a token
// gets one verdict wherever it is presented.
//
// A Verifier is built from named options (Config): the issuer, the keys,
// the clock and the clock-skew leeway. Verify adds the audience the caller
// serves; VerifyAnyOf accepts any of several audiences, for the chained
// exchange, where a client presents a token for an audience it acts for;
// VerifyKnownAudience accepts any audience the server knows, for
// introspection, which answers on behalf of every resource server.
//
// The rules, in the order they are applied:
//
//   - size: at most MaxSize bytes and exactly two dots, before anything is
//     decoded;
//   - header: alg is ES256, RS256 or EdDSA (never none, never an HMAC),
//     typ is at+jwt (or application/at+jwt);
//   - signature: by a key the server publishes (Keys, the signing package's
//     Keyring), which also checks that alg is its key's;
//   - claims: readable, with sub, org_id, pat_id and exp;
//   - iss is the issuer; aud, a string or an array, names the audience;
//   - exp is after now, with no leeway; nbf and iat are not after now plus
//     the leeway.
//
// What it must never do: accept a token on a weaker rule than these for
// one caller than for another (a weakening needs an option whose name says
// so); read a database or say anything about the PAT a token came from —
// whether that PAT is still usable is the caller's check, made on every
// request; put the token, or any part of it, in an error.
package accesstoken
