package config

import (
	"net/netip"
	"slices"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		env  MapEnv
		want []string
	}{
		{name: "none by default", want: []string{}},
		{
			name: "CIDRs of both families, and bare addresses as networks of one",
			doc:  "http:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - 2001:db8::/32\n    - 192.0.2.10\n    - 2001:db8:1::10\n",
			want: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.10/32", "2001:db8:1::10/128"},
		},
		{
			name: "the environment is one comma-separated list",
			env:  MapEnv{"AUTHSERVER_HTTP_TRUSTED_PROXIES": "172.30.80.10, 10.0.0.0/8,fd00::/8"},
			want: []string{"172.30.80.10/32", "10.0.0.0/8", "fd00::/8"},
		},
		{
			name: "the environment replaces the file's list",
			doc:  "http:\n  trusted_proxies: [10.0.0.0/8, 192.168.0.0/16]\n",
			env:  MapEnv{"AUTHSERVER_HTTP_TRUSTED_PROXIES": "172.16.0.0/12"},
			want: []string{"172.16.0.0/12"},
		},
		{
			name: "an empty variable clears the file's list",
			doc:  "http:\n  trusted_proxies: [10.0.0.0/8]\n",
			env:  MapEnv{"AUTHSERVER_HTTP_TRUSTED_PROXIES": ""},
			want: []string{},
		},
		{
			name: "null in the file is the empty list",
			doc:  "http:\n  trusted_proxies: ~\n",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Config
			var err error
			if tt.doc == "" {
				c, err = Load("", tt.env)
			} else {
				c, err = loadYAML(t, tt.doc, tt.env)
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := []string{}
			for _, p := range c.HTTP.TrustedProxies.Prefixes() {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTrustedProxiesProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		env  MapEnv
		want []string
	}{
		{
			name: "an entry that is no address is named by its index and line",
			doc:  "http:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - nginx\n    - 10.0.0.300/32\n",
			want: []string{
				`http.trusted_proxies[1]: must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got "nginx" (line 4)`,
				`http.trusted_proxies[2]: must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got "10.0.0.300/32" (line 5)`,
			},
		},
		{
			name: "bits after the prefix length are a likely typo",
			doc:  "http:\n  trusted_proxies: [10.0.1.0/16]\n",
			want: []string{`http.trusted_proxies[0]: has bits set after the prefix length, got "10.0.1.0/16": did you mean 10.0.0.0/16? (line 2)`},
		},
		{
			name: "a zone is refused",
			doc:  "http:\n  trusted_proxies: [\"fe80::1%eth0\"]\n",
			want: []string{`http.trusted_proxies[0]: must not have a zone, got "fe80::1%eth0" (line 2)`},
		},
		{
			name: "an IPv4-mapped network is refused, as it would never match",
			doc:  "http:\n  trusted_proxies: [\"::ffff:10.0.0.0/104\"]\n",
			want: []string{`http.trusted_proxies[0]: must be written as IPv4 (clients are compared as IPv4), got the IPv4-mapped "::ffff:10.0.0.0/104" (line 2)`},
		},
		{
			name: "trusting every address is refused",
			doc:  "http:\n  trusted_proxies:\n    - 10.0.0.0/8\n    - 0.0.0.0/0\n    - ::/0\n",
			want: []string{
				`http.trusted_proxies[1]: must not trust every address (0.0.0.0/0): any client could then choose its address (line 4)`,
				`http.trusted_proxies[2]: must not trust every address (::/0): any client could then choose its address (line 5)`,
			},
		},
		{
			name: "a single string is not a list",
			doc:  "http:\n  trusted_proxies: 10.0.0.0/8\n",
			want: []string{`http.trusted_proxies: must be a list, not a string (line 2)`},
		},
		{
			name: "a mapping is not an entry",
			doc:  "http:\n  trusted_proxies:\n    - cidr: 10.0.0.0/8\n",
			want: []string{`http.trusted_proxies[0]: must be an IP address or CIDR such as 10.0.0.0/8, not a mapping (line 3)`},
		},
		{
			name: "bad entries of the variable are named by position",
			env:  MapEnv{"AUTHSERVER_HTTP_TRUSTED_PROXIES": "10.0.0.0/8,,proxy.internal"},
			want: []string{
				`AUTHSERVER_HTTP_TRUSTED_PROXIES: entry 2 must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got ""; ` +
					`entry 3 must be an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32, got "proxy.internal" (a comma-separated list of IP addresses and CIDRs)`,
			},
		},
		{
			name: "a refused network from the variable names the variable, not a line",
			doc:  "http:\n  trusted_proxies: [10.0.0.0/8]\n",
			env:  MapEnv{"AUTHSERVER_HTTP_TRUSTED_PROXIES": "::/0"},
			want: []string{`http.trusted_proxies[0]: must not trust every address (::/0): any client could then choose its address (set by AUTHSERVER_HTTP_TRUSTED_PROXIES)`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.doc == "" {
				_, err = Load("", tt.env)
			} else {
				_, err = loadYAML(t, tt.doc, tt.env)
			}
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestCIDRPrefixes(t *testing.T) {
	cs := CIDRs{{netip.MustParsePrefix("10.0.0.0/8")}, {netip.MustParsePrefix("fd00::/8")}}
	got := cs.Prefixes()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
