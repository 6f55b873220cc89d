package config

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// CIDR is an IP network written in CIDR notation ("10.0.0.0/8",
// "2001:db8::/32"), or a bare address, which is a network of one
// ("10.0.0.1" is 10.0.0.1/32, "2001:db8::1" is 2001:db8::1/128).
//
// It refuses what would trust other addresses than the operator meant: an
// address with bits set after the prefix length (10.0.1.0/16 is more
// likely a typo for /24 than a way to write 10.0.0.0/16), a zone, and the
// IPv4-mapped IPv6 form, which never matches since client addresses are
// compared as IPv4.
type CIDR struct{ netip.Prefix }

// UnmarshalText reads a network as described on CIDR.
func (c *CIDR) UnmarshalText(text []byte) error {
	p, err := parseCIDR(string(text))
	if err != nil {
		return err
	}
	c.Prefix = p
	return nil
}

// UnmarshalYAML reads a scalar as UnmarshalText does; without it the
// decoder would take the struct for a mapping.
func (c *CIDR) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be an IP address or CIDR such as 10.0.0.0/8, not %s", describe(n))
	}
	return c.UnmarshalText([]byte(n.Value))
}

// parseCIDR parses s as CIDR describes. Its errors quote s: a network is
// never a secret.
func parseCIDR(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got %s", shorten(s))
		}
	} else {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			return p, fmt.Errorf("must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got %s", shorten(s))
		case a.Zone() != "":
			return p, fmt.Errorf("must not have a zone, got %s", shorten(s))
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	switch {
	case p.Addr().Is4In6():
		return p, fmt.Errorf("must be written as IPv4 (clients are compared as IPv4), got the IPv4-mapped %s", shorten(s))
	case p != p.Masked():
		return p, fmt.Errorf("has bits set after the prefix length, got %s: did you mean %s?", shorten(s), p.Masked())
	}
	return p, nil
}

// CIDRs is a list of networks: a YAML list, or in the environment one
// comma-separated string ("10.0.0.0/8, 192.168.1.10"), where the empty
// string is the empty list.
type CIDRs []CIDR

// UnmarshalText reads a comma-separated list, reporting every bad entry
// by its position.
func (cs *CIDRs) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "" {
		*cs = CIDRs{}
		return nil
	}
	var list CIDRs
	var bad []string
	for i, e := range strings.Split(s, ",") {
		var c CIDR
		if err := c.UnmarshalText([]byte(strings.TrimSpace(e))); err != nil {
			bad = append(bad, fmt.Sprintf("entry %d %s", i+1, err))
			continue
		}
		list = append(list, c)
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s (a comma-separated list of IP addresses and CIDRs)", strings.Join(bad, "; "))
	}
	*cs = list
	return nil
}

// Prefixes returns the networks as netip prefixes.
func (cs CIDRs) Prefixes() []netip.Prefix {
	ps := make([]netip.Prefix, len(cs))
	for i, c := range cs {
		ps[i] = c.Prefix
	}
	return ps
}
