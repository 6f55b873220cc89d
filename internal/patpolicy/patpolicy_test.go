package patpolicy

import (
	"testing"
	"time"
)

func TestCheckMaxLifetime(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		rule string
		d    time.Duration
		ok   bool
	}{
		{"0 is no limit", 0, true},
		{"1ns blocks every PAT at once and is refused", time.Nanosecond, false},
		{"just under an hour is refused", time.Hour - time.Second, false},
		{"an hour is the smallest maximum", time.Hour, true},
		{"36500d is the largest maximum", 36500 * day, true},
		{"beyond 36500d is refused", 36500*day + time.Nanosecond, false},
		{"negative is refused", -time.Hour, false},
	} {
		t.Run(c.rule, func(t *testing.T) {
			if err := CheckMaxLifetime(c.d); (err == nil) != c.ok {
				t.Fatalf("CheckMaxLifetime(%v) = %v, want ok %t", c.d, err, c.ok)
			}
		})
	}
}
