// Package testenv answers what tests ask of the environment they run in.
package testenv

import (
	"os"
	"strconv"
)

// CI reports whether the tests run in CI (CI=true, or another value
// strconv.ParseBool reads as true). There a real component the suite needs
// (PostgreSQL, Chromium, promtool) must be installed: a test that misses one
// fails instead of skipping. (internal/pgtest keeps its own, narrower rule,
// CI=true exactly, which its TestUnavailableRule pins.)
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}
