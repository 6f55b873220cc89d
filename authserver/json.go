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
