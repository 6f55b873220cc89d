package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"authserver/governance"
	"authserver/storage"
)

// TestARefusalHasOneStatusOnEverySurface: the management API answers each
// kind of governance refusal with the status of the one table
// (internal/refusal) the console answers from too (the console's half of
// this test is authserver/console/refusal_test.go), and anything
// unexpected with 500.
func TestARefusalHasOneStatusOnEverySurface(t *testing.T) {
	for _, c := range []struct {
		rule   string
		err    error
		status int
	}{
		{"invalid input is 400", &governance.Error{Kind: governance.Invalid, Code: "x", Message: "m"}, http.StatusBadRequest},
		{"not found is 404", &governance.Error{Kind: governance.NotFound, Code: "x", Message: "m"}, http.StatusNotFound},
		{"a conflict is 409", &governance.Error{Kind: governance.Conflict, Code: "x", Message: "m"}, http.StatusConflict},
		{"forbidden is 403", &governance.Error{Kind: governance.Forbidden, Code: "x", Message: "m"}, http.StatusForbidden},
		{"an unavailable database is 503", &governance.Error{Kind: governance.Unavailable, Code: "x", Message: "m"}, http.StatusServiceUnavailable},
		{"a wrapped refusal keeps its status", fmt.Errorf("context: %w", &governance.Error{Kind: governance.Conflict, Code: "x", Message: "m"}), http.StatusConflict},
		{"a storage outage is 503", fmt.Errorf("query: %w", storage.ErrUnavailable), http.StatusServiceUnavailable},
		{"a refusal of no known kind is 500", &governance.Error{Kind: 0, Message: "m"}, http.StatusInternalServerError},
		{"an unexpected error is 500", errors.New("boom"), http.StatusInternalServerError},
	} {
		p, _ := problemOf(c.err)
		if p.Status != c.status {
			t.Errorf("%s: the API answers %d, want %d", c.rule, p.Status, c.status)
		}
	}
}
