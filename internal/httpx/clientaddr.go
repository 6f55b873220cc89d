package httpx

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr is the client-address rule of a server: which peers are
// proxies whose X-Forwarded-For is believed. The zero value trusts no
// proxy. A ClientAddr is safe for concurrent use as long as Trusted is not
// modified.
type ClientAddr struct {
	// Trusted are the networks of the proxies in front of the server.
	// Addresses are compared unmapped (::ffff:10.0.0.1 is 10.0.0.1), so an
	// IPv4 proxy is listed by its IPv4 network.
	Trusted []netip.Prefix
}

// Of returns the address of the client that sent r.
//
// It is the socket peer's, unless the peer is a trusted proxy. Then the
// X-Forwarded-For entries (every line of the header, in order, read as one
// comma-separated list) are walked from the right, the end the nearest
// proxy appended to, skipping trusted proxies: the first untrusted entry
// is the client. Entries left of it were written by someone no trusted
// proxy vouches for, so they are never read. When every entry is trusted,
// the left-most is the client.
//
// An entry that is not an IP address (empty, "unknown", a host name, a
// value too mangled to parse) stops the walk, and the last trusted hop,
// the right-most address already walked, is the client: whatever stands
// there, and beyond it, was not written by a proxy that follows the rule,
// and guessing further would let a client choose its address. That errs
// towards one shared budget for whatever is behind that hop, never towards
// a spoofed one.
//
// Addresses are returned without zone, and IPv4-mapped IPv6 addresses as
// IPv4. An entry may carry a port ("192.0.2.1:4711", "[2001:db8::1]:443"),
// which is dropped. The result is the zero Addr only when the socket peer
// is not an IP address (a Unix socket, a test's made-up RemoteAddr).
func (c ClientAddr) Of(r *http.Request) netip.Addr {
	peer, ok := parse(r.RemoteAddr)
	if !ok || !c.trusts(peer) {
		return peer
	}
	client := peer
	lines := r.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			entry := rest
			j := strings.LastIndexByte(rest, ',')
			if j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			}
			a, ok := parse(strings.TrimSpace(entry))
			if !ok {
				return client
			}
			if client = a; !c.trusts(a) {
				return a
			}
			if j < 0 {
				break
			}
		}
	}
	return client
}

// trusts reports whether a is inside a trusted network.
func (c ClientAddr) trusts(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parse reads an address with an optional port, in the forms RemoteAddr
// and X-Forwarded-For use: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:443", and returns it without zone,
// unmapped.
func parse(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		} else {
			var ap netip.AddrPort
			ap, err = netip.ParseAddrPort(s)
			a = ap.Addr()
		}
		if err != nil {
			return netip.Addr{}, false
		}
	}
	return a.WithZone("").Unmap(), true
}
