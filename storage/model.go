package storage

import "time"

// Organization is the tenancy boundary. Nothing ever crosses organizations.
type Organization struct {
	ID   string
	Name string
	// PATsEnabled switches PAT use and creation for the whole organization.
	PATsEnabled bool
	// PATMaxLifetime caps a PAT's life counted from its creation; 0 means no
	// limit. A lowered maximum applies to existing PATs at use time.
	PATMaxLifetime time.Duration
	CreatedAt      time.Time
	UpdatedAt      time.Time

	// ExpiryNoticeDays are the whole days before a PAT's expiry at which
	// its owner is notified (pat.expiry_notice); empty: no notices.
	// CreateOrganization stores DefaultExpiryNoticeDays for nil.
	ExpiryNoticeDays []int
	// PATIdleRevokeAfter revokes a PAT unused (or, never used, not used
	// since its creation) for that long; 0: never.
	PATIdleRevokeAfter time.Duration
}

// DefaultExpiryNoticeDays are an organization's expiry notice days unless
// it sets others.
var DefaultExpiryNoticeDays = []int{30, 7, 1}

// UserKind says where a user comes from; only local users own PATs.
type UserKind string

// The kinds of user.
const (
	UserLocal     UserKind = "local"
	UserDirectory UserKind = "directory"
	UserSAML      UserKind = "saml"
)

// UserStatus is active or deactivated.
type UserStatus string

// The statuses of a user.
const (
	UserActive      UserStatus = "active"
	UserDeactivated UserStatus = "deactivated"
)

