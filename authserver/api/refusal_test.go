package api

import (
	"testing"

	"authserver/internal/refusal/refusaltest"
)

// TestARefusalHasOneStatusOnEverySurface: the management API answers each
// kind of governance refusal with the status of the one table
// (internal/refusal) the console answers from too, and anything
// unexpected with 500. The console is held to the same cases.
func TestARefusalHasOneStatusOnEverySurface(t *testing.T) {
	for _, c := range refusaltest.Cases() {
		p, _ := problemOf(c.Err)
		if p.Status != c.Status {
			t.Errorf("%s: the API answers %d, want %d", c.Rule, p.Status, c.Status)
		}
	}
}
