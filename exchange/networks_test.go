package exchange

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"authserver/storage"
)

func TestCanonicalCIDR(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.0/24", "192.0.2.0/24"},
		{"192.0.2.77/24", "192.0.2.0/24"},
		{" 10.0.0.0/8 ", "10.0.0.0/8"},
		{"198.51.100.7", "198.51.100.7/32"},
		{"2001:DB8:0:0::/32", "2001:db8::/32"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"0.0.0.0/0", "0.0.0.0/0"},
	}
	for _, tt := range tests {
		got, ok := CanonicalCIDR(tt.in)
		if !ok || got != tt.want {
			t.Errorf("CanonicalCIDR(%q) = %q %v, want %q", tt.in, got, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "192.0.2.0/33", "192.0.2/24", "example.com", "fe80::1%eth0", "2001:db8::/129", "::ffff:1.2.3.4/90", "1.2.3.4/-1"} {
		if got, ok := CanonicalCIDR(bad); ok {
			t.Errorf("CanonicalCIDR(%q) = %q, want refused", bad, got)
		}
	}
}

func TestNetworkOf(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
	}
	for _, tt := range tests {
		if got, ok := NetworkOf(netip.MustParseAddr(tt.addr)); !ok || got != tt.want {
			t.Errorf("NetworkOf(%s) = %q %v, want %q", tt.addr, got, ok, tt.want)
		}
	}
	if _, ok := NetworkOf(netip.Addr{}); ok {
		t.Error("NetworkOf(invalid) is ok")
	}
}

func TestWithNetwork(t *testing.T) {
	got := WithNetwork([]string{"a", "b", "c", "d", "e"}, "f")
	if want := []string{"f", "a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("a sixth network: %v, want %v (the oldest dropped)", got, want)
	}
	if got := WithNetwork(nil, "a"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("the first network: %v", got)
	}
	if got := WithNetwork([]string{"a", "b"}, "b"); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("a network already listed moves first: %v", got)
	}
}

func TestExchangeNetworks(t *testing.T) {
	inside, outside := netip.MustParseAddr("192.0.2.9"), netip.MustParseAddr("198.51.100.9")
	t.Run("an address outside the allowed networks is refused like any unusable PAT", func(t *testing.T) {
		w := newWorld(t)
		w.grant.PAT.AllowedCIDRs = []string{"192.0.2.0/24", "2001:db8::/32"}
		w.client.Addr = outside
		_, ref, step := w.exchange()
		if ref == nil || step != "decide" || ref.Cause != CauseNetwork || ref.Kind != InvalidRequest || ref.Description != UnusableDescription {
			t.Fatalf("refusal = %+v at %s, want network at decide with the unusable description", ref, step)
		}
		if ref.PATID != w.grant.PAT.ID {
			t.Errorf("refusal names PAT %q", ref.PATID)
		}
	})
	t.Run("an unknown address is refused when networks are set", func(t *testing.T) {
		w := newWorld(t)
		w.grant.PAT.AllowedCIDRs = []string{"0.0.0.0/0"}
		if _, ref, _ := w.exchange(); ref == nil || ref.Cause != CauseNetwork {
			t.Fatalf("refusal = %+v, want network", ref)
		}
	})
	t.Run("an address inside is granted, an IPv4-mapped one too", func(t *testing.T) {
		for _, a := range []netip.Addr{inside, netip.AddrFrom16(inside.As16()), netip.MustParseAddr("2001:db8::5")} {
			w := newWorld(t)
			w.grant.PAT.AllowedCIDRs = []string{"192.0.2.0/24", "2001:db8::/32"}
			w.client.Addr = a
			if _, ref, _ := w.exchange(); ref != nil {
				t.Errorf("%s: refused %+v", a, ref)
			}
		}
	})
	t.Run("a new network is reported, a known one not", func(t *testing.T) {
		w := newWorld(t)
		w.grant.PAT.RecentNetworks = []string{"203.0.113.0/24"}
		w.client.Addr = inside
		d, ref, _ := w.exchange()
		if ref != nil {
			t.Fatal(ref)
		}
		if d.NewNetwork != "192.0.2.0/24" {
			t.Errorf("NewNetwork %q", d.NewNetwork)
		}
		w.grant.PAT.RecentNetworks = []string{"203.0.113.0/24", "192.0.2.0/24"}
		if d, _, _ = w.exchange(); d.NewNetwork != "" {
			t.Errorf("a known network is reported as new: %q", d.NewNetwork)
		}
	})
	t.Run("an overlap's PAT is granted until the overlap ends, its tokens capped", func(t *testing.T) {
		w := newWorld(t)
		end := w.now.Add(5 * time.Minute)
		w.grant.PAT.RevokedAt, w.grant.PAT.RevokedReason, w.grant.PAT.OverlapUntil = &t0, storage.RegeneratedReason, &end
		d, ref, _ := w.exchange()
		if ref != nil {
			t.Fatal(ref)
		}
		if d.Expiry.After(end) {
			t.Errorf("token expires %v, after the overlap's end %v", d.Expiry, end)
		}
		w.now = end
		if _, ref, _ = w.exchange(); ref == nil || ref.Cause != CauseReused || ref.Description != UnusableDescription {
			t.Errorf("after the overlap: %+v, want reused", ref)
		}
	})
}

// TestNewNetworkKnownAllocatesNothing: the exchange's check of a known
// network, on every exchange, allocates nothing.
func TestNewNetworkKnownAllocatesNothing(t *testing.T) {
	p := &storage.PAT{RecentNetworks: []string{"2001:db8:0:1::/64", "192.0.2.0/24"}}
	for _, a := range []netip.Addr{netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("2001:db8:0:1::5")} {
		if n := testing.AllocsPerRun(100, func() {
			if NewNetwork(p, a) != "" {
				t.Fatal("a known network reported as new")
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations, want 0", a, n)
		}
	}
	if got := NewNetwork(p, netip.MustParseAddr("192.0.3.1")); got != "192.0.3.0/24" {
		t.Errorf("a new network: %q", got)
	}
}
