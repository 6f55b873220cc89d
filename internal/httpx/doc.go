// Package httpx holds the HTTP plumbing every surface of the server shares:
// the rule that names the client of a request (the address rate limits,
// audit events and logs are keyed by) and the context that carries it,
// request ids and the logger that adds them to every line, JSON writing,
// and the Retry-After of a 503.
//
// The client-address rule believes X-Forwarded-For only as far as a chain
// of trusted proxies vouches for it. It must never let a value that an
// untrusted peer chose become the client address, never return anything
// but a parsed IP address (so that a header's text cannot reach a log line
// or an error), and never trust a proxy that was not configured: with no
// trusted proxy, the client is the socket peer and every forwarding header
// is ignored.
package httpx
