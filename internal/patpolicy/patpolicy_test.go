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

func TestCheckExpiryNoticeDays(t *testing.T) {
	for _, c := range []struct {
		rule string
		days []int
		ok   bool
	}{
		{"empty is off", nil, true},
		{"the default", []int{30, 7, 1}, true},
		{"five days", []int{1, 2, 3, 4, 5}, true},
		{"six days are too many", []int{1, 2, 3, 4, 5, 6}, false},
		{"0 is refused", []int{0}, false},
		{"365 is the largest", []int{365}, true},
		{"366 is refused", []int{366}, false},
		{"negative is refused", []int{-1}, false},
		{"a day twice is refused", []int{7, 7}, false},
	} {
		t.Run(c.rule, func(t *testing.T) {
			if err := CheckExpiryNoticeDays(c.days); (err == nil) != c.ok {
				t.Fatalf("CheckExpiryNoticeDays(%v) = %v, want ok %t", c.days, err, c.ok)
			}
		})
	}
	if got := NormalizeExpiryNoticeDays([]int{1, 30, 7}); len(got) != 3 || got[0] != 30 || got[1] != 7 || got[2] != 1 {
		t.Fatalf("NormalizeExpiryNoticeDays: %v", got)
	}
}

func TestCheckIdleRevokeAfter(t *testing.T) {
	const day = 24 * time.Hour
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {day, true}, {day - time.Second, false}, {-day, false}, {90 * day, true}, {36501 * day, false}} {
		if err := CheckIdleRevokeAfter(c.d); (err == nil) != c.ok {
			t.Fatalf("CheckIdleRevokeAfter(%v) = %v, want ok %t", c.d, err, c.ok)
		}
	}
}
