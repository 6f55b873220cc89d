package httpx

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func prefixes(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func TestClientAddrOf(t *testing.T) {
	// 10.0.0.0/8 and fd00::/8 are the proxies' networks; 192.0.2.0/24 and
	// 2001:db8::/32 are clients.
	trusted := []string{"10.0.0.0/8", "fd00::/8"}
	tests := []struct {
		name    string
		trusted []string
		peer    string   // RemoteAddr
		xff     []string // X-Forwarded-For lines, in order
		want    string   // "" for the zero Addr
	}{
		{
			name: "with no trusted proxy the header is ignored",
			peer: "10.0.0.1:4711", xff: []string{"192.0.2.7"},
			want: "10.0.0.1",
		},
		{
			name:    "spoofed header from an untrusted peer is ignored",
			trusted: trusted,
			peer:    "192.0.2.66:4711", xff: []string{"198.51.100.1, 10.0.0.1"},
			want: "192.0.2.66",
		},
		{
			name:    "behind one trusted proxy the client is the entry it appended",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"192.0.2.7"},
			want: "192.0.2.7",
		},
		{
			name:    "entries left of the first untrusted one are the client's own and ignored",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"198.51.100.1, 10.0.0.9, 192.0.2.7"},
			want: "192.0.2.7",
		},
		{
			name:    "a chain of trusted proxies is walked from the right",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"198.51.100.1, 192.0.2.7, 10.1.0.1, 10.2.0.1"},
			want: "192.0.2.7",
		},
		{
			name:    "when every entry is trusted the left-most is the client",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"10.3.0.1, 10.2.0.1"},
			want: "10.3.0.1",
		},
		{
			name:    "several header lines are one list in order",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"198.51.100.1, 192.0.2.7", "10.1.0.1", "10.2.0.1"},
			want: "192.0.2.7",
		},
		{
			name:    "the last header line is the nearest proxy's",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"10.1.0.1", "192.0.2.7"},
			want: "192.0.2.7",
		},
		{
			name:    "an empty header from a trusted proxy leaves the proxy",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{""},
			want: "10.0.0.1",
		},
		{
			name:    "no header from a trusted proxy leaves the proxy",
			trusted: trusted,
			peer:    "10.0.0.1:4711",
			want:    "10.0.0.1",
		},
		{
			name:    "an IPv6 peer and IPv6 entries",
			trusted: trusted,
			peer:    "[fd00::1]:4711", xff: []string{"2001:db8::7, fd00::2"},
			want: "2001:db8::7",
		},
		{
			name:    "an untrusted IPv6 peer's header is ignored",
			trusted: trusted,
			peer:    "[2001:db8::66]:4711", xff: []string{"2001:db8::7"},
			want: "2001:db8::66",
		},
		{
			name:    "an IPv4-mapped peer is compared as IPv4",
			trusted: trusted,
			peer:    "[::ffff:10.0.0.1]:4711", xff: []string{"192.0.2.7"},
			want: "192.0.2.7",
		},
		{
			name:    "IPv4-mapped entries are compared and returned as IPv4",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"::ffff:192.0.2.7, ::ffff:10.1.0.1"},
			want: "192.0.2.7",
		},
		{
			name:    "an IPv4-mapped untrusted peer is returned as IPv4",
			trusted: trusted,
			peer:    "[::ffff:192.0.2.66]:4711", xff: []string{"192.0.2.7"},
			want: "192.0.2.66",
		},
		{
			name:    "ports and brackets on entries are dropped",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"[2001:db8::7]:443, 10.1.0.1:80"},
			want: "2001:db8::7",
		},
		{
			name:    "a bracketed IPv6 entry without a port",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"[2001:db8::7]"},
			want: "2001:db8::7",
		},
		{
			name:    "zones are dropped",
			trusted: trusted,
			peer:    "[fd00::1%eth0]:4711", xff: []string{"fe80::7%eth1"},
			want: "fe80::7",
		},
		{
			name:    "spaces around entries are ignored",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{" 192.0.2.7 ,\t10.1.0.1 "},
			want: "192.0.2.7",
		},
		{
			name:    "a malformed entry after the proxy stops the walk at the proxy",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"not-an-address"},
			want: "10.0.0.1",
		},
		{
			name:    "a malformed entry stops the walk at the last trusted hop",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"192.0.2.7, unknown, 10.1.0.1"},
			want: "10.1.0.1",
		},
		{
			name:    "an empty entry is malformed",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"192.0.2.7,,10.1.0.1"},
			want: "10.1.0.1",
		},
		{
			name:    "a malformed entry left of the client is never read",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"<script>, 192.0.2.7"},
			want: "192.0.2.7",
		},
		{
			name:    "an out-of-range address is malformed",
			trusted: trusted,
			peer:    "10.0.0.1:4711", xff: []string{"192.0.2.300"},
			want: "10.0.0.1",
		},
		{
			name:    "a peer without a port",
			trusted: trusted,
			peer:    "10.0.0.1", xff: []string{"192.0.2.7"},
			want: "192.0.2.7",
		},
		{
			name:    "a peer that is no IP address gives the zero address",
			trusted: trusted,
			peer:    "@", xff: []string{"192.0.2.7"},
			want: "",
		},
		{
			name:    "a bare address is trusted as a network of one",
			trusted: []string{"10.0.0.1/32"},
			peer:    "10.0.0.2:4711", xff: []string{"192.0.2.7"},
			want: "10.0.0.2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := ClientAddr{Trusted: prefixes(t, tt.trusted...)}.Of(r)
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// FuzzClientAddrOf: whatever a trusted proxy forwards,
// the result is a parsed address, never text of the header.
func FuzzClientAddrOf(f *testing.F) {
	f.Add("192.0.2.7, 10.1.0.1")
	f.Add("unknown")
	f.Add("[2001:db8::7]:443,,")
	c := ClientAddr{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.1:4711"
		r.Header.Set("X-Forwarded-For", xff)
		got := c.Of(r)
		if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
			t.Fatalf("got %v for %q, want a valid address without zone, unmapped", got, xff)
		}
	})
}
