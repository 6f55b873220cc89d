// Package httpx holds the rule that names the client of an HTTP request:
// the address rate limits, audit events and logs are keyed by.
//
// The rule believes X-Forwarded-For only as far as a chain of trusted
// proxies vouches for it. It must never let a value that an untrusted peer
// chose become the client address, never return anything but a parsed IP
// address (so that a header's text cannot reach a log line or an error),
// and never trust a proxy that was not configured: with no trusted proxy,
// the client is the socket peer and every forwarding header is ignored.
package httpx