// User belongs to one organization; Username is unique within it.
type User struct {
	ID       string
	OrgID    string
	Username string
	Kind     UserKind
	Status   UserStatus
	// Admin makes the user an administrator of its organization.
	Admin bool
	// PasswordHash is an argon2id PHC string, empty when the user has no
	// console password.
	PasswordHash string
	// Email is where the user's notices go (expiry, revocations others
	// made); "" for none.
	Email     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Role is a named list of permissions within an organization.
type Role struct {
	ID          string
	OrgID       string
	Name        string
	Permissions []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RoleAssignment binds user × role × folder. An empty Folder means
// organization-wide; otherwise the role applies at Folder and below.
type RoleAssignment struct {
	ID        string
	OrgID     string
	UserID    string
	RoleID    string
	Folder    string
	CreatedAt time.Time
}

// Audience is an installation-wide resource server.
type Audience struct {
	ID     string
	Name   string
	Scopes []string
	// ScopeDescriptions says what scopes are for, by scope name; a scope
	// without one is absent.
	ScopeDescriptions map[string]string
	// AccessTokenTTL overrides the server default when non-zero.
	AccessTokenTTL time.Duration
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Client is an installation-wide OAuth client.
type Client struct {
	ID string
	// Public clients have no secret (token_endpoint_auth_method none).
	Public bool
	// SecretHash is the SHA-256 of a confidential client's secret.
	SecretHash []byte
	Audiences  []string
	GrantTypes []string
	// Introspection allows the client to call the introspection endpoint.
	Introspection bool
	// OnBehalfOf are the audiences whose access tokens the client may
	// present as subject_token in a chained exchange (empty: PATs only).
	OnBehalfOf []string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// DPoPRequired refuses the client's token requests that carry no
	// DPoP proof (RFC 9449): every token it gets is bound to its key.
	DPoPRequired bool
}

// PAT is a personal access token. The token itself is never stored: Hash is
// its SHA-256 and Hint a non-secret display aid (prefix + last 4 characters).
type PAT struct {
	ID         string // UUIDv7, so ids sort by creation time
	OrgID      string
	UserID     string
	Name       string
	Scopes     []string
	Hash       []byte
	Hint       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time // nil: never expires
	LastUsedAt *time.Time
	// LastUsedAddr and LastUsedClient are the client address and the OAuth
	// client id of the last exchange ("" before the first).
	LastUsedAddr   string
	LastUsedClient string
	RevokedAt      *time.Time
	// RevokedReason says who revoked it: owner, admin, value, holder,
	// leaked, regenerated, cli or idle (the hygiene job). Empty while not
	// revoked.
	RevokedReason string
	// Delegates are the clients the owner allows to exchange the PAT's
	// access tokens on their behalf (chained exchange); empty allows none.
	Delegates []string

	// Rotation and networks.
	//
	// OverlapUntil is, for a PAT revoked because it was regenerated with an
	// overlap, when its secret stops working (nil: no overlap).
	OverlapUntil *time.Time
	// ReplacedBy is the id of the PAT that replaced this one when it was
	// regenerated ("" for none).
	ReplacedBy string
	// AllowedCIDRs are the networks the PAT may be exchanged from, as
	// canonical CIDRs; empty allows any address.
	AllowedCIDRs []string
	// RecentNetworks are the last networks (RecentNetworkCount at most)
	// the PAT was exchanged from, most recent first: the /24 of an IPv4
	// address, the /64 of an IPv6 address.
	RecentNetworks []string
}

// RecentNetworkCount is how many networks PAT.RecentNetworks keeps.
const RecentNetworkCount = 5

// InOverlap reports whether p, revoked because it was regenerated, still
// works at now: its overlap has not ended.
func (p *PAT) InOverlap(now time.Time) bool {
	return p.RevokedAt != nil && p.RevokedReason == RegeneratedReason && p.OverlapUntil != nil && now.Before(*p.OverlapUntil)
}

// RegeneratedReason is the RevokedReason of a PAT replaced by
// regeneration.
const RegeneratedReason = "regenerated"

// PATUse is one use of a PAT as the last-used write-behind records it: when,
// from which client address, through which OAuth client. An empty Addr and
// Client (an introspection) leave the recorded ones as they are.
type PATUse struct {
	At     time.Time
	Addr   string
	Client string
}

// LastUse is the PAT's last use as recorded: a zero At if it was never
// used.
func (p *PAT) LastUse() PATUse {
	u := PATUse{Addr: p.LastUsedAddr, Client: p.LastUsedClient}
	if p.LastUsedAt != nil {
		u.At = *p.LastUsedAt
	}
	return u
}

// PATStatus is the status of a PAT at a moment.
type PATStatus string

// The statuses of a PAT.
const (
	PATActive  PATStatus = "active"
	PATExpired PATStatus = "expired"
	PATRevoked PATStatus = "revoked"
)

// Status is the PAT's status at now under an organization maximum lifetime
// (0 = none). A PAT past created_at + maxLifetime counts as expired.
func (p *PAT) Status(now time.Time, maxLifetime time.Duration) PATStatus {
	switch {
	case p.RevokedAt != nil:
		return PATRevoked
	case p.ExpiresAt != nil && !now.Before(*p.ExpiresAt):
		return PATExpired
	case maxLifetime > 0 && !now.Before(p.CreatedAt.Add(maxLifetime)):
		return PATExpired
	}
	return PATActive
}

// Grant is one role assignment as the rights algebra needs it: the folder
// ("" = organization-wide) and the role's permissions.
type Grant struct {
	Folder      string
	Permissions []string
}

// PATGrant is everything an exchange needs to decide, read in one go: the PAT,
// its owner, the owner's organization and the owner's role assignments.
type PATGrant struct {
	PAT    PAT
	Owner  User
	Org    Organization
	Grants []Grant
}

// SigningKey is a JWT signing key. PrivateKey is encrypted at rest; PublicJWK
// is the public JSON Web Key as published.
type SigningKey struct {
	KID        string
	Algorithm  string
	PrivateKey []byte
	PublicJWK  []byte
	CreatedAt  time.Time
	// ActivatesAt is when the key may start signing; it is published in the
	// JWKS from CreatedAt.
	ActivatesAt time.Time
	// RetiresAt is when the key stops being published (nil: not scheduled).
	RetiresAt *time.Time
}

// AuditEvent records one governance action. It never holds a token value.
type AuditEvent struct {
	ID         int64
	Time       time.Time
	OrgID      string // empty for installation-wide events
	Actor      string // user id, "client:<id>", "cli", "anonymous", …
	Action     string // pat.create, pat.revoke, exchange.refused, …
	Target     string // what the action was about, e.g. a PAT id
	ClientAddr string
	Outcome    string // success, failure, or a refusal cause
	Detail     string // short free text, never a secret
}

// PasswordLink is a one-time set-password link of a local user. The link's
// secret is never stored: Hash is its SHA-256.
type PasswordLink struct {
	Hash      []byte
	UserID    string
	OrgID     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Session is a console session. ID is the SHA-256 (hex) of the cookie value.
type Session struct {
	ID         string
	UserID     string
	OrgID      string
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
}

// Event is a lifecycle event in the outbox. It is written in the
// transaction of the change it reports, so that a change that happened is
// never without its event and an event never reports a change that did not
// happen; it is delivered afterwards, at least once, to every destination.
// It never holds a token value, a hash or a password.
type Event struct {
	// ID is a UUIDv7: receivers deduplicate deliveries by it.
	ID   string
	Type string // one of the Event* constants
	Time time.Time
	// OrgID is the organization the event happened in.
	OrgID string
	// UserID is the user the event is about: the owner for PAT events,
	// the user for user events, "" for organization events.
	UserID string
	// PATID is the PAT the event is about, "" for other events.
	PATID string
	// Data holds the event's details by name (a reason, a PAT's name, a
	// number of days, a network); never a secret.
	Data map[string]string
}

// The lifecycle event types.
const (
	// EventPATCreated: a PAT was created. Data: name.
	EventPATCreated = "pat.created"
	// EventPATRegenerated: a PAT was regenerated; PATID is the new PAT.
	// Data: name, replaces (the old PAT's id).
	EventPATRegenerated = "pat.regenerated"
	// EventPATRevoked: a PAT was revoked. Data: name, reason (as
	// PAT.RevokedReason).
	EventPATRevoked = "pat.revoked"
	// EventPATExpired: a PAT reached its expiry. Data: name, expires_at
	// (as for EventPATExpiryNotice).
	EventPATExpired = "pat.expired"
	// EventUserDeactivated and EventUserReactivated: a user's status
	// changed. Data: username.
	EventUserDeactivated = "user.deactivated"
	EventUserReactivated = "user.reactivated"
	// EventOrgPATsDisabled and EventOrgPATsEnabled: the organization's
	// pats_enabled setting changed.
	EventOrgPATsDisabled = "org.pats_disabled"
	EventOrgPATsEnabled  = "org.pats_enabled"
	// EventRoleChanged: a user's rights may have changed. Data: role (its
	// id), change (assigned, unassigned, updated, deleted), and folder for
	// an assignment. UserID is set for an assignment's user, "" when a
	// role's permissions changed or the role was deleted.
	EventRoleChanged = "role.changed"
)

// The PAT hygiene event types.
const (
	// EventPATExpiryNotice: a PAT expires within a number of days its
	// organization notifies at. Data: name, days (that number), expires_at
	// (RFC 3339, UTC: the earlier of its own expiry and the one the
	// organization's maximum lifetime implies).
	EventPATExpiryNotice = "pat.expiry_notice"
)

// The lifecycle event types of rotation and networks.
const (
	// EventPATReused: the secret of a PAT replaced by regeneration was
	// presented after its overlap ended (refused). Data: name, successor
	// (the id of the PAT that replaced it).
	EventPATReused = "pat.reused"
	// EventPATNewAddress: a PAT was exchanged from a network not among
	// its recent ones. Data: name, network (a /24 or /64, never the
	// address).
	EventPATNewAddress = "pat.new_address"
)
