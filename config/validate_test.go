package config

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"authserver/internal/rfc8693"
)

// validBase is the configuration example as Load returns it: valid, with one
// audience, two clients and one organization to break in each test.
func validBase(t *testing.T) *Config {
	t.Helper()
	c, err := Load("testdata/spec.yaml", nil)
	if err != nil {
		t.Fatalf("Load spec example: %v", err)
	}
	return c
}

func TestValidateRules(t *testing.T) {
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // nil: valid
	}{
		// issuer
		{"https issuer with a path is valid", func(c *Config) { c.Issuer = "https://auth.example.com/tenant" }, nil},
		{"issuer must not be empty", func(c *Config) { c.Issuer = "" }, []string{"issuer: must not be empty"}},
		{"issuer must be absolute", func(c *Config) { c.Issuer = "auth.example.com" }, []string{"issuer: must be an absolute http or https URL, such as https://auth.example.com"}},
		{"issuer must be http or https", func(c *Config) { c.Issuer = "ftp://auth.example.com" }, []string{"issuer: must be an absolute http or https URL, such as https://auth.example.com"}},
		{"issuer must have a host", func(c *Config) { c.Issuer = "https://:8443" }, []string{"issuer: must be an absolute http or https URL, such as https://auth.example.com"}},
		{"issuer must not have a query", func(c *Config) { c.Issuer = "https://auth.example.com?tenant=1" }, []string{"issuer: must not have a query"}},
		{"issuer must not have an empty query", func(c *Config) { c.Issuer = "https://auth.example.com?" }, []string{"issuer: must not have a query"}},
		{"issuer must not have a fragment", func(c *Config) { c.Issuer = "https://auth.example.com#x" }, []string{"issuer: must not have a fragment"}},
		{"issuer must not end with a slash", func(c *Config) { c.Issuer = "https://auth.example.com/" }, []string{"issuer: must not end with a slash"}},
		{"issuer must not hold credentials", func(c *Config) { c.Issuer = "https://user:" + canary + "@auth.example.com" }, []string{"issuer: must not contain a user name or password"}},

		// listeners
		{"http.addr must not be empty", func(c *Config) { c.HTTP.Addr = "" }, []string{"http.addr: must not be empty"}},
		{"http.addr must be host:port", func(c *Config) { c.HTTP.Addr = "localhost" }, []string{"http.addr: must be host:port, such as 127.0.0.1:8080 or :8080"}},
		{"http.addr port must be numeric", func(c *Config) { c.HTTP.Addr = "localhost:http" }, []string{"http.addr: port must be a number from 0 to 65535"}},
		{"telemetry.addr port must fit 16 bits", func(c *Config) { c.Telemetry.Addr = ":65536" }, []string{"telemetry.addr: port must be a number from 0 to 65535"}},
		{"listeners must not share a port", func(c *Config) { c.Telemetry.Addr = "127.0.0.1:8080" }, []string{"telemetry.addr: must differ from http.addr: both listeners would bind 127.0.0.1:8080"}},
		{"a listener on every interface takes the port from the other", func(c *Config) { c.Telemetry.Addr = ":8080" }, []string{"telemetry.addr: must differ from http.addr: both listeners would bind :8080"}},
		{"two listeners on port 0 get different ports", func(c *Config) { c.HTTP.Addr, c.Telemetry.Addr = "127.0.0.1:0", "127.0.0.1:0" }, nil},
		{"TLS cert without key", func(c *Config) { c.HTTP.TLSCertFile = "cert.pem" }, []string{"http.tls_key_file: must be set together with http.tls_cert_file"}},
		{"TLS key without cert", func(c *Config) { c.HTTP.TLSKeyFile = "key.pem" }, []string{"http.tls_cert_file: must be set together with http.tls_key_file"}},

		// database and keys
		{"postgres with an encryption key is valid", func(c *Config) {
			c.Database.Driver, c.Database.DSN, c.Keys.EncryptionKey = "postgres", "postgres://db/authserver", Secret(key32)
		}, nil},
		{"unknown driver", func(c *Config) { c.Database.Driver = "mysql" }, []string{`database.driver: must be sqlite or postgres, got "mysql"`}},
		{"dsn must not be empty", func(c *Config) { c.Database.DSN = "" }, []string{"database.dsn: must not be empty"}},
		{"max_open_conns must not be negative", func(c *Config) { c.Database.MaxOpenConns = -1 }, []string{"database.max_open_conns: must not be negative (0 is the driver's default)"}},
		{"postgres requires an encryption key", func(c *Config) { c.Database.Driver, c.Database.DSN = "postgres", "postgres://u:"+canary+"@db/x" }, []string{
			"keys.encryption_key: required with database.driver postgres, so that every replica decrypts the same signing keys (set it, keys.encryption_key_file or AUTHSERVER_KEYS_ENCRYPTION_KEY)",
		}},
		{"encryption key must be base64", func(c *Config) { c.Keys.EncryptionKey = canary }, []string{
			"keys.encryption_key: must be standard base64 of 32 random bytes (such as the output of `openssl rand -base64 32`)",
		}},
		{"encryption key must be 32 bytes", func(c *Config) { c.Keys.EncryptionKey = Secret(base64.StdEncoding.EncodeToString([]byte(canary))) }, []string{
			"keys.encryption_key: must decode to exactly 32 bytes for AES-256, got 18",
		}},
		{"encryption key must be standard, not URL, base64", func(c *Config) {
			c.Keys.EncryptionKey = Secret(base64.URLEncoding.EncodeToString([]byte(strings.Repeat("\xff", 32))))
		}, []string{"keys.encryption_key: must be standard base64 of 32 random bytes (such as the output of `openssl rand -base64 32`)"}},
		{"unknown algorithm", func(c *Config) { c.Keys.Algorithm = "HS256" }, []string{`keys.algorithm: must be ES256, RS256 or EdDSA, got "HS256"`}},
		{"rotation period must be positive", func(c *Config) { c.Keys.RotationPeriod = 0 }, []string{"keys.rotation_period: must be positive"}},
		{"publish ahead must be positive", func(c *Config) { c.Keys.PublishAhead = 0 }, []string{"keys.publish_ahead: must be positive"}},
		{"publish ahead must be shorter than the rotation period", func(c *Config) { c.Keys.PublishAhead = c.Keys.RotationPeriod }, []string{
			"keys.publish_ahead: must be shorter than keys.rotation_period (30d), or a key would be replaced before it signs anything",
		}},

		// tokens
		{"PAT prefix must end with an underscore", func(c *Config) { c.Tokens.PATPrefix = "pat" }, []string{
			"tokens.pat_prefix: must be a lower-case letter, up to 15 more lower-case letters or digits, and an underscore, such as pat_",
		}},
		{"PAT prefix of 17 characters is too long", func(c *Config) { c.Tokens.PATPrefix = "abcdefghijklmnopq_" }, []string{
			"tokens.pat_prefix: must be a lower-case letter, up to 15 more lower-case letters or digits, and an underscore, such as pat_",
		}},
		{"PAT prefix of 16 characters is fine", func(c *Config) { c.Tokens.PATPrefix = "abcdefghijklmnop_" }, nil},
		{"access token TTL must be positive", func(c *Config) { c.Tokens.AccessTokenTTL = 0 }, []string{"tokens.access_token_ttl: must be positive"}},
		{"access token TTL of a day is the limit", func(c *Config) { c.Tokens.AccessTokenTTL = Duration(24 * time.Hour) }, nil},
		{"access token TTL over a day", func(c *Config) { c.Tokens.AccessTokenTTL = Duration(25 * time.Hour) }, []string{
			"tokens.access_token_ttl: must be at most 24h: access tokens cannot be revoked once issued",
		}},
		{"default audience may be a bootstrap audience", func(c *Config) { c.Tokens.DefaultAudience = "orchestrator" }, nil},
		{"default audience may be the issuer", func(c *Config) { c.Tokens.DefaultAudience = c.Issuer }, nil},
		{"default audience must exist", func(c *Config) { c.Tokens.DefaultAudience = "billing" }, []string{
			`tokens.default_audience: unknown audience "billing": must be empty, the issuer or the id of a bootstrap audience`,
		}},
		{"delegation depth of 0 turns chains off", func(c *Config) { c.Tokens.MaxDelegationDepth = 0 }, nil},
		{"delegation depth of 5 is the limit", func(c *Config) { c.Tokens.MaxDelegationDepth = 5 }, nil},
		{"delegation depth over the limit", func(c *Config) { c.Tokens.MaxDelegationDepth = 6 }, []string{
			"tokens.max_delegation_depth: must be from 0 (no chained exchange) to 5",
		}},
		{"delegation depth must not be negative", func(c *Config) { c.Tokens.MaxDelegationDepth = -1 }, []string{
			"tokens.max_delegation_depth: must be from 0 (no chained exchange) to 5",
		}},
		{"DPoP proof window must be positive", func(c *Config) { c.Tokens.DPoPProofWindow = 0 }, []string{"tokens.dpop_proof_window: must be positive"}},
		{"DPoP proof window of 10m is the limit", func(c *Config) { c.Tokens.DPoPProofWindow = Duration(10 * time.Minute) }, nil},
		{"DPoP proof window over 10m", func(c *Config) { c.Tokens.DPoPProofWindow = Duration(11 * time.Minute) }, []string{
			"tokens.dpop_proof_window: must be at most 10m: a DPoP proof is good for one request, and every proof seen is kept that long",
		}},
		{"DPoP nonces are valid", func(c *Config) { c.Tokens.DPoPNonce = true }, nil},

		// log and console
		{"unknown log level", func(c *Config) { c.Log.Level = "trace" }, []string{`log.level: must be debug, info, warn or error, got "trace"`}},
		{"unknown log format", func(c *Config) { c.Log.Format = "logfmt" }, []string{`log.format: must be auto, json or text, got "logfmt"`}},
		{"session timeouts must be positive", func(c *Config) { c.Console = Console{} }, []string{
			"console.session_idle_timeout: must be positive", "console.session_absolute_timeout: must be positive",
		}},
		{"idle timeout must not exceed the absolute timeout", func(c *Config) { c.Console.SessionIdleTimeout = Duration(13 * time.Hour) }, []string{
			"console.session_idle_timeout: must not exceed console.session_absolute_timeout (12h)",
		}},

		// audiences
		{"audience id must not be empty", func(c *Config) { c.Bootstrap.Audiences[0].ID = "" }, []string{
			"bootstrap.audiences[0].id: must not be empty",
			`bootstrap.clients[0].audiences[0]: unknown audience "orchestrator": must be the id of a bootstrap audience or the issuer`,
			`bootstrap.clients[1].audiences[0]: unknown audience "orchestrator": must be the id of a bootstrap audience or the issuer`,
		}},
		{"audience id must not hold spaces", func(c *Config) { c.Bootstrap.Audiences[0].ID = "orch estrator" }, []string{
			"bootstrap.audiences[0].id: must not contain spaces or control characters",
			`bootstrap.clients[0].audiences[0]: unknown audience "orchestrator": must be the id of a bootstrap audience or the issuer`,
			`bootstrap.clients[1].audiences[0]: unknown audience "orchestrator": must be the id of a bootstrap audience or the issuer`,
		}},
		{"audience id must not be the issuer", func(c *Config) {
			c.Bootstrap.Audiences = append(c.Bootstrap.Audiences, Audience{ID: c.Issuer, Name: "Me", Scopes: Scopes{{Name: "X"}}})
		}, []string{
			"bootstrap.audiences[1].id: must not be the issuer, which is the id of the built-in management audience",
		}},
		{"audience ids are unique", func(c *Config) { c.Bootstrap.Audiences = append(c.Bootstrap.Audiences, c.Bootstrap.Audiences[0]) }, []string{
			`bootstrap.audiences[1].id: duplicate audience id "orchestrator" (first at bootstrap.audiences[0])`,
		}},
		{"audience name must not be empty", func(c *Config) { c.Bootstrap.Audiences[0].Name = "" }, []string{"bootstrap.audiences[0].name: must not be empty"}},
		{"audience scopes must not be empty", func(c *Config) { c.Bootstrap.Audiences[0].Scopes = nil }, []string{"bootstrap.audiences[0].scopes: must list at least one scope"}},
		{"audience scopes must be dotted names", func(c *Config) { c.Bootstrap.Audiences[0].Scopes[1].Name = "OR..Execution" }, []string{
			`bootstrap.audiences[0].scopes[1]: invalid scope name "OR..Execution": use dotted names such as OR.Jobs.Read`,
		}},
		{"audience scopes are unique", func(c *Config) { c.Bootstrap.Audiences[0].Scopes[2].Name = "OR.Jobs" }, []string{`bootstrap.audiences[0].scopes[2]: duplicate scope "OR.Jobs"`}},
		{"scope descriptions are printable", func(c *Config) { c.Bootstrap.Audiences[0].Scopes[1].Description = "Run\u202ejobs" }, []string{
			"bootstrap.audiences[0].scopes[1].description: must not contain control or bidirectional-formatting characters",
		}},
		{"scope descriptions have no surrounding spaces", func(c *Config) { c.Bootstrap.Audiences[0].Scopes[0].Description = "Jobs " }, []string{
			"bootstrap.audiences[0].scopes[0].description: must not start or end with spaces",
		}},
		{"scope descriptions are short", func(c *Config) { c.Bootstrap.Audiences[0].Scopes[2].Description = strings.Repeat("é", 201) }, []string{
			"bootstrap.audiences[0].scopes[2].description: must be at most 200 characters",
		}},
		{"a scope description of 200 characters", func(c *Config) { c.Bootstrap.Audiences[0].Scopes[2].Description = strings.Repeat("é", 200) }, nil},
		{"audience TTL must not be negative", func(c *Config) { c.Bootstrap.Audiences[0].AccessTokenTTL = -1 }, []string{
			"bootstrap.audiences[0].access_token_ttl: must not be negative (0 uses tokens.access_token_ttl)",
		}},
		{"audience TTL over a day", func(c *Config) { c.Bootstrap.Audiences[0].AccessTokenTTL = Duration(48 * time.Hour) }, []string{
			"bootstrap.audiences[0].access_token_ttl: must be at most 24h: access tokens cannot be revoked once issued",
		}},
		{"audience TTL of zero uses the default", func(c *Config) { c.Bootstrap.Audiences[0].AccessTokenTTL = 0 }, nil},

		// clients
		{"client id must not be empty", func(c *Config) { c.Bootstrap.Clients[0].ID = "" }, []string{"bootstrap.clients[0].id: must not be empty"}},
		{"client ids are unique", func(c *Config) { c.Bootstrap.Clients[1].ID = "cli" }, []string{`bootstrap.clients[1].id: duplicate client id "cli" (first at bootstrap.clients[0])`}},
		{"public client has no secret", func(c *Config) { c.Bootstrap.Clients[0].SecretSHA256 = c.Bootstrap.Clients[1].SecretSHA256 }, []string{
			"bootstrap.clients[0].secret_sha256: must be empty for a public client",
		}},
		{"confidential client needs a secret", func(c *Config) { c.Bootstrap.Clients[1].SecretSHA256 = "" }, []string{
			"bootstrap.clients[1]: must be public: true or have a secret_sha256",
		}},
		{"secret digest must be 64 hex characters", func(c *Config) { c.Bootstrap.Clients[1].SecretSHA256 = canary }, []string{
			"bootstrap.clients[1].secret_sha256: must be 64 hexadecimal characters, the SHA-256 of the client secret",
		}},
		{"upper-case secret digest is fine", func(c *Config) {
			c.Bootstrap.Clients[1].SecretSHA256 = strings.ToUpper(c.Bootstrap.Clients[1].SecretSHA256)
		}, nil},
		{"client audience may be the issuer", func(c *Config) { c.Bootstrap.Clients[0].Audiences = append(c.Bootstrap.Clients[0].Audiences, c.Issuer) }, nil},
		{"client audience must exist", func(c *Config) { c.Bootstrap.Clients[0].Audiences = []string{"billing"} }, []string{
			`bootstrap.clients[0].audiences[0]: unknown audience "billing": must be the id of a bootstrap audience or the issuer`,
		}},
		{"client audiences are unique", func(c *Config) { c.Bootstrap.Clients[0].Audiences = []string{"orchestrator", "orchestrator"} }, []string{
			`bootstrap.clients[0].audiences[1]: duplicate audience "orchestrator"`,
		}},
		{"grant type must be supported", func(c *Config) { c.Bootstrap.Clients[0].GrantTypes = []string{"client_credentials"} }, []string{
			`bootstrap.clients[0].grant_types[0]: unsupported grant type "client_credentials": must be urn:ietf:params:oauth:grant-type:token-exchange`,
		}},
		{"grant types are unique", func(c *Config) { c.Bootstrap.Clients[0].GrantTypes = []string{rfc8693.GrantType, rfc8693.GrantType} }, []string{
			`bootstrap.clients[0].grant_types[1]: duplicate grant type "urn:ietf:params:oauth:grant-type:token-exchange"`,
		}},
		{"public client cannot introspect", func(c *Config) { c.Bootstrap.Clients[0].Introspection = true }, []string{
			"bootstrap.clients[0].introspection: not allowed for a public client: introspection requires client authentication",
		}},
		{"introspection-only client is valid", func(c *Config) { c.Bootstrap.Clients[1].GrantTypes = []string{} }, nil},
		{"client that can do nothing", func(c *Config) { c.Bootstrap.Clients[0].GrantTypes = []string{} }, []string{
			"bootstrap.clients[0].grant_types: is empty and introspection is off, so the client could do nothing",
		}},
		{"confidential client may act on behalf of an audience", func(c *Config) { c.Bootstrap.Clients[1].OnBehalfOf = []string{"orchestrator"} }, nil},
		{"public client cannot act on behalf", func(c *Config) { c.Bootstrap.Clients[0].OnBehalfOf = []string{"orchestrator"} }, []string{
			"bootstrap.clients[0].on_behalf_of: not allowed for a public client: a chained exchange requires client authentication",
		}},
		{"acting on behalf needs the grant", func(c *Config) {
			c.Bootstrap.Clients[1].GrantTypes = []string{}
			c.Bootstrap.Clients[1].OnBehalfOf = []string{"orchestrator"}
		}, []string{"bootstrap.clients[1].on_behalf_of: needs the token-exchange grant in grant_types"}},
		{"on_behalf_of audience must exist", func(c *Config) { c.Bootstrap.Clients[1].OnBehalfOf = []string{"billing"} }, []string{
			`bootstrap.clients[1].on_behalf_of[0]: unknown audience "billing": must be the id of a bootstrap audience`,
		}},
		{"on_behalf_of is never the management audience", func(c *Config) { c.Bootstrap.Clients[1].OnBehalfOf = []string{c.Issuer} }, []string{
			"bootstrap.clients[1].on_behalf_of[0]: must not be the issuer: tokens for the management API are never passed on",
		}},
		{"on_behalf_of audiences are unique", func(c *Config) { c.Bootstrap.Clients[1].OnBehalfOf = []string{"orchestrator", "orchestrator"} }, []string{
			`bootstrap.clients[1].on_behalf_of[1]: duplicate audience "orchestrator"`,
		}},
		{"a client may require DPoP", func(c *Config) { c.Bootstrap.Clients[0].DPoP = DPoPRequired }, nil},
		{"dpop is optional or required", func(c *Config) { c.Bootstrap.Clients[0].DPoP = "always" }, []string{
			`bootstrap.clients[0].dpop: must be optional or required, got "always"`,
		}},
		{"DPoP required needs a grant", func(c *Config) {
			c.Bootstrap.Clients[1].GrantTypes, c.Bootstrap.Clients[1].DPoP = []string{}, DPoPRequired
		}, []string{
			"bootstrap.clients[1].dpop: required needs a grant type: DPoP binds the tokens the client is issued, and it is issued none",
		}},

		// organizations and roles
		{"organization name must not be empty", func(c *Config) { c.Bootstrap.Organizations[0].Name = "" }, []string{"bootstrap.organizations[0].name: must not be empty"}},
		{"organization names are unique", func(c *Config) {
			c.Bootstrap.Organizations = append(c.Bootstrap.Organizations, Organization{Name: "acme"})
		}, []string{`bootstrap.organizations[1].name: duplicate organization "acme" (first at bootstrap.organizations[0])`}},
		{"organization name without surrounding spaces", func(c *Config) { c.Bootstrap.Organizations[0].Name = "acme " }, []string{
			"bootstrap.organizations[0].name: must not begin or end with a space",
		}},
		{"PAT max lifetime must not be negative", func(c *Config) { c.Bootstrap.Organizations[0].PATMaxLifetime = -1 }, []string{
			"bootstrap.organizations[0].pat_max_lifetime: must be between 0 (no limit) and 36500d",
		}},
		{"PAT max lifetime 0 is no limit", func(c *Config) { c.Bootstrap.Organizations[0].PATMaxLifetime = 0 }, nil},
		{"PAT max lifetime under an hour would block every PAT at once", func(c *Config) {
			c.Bootstrap.Organizations[0].PATMaxLifetime = Duration(time.Nanosecond)
		}, []string{
			"bootstrap.organizations[0].pat_max_lifetime: must be 0 (no limit) or at least 1h: a shorter maximum blocks every PAT of the organization at once",
		}},
		{"PAT max lifetime of 59m59s is under an hour", func(c *Config) {
			c.Bootstrap.Organizations[0].PATMaxLifetime = Duration(time.Hour - time.Second)
		}, []string{
			"bootstrap.organizations[0].pat_max_lifetime: must be 0 (no limit) or at least 1h: a shorter maximum blocks every PAT of the organization at once",
		}},
		{"PAT max lifetime of an hour is the smallest", func(c *Config) { c.Bootstrap.Organizations[0].PATMaxLifetime = Duration(time.Hour) }, nil},
		{"PAT max lifetime of 36500d is the largest", func(c *Config) {
			c.Bootstrap.Organizations[0].PATMaxLifetime = Duration(36500 * 24 * time.Hour)
		}, nil},
		{"PAT max lifetime beyond 36500d overflows", func(c *Config) {
			c.Bootstrap.Organizations[0].PATMaxLifetime = Duration(36500*24*time.Hour + time.Nanosecond)
		}, []string{
			"bootstrap.organizations[0].pat_max_lifetime: must be between 0 (no limit) and 36500d",
		}},
		{"expiry notice days follow their rule", func(c *Config) { c.Bootstrap.Organizations[0].ExpiryNoticeDays = &[]int{30, 0} }, []string{
			"bootstrap.organizations[0].expiry_notice_days: each day must be a whole number from 1 to 365",
		}},
		{"no expiry notice days is off", func(c *Config) { c.Bootstrap.Organizations[0].ExpiryNoticeDays = &[]int{} }, nil},
		{"idle revocation under a day", func(c *Config) { c.Bootstrap.Organizations[0].PATIdleRevokeAfter = Duration(time.Hour) }, []string{
			"bootstrap.organizations[0].pat_idle_revoke_after: must be 0 (never) or at least 1d",
		}},
		{"idle revocation of 90 days", func(c *Config) { c.Bootstrap.Organizations[0].PATIdleRevokeAfter = Duration(90 * 24 * time.Hour) }, nil},
		{"a user's e-mail address is one plain address", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Email = "Zed <zed@corp.test>" }, []string{
			"bootstrap.organizations[0].users[0].email: must be a single e-mail address such as name@example.com, of at most 254 bytes",
		}},
		{"a user's e-mail address", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Email = "zed@corp.test" }, nil},
		{"role name must not be empty", func(c *Config) { c.Bootstrap.Organizations[0].Roles[0].Name = "" }, []string{
			"bootstrap.organizations[0].roles[0].name: must not be empty",
			`bootstrap.organizations[0].users[0].roles[0].role: unknown role "Automation Developer"`,
		}},
		{"role names are unique per organization", func(c *Config) {
			o := &c.Bootstrap.Organizations[0]
			o.Roles = append(o.Roles, Role{Name: o.Roles[0].Name, Permissions: []string{"OR.Jobs"}})
		}, []string{`bootstrap.organizations[0].roles[1].name: duplicate role "Automation Developer" (first at roles[0])`}},
		{"role permissions must not be empty", func(c *Config) { c.Bootstrap.Organizations[0].Roles[0].Permissions = []string{} }, []string{
			"bootstrap.organizations[0].roles[0].permissions: must list at least one permission",
		}},
		{"role permissions must be dotted names", func(c *Config) { c.Bootstrap.Organizations[0].Roles[0].Permissions[0] = "OR.Jobs." }, []string{
			`bootstrap.organizations[0].roles[0].permissions[0]: invalid permission name "OR.Jobs.": use dotted names such as OR.Jobs.Read`,
		}},

		// users
		{"username must not be empty", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Username = "" }, []string{
			"bootstrap.organizations[0].users[0].username: must not be empty",
		}},
		{"username without control characters", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Username = "ali\x00ce" }, []string{
			"bootstrap.organizations[0].users[0].username: must not contain control, zero-width or bidirectional-formatting characters",
		}},
		{"username without bidi overrides", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Username = "ali\u202ece" }, []string{
			"bootstrap.organizations[0].users[0].username: must not contain control, zero-width or bidirectional-formatting characters",
		}},
		{"username of 100 characters is fine", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Username = strings.Repeat("é", 100) }, nil},
		{"username over 100 characters", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Username = strings.Repeat("a", 101) }, []string{
			"bootstrap.organizations[0].users[0].username: must be at most 100 characters",
		}},
		{"duplicate username is reported at the second occurrence", func(c *Config) {
			o := &c.Bootstrap.Organizations[0]
			o.Users = append(o.Users, User{Username: "bob", Kind: "local"}, User{Username: "alice", Kind: "saml"})
		}, []string{`bootstrap.organizations[0].users[2].username: duplicate username "alice" (first at users[0])`}},
		{"same username in two organizations is fine", func(c *Config) {
			c.Bootstrap.Organizations = append(c.Bootstrap.Organizations, Organization{Name: "globex", Users: []User{{Username: "alice", Kind: "local"}}})
		}, nil},
		{"bad kind", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Kind = "ldap" }, []string{
			`bootstrap.organizations[0].users[0].kind: must be local, directory or saml, got "ldap"`,
			"bootstrap.organizations[0].users[0].password: only local users have a password",
		}},
		{"only local users have a password", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Kind = "directory" }, []string{
			"bootstrap.organizations[0].users[0].password: only local users have a password",
		}},
		{"only local users have a password file", func(c *Config) {
			u := &c.Bootstrap.Organizations[0].Users[0]
			u.Kind, u.PasswordFile = "saml", "/run/secrets/alice"
		}, []string{"bootstrap.organizations[0].users[0].password_file: only local users have a password"}},
		{"directory user without password is fine", func(c *Config) {
			u := &c.Bootstrap.Organizations[0].Users[0]
			u.Kind, u.Password = "directory", ""
		}, nil},

		// role assignments
		{"assignment names a role of the organization", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Roles[0].Role = "Foo" }, []string{
			`bootstrap.organizations[0].users[0].roles[0].role: unknown role "Foo"`,
		}},
		{"assignment role must not be empty", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Roles[0].Role = "" }, []string{
			"bootstrap.organizations[0].users[0].roles[0].role: must not be empty",
		}},
		{"assignment at a folder is fine", func(c *Config) {
			u := &c.Bootstrap.Organizations[0].Users[0]
			u.Roles = append(u.Roles, Assignment{Role: "Automation Developer", Folder: "Finance/Invoices"})
		}, nil},
		{"assignment folder must be a path", func(c *Config) { c.Bootstrap.Organizations[0].Users[0].Roles[0].Folder = "/Finance/" }, []string{
			`bootstrap.organizations[0].users[0].roles[0].folder: invalid folder path "/Finance/": use names joined by "/", such as Finance/Invoices, or "" for the whole organization`,
		}},
		{"duplicate organization-wide assignment", func(c *Config) {
			u := &c.Bootstrap.Organizations[0].Users[0]
			u.Roles = append(u.Roles, u.Roles[0])
		}, []string{`bootstrap.organizations[0].users[0].roles[1]: duplicate assignment of role "Automation Developer" organization-wide (first at roles[0])`}},
		{"duplicate folder assignment", func(c *Config) {
			u := &c.Bootstrap.Organizations[0].Users[0]
			a := Assignment{Role: "Automation Developer", Folder: "Finance"}
			u.Roles = append(u.Roles, a, a)
		}, []string{`bootstrap.organizations[0].users[0].roles[2]: duplicate assignment of role "Automation Developer" at folder "Finance" (first at roles[1])`}},
		{"a role of another organization is unknown", func(c *Config) {
			c.Bootstrap.Organizations = append(c.Bootstrap.Organizations, Organization{
				Name:  "globex",
				Users: []User{{Username: "bob", Kind: "local", Roles: []Assignment{{Role: "Automation Developer"}}}},
			})
		}, []string{`bootstrap.organizations[1].users[0].roles[0].role: unknown role "Automation Developer"`}},

		// events.delivery
		{"delivery timings must be positive", func(c *Config) {
			c.Events.Delivery = Delivery{}
		}, []string{"events.delivery.interval: must be positive", "events.delivery.lease: must be positive",
			"events.delivery.retry_for: must be positive", "events.delivery.retention: must be positive",
			"events.delivery.min_backoff: must be positive", "events.delivery.max_backoff: must be positive"}},
		{"delivery interval at most a minute, lease at least a second", func(c *Config) {
			c.Events.Delivery.Interval, c.Events.Delivery.Lease = Duration(2*time.Minute), Duration(500*time.Millisecond)
		}, []string{"events.delivery.interval: must be at most 1m", "events.delivery.lease: must be at least 1s"}},
		{"delivery max backoff not under the min", func(c *Config) {
			c.Events.Delivery.MinBackoff, c.Events.Delivery.MaxBackoff = Duration(time.Minute), Duration(time.Second)
		}, []string{"events.delivery.max_backoff: must not be less than events.delivery.min_backoff (1m)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			tt.change(c)
			wantProblems(t, c.Validate(), tt.want...)
		})
	}
}

