// Package rfc8693 holds the URNs of OAuth 2.0 Token Exchange (RFC 8693),
// defined once for every package that names them. It is a leaf package so
// that configuration (a client's default grant) and the grant itself share
// the definition without config importing the grant and, through it, the
// database.
package rfc8693

const (
	// GrantType is the token-exchange grant_type.
	GrantType = "urn:ietf:params:oauth:grant-type:token-exchange"
	// TokenTypeAccessToken is the token type of a PAT presented as
	// subject_token and of the token issued by default.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeJWT is the token type a client may ask for instead: the
	// issued token is a JWT either way.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
)
