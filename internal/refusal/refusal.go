// Package refusal is the one table from a governance refusal to an HTTP
// status, shared by the management API and the console so that a refusal
// gets the same status on either surface.
package refusal

import (
	"net/http"

	"authserver/governance"
)

// Status is the HTTP status of a governance refusal of kind k. The
// management API and the console both answer from it, so a refusal gets
// the same status on either surface. ok is false for anything that is not
// a refusal (an unexpected failure), which is a 500.
func Status(k governance.Kind) (status int, ok bool) {
	switch k {
	case governance.Invalid:
		return http.StatusBadRequest, true
	case governance.NotFound:
		return http.StatusNotFound, true
	case governance.Conflict:
		return http.StatusConflict, true
	case governance.Forbidden:
		return http.StatusForbidden, true
	case governance.Unavailable:
		return http.StatusServiceUnavailable, true
	}
	return http.StatusInternalServerError, false
}
