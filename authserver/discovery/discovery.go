// Package discovery serves what a client reads before it talks to the
// server: the RFC 8414 authorization server metadata, the JWKS and the
// RFC 9728 metadata of the management API.
package discovery

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"authserver/authserver/dpop"
	"authserver/exchange"
	"authserver/internal/httpx"
	"authserver/internal/rfc8693"
)

// ScopeCatalog is the part of governance.Catalog the metadata reads: the
// union of every audience's scopes.
type ScopeCatalog interface {
	Scopes(ctx context.Context) ([]string, error)
}

// Metadata serves RFC 8414 metadata at both well-known locations; the
// OpenID location is there because many client libraries look only there.
type Metadata struct {
	// Issuer is this server's URL; every endpoint is named under it.
	Issuer  string
	Catalog ScopeCatalog
}

// Mount serves both well-known locations on mux.
func (d *Metadata) Mount(mux *http.ServeMux) {
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
	DPoPSigningAlgValuesSupported      []string `json:"dpop_signing_alg_values_supported"`
}

func (d *Metadata) serve(w http.ResponseWriter, r *http.Request) {
	scopes, err := d.Catalog.Scopes(r.Context())
	if err != nil {
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	confidential := []string{"client_secret_basic", "client_secret_post"}
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, metadata{
		Issuer:                             d.Issuer,
		TokenEndpoint:                      d.Issuer + "/oauth2/token",
		IntrospectionEndpoint:              d.Issuer + "/oauth2/introspect",
		RevocationEndpoint:                 d.Issuer + "/oauth2/revoke",
		JWKSURI:                            d.Issuer + "/.well-known/jwks.json",
		GrantTypesSupported:                []string{rfc8693.GrantType},
		ResponseTypesSupported:             []string{},
		TokenEndpointAuthMethodsSupported:  authMethods,
		IntrospectionEndpointAuthMethods:   confidential,
		RevocationEndpointAuthMethods:      authMethods,
		ScopesSupported:                    scopes,
		AuthorizationDetailsTypesSupported: []string{exchange.AuthorizationDetailTypeFolder},
		DPoPSigningAlgValuesSupported:      dpop.Algorithms(),
	})
}

// ProtectedResourcePath is where the management API's RFC 9728 metadata is
// served, under the issuer.
const ProtectedResourcePath = "/.well-known/oauth-protected-resource"

// ProtectedResource serves the RFC 9728 metadata of the management API,
// whose resource identifier is the issuer (the id of the built-in
// management audience): how a client that meets the API learns which
// authorization server issues its tokens, which scopes it takes and that
// it accepts DPoP.
type ProtectedResource struct {
	Issuer string
}

// Mount serves the document on mux.
func (p *ProtectedResource) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ProtectedResourcePath, p.serve)
}

// protectedResource is the RFC 9728 §2 document.
type protectedResource struct {
	Resource                      string   `json:"resource"`
	AuthorizationServers          []string `json:"authorization_servers"`
	ScopesSupported               []string `json:"scopes_supported"`
	BearerMethodsSupported        []string `json:"bearer_methods_supported"`
	ResourceName                  string   `json:"resource_name"`
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported"`
	DPoPBoundAccessTokensRequired bool     `json:"dpop_bound_access_tokens_required"`
}

func (p *ProtectedResource) serve(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	httpx.WriteJSON(w, http.StatusOK, protectedResource{
		Resource:                      p.Issuer,
		AuthorizationServers:          []string{p.Issuer},
		ScopesSupported:               []string{exchange.ScopePATs, exchange.ScopeAdmin},
		BearerMethodsSupported:        []string{"header"},
		ResourceName:                  "authserver management API",
		DPoPSigningAlgValuesSupported: dpop.Algorithms(),
		DPoPBoundAccessTokensRequired: false,
	})
}

// KeySet is the part of signing.Keyring the JWKS reads.
type KeySet interface {
	JWKS() []byte
	JWKSMaxAge() time.Duration
}

// JWKS serves the public signing keys.
type JWKS struct {
	Keys KeySet
}

// Mount serves /.well-known/jwks.json on mux.
func (j *JWKS) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/jwks.json", j.serve)
}

func (j *JWKS) serve(w http.ResponseWriter, _ *http.Request) {
	// Caches may keep the set no longer than a pending key takes to start
	// signing, so a resource server always knows a key before it sees it.
	w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(j.Keys.JWKSMaxAge().Seconds())))
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(j.Keys.JWKS())
}
