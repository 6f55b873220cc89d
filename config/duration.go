package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in Go syntax ("90m", "1h30m") or with
// a "d" suffix for days ("365d", "1d12h"); "0" is zero. Negative durations
// are invalid: no setting of this server means "before now".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the value as FormatDuration does.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// MarshalText writes the value as FormatDuration does, so the type reads
// the same in YAML and JSON ("pat_max_lifetime": "365d").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what ParseDuration reads.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a scalar as ParseDuration does. It is needed on top of
// UnmarshalText because yaml.v3 would otherwise decode a bare integer such as
// 30 into nanoseconds instead of rejecting it.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as 90m or 30d, not %s", describe(n))
	}
	return d.UnmarshalText([]byte(n.Value))
}

const day = 24 * time.Hour

const durationHint = "use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h"

// ParseDuration reads Go duration syntax with an optional leading whole
// number of days: "365d", "1d12h", "90m", "0". Negative values are errors.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration: %s", durationHint)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	if s[0] == '+' {
		return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
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
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
		var err error
		if r, err = time.ParseDuration(rest); err != nil {
			return 0, fmt.Errorf("invalid duration %q: %s", s, durationHint)
		}
	}
	if r > math.MaxInt64-days {
		return 0, fmt.Errorf("invalid duration %q: too large", s)
	}
	return days + r, nil
}

// FormatDuration writes d so that ParseDuration reads it back: "0", whole
// days as "365d", otherwise days, hours and minutes with zero parts left
// out and any seconds in Go syntax ("1d12h", "1h30m", "2m30.5s").
// A negative d, which ParseDuration refuses, is written in Go syntax.
func FormatDuration(d time.Duration) string {
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
