package api

import (
	"errors"
	"fmt"
	"net/http"

	"authserver/governance"
	"authserver/internal/httpx"
	"authserver/internal/refusal"
)

// Management API errors are RFC 9457 problem details
// (application/problem+json):
//
//	{"type": "https://authserver.dev/problems/name-taken", "title": "Conflict",
//	 "status": 409, "detail": "an active personal access token with this name exists",
//	 "code": "name-taken", "errors": [{"field": "name", "detail": "..."}]}
//
// type is problemTypeBase + a stable code: the governance rule's
// governance.Error.Code for refusals of a rule (name-taken, expiry-in-past,
// pats-disabled, …), or one of the API's own codes below for refusals
// decided before governance is asked (malformed-json, unsupported-media-type,
// route-not-found, …). The URIs identify problem types; they are not meant
// to be dereferenced. code repeats the last path segment of type, for
// clients that switch on it. title is fixed per status; detail explains
// this occurrence and never holds a token, a hash, a password or an internal
// error. errors lists the request fields at fault (a JSON member or a query
// parameter), when there are any.
const problemTypeBase = "https://authserver.dev/problems/"

// problemContentType is the media type of every error answer.
const problemContentType = "application/problem+json"

// The API's own problem codes (governance adds its rule codes).
const (
	codeUnauthorized      = "unauthorized"
	codeInvalidToken      = "invalid-token"
	codeInvalidDPoPProof  = "invalid-dpop-proof"
	codeUseDPoPNonce      = "use-dpop-nonce"
	codeInsufficientScope = "insufficient-scope"
	codeRouteNotFound     = "route-not-found"
	codeMethodNotAllowed  = "method-not-allowed"
	codeUnsupportedMedia  = "unsupported-media-type"
	codeBodyTooLarge      = "body-too-large"
	codeMalformedJSON     = "malformed-json"
	codeUnknownField      = "unknown-field"
	codeDuplicateMember   = "duplicate-member"
	codeWrongType         = "wrong-type"
	codeTrailingData      = "trailing-data"
	codeBodyRequired      = "body-required"
	codeInvalidParameter  = "invalid-parameter"
	codeInvalidField      = "invalid-field"
	codeNotFound          = "not-found"
	codeUnavailable       = "unavailable"
	codeInternal          = "internal"
	codeRateLimited       = "rate-limited"
	codeTooManyTokens     = "too-many-tokens"
)

// problem is an RFC 9457 problem details object. It is also an error, so
// that handlers return it like any other failure.
type problem struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail,omitempty"`
	Code   string       `json:"code"`
	Errors []fieldError `json:"errors,omitempty"`
}

// fieldError names one request field at fault: a JSON member of the body
// (by its name, dotted for nested members) or a query parameter.
type fieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func (p *problem) Error() string { return p.Detail }

// newProblem returns a problem of status with an API code and detail.
func newProblem(status int, code, format string, args ...any) *problem {
	return &problem{
		Type: problemTypeBase + code, Title: http.StatusText(status), Status: status,
		Detail: fmt.Sprintf(format, args...), Code: code,
	}
}

// fieldProblem is a 400 naming the field at fault.
func fieldProblem(code, field, format string, args ...any) *problem {
	detail := fmt.Sprintf(format, args...)
	p := newProblem(http.StatusBadRequest, code, "%s: %s", field, detail)
	p.Errors = []fieldError{{Field: field, Detail: detail}}
	return p
}

// problemOf turns any error a handler returns into the problem to answer,
// and reports whether it was unexpected (to be logged, never shown).
func problemOf(err error) (p *problem, unexpected bool) {
	if errors.As(err, &p) {
		return p, false
	}
	var ge *governance.Error
	if errors.As(err, &ge) {
		status, ok := refusal.Status(ge.Kind)
		if !ok {
			return internalProblem(), true
		}
		if ge.Kind == governance.Unavailable {
			return unavailableProblem(), false
		}
		code := ge.Code
		if code == "" {
			code = codeInvalidField
		}
		p := newProblem(status, code, "%s", ge.Error())
		if ge.Field != "" {
			p.Errors = []fieldError{{Field: ge.Field, Detail: ge.Message}}
		}
		return p, false
	}
	if governance.KindOf(err) == governance.Unavailable {
		return unavailableProblem(), false
	}
	return internalProblem(), true
}

func unavailableProblem() *problem {
	return newProblem(http.StatusServiceUnavailable, codeUnavailable, "the database is unavailable; try again")
}

func internalProblem() *problem {
	return newProblem(http.StatusInternalServerError, codeInternal, "the server could not complete the request")
}

// writeProblem writes p as the response.
func writeProblem(w http.ResponseWriter, p *problem) {
	h := w.Header()
	h.Set("Content-Type", problemContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	httpx.RetryLaterIfUnavailable(h, p.Status)
	w.WriteHeader(p.Status)
	httpx.WriteJSONBody(w, p)
}
