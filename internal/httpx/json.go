package httpx

import (
	"encoding/json"
	"net/http"
)

// WriteJSONBody encodes v as the response body. Encoding errors mean the
// connection broke; there is nothing left to tell the client.
func WriteJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteJSON writes v as a JSON response with a status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	WriteJSONBody(w, v)
}

// UnavailableRetryAfter is the Retry-After of every 503 this server
// answers for a database fault, in seconds: long enough for a failover or
// a restart to make progress, short enough that a client does not give up.
const UnavailableRetryAfter = "5"

// RetryLaterIfUnavailable sets Retry-After on a 503, at every surface
// (OAuth endpoints, API, console), so that clients and scanners retry.
func RetryLaterIfUnavailable(h http.Header, status int) {
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", UnavailableRetryAfter)
	}
}
