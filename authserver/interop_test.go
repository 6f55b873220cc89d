package authserver_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	zclient "github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/tokenexchange"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"authserver/internal/storetest"
)

// publicExchanger is a zitadel TokenExchanger for a public client: zitadel's
// constructors cover confidential clients only, so this sends client_id in
// the form, which is how RFC 6749 §2.3 public clients identify themselves.
// Discovery, request encoding and response parsing are zitadel's.
type publicExchanger struct {
	endpoint string
	client   *http.Client
	clientID string
}

func (p *publicExchanger) TokenEndpoint() string    { return p.endpoint }
func (p *publicExchanger) HttpClient() *http.Client { return p.client }
func (p *publicExchanger) AuthFn() (any, error) {
	return httphelper.FormAuthorization(func(v url.Values) { v.Set("client_id", p.clientID) }), nil
}

// TestInteropExchangeAndVerify exchanges PATs with an independent RFC 8693
// client (zitadel/oidc, which also reads our discovery document) and
// verifies every issued JWT through the JWKS URL with an independent JOSE
// library (lestrrat-go/jwx): signature, typ, iss, aud, exp — on both
// databases, for every signing algorithm.
func TestInteropExchangeAndVerify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
			t.Run(alg, func(t *testing.T) {
				e := newEnv(t, envOptions{driver: driver, algorithm: alg})
				token, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "OR.Folders"}})
				alice := e.user("acme", "alice")

				disc, err := zclient.Discover(ctx, e.url, e.http)
				if err != nil {
					t.Fatalf("discovery: %v", err)
				}
				if disc.TokenEndpoint != e.url+"/oauth2/token" || disc.JwksURI != e.url+"/.well-known/jwks.json" {
					t.Fatalf("discovery endpoints: %+v", disc)
				}
				public := &publicExchanger{endpoint: disc.TokenEndpoint, client: e.http, clientID: "cli"}
				confidential, err := tokenexchange.NewTokenExchangerClientCredentials(ctx, e.url, "gateway", gatewaySecret,
					tokenexchange.WithHTTPClient(e.http))
				if err != nil {
					t.Fatal(err)
				}
				set, err := jwk.Fetch(ctx, disc.JwksURI, jwk.WithHTTPClient(e.http))
				if err != nil {
					t.Fatalf("fetch JWKS: %v", err)
				}

				mgmtToken, mgmtPAT := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"Identity.PATs", "Identity.Admin"}})
				cases := []struct {
					name      string
					ex        tokenexchange.TokenExchanger
					token     string
					patID     string
					audience  []string
					resource  []string
					scopes    []string
					requested oidc.TokenType
					wantAud   string
					wantScope []string
					wantType  oidc.TokenType
					wantTTL   time.Duration
					wantFolds bool
					clientID  string
				}{
					{name: "public client, audience", ex: public, token: token, patID: p.ID, audience: []string{"orchestrator"},
						wantAud: "orchestrator", wantScope: []string{"OR.Jobs"}, wantType: oidc.AccessTokenType,
						wantTTL: 5 * time.Minute, wantFolds: true, clientID: "cli"},
					{name: "confidential client with Basic, requested scope and jwt type", ex: confidential, token: token, patID: p.ID,
						audience: []string{"orchestrator"}, scopes: []string{"OR.Jobs.Read"}, requested: oidc.JWTTokenType,
						wantAud: "orchestrator", wantScope: []string{"OR.Jobs.Read"}, wantType: oidc.JWTTokenType,
						wantTTL: 5 * time.Minute, clientID: "gateway"},
					{name: "management audience by resource", ex: public, token: mgmtToken, patID: mgmtPAT.ID, resource: []string{e.url},
						wantAud: e.url, wantScope: []string{"Identity.Admin", "Identity.PATs"}, wantType: oidc.AccessTokenType,
						wantTTL: 5 * time.Minute, clientID: "cli"},
				}
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						resp, err := tokenexchange.ExchangeToken(ctx, c.ex, c.token, oidc.AccessTokenType, "", "",
							c.resource, c.audience, c.scopes, c.requested)
						if err != nil {
							t.Fatalf("exchange: %v", err)
						}
						verify(t, e, set, resp, c.wantAud, c.wantScope, c.wantType, c.wantTTL, c.clientID, alice.ID, c.patID, c.wantFolds)
					})
				}

				t.Run("a refused exchange is an RFC 6749 error the client understands", func(t *testing.T) {
					_, err := tokenexchange.ExchangeToken(ctx, public, token, oidc.AccessTokenType, "", "",
						nil, []string{"https://unknown.example.com"}, nil, "")
					var oerr *oidc.Error
					if !asOIDCError(err, &oerr) || oerr.ErrorType != "invalid_target" {
						t.Fatalf("got %v, want invalid_target", err)
					}
				})
			})
		}
	})
}

