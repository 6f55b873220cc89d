package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them; callers test with errors.Is.
var (
	// ErrNotFound: no row matched.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a uniqueness constraint was violated (a username in
	// its organization, an active PAT name for its owner, a token hash, …).
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidReference: a row refers to one that does not exist.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrUnavailable: the database could not be reached.
	ErrUnavailable = errors.New("database unavailable")
)

// PATFilter selects PATs for listing. Zero fields do not filter.
type PATFilter struct {
	OrgID  string
	UserID string
	// Status filters by status at Now under MaxLifetime (see PAT.Status).
	Status      PATStatus
	Now         time.Time
	MaxLifetime time.Duration
	// Name keeps PATs whose name contains it, ignoring case (ASCII letters
	// on SQLite, all letters on PostgreSQL).
	Name string
	// AnyScope keeps PATs holding at least one of these scopes (an
	// audience's scopes), when not empty.
	AnyScope []string
	// ExpiringBefore keeps PATs that are not revoked and stop working
	// after Now but before it: by expires_at, or by created_at +
	// MaxLifetime. Zero: no such filter.
	ExpiringBefore time.Time
	// After is an exclusive cursor: only PATs with an id less than it, as
	// the list is newest first. PAT ids are UUIDv7, so this orders by
	// creation and is stable under concurrent inserts.
	After string
	// Limit caps the number returned (0 = no cap).
	Limit int
}

// UserFilter selects users of one organization for listing. Zero fields
// do not filter.
type UserFilter struct {
	OrgID  string
	Status UserStatus
	Kind   UserKind
	// Search keeps usernames that contain it, ignoring case (on SQLite,
	// the case of ASCII letters only). It is matched literally: % and _
	// are not wildcards.
	Search string
	After  string // exclusive cursor on username
	Limit  int
}

// AuditFilter selects audit events. Events are returned newest first, by
// event time and then by id (events queued off the request path can be
// written after later ones, so ids alone do not order them).
type AuditFilter struct {
	OrgID  string
	Actor  string
	Action string
	Target string
	Since  time.Time // inclusive; zero = no bound
	Until  time.Time // exclusive; zero = no bound
	// BeforeTime and Before are an exclusive keyset cursor: only events
	// older than the event (BeforeTime, Before) in the list's order. Zero
	// BeforeTime: no cursor.
	BeforeTime time.Time
	Before     int64
	Limit      int
}

// RevokeResult answers a bulk revoke.
type RevokeResult struct {
	// Revoked are the ids now revoked, by this call or before it.
	Revoked  []string
	NotFound []string
	// AlreadyRevoked are the ids of Revoked that were revoked before this
	// call (filled by governance; the store leaves it empty).
	AlreadyRevoked []string
}

// PATCounts is the number of PATs by status.
type PATCounts map[PATStatus]int64

