package authserver

import (
	"encoding/json"
	"net/http"
)

// writeJSONBody encodes v as the response body. Encoding errors mean the
// connection broke; there is nothing left to tell the client.
func writeJSONBody(w http.ResponseWriter, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeJSON writes v as a JSON response with a status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	writeJSONBody(w, v)
}

// unavailableRetryAfter is the Retry-After of every 503 this server
// answers for a database fault, in seconds: long enough for a failover or
// a restart to make progress, short enough that a client does not give up.
const unavailableRetryAfter = "5"

// retryLaterIfUnavailable sets Retry-After on a 503, at every surface
// (OAuth endpoints, API, console), so that clients and scanners retry.
func retryLaterIfUnavailable(h http.Header, status int) {
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", unavailableRetryAfter)
	}
}
