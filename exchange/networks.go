package exchange

import (
	"net/netip"
	"strings"

	"authserver/storage"
)

// This file is the network rules of a PAT: the networks it may be
// exchanged from (allowed_cidrs), and the networks it was recently used
// from, whose first use is audited (recent_networks).

// MaxAllowedCIDRs bounds a PAT's allowed networks.
const MaxAllowedCIDRs = 16

// CanonicalCIDR reads one allowed network: a CIDR (192.0.2.0/24,
// 2001:db8::/48) or a single address, which is its own /32 or /128. The
// answer is the network in canonical form: host bits cleared, an
// IPv4-mapped IPv6 address written as IPv4, IPv6 in RFC 5952 form. ok is
// false for anything else.
func CanonicalCIDR(s string) (_ string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return "", false
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return "", false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()).String(), true
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return "", false
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return "", false
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked().String(), true
}

// addrAllowed reports whether addr is inside one of cidrs (canonical, as
// stored). An empty list allows every address; a list allows no unknown
// (invalid) address. A stored value that does not parse allows nothing.
func addrAllowed(cidrs []string, addr netip.Addr) bool {
	if len(cidrs) == 0 {
		return true
	}
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Contains(addr) {
			return true
		}
	}
	return false
}

// NetworkOf is the network an address is counted in for the new-address
// audit: its /24 for IPv4, its /64 for IPv6. ok is false for an invalid
// address.
func NetworkOf(addr netip.Addr) (_ string, ok bool) {
	if !addr.IsValid() {
		return "", false
	}
	addr = addr.Unmap().WithZone("")
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p.String(), true
}

// NewNetwork is the network of addr when it is not among the PAT's recent
// networks, else "" (also for an unknown address). A known network, the
// case of nearly every exchange, costs no allocation.
func NewNetwork(p *storage.PAT, addr netip.Addr) string {
	if !addr.IsValid() {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	for _, n := range p.RecentNetworks {
		if known, err := netip.ParsePrefix(n); err == nil && known.Bits() == bits && known.Contains(addr) {
			return ""
		}
	}
	n, _ := NetworkOf(addr)
	return n
}

// WithNetwork is recent with network first and the oldest beyond
// storage.RecentNetworkCount dropped; recent is not modified.
func WithNetwork(recent []string, network string) []string {
	out := make([]string, 0, storage.RecentNetworkCount)
	out = append(out, network)
	for _, n := range recent {
		if len(out) == storage.RecentNetworkCount {
			break
		}
		if n != network {
			out = append(out, n)
		}
	}
	return out
}
