// Package patpolicy holds the one rule for an organization's maximum PAT
// lifetime, shared by configuration validation (bootstrap organizations)
// and governance (the API, the console and the command line). It is a leaf
// package so that neither holds the rule for the other: governance does
// not import config, and config should not learn about governance.
package patpolicy

import (
	"errors"
	"time"
)

// MinMaxLifetime is the smallest maximum PAT lifetime other than 0 (no
// limit). The maximum applies to existing PATs at use time, so a tiny
// value such as "1ns" blocks every PAT of the organization at once, the
// administrators' own API tokens included; anything under an hour is a
// mistake, not a policy.
const MinMaxLifetime = time.Hour

// MaxMaxLifetime bounds the maximum PAT lifetime: a century is "no limit"
// spelled differently, and larger values overflow time arithmetic.
const MaxMaxLifetime = 100 * 365 * 24 * time.Hour

// CheckMaxLifetime reports why d is unusable as an organization's maximum
// PAT lifetime, or nil. 0 is no limit.
func CheckMaxLifetime(d time.Duration) error {
	switch {
	case d == 0:
		return nil
	case d < 0 || d > MaxMaxLifetime:
		return errors.New("must be between 0 (no limit) and 36500d")
	case d < MinMaxLifetime:
		return errors.New("must be 0 (no limit) or at least 1h: a shorter maximum blocks every PAT of the organization at once")
	}
	return nil
}
