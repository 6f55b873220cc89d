package config

// Config is the whole configuration file. Every scalar key, and
// http.trusted_proxies as one comma-separated string, can be overridden by
// AUTHSERVER_ + its upper-cased key path joined by "_", for example
// AUTHSERVER_DATABASE_DSN; secrets can also come from a file named by
// the key with a _file suffix (keys.encryption_key_file, database.dsn_file).
type Config struct {
	// Issuer is the iss of every JWT and the base of every URL the server
	// publishes. It is also the id of the built-in management audience.
	Issuer    string    `yaml:"issuer"`
	HTTP      HTTP      `yaml:"http"`
	Telemetry Telemetry `yaml:"telemetry"`
	Database  Database  `yaml:"database"`
	Keys      Keys      `yaml:"keys"`
	Tokens    Tokens    `yaml:"tokens"`
	Log       Log       `yaml:"log"`
	Console   Console   `yaml:"console"`
	Bootstrap Bootstrap `yaml:"bootstrap"`
	// Events configures where lifecycle events are delivered; SMTP is the
	// mail server owners' notices are sent through.
	Events Events `yaml:"events"`
	SMTP   SMTP   `yaml:"smtp"`
}

// HTTP is the public listener: token endpoint, JWKS, API and console.
type HTTP struct {
	Addr        string `yaml:"addr"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// TrustedProxies are the networks of the reverse proxies in front of
	// the listener, whose X-Forwarded-For is believed (httpx.ClientAddr
	// has the rule). Empty, the default: the client is the socket peer
	// and X-Forwarded-For is ignored. In the environment it is one
	// comma-separated string.
	TrustedProxies CIDRs `yaml:"trusted_proxies"`
}

// Telemetry is the operator listener: /metrics, /healthz, /readyz.
type Telemetry struct {
	Addr string `yaml:"addr"`
	// Pprof serves Go's profiler under /debug/pprof/ on the telemetry
	// listener. Off by default: profiles reveal code paths and timings, so
	// only turn it on where the telemetry listener is private.
	Pprof bool `yaml:"pprof"`
}

// Database selects the storage backend.
type Database struct {
	// Driver is sqlite or postgres.
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite, a URL or key=value string for postgres.
	// It may hold a password, so it is a secret.
	DSN     Secret `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	// MaxOpenConns caps the connection pool (0 = the default for the driver).
	MaxOpenConns int `yaml:"max_open_conns"`
	// QueryTimeout bounds every database call: the wait for a connection,
	// each statement, and on SQLite the wait for the write lock. A request
	// whose call runs out of it is answered 503 with Retry-After.
	QueryTimeout Duration `yaml:"query_timeout"`
}

// Keys configures JWT signing keys.
type Keys struct {
	// Algorithm is ES256, RS256 or EdDSA.
	Algorithm string `yaml:"algorithm"`
	// EncryptionKey is the base64 of 32 bytes used to encrypt private keys at
	// rest (AES-256-GCM). Required with postgres.
	EncryptionKey     Secret   `yaml:"encryption_key"`
	EncryptionKeyFile string   `yaml:"encryption_key_file"`
	RotationPeriod    Duration `yaml:"rotation_period"`
	PublishAhead      Duration `yaml:"publish_ahead"`
}

// Tokens configures PATs and issued access tokens.
type Tokens struct {
	PATPrefix       string   `yaml:"pat_prefix"`
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	DefaultAudience string   `yaml:"default_audience"`
	// MaxDelegationDepth is how many chained exchanges may follow a PAT's
	// exchange: the deepest nesting of act claims a token may carry. 0
	// turns chained exchange off.
	MaxDelegationDepth int `yaml:"max_delegation_depth"`
	// DPoPProofWindow is how old a DPoP proof (RFC 9449) may be: its iat
	// must be within this of now (plus a few seconds of clock skew), and
	// its jti is remembered that long to refuse a replay.
	DPoPProofWindow Duration `yaml:"dpop_proof_window"`
	// DPoPNonce makes every DPoP proof carry a nonce this server issued
	// (DPoP-Nonce header, error use_dpop_nonce), valid on every replica.
	DPoPNonce bool `yaml:"dpop_nonce"`
}

// Log configures the process log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json, text or auto (text on a terminal, json otherwise).
	Format string `yaml:"format"`
}