func verify(t *testing.T, e *env, set jwk.Set, resp *oidc.TokenExchangeResponse, aud string, scope []string,
	typ oidc.TokenType, ttl time.Duration, clientID, sub, patID string, folders bool) {
	t.Helper()
	if resp.TokenType != "Bearer" || resp.IssuedTokenType != typ || resp.RefreshToken != "" {
		t.Fatalf("response: token_type %q issued_token_type %q refresh %q", resp.TokenType, resp.IssuedTokenType, resp.RefreshToken)
	}
	if got := time.Duration(resp.ExpiresIn) * time.Second; got > ttl || got < ttl-5*time.Second {
		t.Fatalf("expires_in %v, want about %v", got, ttl)
	}
	if !slices.Equal([]string(resp.Scopes), scope) {
		t.Fatalf("scope %v, want %v", resp.Scopes, scope)
	}
	tok, err := jwt.Parse([]byte(resp.AccessToken), jwt.WithKeySet(set), jwt.WithIssuer(e.url), jwt.WithAudience(aud),
		jwt.WithAcceptableSkew(0))
	if err != nil {
		t.Fatalf("jwx could not verify the token: %v", err)
	}
	msg, err := jws.Parse([]byte(resp.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	if typ, _ := hdr.Type(); typ != "at+jwt" {
		t.Fatalf("typ %q, want at+jwt", typ)
	}
	if kid, ok := hdr.KeyID(); !ok || kid == "" {
		t.Fatal("no kid in the header")
	}
	exp, _ := tok.Expiration()
	if exp.Before(time.Now()) || exp.After(time.Now().Add(ttl+time.Second)) {
		t.Fatalf("exp %v is not within the TTL", exp)
	}
	var claims map[string]any
	if err := json.Unmarshal(msg.Payload(), &claims); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{"sub": sub, "client_id": clientID, "scope": joinScopes(scope), "org_id": e.orgIDs["acme"]} {
		if claims[name] != want {
			t.Errorf("claim %s = %v, want %v", name, claims[name], want)
		}
	}
	if claims["pat_id"] != patID {
		t.Errorf("claim pat_id = %v, want %v", claims["pat_id"], patID)
	}
	for _, name := range []string{"iat", "nbf", "jti"} {
		if _, ok := claims[name]; !ok {
			t.Errorf("claim %s missing", name)
		}
	}
	details, has := claims["authorization_details"]
	if has != folders {
		t.Fatalf("authorization_details present %v, want %v: %v", has, folders, details)
	}
	if folders {
		want := `[{"actions":["OR.Folders.Read","OR.Jobs"],"identifier":"Finance","locations":["orchestrator"],"type":"folder"}]`
		got, _ := json.Marshal(details)
		if string(got) != want {
			t.Fatalf("authorization_details %s, want %s", got, want)
		}
	}
}

func joinScopes(s []string) string { return strings.Join(s, " ") }

// asOIDCError finds zitadel's RFC 6749 error in err's chain.
func asOIDCError(err error, target **oidc.Error) bool { return errors.As(err, target) }

// TestInteropChainedExchange drives the chained exchange with zitadel/oidc's
// token-exchange client, the subject token typed as a JWT, and verifies the
// chained token through the JWKS with lestrrat-go/jwx: signature, iss, aud,
// and the act claim naming the gateway — on both databases. The actor_token
// zitadel can send is refused with the standard error.
func TestInteropChainedExchange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newChainEnv(t, driver, envOptions{})
		pat, p := e.delegatedPAT("mcp-gateway")
		carol := e.user("acme", "carol")

		disc, err := zclient.Discover(ctx, e.url, e.http)
		if err != nil {
			t.Fatalf("discovery: %v", err)
		}
		agent := &publicExchanger{endpoint: disc.TokenEndpoint, client: e.http, clientID: "agent"}
		gateway, err := tokenexchange.NewTokenExchangerClientCredentials(ctx, e.url, "mcp-gateway", mcpGatewaySecret,
			tokenexchange.WithHTTPClient(e.http))
		if err != nil {
			t.Fatal(err)
		}
		set, err := jwk.Fetch(ctx, disc.JwksURI, jwk.WithHTTPClient(e.http))
		if err != nil {
			t.Fatalf("fetch JWKS: %v", err)
		}

		first, err := tokenexchange.ExchangeToken(ctx, agent, pat, oidc.AccessTokenType, "", "", nil, []string{"mcp"}, nil, oidc.JWTTokenType)
		if err != nil {
			t.Fatalf("the agent's exchange: %v", err)
		}
		chained, err := tokenexchange.ExchangeToken(ctx, gateway, first.AccessToken, oidc.JWTTokenType, "", "",
			nil, []string{"orchestrator"}, []string{"OR.Jobs"}, "")
		if err != nil {
			t.Fatalf("the gateway's chained exchange: %v", err)
		}
		if chained.IssuedTokenType != oidc.AccessTokenType || !slices.Equal([]string(chained.Scopes), []string{"OR.Jobs"}) {
			t.Fatalf("response: %+v", chained)
		}
		tok, err := jwt.Parse([]byte(chained.AccessToken), jwt.WithKeySet(set), jwt.WithIssuer(e.url), jwt.WithAudience("orchestrator"),
			jwt.WithAcceptableSkew(0))
		if err != nil {
			t.Fatalf("jwx could not verify the chained token: %v", err)
		}
		var act map[string]any
		if err := tok.Get("act", &act); err != nil {
			t.Fatalf("no act claim: %v", err)
		}
		if len(act) != 1 || act["sub"] != "mcp-gateway" {
			t.Fatalf("act %v, want {sub: mcp-gateway}", act)
		}
		for name, want := range map[string]string{"client_id": "mcp-gateway", "pat_id": p.ID} {
			var got string
			if err := tok.Get(name, &got); err != nil || got != want {
				t.Errorf("claim %s = %q (%v), want %q", name, got, err, want)
			}
		}
		if sub, _ := tok.Subject(); sub != carol.ID {
			t.Errorf("sub %q, want carol", sub)
		}
		firstExp, _ := jwtPart(t, first.AccessToken, 1)["exp"].(float64)
		if exp, _ := tok.Expiration(); exp.Unix() > int64(firstExp) {
			t.Errorf("the chained token expires at %v, after its subject (%v)", exp.Unix(), int64(firstExp))
		}

		_, err = tokenexchange.ExchangeToken(ctx, gateway, first.AccessToken, oidc.JWTTokenType, first.AccessToken, oidc.JWTTokenType,
			nil, []string{"orchestrator"}, nil, "")
		var oerr *oidc.Error
		if !asOIDCError(err, &oerr) || oerr.ErrorType != "invalid_request" || oerr.Description != "actor_token is not supported: the actor is the authenticated client." {
			t.Fatalf("actor_token: got %v, want invalid_request", err)
		}
	})
}