func TestValidateReturnsNilWhenValid(t *testing.T) {
	// A nil *Errors in an error interface is not nil; Validate must not
	// return one.
	if err := validBase(t).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := validBase(t)
	c.Issuer = "https://auth.example.com?x"
	c.Database.Driver = "postgres"
	c.Log.Level = "verbose"
	c.Bootstrap.Organizations[0].Users[0].Kind = "admin"
	c.Bootstrap.Organizations[0].Users[0].Roles[0].Role = "Foo"
	wantProblems(t, c.Validate(),
		"issuer: must not have a query",
		"keys.encryption_key: required with database.driver postgres, so that every replica decrypts the same signing keys (set it, keys.encryption_key_file or AUTHSERVER_KEYS_ENCRYPTION_KEY)",
		`log.level: must be debug, info, warn or error, got "verbose"`,
		`bootstrap.organizations[0].users[0].kind: must be local, directory or saml, got "admin"`,
		"bootstrap.organizations[0].users[0].password: only local users have a password",
		`bootstrap.organizations[0].users[0].roles[0].role: unknown role "Foo"`,
	)
}

func TestLoadPlacesValidationProblemsOnTheirLine(t *testing.T) {
	_, err := loadYAML(t, `database:
  driver: postgres
  dsn: postgres://authserver:`+canary+`@db/authserver
keys:
  encryption_key: `+base64.StdEncoding.EncodeToString([]byte(canary))+`
`, nil)
	wantProblems(t, err, "keys.encryption_key: must decode to exactly 32 bytes for AES-256, got 18 (line 5)")

	_, err = loadYAML(t, "database:\n  driver: postgres\n  dsn: postgres://db/x\n", nil)
	wantProblems(t, err, "keys.encryption_key: required with database.driver postgres, so that every replica decrypts the same signing keys (set it, keys.encryption_key_file or AUTHSERVER_KEYS_ENCRYPTION_KEY)")
}
