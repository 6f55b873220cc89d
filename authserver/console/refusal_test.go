package console

import (
	"testing"

	"authserver/internal/refusal/refusaltest"
)

// TestARefusalHasOneStatusOnEverySurface: the console answers each kind of
// governance refusal with the status of the one table (internal/refusal)
// the management API answers from too, and anything unexpected with 500.
// The API is held to the same cases.
func TestARefusalHasOneStatusOnEverySurface(t *testing.T) {
	for _, c := range refusaltest.Cases() {
		if got := statusOf(c.Err); got != c.Status {
			t.Errorf("%s: the console answers %d, want %d", c.Rule, got, c.Status)
		}
	}
}
