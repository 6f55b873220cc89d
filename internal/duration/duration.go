// Package duration holds the one way this server writes and reads a
// duration for people: Go syntax with a "d" suffix for days ("365d",
// "1d12h", "90m"). Configuration, governance's messages, the API, the
// console and the command line all use it, so an organization's maximum
// PAT lifetime reads the same everywhere. It is a leaf package so that
// governance need not import config to format one.
package duration

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

const hint = "use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h"

// Parse reads Go duration syntax with an optional leading whole number of
// days: "365d", "1d12h", "90m", "0". Negative values are errors: no
// setting of this server means "before now".
func Parse(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration: %s", hint)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	if s[0] == '+' {
		return 0, fmt.Errorf("invalid duration %q: %s", s, hint)
	}
	rest := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: days must be a whole number and come first, as in 30d or 1d12h", s)
		}
		if n > uint64(math.MaxInt64/day) {
			return 0, fmt.Errorf("invalid duration %q: too large", s)
		}
		days, rest = time.Duration(n)*day, s[i+1:]
	}
	var r time.Duration
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q: %s", s, hint)
		}
		var err error
		if r, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s", s, hint)
		}
	}
	if r > math.MaxInt64-days {
		return 0, fmt.Errorf("invalid duration %q: too large", s)
	}
	return days + r, nil
}

// Format writes d so that Parse reads it back: "0", whole days as "365d",
// otherwise days, hours and minutes with zero parts left out and any
// seconds in Go syntax ("1d12h", "1h30m", "2m30.5s"). A negative d, which
// Parse refuses, is written in Go syntax.
func Format(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d < 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		size time.Duration
		unit string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if n := d / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			d -= n * u.size
		}
	}
	if d > 0 {
		b.WriteString(d.String()) // below a minute: "30s", "1.5s", "250ms"
	}
	return b.String()
}
