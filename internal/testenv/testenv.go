// Package testenv answers what tests ask of the environment they run in.
package testenv

import (
	"os"
	"strconv"

	"authserver/internal/password"
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

// CheapPasswords are argon2id costs for tests: a hash takes microseconds
// instead of the production cost's tens of milliseconds, so that suites
// that create many users stay fast. Never for a server.
var CheapPasswords = password.Params{Memory: 64, Time: 1, Threads: 1}
