package mailaddr

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"", true},
		{"alice@example.com", true},
		{"a.b+tag@sub.example.org", true},
		{strings.Repeat("a", 242) + "@example.com", true}, // 254 bytes
		{strings.Repeat("a", 243) + "@example.com", false},
		{"Alice <alice@example.com>", false},
		{"<alice@example.com>", false},
		{"alice@example.com (home)", false},
		{"alice@example.com, bob@example.com", false},
		{"alice", false},
		{"alice@", false},
		{" alice@example.com", false},
		{"alice@exa\nmple.com", false},
		{"ali\xffce@example.com", false},
	} {
		if err := Check(c.addr); (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want ok %t", c.addr, err, c.ok)
		}
	}
}
