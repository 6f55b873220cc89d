package ssf

import (
	"net/http"

	"authserver/internal/httpx"
)

// MetadataPath is where the transmitter configuration is served: the
// well-known location of an issuer without a path.
const MetadataPath = "/.well-known/ssf-configuration"

// Metadata serves the transmitter configuration metadata: who signs the
// SETs (issuer, jwks_uri) and how they are delivered (push). Streams are
// configured by the operator, so there is no stream management endpoint.
type Metadata struct {
	Issuer string
}

// Mount serves the document on mux.
func (m *Metadata) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+MetadataPath, m.serve)
}

type metadata struct {
	SpecVersion              string   `json:"spec_version"`
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
	CriticalSubjectMembers   []string `json:"critical_subject_members"`
}

func (m *Metadata) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, metadata{
		SpecVersion:              "1_0",
		Issuer:                   m.Issuer,
		JWKSURI:                  m.Issuer + "/.well-known/jwks.json",
		DeliveryMethodsSupported: []string{PushMethod},
		CriticalSubjectMembers:   []string{"user"},
	})
}
