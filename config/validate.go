package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"authserver/internal/httpx"
	"authserver/internal/mailaddr"
	"authserver/internal/names"
	"authserver/internal/patpolicy"
	"authserver/internal/rfc8693"
)

const (
	driverSQLite   = "sqlite"
	driverPostgres = "postgres"

	kindLocal = "local"
)

// The allowed values of each enumerated key, in the order problems list them.
var (
	drivers    = []string{driverSQLite, driverPostgres}
	algorithms = []string{"ES256", "RS256", "EdDSA"}
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"auto", "json", "text"}
	userKinds  = []string{kindLocal, "directory", "saml"}
	dpopModes  = []string{DPoPOptional, DPoPRequired}
	smtpModes  = []string{SMTPStartTLS, SMTPImplicitTLS, SMTPNoTLS}

	// grantTypes is every grant type a client may be allowed. Adding a grant
	// to the server means adding it here.
	grantTypes = []string{rfc8693.GrantType}
)

// patPrefix keeps PATs recognisable by secret scanners: a short lower-case
// word and an underscore, as in pat_.
var patPrefix = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}_$`)

// The values of smtp.tls.
const (
	SMTPStartTLS    = "starttls"
	SMTPImplicitTLS = "tls"
	SMTPNoTLS       = "none"
)

// The values of a client's dpop key.
const (
	DPoPOptional = "optional"
	DPoPRequired = "required"
)

const (
	// maxDPoPProofWindow caps tokens.dpop_proof_window: a proof is a
	// one-request credential, and every proof seen is stored that long.
	maxDPoPProofWindow = 10 * time.Minute
	// maxTokenTTL caps access-token lifetimes: the JWTs are verified offline
	// and cannot be revoked, so a long TTL defeats revocation.
	maxTokenTTL = 24 * time.Hour

	// maxDelegationDepth caps tokens.max_delegation_depth: every hop nests
	// one more act claim in the token, and a chain longer than a few
	// gateways is a loop or a design nobody can audit.
	maxDelegationDepth = 5
)

// Validate checks c and returns a *Errors listing every problem, or nil.
// It checks values as they are after Load: the …_file keys have been read
// into their values (Load reports a value given twice), and defaults such as
// a user's kind have been filled in, so an empty kind is a problem here.
func (c *Config) Validate() error {
	return validate(c, false).err()
}

// validator runs every rule once over a configuration, collecting problems.
type validator struct {
	Errors
	c             *Config
	issuerDerived bool
	audiences     map[string]bool // bootstrap audience ids
}

func validate(c *Config, issuerDerived bool) *Errors {
	v := &validator{c: c, issuerDerived: issuerDerived, audiences: map[string]bool{}}
	for _, a := range c.Bootstrap.Audiences {
		if a.ID != "" {
			v.audiences[a.ID] = true
		}
	}
	v.issuer()
	v.listeners()
	v.database()
	v.keys()
	v.tokens()
	v.log()
	v.console()
	v.bootstrapAudiences()
	v.bootstrapClients()
	v.organizations()
	v.ssf()
	v.smtp()
	v.delivery()
	return &v.Errors
}

// issuer must be a URL that every JWT can carry as iss and that clients can
// prefix to endpoint paths: absolute http(s), no user info, query or
// fragment (RFC 8414 §2), and no trailing slash, so "issuer + /path" never
// holds "//".
func (v *validator) issuer() {
	const p = "issuer"
	iss := v.c.Issuer
	if iss == "" {
		v.addf(p, "must not be empty")
		return
	}
	if v.issuerDerived {
		host, _, err := net.SplitHostPort(v.c.HTTP.Addr)
		if err != nil {
			return // http.addr reports it
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			v.addf(p, "not set, and http.addr %q listens on every interface, which is no address clients can use: set issuer to the URL clients reach this server at", v.c.HTTP.Addr)
			return
		}
	}
	u, err := url.Parse(iss)
	switch {
	case err != nil || !strings.HasPrefix(iss, "http://") && !strings.HasPrefix(iss, "https://") || u.Hostname() == "":
		v.addf(p, "must be an absolute http or https URL, such as https://auth.example.com")
	case u.User != nil:
		v.addf(p, "must not contain a user name or password")
	case u.RawQuery != "" || u.ForceQuery:
		v.addf(p, "must not have a query")
	case u.Fragment != "" || strings.Contains(iss, "#"):
		v.addf(p, "must not have a fragment")
	case strings.HasSuffix(iss, "/"):
		v.addf(p, "must not end with a slash")
	}
}

// listeners checks both listen addresses, TLS files, the trusted proxies
// and that the two listeners do not claim the same port.
func (v *validator) listeners() {
	h := v.c.HTTP
	httpOK := v.addr("http.addr", h.Addr)
	switch {
	case h.TLSCertFile != "" && h.TLSKeyFile == "":
		v.addf("http.tls_key_file", "must be set together with http.tls_cert_file")
	case h.TLSCertFile == "" && h.TLSKeyFile != "":
		v.addf("http.tls_cert_file", "must be set together with http.tls_key_file")
	}
	for i, p := range h.TrustedProxies {
		if p.Bits() == 0 {
			// Then every peer is a proxy and the left-most entry of a
			// header the client wrote is the client: any client could
			// pick its own address, and its own rate-limit budget.
			v.addf(index("http.trusted_proxies", i), "must not trust every address (%s): any client could then choose its address", p)
		}
	}
	t := v.c.Telemetry.Addr
	if v.addr("telemetry.addr", t) && httpOK && sameListener(h.Addr, t) {
		v.addf("telemetry.addr", "must differ from http.addr: both listeners would bind %s", t)
	}
}

// addr checks a host:port listen address (port 0 picks a free port).
func (v *validator) addr(path, addr string) bool {
	if addr == "" {
		v.addf(path, "must not be empty")
		return false
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.addf(path, "must be host:port, such as 127.0.0.1:8080 or :8080")
		return false
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.addf(path, "port must be a number from 0 to 65535")
		return false
	}
	return true
}

// sameListener reports whether two valid addresses would bind the same
// port: same port, and same host or either one every interface.
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	everywhere := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	return ha == hb || everywhere(ha) || everywhere(hb)
}

func (v *validator) database() {
	d := v.c.Database
	v.oneOf("database.driver", d.Driver, drivers)
	if d.DSN == "" {
		v.addf("database.dsn", "must not be empty")
	}
	if d.MaxOpenConns < 0 {
		v.addf("database.max_open_conns", "must not be negative (0 is the driver's default)")
	}
	// Under 100ms a healthy database under load would be taken for a dead
	// one; over a minute a request would hang as long as a load balancer's
	// own timeout, which is what the deadline is there to prevent.
	if qt := d.QueryTimeout.D(); qt < 100*time.Millisecond || qt > time.Minute {
		v.addf("database.query_timeout", "must be between 100ms and 1m")
	}
}

// keys: with postgres several replicas share the signing keys, so they must
// share the key that encrypts them; only sqlite may generate one on disk.
func (v *validator) keys() {
	k := v.c.Keys
	v.oneOf("keys.algorithm", k.Algorithm, algorithms)
	switch {
	case k.EncryptionKey == "" && v.c.Database.Driver == driverPostgres:
		v.addf("keys.encryption_key", "required with database.driver postgres, so that every replica decrypts the same signing keys (set it, keys.encryption_key_file or AUTHSERVER_KEYS_ENCRYPTION_KEY)")
	case k.EncryptionKey != "":
		// Never quote the value, nor the decoder's error: both are secret.
		b, err := base64.StdEncoding.DecodeString(k.EncryptionKey.Reveal())
		if err != nil {
			v.addf("keys.encryption_key", "must be standard base64 of 32 random bytes (such as the output of `openssl rand -base64 32`)")
		} else if len(b) != 32 {
			v.addf("keys.encryption_key", "must decode to exactly 32 bytes for AES-256, got %d", len(b))
		}
	}
	v.positive("keys.rotation_period", k.RotationPeriod)
	if v.positive("keys.publish_ahead", k.PublishAhead) && k.RotationPeriod > 0 && k.PublishAhead >= k.RotationPeriod {
		v.addf("keys.publish_ahead", "must be shorter than keys.rotation_period (%s), or a key would be replaced before it signs anything", k.RotationPeriod)
	}
}

func (v *validator) tokens() {
	t := v.c.Tokens
	if !patPrefix.MatchString(t.PATPrefix) {
		v.addf("tokens.pat_prefix", "must be a lower-case letter, up to 15 more lower-case letters or digits, and an underscore, such as pat_")
	}
	if v.positive("tokens.access_token_ttl", t.AccessTokenTTL) && t.AccessTokenTTL.D() > maxTokenTTL {
		v.addf("tokens.access_token_ttl", "must be at most 24h: access tokens cannot be revoked once issued")
	}
	if a := t.DefaultAudience; a != "" && a != v.c.Issuer && !v.audiences[a] {
		v.addf("tokens.default_audience", "unknown audience %q: must be empty, the issuer or the id of a bootstrap audience", a)
	}
	if d := t.MaxDelegationDepth; d < 0 || d > maxDelegationDepth {
		v.addf("tokens.max_delegation_depth", "must be from 0 (no chained exchange) to %d", maxDelegationDepth)
	}
	if v.positive("tokens.dpop_proof_window", t.DPoPProofWindow) && t.DPoPProofWindow.D() > maxDPoPProofWindow {
		v.addf("tokens.dpop_proof_window", "must be at most 10m: a DPoP proof is good for one request, and every proof seen is kept that long")
	}
}

func (v *validator) log() {
	v.oneOf("log.level", v.c.Log.Level, logLevels)
	v.oneOf("log.format", v.c.Log.Format, logFormats)
}

func (v *validator) console() {
	c := v.c.Console
	idle := v.positive("console.session_idle_timeout", c.SessionIdleTimeout)
	abs := v.positive("console.session_absolute_timeout", c.SessionAbsoluteTimeout)
	if idle && abs && c.SessionIdleTimeout > c.SessionAbsoluteTimeout {
		v.addf("console.session_idle_timeout", "must not exceed console.session_absolute_timeout (%s)", c.SessionAbsoluteTimeout)
	}
}

// bootstrapAudiences: the issuer is the id of the built-in management
// audience, so no bootstrap audience may take it.
func (v *validator) bootstrapAudiences() {
	first := map[string]int{}
	for i, a := range v.c.Bootstrap.Audiences {
		p := index("bootstrap.audiences", i)
		if v.id(key(p, "id"), a.ID) {
			switch j, dup := first[a.ID]; {
			case a.ID == v.c.Issuer:
				v.addf(key(p, "id"), "must not be the issuer, which is the id of the built-in management audience")
			case dup:
				v.addf(key(p, "id"), "duplicate audience id %q (first at bootstrap.audiences[%d])", a.ID, j)
			default:
				first[a.ID] = i
			}
		}
		v.name(key(p, "name"), a.Name)
		v.scopes(key(p, "scopes"), a.Scopes.Names(), "scope")
		for j, sc := range a.Scopes {
			v.description(key(index(key(p, "scopes"), j), "description"), sc.Description)
		}
		if a.AccessTokenTTL < 0 {
			v.addf(key(p, "access_token_ttl"), "must not be negative (0 uses tokens.access_token_ttl)")
		} else if a.AccessTokenTTL.D() > maxTokenTTL {
			v.addf(key(p, "access_token_ttl"), "must be at most 24h: access tokens cannot be revoked once issued")
		}
	}
}

// bootstrapClients: a public client has no secret and so can neither prove
// who it is to the introspection endpoint nor be confidential.
func (v *validator) bootstrapClients() {
	first := map[string]int{}
	for i, cl := range v.c.Bootstrap.Clients {
		p := index("bootstrap.clients", i)
		if v.id(key(p, "id"), cl.ID) {
			if j, dup := first[cl.ID]; dup {
				v.addf(key(p, "id"), "duplicate client id %q (first at bootstrap.clients[%d])", cl.ID, j)
			} else {
				first[cl.ID] = i
			}
		}
		switch {
		case cl.Public && cl.SecretSHA256 != "":
			v.addf(key(p, "secret_sha256"), "must be empty for a public client")
		case !cl.Public && cl.SecretSHA256 == "":
			v.addf(p, "must be public: true or have a secret_sha256")
		case cl.SecretSHA256 != "" && !isSHA256Hex(cl.SecretSHA256):
			v.addf(key(p, "secret_sha256"), "must be 64 hexadecimal characters, the SHA-256 of the client secret")
		}
		seen := map[string]bool{}
		for j, a := range cl.Audiences {
			ap := index(key(p, "audiences"), j)
			switch {
			case seen[a]:
				v.addf(ap, "duplicate audience %q", a)
			case a != v.c.Issuer && !v.audiences[a]:
				v.addf(ap, "unknown audience %q: must be the id of a bootstrap audience or the issuer", a)
			}
			seen[a] = true
		}
		seen = map[string]bool{}
		for j, g := range cl.GrantTypes {
			gp := index(key(p, "grant_types"), j)
			switch {
			case seen[g]:
				v.addf(gp, "duplicate grant type %q", g)
			case !slices.Contains(grantTypes, g):
				v.addf(gp, "unsupported grant type %q: must be %s", g, alternatives(grantTypes))
			}
			seen[g] = true
		}
		if cl.Introspection && cl.Public {
			v.addf(key(p, "introspection"), "not allowed for a public client: introspection requires client authentication")
		}
		if len(cl.GrantTypes) == 0 && !cl.Introspection {
			v.addf(key(p, "grant_types"), "is empty and introspection is off, so the client could do nothing")
		}
		v.oneOf(key(p, "dpop"), cl.DPoP, dpopModes)
		if cl.DPoP == DPoPRequired && len(cl.GrantTypes) == 0 {
			v.addf(key(p, "dpop"), "required needs a grant type: DPoP binds the tokens the client is issued, and it is issued none")
		}
		v.onBehalfOf(p, cl)
	}
}

// onBehalfOf: the audiences whose tokens a client may exchange further
// are bootstrap audiences. The issuer is not one of them: a token for the
// management API is presented to this server alone, so no gateway holds
// one to pass on. A public client cannot have any: it proves nothing about
// who presents the token, and the chain names the presenting client in
// every act claim.
func (v *validator) onBehalfOf(p string, cl Client) {
	if len(cl.OnBehalfOf) == 0 {
		return
	}
	switch {
	case cl.Public:
		v.addf(key(p, "on_behalf_of"), "not allowed for a public client: a chained exchange requires client authentication")
	case !slices.Contains(cl.GrantTypes, rfc8693.GrantType):
		v.addf(key(p, "on_behalf_of"), "needs the token-exchange grant in grant_types")
	}
	seen := map[string]bool{}
	for j, a := range cl.OnBehalfOf {
		ap := index(key(p, "on_behalf_of"), j)
		switch {
		case seen[a]:
			v.addf(ap, "duplicate audience %q", a)
		case a == v.c.Issuer:
			v.addf(ap, "must not be the issuer: tokens for the management API are never passed on")
		case !v.audiences[a]:
			v.addf(ap, "unknown audience %q: must be the id of a bootstrap audience", a)
		}
		seen[a] = true
	}
}

// organizations checks each organization with its roles and users; names
// are unique per organization, as the database requires.
func (v *validator) organizations() {
	first := map[string]int{}
	for i, o := range v.c.Bootstrap.Organizations {
		p := index("bootstrap.organizations", i)
		if v.name(key(p, "name"), o.Name) {
			if j, dup := first[o.Name]; dup {
				v.addf(key(p, "name"), "duplicate organization %q (first at bootstrap.organizations[%d])", o.Name, j)
			} else {
				first[o.Name] = i
			}
		}
		if err := patpolicy.CheckMaxLifetime(o.PATMaxLifetime.D()); err != nil {
			v.addf(key(p, "pat_max_lifetime"), "%s", err)
		}
		if o.ExpiryNoticeDays != nil {
			if err := patpolicy.CheckExpiryNoticeDays(*o.ExpiryNoticeDays); err != nil {
				v.addf(key(p, "expiry_notice_days"), "%s", err)
			}
		}
		if err := patpolicy.CheckIdleRevokeAfter(o.PATIdleRevokeAfter.D()); err != nil {
			v.addf(key(p, "pat_idle_revoke_after"), "%s", err)
		}
		roles := map[string]int{}
		for j, r := range o.Roles {
			rp := index(key(p, "roles"), j)
			if v.name(key(rp, "name"), r.Name) {
				if k, dup := roles[r.Name]; dup {
					v.addf(key(rp, "name"), "duplicate role %q (first at roles[%d])", r.Name, k)
				} else {
					roles[r.Name] = j
				}
			}
			v.scopes(key(rp, "permissions"), r.Permissions, "permission")
		}
		users := map[string]int{}
		for j, u := range o.Users {
			up := index(key(p, "users"), j)
			if v.name(key(up, "username"), u.Username) {
				if k, dup := users[u.Username]; dup {
					v.addf(key(up, "username"), "duplicate username %q (first at users[%d])", u.Username, k)
				} else {
					users[u.Username] = j
				}
			}
			v.user(up, u, roles)
		}
	}
}

// user checks one user: only local users sign in with a password, and each
// role assignment names a role of the user's own organization.
func (v *validator) user(p string, u User, roles map[string]int) {
	v.oneOf(key(p, "kind"), u.Kind, userKinds)
	if err := mailaddr.Check(u.Email); err != nil {
		v.addf(key(p, "email"), "%s", err)
	}
	if u.Kind != kindLocal {
		if u.PasswordFile != "" {
			v.addf(key(p, "password_file"), "only local users have a password")
		} else if u.Password != "" {
			v.addf(key(p, "password"), "only local users have a password")
		}
	}
	first := map[Assignment]int{}
	for k, a := range u.Roles {
		ap := index(key(p, "roles"), k)
		if a.Role == "" {
			v.addf(key(ap, "role"), "must not be empty")
		} else if _, ok := roles[a.Role]; !ok {
			v.addf(key(ap, "role"), "unknown role %q", a.Role)
		}
		if !names.ValidFolder(a.Folder) {
			v.addf(key(ap, "folder"), `invalid folder path %q: use names joined by "/", such as Finance/Invoices, or "" for the whole organization`, a.Folder)
			continue
		}
		if j, dup := first[a]; dup {
			where := "organization-wide"
			if a.Folder != "" {
				where = fmt.Sprintf("at folder %q", a.Folder)
			}
			v.addf(ap, "duplicate assignment of role %q %s (first at roles[%d])", a.Role, where, j)
		} else {
			first[a] = k
		}
	}
}

// id checks an identifier used in requests and tokens (audience and client
// ids): non-empty, printable and without spaces, since scope and audience
// lists are space-separated on the wire. It reports whether id is usable.
func (v *validator) id(path, id string) bool {
	switch {
	case id == "":
		v.addf(path, "must not be empty")
	case !names.Printable(id) || strings.ContainsAny(id, " \u00a0"):
		v.addf(path, "must not contain spaces or control characters")
	default:
		return true
	}
	return false
}

// name checks a display name against the shared rule (internal/names):
// non-empty, printable (no control, zero-width or bidi characters, which
// make one name look like another), no surrounding spaces (which sign-in
// forms trim) and at most names.MaxLen characters.
func (v *validator) name(path, name string) bool {
	if err := names.Check(name); err != nil {
		v.addf(path, "%s", err)
		return false
	}
	return true
}

// maxDescription bounds a scope description, in characters.
const maxDescription = 200

// description checks an optional description: printable (no control or
// bidirectional-formatting characters), without surrounding spaces, at most
// maxDescription characters.
func (v *validator) description(path, d string) {
	switch {
	case d == "":
	case !names.Printable(d):
		v.addf(path, "must not contain control or bidirectional-formatting characters")
	case strings.TrimSpace(d) != d:
		v.addf(path, "must not start or end with spaces")
	case utf8.RuneCountInString(d) > maxDescription:
		v.addf(path, "must be at most %d characters", maxDescription)
	}
}

// scopes checks a non-empty list of distinct, well-formed scope names.
func (v *validator) scopes(path string, list []string, what string) {
	if len(list) == 0 {
		v.addf(path, "must list at least one %s", what)
		return
	}
	seen := map[string]bool{}
	for i, s := range list {
		switch {
		case !names.ValidScope(s):
			v.addf(index(path, i), "invalid %s name %q: use dotted names such as OR.Jobs.Read", what, s)
		case seen[s]:
			v.addf(index(path, i), "duplicate %s %q", what, s)
		}
		seen[s] = true
	}
}

func (v *validator) oneOf(path, val string, allowed []string) {
	if !slices.Contains(allowed, val) {
		v.addf(path, "must be %s, got %q", alternatives(allowed), val)
	}
}

func (v *validator) positive(path string, d Duration) bool {
	if d <= 0 {
		v.addf(path, "must be positive")
		return false
	}
	return true
}

// alternatives writes a list as "a, b or c".
func alternatives(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// maxDeliveryTimeout caps events.ssf.timeout and smtp.timeout: a receiver
// that takes longer holds a delivery worker that long.
const maxDeliveryTimeout = 5 * time.Minute

// ssf: each receiver has a unique name, an address that keeps its SETs and
// its authorization off the network in clear, and an audience.
func (v *validator) ssf() {
	s := v.c.Events.SSF
	if v.positive("events.ssf.timeout", s.Timeout) && s.Timeout.D() > maxDeliveryTimeout {
		v.addf("events.ssf.timeout", "must be at most 5m")
	}
	first := map[string]int{}
	for i, r := range s.Receivers {
		p := index("events.ssf.receivers", i)
		if v.name(key(p, "name"), r.Name) {
			if j, dup := first[r.Name]; dup {
				v.addf(key(p, "name"), "duplicate receiver name (first at events.ssf.receivers[%d])", j)
			} else {
				first[r.Name] = i
			}
		}
		v.pushURL(key(p, "url"), r.URL)
		v.id(key(p, "audience"), r.Audience)
		if a := r.Authorization.Reveal(); a != "" && (!names.Printable(a) || strings.TrimSpace(a) != a) {
			// Never quote it: it is a credential.
			v.addf(key(p, "authorization"), "must be one line of printable characters without surrounding spaces, such as Bearer and a token")
		}
		seen := map[string]bool{}
		for j, e := range r.Events {
			switch {
			case !slices.Contains(SSFEventTypes, e):
				v.addf(index(key(p, "events"), j), "must be %s", alternatives(SSFEventTypes))
			case seen[e]:
				v.addf(index(key(p, "events"), j), "duplicate event type %q", e)
			}
			seen[e] = true
		}
	}
}

// pushURL checks a URL events are pushed to: absolute, https unless the
// host is a loopback address, no user info (credentials go in the
// authorization key) and no fragment.
func (v *validator) pushURL(path, raw string) {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		v.addf(path, "must not be empty")
	case err != nil || u.Host == "" || u.Scheme != "https" && u.Scheme != "http":
		v.addf(path, "must be an absolute https URL, such as https://receiver.example.com/events")
	case u.Scheme == "http" && !httpx.LoopbackHost(u.Hostname()):
		v.addf(path, "must use https: only a loopback host (127.0.0.1, ::1, localhost) may be reached over http")
	case u.User != nil:
		v.addf(path, "must not contain a user name or password: put credentials in authorization")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		v.addf(path, "must not have a fragment")
	}
}

// smtp: without a host no mail is sent and nothing else may be set; with
// one, a sender, a TLS mode that never sends a password in clear beyond
// this machine, and a username and password together or not at all.
func (v *validator) smtp() {
	m := v.c.SMTP
	v.oneOf("smtp.tls", m.TLS, smtpModes)
	if v.positive("smtp.timeout", m.Timeout) && m.Timeout.D() > maxDeliveryTimeout {
		v.addf("smtp.timeout", "must be at most 5m")
	}
	if m.Host == "" {
		for _, k := range []struct {
			path string
			set  bool
		}{{"smtp.port", m.Port != 0}, {"smtp.username", m.Username != ""}, {"smtp.password", m.Password != ""}, {"smtp.from", m.From != ""}} {
			if k.set {
				v.addf(k.path, "set without smtp.host, which turns mail on: set smtp.host too, or remove it")
			}
		}
		return
	}
	if !names.Printable(m.Host) || strings.ContainsAny(m.Host, " /:@") {
		v.addf("smtp.host", "must be a host name or IP address, without a port (set smtp.port)")
	}
	if m.Port < 1 || m.Port > 65535 {
		v.addf("smtp.port", "must be a number from 1 to 65535")
	}
	if m.TLS == SMTPNoTLS && !httpx.LoopbackHost(m.Host) {
		v.addf("smtp.tls", "none is allowed only with a loopback smtp.host (127.0.0.1, ::1, localhost): mail and the password would cross the network in clear")
	}
	switch {
	case m.Username != "" && m.Password == "":
		v.addf("smtp.password", "must be set together with smtp.username (or smtp.password_file, AUTHSERVER_SMTP_PASSWORD)")
	case m.Username == "" && m.Password != "":
		v.addf("smtp.username", "must be set together with smtp.password")
	}
	if m.From == "" {
		v.addf("smtp.from", "must not be empty: the sender address of every notice")
	} else if a, err := mail.ParseAddress(m.From); err != nil || !strings.Contains(a.Address, "@") {
		v.addf("smtp.from", "must be an e-mail address, such as noreply@example.com or \"authserver <noreply@example.com>\"")
	}
}

// delivery: the outbox's timings. An attempt is cut off at half the
// lease, so a lease under 20s cuts a webhook's 10s timeout short; it is
// allowed down to 1s for tests.
func (v *validator) delivery() {
	d := v.c.Events.Delivery
	if v.positive("events.delivery.interval", d.Interval) && d.Interval > Duration(time.Minute) {
		v.addf("events.delivery.interval", "must be at most 1m")
	}
	if v.positive("events.delivery.lease", d.Lease) && d.Lease < Duration(time.Second) {
		v.addf("events.delivery.lease", "must be at least 1s")
	}
	v.positive("events.delivery.retry_for", d.RetryFor)
	v.positive("events.delivery.retention", d.Retention)
	minOK := v.positive("events.delivery.min_backoff", d.MinBackoff)
	if v.positive("events.delivery.max_backoff", d.MaxBackoff) && minOK && d.MaxBackoff < d.MinBackoff {
		v.addf("events.delivery.max_backoff", "must not be less than events.delivery.min_backoff (%s)", d.MinBackoff)
	}
}