// Store is the whole persistence surface. Every method takes the context of
// the request it serves. Times are stored and returned in UTC, at microsecond
// precision.
type Store interface {
	// WithTx runs fn in one transaction: all of fn's writes land, or none.
	// Inside fn, use only the Store it is given. Nested calls join the
	// outer transaction. Consumers see their transactions through Narrow,
	// as only the methods they use.
	WithTx(ctx context.Context, fn func(Store) error) error
	// Lock takes a named lock held until the surrounding transaction ends,
	// serializing every transaction that takes the same name, across
	// processes. It must be called inside WithTx.
	Lock(ctx context.Context, name string) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error

	CreateOrganization(ctx context.Context, o *Organization) error
	GetOrganization(ctx context.Context, id string) (*Organization, error)
	GetOrganizationByName(ctx context.Context, name string) (*Organization, error)
	ListOrganizations(ctx context.Context) ([]Organization, error)
	// UpdateOrganization changes the name and settings of o.ID.
	UpdateOrganization(ctx context.Context, o *Organization) error

	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, orgID, id string) (*User, error)
	GetUserByUsername(ctx context.Context, orgID, username string) (*User, error)
	ListUsers(ctx context.Context, f UserFilter) ([]User, error)
	// UpdateUser changes kind, status, admin and password hash of u.ID.
	UpdateUser(ctx context.Context, u *User) error

	CreateRole(ctx context.Context, r *Role) error
	GetRole(ctx context.Context, orgID, id string) (*Role, error)
	GetRoleByName(ctx context.Context, orgID, name string) (*Role, error)
	ListRoles(ctx context.Context, orgID string) ([]Role, error)
	// UpdateRole changes the name and permissions of r.ID.
	UpdateRole(ctx context.Context, r *Role) error
	// DeleteRole removes a role and its assignments.
	DeleteRole(ctx context.Context, orgID, id string) error

	CreateRoleAssignment(ctx context.Context, a *RoleAssignment) error
	// ListRoleAssignments lists an organization's assignments, of one user
	// when userID is not empty.
	ListRoleAssignments(ctx context.Context, orgID, userID string) ([]RoleAssignment, error)
	DeleteRoleAssignment(ctx context.Context, orgID, id string) error

	CreateAudience(ctx context.Context, a *Audience) error
	GetAudience(ctx context.Context, id string) (*Audience, error)
	ListAudiences(ctx context.Context) ([]Audience, error)
	UpdateAudience(ctx context.Context, a *Audience) error
	DeleteAudience(ctx context.Context, id string) error

	CreateClient(ctx context.Context, c *Client) error
	GetClient(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	UpdateClient(ctx context.Context, c *Client) error
	DeleteClient(ctx context.Context, id string) error

	CreatePAT(ctx context.Context, p *PAT) error
	GetPAT(ctx context.Context, orgID, id string) (*PAT, error)
	GetPATByHash(ctx context.Context, hash []byte) (*PAT, error)
	// GetPATGrant reads a PAT by hash with its owner, organization and the
	// owner's role assignments, in one round trip.
	GetPATGrant(ctx context.Context, hash []byte) (*PATGrant, error)
	// GetPATGrants is GetPATGrant for several hashes in one query: a grant
	// for each hash that names a PAT, keyed by string(hash).
	GetPATGrants(ctx context.Context, hashes [][]byte) (map[string]*PATGrant, error)
	// GetPATGrantByID is GetPATGrant by PAT id.
	GetPATGrantByID(ctx context.Context, id string) (*PATGrant, error)
	ListPATs(ctx context.Context, f PATFilter) ([]PAT, error)
	// RevokePAT revokes one PAT of the organization at the given time. A PAT
	// already revoked keeps its first revocation and is returned as is.
	RevokePAT(ctx context.Context, orgID, id string, at time.Time, reason string) (*PAT, error)
	// RevokePATs revokes many PATs of one organization in one transaction.
	// Ids of other organizations' PATs count as not found.
	RevokePATs(ctx context.Context, orgID string, ids []string, at time.Time, reason string) (*RevokeResult, error)
	// TouchPATs records last use: each PAT's last_used_at becomes the later
	// of its current value and the given time, so concurrent writers from
	// several replicas never move it backwards; the address and client
	// move with the time (when the use names them).
	TouchPATs(ctx context.Context, used map[string]PATUse) error
	// CountPATs counts PATs by status at now. Each organization's maximum
	// lifetime is taken into account.
	CountPATs(ctx context.Context, now time.Time) (PATCounts, error)
	// SetPATSuccessor records the PAT that replaced a regenerated one and
	// when the old secret stops working (nil: at once).
	SetPATSuccessor(ctx context.Context, orgID, id, successor string, overlapUntil *time.Time) error
	// EndPATOverlap ends a regenerated PAT's overlap at the given time if
	// it runs beyond it, reporting whether it did.
	EndPATOverlap(ctx context.Context, orgID, id string, at time.Time) (bool, error)
	// SetPATRecentNetworks replaces a PAT's recent networks with next only
	// if they are old (compare and set), reporting whether it did.
	SetPATRecentNetworks(ctx context.Context, orgID, id string, old, next []string) (bool, error)

	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys lists every key, oldest activation first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKeyRetirement sets or clears a key's retirement time.
	UpdateSigningKeyRetirement(ctx context.Context, kid string, retiresAt *time.Time) error
	// DeleteSigningKeys removes keys retired before the given time.
	DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int64, error)

	// AddLeakReport writes a leaked-token report down (durable on return).
	AddLeakReport(ctx context.Context, r *LeakReport) error
	// NextLeakReport returns the oldest report due at now and keeps it
	// from other replicas until the transaction ends (inside WithTx only).
	NextLeakReport(ctx context.Context, now time.Time) (*LeakReport, error)
	DeleteLeakReport(ctx context.Context, id int64) error
	// DeferLeakReport counts a failed attempt and sets when it is due again.
	DeferLeakReport(ctx context.Context, id int64, next time.Time) error
	LeakReportStats(ctx context.Context) (LeakStats, error)

	// CreatePasswordLink stores a set-password link (ErrInvalidReference
	// when the user is not the organization's).
	CreatePasswordLink(ctx context.Context, l *PasswordLink) error
	// GetPasswordLink reads a link by the hash of its secret.
	GetPasswordLink(ctx context.Context, hash []byte) (*PasswordLink, error)
	// DeletePasswordLink removes one link (ErrNotFound when it is gone).
	DeletePasswordLink(ctx context.Context, hash []byte) error
	// DeletePasswordLinks removes every link of a user.
	DeletePasswordLinks(ctx context.Context, userID string) error
	DeleteExpiredPasswordLinks(ctx context.Context, now time.Time) (int64, error)

	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AppendEvent writes a lifecycle event to the outbox; call it in the
	// transaction of the change it reports.
	AppendEvent(ctx context.Context, e *Event) error
	GetEvent(ctx context.Context, id string) (*Event, error)
	// ListEvents lists an organization's events since a time, oldest
	// first, at most limit (0: all).
	ListEvents(ctx context.Context, orgID string, since time.Time, limit int) ([]Event, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// NamesOf maps ids of an organization's users, PATs or roles to their
	// names; ids that name nothing of the organization are absent.
	NamesOf(ctx context.Context, orgID string, kind NameKind, ids []string) (map[string]string, error)

	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user (sign-out everywhere,
	// deactivation).
	DeleteUserSessions(ctx context.Context, userID string) error
	// DeleteOtherUserSessions ends every session of a user but keep (a
	// password change keeps the session it was made in).
	DeleteOtherUserSessions(ctx context.Context, userID, keep string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error)

	// UseDPoPProof records a DPoP proof (the hash of its key and jti)
	// until expiresAt and reports whether it was new at now; false is a
	// replay, whichever replica saw the proof first.
	UseDPoPProof(ctx context.Context, hash []byte, expiresAt, now time.Time) (bool, error)
	// DeleteExpiredDPoPProofs removes the proofs recorded until now or
	// before.
	DeleteExpiredDPoPProofs(ctx context.Context, now time.Time) (int64, error)
	// DPoPNonceSecret returns the secret DPoP nonces are MACed with,
	// storing candidate first when there is none.
	DPoPNonceSecret(ctx context.Context, candidate []byte) ([]byte, error)

	// ListPATsEnding lists PATs that end within a window and have no
	// notice of a kind yet (the expiry notices, the expired event).
	ListPATsEnding(ctx context.Context, f EndingFilter) ([]PAT, error)
	// ListIdlePATs lists active PATs unused since a time.
	ListIdlePATs(ctx context.Context, f IdleFilter) ([]PAT, error)
	// AddPATNotice records a notice about a PAT once and reports whether
	// this call recorded it (call it in the notice's transaction).
	AddPATNotice(ctx context.Context, patID, kind string, at time.Time) (bool, error)
	// PATNotices lists the kinds of notice recorded about a PAT.
	PATNotices(ctx context.Context, patID string) ([]string, error)
	// EventsToFanOut returns events not fanned out yet, oldest first, and
	// keeps them from other replicas until the transaction ends (inside
	// WithTx only).
	EventsToFanOut(ctx context.Context, limit int) ([]Event, error)
	// FanOutEvent writes the event's deliveries and marks it fanned out.
	FanOutEvent(ctx context.Context, eventID string, destinations []string, at time.Time) error
	// ClaimDeliveries leases due deliveries to the caller; a delivery
	// under another caller's live lease is never returned.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishDelivery ends a claimed attempt; false when the claim was
	// taken over since.
	FinishDelivery(ctx context.Context, d Delivery, o DeliveryOutcome) (bool, error)
	ListDeliveries(ctx context.Context, eventID string) ([]Delivery, error)
	OutboxStats(ctx context.Context) (OutboxStats, error)
	// PurgeOutbox deletes events fanned out, and delivered or given up
	// everywhere, before a time.
	PurgeOutbox(ctx context.Context, before time.Time) (int64, error)
	CreateWebhook(ctx context.Context, w *Webhook) error
	GetWebhook(ctx context.Context, id string) (*Webhook, error)
	ListWebhooks(ctx context.Context, orgID string) ([]Webhook, error)
	DeleteWebhook(ctx context.Context, orgID, id string) error
	// FanOutEvents writes the deliveries of a batch of events and marks
	// them fanned out, in a few statements; an event fanned out already
	// fails the call.
	FanOutEvents(ctx context.Context, fan []FanOut, at time.Time) error

	// Batches of the PATs' new networks (batchwrites.go).
	//
	// GetPATsByID reads PATs by id, in whichever organization; inside
	// WithTx it keeps them from other writers until the transaction ends.
	GetPATsByID(ctx context.Context, ids []string) (map[string]*PAT, error)
	// SetPATsRecentNetworks is SetPATRecentNetworks for many PATs,
	// reporting how many it changed.
	SetPATsRecentNetworks(ctx context.Context, changes []RecentNetworksChange) (int, error)
	// AppendAudits appends many audit events (their ids not filled in).
	AppendAudits(ctx context.Context, events []*AuditEvent) error
	// AppendEvents writes many lifecycle events to the outbox.
	AppendEvents(ctx context.Context, events []*Event) error
}