// Console configures the web console's sessions.
type Console struct {
	SessionIdleTimeout     Duration `yaml:"session_idle_timeout"`
	SessionAbsoluteTimeout Duration `yaml:"session_absolute_timeout"`
}

// Bootstrap declares installation state applied idempotently at start-up.
type Bootstrap struct {
	Audiences     []Audience     `yaml:"audiences"`
	Clients       []Client       `yaml:"clients"`
	Organizations []Organization `yaml:"organizations"`
}

// Audience is a resource server that tokens can be issued for.
type Audience struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Scopes are written as bare names or as {name, description}
	// mappings, mixed in one list.
	Scopes Scopes `yaml:"scopes"`
	// AccessTokenTTL overrides tokens.access_token_ttl when non-zero.
	AccessTokenTTL Duration `yaml:"access_token_ttl"`
}

// Scope is one scope of an audience: its name and, optionally, what it is
// for (shown where people pick scopes for a PAT). In the file it is a bare
// name or a mapping with the keys name and description.
type Scope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// scalarField makes a bare scalar fill Name (see decoder.value).
func (*Scope) scalarField() string { return "Name" }

// Scopes are an audience's scopes in file order.
type Scopes []Scope

// Names are the scope names in order.
func (s Scopes) Names() []string {
	out := make([]string, len(s))
	for i, sc := range s {
		out[i] = sc.Name
	}
	return out
}

// Descriptions maps the names of described scopes to their descriptions;
// nil when none is described.
func (s Scopes) Descriptions() map[string]string {
	var out map[string]string
	for _, sc := range s {
		if sc.Description != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[sc.Name] = sc.Description
		}
	}
	return out
}

// Client is an OAuth client.
type Client struct {
	ID     string `yaml:"id"`
	Public bool   `yaml:"public"`
	// SecretSHA256 is the lower-case hex SHA-256 of a confidential client's
	// secret; the secret itself is never configured in clear.
	SecretSHA256 string   `yaml:"secret_sha256"`
	Audiences    []string `yaml:"audiences"`
	// GrantTypes defaults to the token-exchange grant when omitted.
	GrantTypes []string `yaml:"grant_types"`
	// Introspection allows the client to call /oauth2/introspect.
	Introspection bool `yaml:"introspection"`
	// OnBehalfOf are the audiences whose access tokens the client may
	// present as subject_token (a chained exchange, as an MCP gateway
	// does): each a bootstrap audience. Only a confidential client
	// allowed the token-exchange grant may have them.
	OnBehalfOf []string `yaml:"on_behalf_of"`
	// DPoP is optional (the default) or required: a client that requires
	// it must send a DPoP proof with every token request, so that every
	// token it gets is bound to its key.
	DPoP string `yaml:"dpop"`
}

// Organization is a tenant with its settings, roles and users.
type Organization struct {
	Name string `yaml:"name"`
	// PATsEnabled defaults to true when omitted.
	PATsEnabled    *bool    `yaml:"pats_enabled"`
	PATMaxLifetime Duration `yaml:"pat_max_lifetime"`
	Roles          []Role   `yaml:"roles"`
	Users          []User   `yaml:"users"`

	// ExpiryNoticeDays are the days before a PAT's end at which its owner
	// is notified; nil (omitted) is the default 30, 7, 1, [] none.
	ExpiryNoticeDays *[]int `yaml:"expiry_notice_days"`
	// PATIdleRevokeAfter revokes PATs unused for that long; 0 never.
	PATIdleRevokeAfter Duration `yaml:"pat_idle_revoke_after"`
}

// Role is a named set of permissions within an organization.
type Role struct {
	Name        string   `yaml:"name"`
	Permissions []string `yaml:"permissions"`
}

// User is a member of an organization.
type User struct {
	Username string `yaml:"username"`
	// Kind is local, directory or saml.
	Kind         string       `yaml:"kind"`
	Password     Secret       `yaml:"password"`
	PasswordFile string       `yaml:"password_file"`
	Admin        bool         `yaml:"admin"`
	Roles        []Assignment `yaml:"roles"`

	// Email is where the notices about the user's PATs go; "" leaves the
	// stored address alone.
	Email string `yaml:"email"`
}

