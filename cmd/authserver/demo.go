package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"authserver/config"
	"authserver/governance"
	"authserver/internal/duration"
	"authserver/internal/rfc8693"
	"authserver/storage"
)

// What serve --demo creates.
const (
	demoOrg      = "demo"
	demoUser     = "demo"
	demoRole     = "Demo"
	demoAudience = "demo-api"
	demoClient   = "demo-cli"
	// demoIntrospector is the confidential client allowed to introspect;
	// it may not exchange PATs (no grant types).
	demoIntrospector = "demo-introspector"
	// demoGateway is the confidential client of the gateway pattern
	// (docs/agents.md): it acts for the audience demoGatewayAudience and
	// exchanges its tokens for demo-api tokens on the user's behalf.
	demoGateway         = "demo-gateway"
	demoGatewayAudience = "demo-mcp"
	demoPATName         = "demo"
	demoPATScope        = "demo.read"
	// demoPATLifetime keeps a token printed on a terminal from living for
	// ever.
	demoPATLifetime = 30 * 24 * time.Hour
)

var demoScopes = []string{"demo.read", "demo.write"}

// errDemoNotEmpty is why serve --demo refuses a database that holds
// anything. Refusing (rather than warning and serving without the demo)
// is the choice: the demo's secrets are shown once, so a second --demo
// could never show them again, and a --demo left on a real installation's
// command line should stop it loudly rather than be ignored.
var errDemoNotEmpty = errors.New("--demo needs an empty database, and this one already has organizations, audiences or clients " +
	"(from bootstrap: or an earlier run): serve without --demo, or point database.dsn at a new database")

// demoInstall is what createDemo made, with the four secrets that are
// shown once: the console password, the PAT and the secrets of the
// introspecting client and of the gateway (stored, like every client
// secret, only as their SHA-256).
type demoInstall struct {
	Password      string
	PAT           string
	ExpiresAt     *time.Time
	ClientSecret  string
	GatewaySecret string
}

// createDemo creates, in one transaction on an empty database, the demo
// organization with an admin user, a role granting the demo scopes, the
// audiences demo-api and demo-mcp, the public client demo-cli, the
// confidential client demo-introspector allowed to introspect, the
// confidential client demo-gateway acting for demo-mcp, and a PAT for the
// user whose delegate is demo-gateway.
// Users, roles and the PAT go through governance, so the PAT obeys every
// rule an API-created one does.
func createDemo(ctx context.Context, cfg *config.Config, st storage.Store) (*demoInstall, error) {
	d := &demoInstall{Password: rand.Text(), ClientSecret: rand.Text(), GatewaySecret: rand.Text()}
	err := st.WithTx(ctx, func(tx storage.Store) error {
		// The bootstrap lock: replicas starting together with --demo create
		// the demo once, and the others see a database that is not empty.
		if err := tx.Lock(ctx, "bootstrap"); err != nil {
			return err
		}
		empty, err := isEmpty(ctx, tx)
		if err != nil {
			return err
		}
		if !empty {
			return errDemoNotEmpty
		}
		o := &storage.Organization{Name: demoOrg, PATsEnabled: true}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		created := governance.CLI().Attribute(storage.AuditEvent{Time: time.Now(), OrgID: o.ID, Action: "org.create",
			Target: o.ID, Outcome: "success", Detail: "serve --demo"})
		if err := tx.AppendAudit(ctx, &created); err != nil {
			return err
		}
		if err := tx.CreateAudience(ctx, &storage.Audience{ID: demoAudience, Name: "Demo API", Scopes: demoScopes}); err != nil {
			return err
		}
		if err := tx.CreateAudience(ctx, &storage.Audience{ID: demoGatewayAudience, Name: "Demo MCP gateway", Scopes: demoScopes}); err != nil {
			return err
		}
		if err := tx.CreateClient(ctx, &storage.Client{ID: demoClient, Public: true, Audiences: []string{demoAudience, demoGatewayAudience},
			GrantTypes: []string{rfc8693.GrantType}}); err != nil {
			return err
		}
		secretHash := sha256.Sum256([]byte(d.ClientSecret))
		if err := tx.CreateClient(ctx, &storage.Client{ID: demoIntrospector, SecretHash: secretHash[:], Audiences: []string{},
			GrantTypes: []string{}, Introspection: true}); err != nil {
			return err
		}
		gatewayHash := sha256.Sum256([]byte(d.GatewaySecret))
		if err := tx.CreateClient(ctx, &storage.Client{ID: demoGateway, SecretHash: gatewayHash[:], Audiences: []string{demoAudience},
			GrantTypes: []string{rfc8693.GrantType}, OnBehalfOf: []string{demoGatewayAudience}}); err != nil {
			return err
		}
		gov := newGovernance(cfg, tx)
		cli := governance.CLI()
		u, err := gov.CreateUser(ctx, cli, o.ID, governance.UserRequest{Username: demoUser, Kind: storage.UserLocal, Admin: true, Password: d.Password})
		if err != nil {
			return err
		}
		r, err := gov.CreateRole(ctx, cli, o.ID, governance.RoleRequest{Name: demoRole, Permissions: demoScopes})
		if err != nil {
			return err
		}
		if _, err := gov.CreateAssignment(ctx, cli, o.ID, governance.AssignmentRequest{UserID: u.ID, RoleID: r.ID}); err != nil {
			return err
		}
		nt, err := gov.CreatePAT(ctx, cli, o.ID, u.ID, governance.PATRequest{Name: demoPATName, Scopes: []string{demoPATScope},
			ExpiresAt: ptr(time.Now().Add(demoPATLifetime)), Delegates: []string{demoGateway}})
		if err != nil {
			return err
		}
		d.PAT, d.ExpiresAt = nt.Token, nt.ExpiresAt
		return nil
	})
	if errors.Is(err, errDemoNotEmpty) {
		return nil, errDemoNotEmpty
	}
	if err != nil {
		return nil, fmt.Errorf("create the demo: %w", err)
	}
	return d, nil
}

