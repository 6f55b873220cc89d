package authserver

import (
	"authserver/internal/httpx"
	"net/http"
	"strconv"

	"authserver/exchange"
	"authserver/governance"
	"authserver/internal/rfc8693"
	"authserver/signing"
)

// discovery serves RFC 8414 metadata at both well-known locations; the
// OpenID location is there because many client libraries look only there.
type discovery struct {
	issuer  string
	catalog *governance.Catalog
}

func (d *discovery) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", d.serve)
	mux.HandleFunc("GET /.well-known/openid-configuration", d.serve)
}

// metadata is the RFC 8414 document.
type metadata struct {
	Issuer                             string   `json:"issuer"`
	TokenEndpoint                      string   `json:"token_endpoint"`
	IntrospectionEndpoint              string   `json:"introspection_endpoint"`
	RevocationEndpoint                 string   `json:"revocation_endpoint"`
	JWKSURI                            string   `json:"jwks_uri"`
	GrantTypesSupported                []string `json:"grant_types_supported"`
	ResponseTypesSupported             []string `json:"response_types_supported"`
	TokenEndpointAuthMethodsSupported  []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods   []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods      []string `json:"revocation_endpoint_auth_methods_supported"`
	ScopesSupported                    []string `json:"scopes_supported"`
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported"`
}

func (d *discovery) serve(w http.ResponseWriter, r *http.Request) {
	scopes, err := d.catalog.Scopes(r.Context())
	if err != nil {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	confidential := []string{"client_secret_basic", "client_secret_post"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, metadata{
		Issuer:                             d.issuer,
		TokenEndpoint:                      d.issuer + "/oauth2/token",
		IntrospectionEndpoint:              d.issuer + "/oauth2/introspect",
		RevocationEndpoint:                 d.issuer + "/oauth2/revoke",
		JWKSURI:                            d.issuer + "/.well-known/jwks.json",
		GrantTypesSupported:                []string{rfc8693.GrantType},
		ResponseTypesSupported:             []string{},
		TokenEndpointAuthMethodsSupported:  authMethods,
		IntrospectionEndpointAuthMethods:   confidential,
		RevocationEndpointAuthMethods:      authMethods,
		ScopesSupported:                    scopes,
		AuthorizationDetailsTypesSupported: []string{exchange.AuthorizationDetailTypeFolder},
	})
}

// jwks serves the public signing keys.
type jwks struct {
	keys *signing.Keyring
}

func (j *jwks) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/jwks.json", j.serve)
}

func (j *jwks) serve(w http.ResponseWriter, _ *http.Request) {
	// Caches may keep the set no longer than a pending key takes to start
	// signing, so a resource server always knows a key before it sees it.
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(j.keys.JWKSMaxAge().Seconds())))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(j.keys.JWKS())
}
