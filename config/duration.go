package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"authserver/internal/duration"
)

// Duration is a time.Duration written in Go syntax ("90m", "1h30m") or with
// a "d" suffix for days ("365d", "1d12h"); "0" is zero. Negative durations
// are invalid: no setting of this server means "before now".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the value as duration.Format does.
func (d Duration) String() string { return duration.Format(time.Duration(d)) }

// MarshalText writes the value as duration.Format does, so the type reads
// the same in YAML and JSON ("pat_max_lifetime": "365d").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what duration.Parse reads.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := duration.Parse(string(text))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a scalar as duration.Parse does. It is needed on top of
// UnmarshalText because yaml.v3 would otherwise decode a bare integer such as
// 30 into nanoseconds instead of rejecting it.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a duration such as 90m or 30d, not %s", describe(n))
	}
	return d.UnmarshalText([]byte(n.Value))
}

const day = 24 * time.Hour
