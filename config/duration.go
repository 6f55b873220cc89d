package config

import "time"

// Duration is a time.Duration written in Go syntax ("90m", "1h30m") or with
// a "d" suffix for days ("365d", "1d12h"); "0" is zero.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
