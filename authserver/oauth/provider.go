package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"authserver/storage"
)

// This file is the one place that wires fosite: the provider, the client
// adapter, SHA-256 client secrets and client authentication.

// oauthClient adapts a storage.Client to fosite.Client.
type oauthClient struct {
	c storage.Client
}

var _ fosite.Client = (*oauthClient)(nil)

func (c *oauthClient) GetID() string             { return c.c.ID }
func (c *oauthClient) GetHashedSecret() []byte   { return c.c.SecretHash }
func (c *oauthClient) GetRedirectURIs() []string { return nil }
func (c *oauthClient) GetGrantTypes() fosite.Arguments {
	// An empty list must stay empty: fosite.DefaultClient would read it as
	// authorization_code.
	return fosite.Arguments(c.c.GrantTypes)
}
func (c *oauthClient) GetResponseTypes() fosite.Arguments { return nil }
func (c *oauthClient) GetScopes() fosite.Arguments        { return nil }
func (c *oauthClient) IsPublic() bool                     { return c.c.Public }
func (c *oauthClient) GetAudience() fosite.Arguments      { return fosite.Arguments(c.c.Audiences) }

// sha256Hasher compares client secrets with their stored SHA-256 in
// constant time. Secrets are server-generated and high-entropy, so a slow
// password hash (fosite's bcrypt default, ~60–240 ms) would buy nothing and
// cost every token request.
type sha256Hasher struct{}

var _ fosite.Hasher = sha256Hasher{}

func (sha256Hasher) Compare(_ context.Context, hash, secret []byte) error {
	sum := sha256.Sum256(secret)
	if len(hash) != len(sum) || subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errors.New("client secret mismatch")
	}
	return nil
}

func (sha256Hasher) Hash(_ context.Context, secret []byte) ([]byte, error) {
	sum := sha256.Sum256(secret)
	return sum[:], nil
}

// clientStore is fosite's ClientManager over the cached client list.
type clientStore struct {
	clients *clientCache
}

var _ fosite.ClientManager = (*clientStore)(nil)

func (s *clientStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.clients.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return &oauthClient{c: *c}, nil
}

// Client assertions (RFC 7523) are not supported; fosite only calls these
// for them.
func (s *clientStore) ClientAssertionJWTValid(context.Context, string) error {
	return fosite.ErrJTIKnown
}

func (s *clientStore) SetClientAssertionJWT(context.Context, string, time.Time) error {
	return errors.New("client assertions are not supported")
}

// provider is fosite with the grant, client authentication and hasher wired.
type provider struct {
	f       *fosite.Fosite
	clients *clientStore
}

func newProvider(clients *clientStore, grant *TokenExchangeGrant, introspector fosite.TokenIntrospector, revoker fosite.RevocationHandler) *provider {
	cfg := &fosite.Config{
		ClientSecretsHasher:        sha256Hasher{},
		SendDebugMessagesToClients: false,
		TokenEndpointHandlers:      fosite.TokenEndpointHandlers{grant},
	}
	if introspector != nil {
		cfg.TokenIntrospectionHandlers = fosite.TokenIntrospectionHandlers{introspector}
	}
	if revoker != nil {
		cfg.RevocationHandlers = fosite.RevocationHandlers{revoker}
	}
	p := &provider{clients: clients}
	cfg.ClientAuthenticationStrategy = p.authenticateClient
	p.f = fosite.NewOAuth2Provider(clients, cfg)
	return p
}

// authenticateClient implements RFC 6749 §2.3 for our two kinds of client:
// public clients send client_id alone (method none) and are refused if they
// send a secret; confidential clients send their secret with HTTP Basic or
// in the body (client_secret_basic and client_secret_post), never both.
// The secret is compared through the configured hasher (SHA-256, constant
// time).
func (p *provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	if form.Get("client_assertion") != "" || form.Get("client_assertion_type") != "" {
		return nil, errWith(fosite.ErrInvalidClient, "Client assertions are not supported.")
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	basicID, basicSecret, basic := r.BasicAuth()
	if basic {
		if secret != "" {
			return nil, errWith(fosite.ErrInvalidRequest, "Use one client authentication method, not HTTP Basic and client_secret together.")
		}
		bid, err1 := url.QueryUnescape(basicID)
		bsecret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, errWith(fosite.ErrInvalidClient, "The HTTP Basic credentials are not form-encoded.")
		}
		if id != "" && id != bid {
			return nil, errWith(fosite.ErrInvalidRequest, "client_id does not match the HTTP Basic credentials.")
		}
		id, secret = bid, bsecret
	}
	if id == "" {
		return nil, errWith(fosite.ErrInvalidClient, "Client authentication is required.")
	}
	c, err := p.clients.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errWith(fosite.ErrInvalidClient, "Client authentication failed.")
	}
	if err != nil {
		return nil, errUnavailable(err)
	}
	if c.IsPublic() {
		if secret != "" || basic {
			return nil, errWith(fosite.ErrInvalidClient, "A public client must not send a client secret.")
		}
		return c, nil
	}
	if secret == "" {
		return nil, errWith(fosite.ErrInvalidClient, "Client authentication failed.")
	}
	if err := p.f.Config.GetSecretsHasher(ctx).Compare(ctx, c.GetHashedSecret(), []byte(secret)); err != nil {
		return nil, errWith(fosite.ErrInvalidClient, "Client authentication failed.")
	}
	return c, nil
}

// errWith returns base with an exact description and no hint: fosite's
// default hints are long and sometimes misleading (they mention
// redirect_uri).
func errWith(base *fosite.RFC6749Error, description string) *fosite.RFC6749Error {
	return base.WithDescription(description).WithHint("")
}
