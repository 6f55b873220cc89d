package api

import "time"

// The budget of leaked-token reports (the rules: internal/ratelimit;
// documented in README.md and SECURITY.md): leakedBurst reports to
// POST /api/v1/leaked-tokens from one address at once (each up to 100
// values), then one every leakedEvery.
const (
	leakedBurst = 10
	leakedEvery = 6 * time.Second
)