// isEmpty reports whether the database holds no organization, audience or
// client.
func isEmpty(ctx context.Context, st storage.Store) (bool, error) {
	orgs, err := st.ListOrganizations(ctx)
	if err != nil {
		return false, err
	}
	auds, err := st.ListAudiences(ctx)
	if err != nil {
		return false, err
	}
	clients, err := st.ListClients(ctx)
	if err != nil {
		return false, err
	}
	return len(orgs)+len(auds)+len(clients) == 0, nil
}

// printDemo writes the demo's secrets, the curl line that exchanges the PAT
// and the one that introspects the JWT it answers. This is the only place
// they are ever written: never to the log.
func printDemo(w io.Writer, cfg *config.Config, d *demoInstall) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nDemo installation created. The password, the PAT and the client secrets below are shown only this once.\n\n")
	for _, row := range [][2]string{
		{"organization", demoOrg},
		{"user", demoUser + " (local, admin; role " + demoRole + ": " + strings.Join(demoScopes, " ") + ")"},
		{"console password", d.Password},
		{"PAT (" + demoPATScope + ")", d.PAT},
		{"PAT expires", formatExpiry(d.ExpiresAt)},
		{"client secret", d.ClientSecret + " (client " + demoIntrospector + ": confidential, may introspect)"},
		{"gateway secret", d.GatewaySecret + " (client " + demoGateway + ": confidential, acts for " + demoGatewayAudience +
			", the PAT's delegate)"},
	} {
		fmt.Fprintf(&b, "  %-18s%s\n", row[0], row[1])
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Exchange the PAT (client %s) for a %s JWT access token for the audience %s:\n\n",
		demoClient, duration.Format(cfg.Tokens.AccessTokenTTL.D()), demoAudience)
	fmt.Fprintf(&b, "  %s\n\n", demoCurl(cfg.Issuer, d.PAT))
	fmt.Fprintf(&b, "Introspect that JWT (set ACCESS_TOKEN to the answer's access_token) as the confidential client %s:\n\n",
		demoIntrospector)
	fmt.Fprintf(&b, "  %s\n\n", demoIntrospectCurl(cfg.Issuer, d.ClientSecret))
	fmt.Fprintf(&b, "The gateway pattern (docs/agents.md): run the exchange above with audience=%s, set MCP_TOKEN to its\n"+
		"access_token, and the gateway %s exchanges it for a %s token on the demo user's behalf (act names the gateway):\n\n",
		demoGatewayAudience, demoGateway, demoAudience)
	fmt.Fprintf(&b, "  %s\n\n", demoGatewayCurl(cfg.Issuer, d.GatewaySecret))
	_, err := io.WriteString(w, b.String())
	return err
}

// demoGatewayCurl is the curl command line of the chained exchange: the
// gateway, with HTTP Basic, presents the token in $MCP_TOKEN and asks for
// demo-api. The secret is base32: safe unquoted.
func demoGatewayCurl(issuer, secret string) string {
	return "curl -s -X POST " + strings.TrimSuffix(issuer, "/") + "/oauth2/token" +
		" -u " + demoGateway + ":" + secret +
		" -d grant_type=" + rfc8693.GrantType +
		" -d subject_token_type=" + rfc8693.TokenTypeAccessToken +
		" -d audience=" + demoAudience +
		` --data-urlencode "subject_token=$MCP_TOKEN"`
}

// demoCurl is the curl command line that exchanges pat at issuer's token
// endpoint. A PAT is base62 after a [a-z0-9_] prefix: safe unquoted in a
// shell.
func demoCurl(issuer, pat string) string {
	return "curl -s -X POST " + strings.TrimSuffix(issuer, "/") + "/oauth2/token" +
		" -d grant_type=" + rfc8693.GrantType +
		" -d subject_token_type=" + rfc8693.TokenTypeAccessToken +
		" -d client_id=" + demoClient +
		" -d audience=" + demoAudience +
		" --data-urlencode subject_token=" + pat
}

// demoIntrospectCurl is the curl command line that introspects the token
// in $ACCESS_TOKEN as demo-introspector, with HTTP Basic. The secret is
// base32 (crypto/rand.Text): safe unquoted in a shell and unchanged by the
// form-encoding Basic credentials take.
func demoIntrospectCurl(issuer, secret string) string {
	return "curl -s -X POST " + strings.TrimSuffix(issuer, "/") + "/oauth2/introspect" +
		" -u " + demoIntrospector + ":" + secret +
		` --data-urlencode "token=$ACCESS_TOKEN"`
}
