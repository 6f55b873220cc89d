// Package refusaltest holds the cases every surface that answers governance
// refusals is tested against, so that the management API and the console
// are held to one list rather than two copies of it.
package refusaltest

import (
	"errors"
	"fmt"
	"net/http"

	"authserver/governance"
	"authserver/storage"
)

// Case is an error a surface may have to answer, and the status it must
// answer it with.
type Case struct {
	Rule   string
	Err    error
	Status int
}

// Cases are every kind of governance refusal, a wrapped one, a storage
// outage, and unexpected failures.
func Cases() []Case {
	refusal := func(k governance.Kind) error { return &governance.Error{Kind: k, Code: "x", Message: "m"} }
	return []Case{
		{"invalid input is 400", refusal(governance.Invalid), http.StatusBadRequest},
		{"not found is 404", refusal(governance.NotFound), http.StatusNotFound},
		{"a conflict is 409", refusal(governance.Conflict), http.StatusConflict},
		{"forbidden is 403", refusal(governance.Forbidden), http.StatusForbidden},
		{"an unavailable database is 503", refusal(governance.Unavailable), http.StatusServiceUnavailable},
		{"a wrapped refusal keeps its status", fmt.Errorf("context: %w", refusal(governance.Conflict)), http.StatusConflict},
		{"a storage outage is 503", fmt.Errorf("query: %w", storage.ErrUnavailable), http.StatusServiceUnavailable},
		{"a refusal of no known kind is 500", &governance.Error{Kind: 0, Message: "m"}, http.StatusInternalServerError},
		{"an unexpected error is 500", errors.New("boom"), http.StatusInternalServerError},
	}
}