// Assignment binds a role to a user, organization-wide (empty folder) or at a
// folder path and every folder below it.
type Assignment struct {
	Role   string `yaml:"role"`
	Folder string `yaml:"folder"`
}

// Events configures the delivery of lifecycle events (the outbox).
type Events struct {
	// Delivery paces the outbox, which delivers to every sink.
	Delivery Delivery `yaml:"delivery"`
	// SSF pushes events as Security Event Tokens to Shared Signals
	// receivers.
	SSF SSF `yaml:"ssf"`
	// Webhooks are the organizations' own destinations.
	Webhooks Webhooks `yaml:"webhooks"`
}

// Webhooks configures what organizations' webhooks may reach. Their URLs
// are chosen by organization admins, not by the operator, so by default
// they may reach public addresses only.
type Webhooks struct {
	// PrivateNetworks allows webhooks to loopback, private (RFC 1918,
	// unique local), link-local and other non-public addresses. Off, a
	// URL naming one literally is refused when it is added, and a
	// delivery's connection to one is refused whatever name led there.
	PrivateNetworks bool `yaml:"private_networks"`
}

// SSF configures the Shared Signals push (RFC 8935) of Security Event
// Tokens, one stream per receiver.
type SSF struct {
	Receivers []SSFReceiver `yaml:"receivers"`
	// Timeout bounds one push: connecting, sending and reading the answer.
	Timeout Duration `yaml:"timeout"`
}

// SSFReceiver is one receiver of Security Event Tokens.
type SSFReceiver struct {
	// Name identifies the receiver in logs, metrics and the outbox; it
	// must be unique.
	Name string `yaml:"name"`
	// URL is where SETs are POSTed: https, or http to a loopback address.
	URL string `yaml:"url"`
	// Audience is the aud claim of every SET sent to this receiver.
	Audience string `yaml:"audience"`
	// Authorization is the Authorization header value sent with every
	// push, such as "Bearer …" (the stream's authorization_header).
	Authorization     Secret `yaml:"authorization"`
	AuthorizationFile string `yaml:"authorization_file"`
	// Events limits the event types sent to this receiver; empty sends
	// every type Shared Signals can carry (SSFEventTypes).
	Events []string `yaml:"events"`
}

// SSFEventTypes are the lifecycle event types that have a Shared Signals
// form, the values events.ssf.receivers[].events may list.
var SSFEventTypes = []string{"pat.created", "pat.regenerated", "pat.revoked", "user.deactivated", "user.reactivated"}

// SMTP is the mail server that owners' notices (expiring and revoked
// tokens) go through. Without a host no mail is sent.
type SMTP struct {
	Host string `yaml:"host"`
	// Port defaults to 587 with starttls, 465 with tls, 25 with none.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// Password is the AUTH password; set with username.
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender address, such as "authserver <noreply@example.com>".
	From string `yaml:"from"`
	// TLS is starttls (the default: plain connection upgraded, STARTTLS
	// required), tls (TLS from the first byte, usually port 465) or none
	// (only to a loopback host, such as a local relay).
	TLS string `yaml:"tls"`
	// Timeout bounds connecting and each SMTP command.
	Timeout Duration `yaml:"timeout"`
}

// Delivery configures the outbox's dispatcher, which runs on every
// replica: how often it looks for work, how long a claimed delivery is
// kept from other replicas, and how long a failing delivery is retried.
type Delivery struct {
	// Interval is how often each replica looks for new events and due
	// deliveries.
	Interval Duration `yaml:"interval"`
	// Lease is how long a claimed delivery is kept from the other
	// replicas; an attempt is cut off at half of it. A replica that dies
	// mid-delivery leaves the delivery to another after the lease.
	Lease Duration `yaml:"lease"`
	// RetryFor is how long a failing delivery is retried, from the
	// event's fan-out, before it is given up.
	RetryFor Duration `yaml:"retry_for"`
	// MinBackoff and MaxBackoff bound the wait between attempts: it
	// doubles from MinBackoff, with jitter, up to MaxBackoff.
	MinBackoff Duration `yaml:"min_backoff"`
	MaxBackoff Duration `yaml:"max_backoff"`
	// Retention is how long an event stays after it was delivered (or
	// given up) everywhere.
	Retention Duration `yaml:"retention"`
}
