package patpolicy

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// The rules of an organization's PAT hygiene settings, shared like the
// maximum lifetime's by configuration validation and governance.

// MaxExpiryNotices is how many expiry notice days an organization may set.
const MaxExpiryNotices = 5

// MaxExpiryNoticeDay is the largest expiry notice day: a year ahead.
const MaxExpiryNoticeDay = 365

// MinIdleRevokeAfter is the shortest idle time after which PATs are
// revoked, other than 0 (never). Last use is written behind, seconds after
// the use; a day keeps a PAT in use from looking idle.
const MinIdleRevokeAfter = 24 * time.Hour

// CheckExpiryNoticeDays reports why days is unusable as an organization's
// expiry notice days, or nil. An empty list turns the notices off.
func CheckExpiryNoticeDays(days []int) error {
	if len(days) > MaxExpiryNotices {
		return fmt.Errorf("must list at most %d days", MaxExpiryNotices)
	}
	for i, d := range days {
		if d < 1 || d > MaxExpiryNoticeDay {
			return fmt.Errorf("each day must be a whole number from 1 to %d", MaxExpiryNoticeDay)
		}
		if slices.Contains(days[:i], d) {
			return errors.New("must not list a day twice")
		}
	}
	return nil
}

// NormalizeExpiryNoticeDays returns days sorted from the largest down, the
// order the settings show them in; never nil.
func NormalizeExpiryNoticeDays(days []int) []int {
	out := append([]int{}, days...)
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// CheckIdleRevokeAfter reports why d is unusable as an organization's idle
// revocation time, or nil. 0 is never.
func CheckIdleRevokeAfter(d time.Duration) error {
	switch {
	case d == 0:
		return nil
	case d < 0 || d > MaxMaxLifetime:
		return errors.New("must be between 0 (never) and 36500d")
	case d < MinIdleRevokeAfter:
		return errors.New("must be 0 (never) or at least 1d")
	}
	return nil
}
