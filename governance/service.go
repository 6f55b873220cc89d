package governance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authserver/internal/password"
	"authserver/storage"
)

// Kind classifies a refusal so that every surface answers it the same way
// (the API as an RFC 9457 status, the console as a message, the CLI as a
// line on stderr).
type Kind int

// The kinds of refusal.
const (
	// Invalid: the request itself is wrong (400).
	Invalid Kind = iota + 1
	// NotFound: no such thing the actor may see (404). Things of other
	// organizations and other users' PATs are "not found", never
	// "forbidden", so that an answer never confirms they exist.
	NotFound
	// Conflict: the request clashes with the current state (409).
	Conflict
	// Forbidden: the actor or the organization's policy does not allow it
	// (403).
	Forbidden
	// Unavailable: the database could not be reached (503).
	Unavailable
)

// Error is a refusal with a message fit to show the actor. It never holds
// a token, a hash or a password.
type Error struct {
	Kind Kind
	// Field names the request field at fault, when there is one.
	Field   string
	Message string
	// Code is a short stable identifier of the rule, for problem types.
	Code string
	err  error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.err }

func invalid(field, code, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(what string) *Error {
	return &Error{Kind: NotFound, Code: "not-found", Message: what + " not found"}
}

func conflict(code, msg string) *Error { return &Error{Kind: Conflict, Code: code, Message: msg} }

func forbidden(code, msg string) *Error { return &Error{Kind: Forbidden, Code: code, Message: msg} }

// storeErr turns a storage failure into an Error: not found, unavailable,
// or the error itself (an unexpected failure the caller answers with 500).
func storeErr(err error, what string) error {
	var ge *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ge):
		return err
	case errors.Is(err, storage.ErrNotFound):
		return notFound(what)
	case errors.Is(err, storage.ErrUnavailable):
		return &Error{Kind: Unavailable, Code: "unavailable", Message: "the database is unavailable; try again", err: err}
	}
	return err
}

// CodeOf returns the Code of a refusal, or "" for any other error.
func CodeOf(err error) string {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return ""
}

// KindOf returns the Kind of err, or 0 for an unexpected failure.
func KindOf(err error) Kind {
	var ge *Error
	if errors.As(err, &ge) {
		return ge.Kind
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return Unavailable
	}
	return 0
}

// Events receives lifecycle events for metrics: "created", "regenerated",
// "revoked_owner", "revoked_admin", "revoked_value", "revoked_holder",
// "revoked_leaked".
type Events interface {
	PATEvent(event string)
}

// Tx is what governance does inside a transaction: a change, the reads it
// depends on, and its audit event.
type Tx interface {
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
	AppendEvent(ctx context.Context, e *storage.Event) error

	GetOrganization(ctx context.Context, id string) (*storage.Organization, error)
	UpdateOrganization(ctx context.Context, o *storage.Organization) error

	CreateUser(ctx context.Context, u *storage.User) error
	GetUser(ctx context.Context, orgID, id string) (*storage.User, error)
	UpdateUser(ctx context.Context, u *storage.User) error
	DeleteUserSessions(ctx context.Context, userID string) error
	DeleteOtherUserSessions(ctx context.Context, userID, keep string) error

	CreatePasswordLink(ctx context.Context, l *storage.PasswordLink) error
	DeletePasswordLink(ctx context.Context, hash []byte) error
	DeletePasswordLinks(ctx context.Context, userID string) error
	DeleteExpiredPasswordLinks(ctx context.Context, now time.Time) (int64, error)

	CreatePAT(ctx context.Context, p *storage.PAT) error
	GetPAT(ctx context.Context, orgID, id string) (*storage.PAT, error)
	GetPATByHash(ctx context.Context, hash []byte) (*storage.PAT, error)
	RevokePAT(ctx context.Context, orgID, id string, at time.Time, reason string) (*storage.PAT, error)
	// Rotation and networks.
	SetPATSuccessor(ctx context.Context, orgID, id, successor string, overlapUntil *time.Time) error
	EndPATOverlap(ctx context.Context, orgID, id string, at time.Time) (bool, error)
	SetPATRecentNetworks(ctx context.Context, orgID, id string, old, next []string) (bool, error)

	CreateRole(ctx context.Context, r *storage.Role) error
	GetRole(ctx context.Context, orgID, id string) (*storage.Role, error)
	UpdateRole(ctx context.Context, r *storage.Role) error
	DeleteRole(ctx context.Context, orgID, id string) error
	CreateRoleAssignment(ctx context.Context, a *storage.RoleAssignment) error
	ListRoleAssignments(ctx context.Context, orgID, userID string) ([]storage.RoleAssignment, error)
	DeleteRoleAssignment(ctx context.Context, orgID, id string) error

	NextLeakReport(ctx context.Context, now time.Time) (*storage.LeakReport, error)
	DeleteLeakReport(ctx context.Context, id int64) error

	// The PAT hygiene jobs' marker of each notice written (hygiene.go).
	AddPATNotice(ctx context.Context, patID, kind string, at time.Time) (bool, error)
	ListWebhooks(ctx context.Context, orgID string) ([]storage.Webhook, error)
	GetWebhook(ctx context.Context, id string) (*storage.Webhook, error)
	CreateWebhook(ctx context.Context, w *storage.Webhook) error
	DeleteWebhook(ctx context.Context, orgID, id string) error

	// The batches of the PATs' new networks (rotation.go).
	GetPATsByID(ctx context.Context, ids []string) (map[string]*storage.PAT, error)
	SetPATsRecentNetworks(ctx context.Context, changes []storage.RecentNetworksChange) (int, error)
	AppendAudits(ctx context.Context, events []*storage.AuditEvent) error
	AppendEvents(ctx context.Context, events []*storage.Event) error
}

// Store is what governance reads outside a transaction, and the
// transactions it runs; storage.Narrow[Tx] of any storage.Store is one.
type Store interface {
	// Update runs fn in one transaction: all of fn's writes land, or none.
	Update(ctx context.Context, fn func(tx Tx) error) error

	GetOrganization(ctx context.Context, id string) (*storage.Organization, error)
	GetOrganizationByName(ctx context.Context, name string) (*storage.Organization, error)
	ListOrganizations(ctx context.Context) ([]storage.Organization, error)
	GetUser(ctx context.Context, orgID, id string) (*storage.User, error)
	GetUserByUsername(ctx context.Context, orgID, username string) (*storage.User, error)
	ListUsers(ctx context.Context, f storage.UserFilter) ([]storage.User, error)
	GetPasswordLink(ctx context.Context, hash []byte) (*storage.PasswordLink, error)
	ListRoles(ctx context.Context, orgID string) ([]storage.Role, error)
	ListRoleAssignments(ctx context.Context, orgID, userID string) ([]storage.RoleAssignment, error)
	GetPAT(ctx context.Context, orgID, id string) (*storage.PAT, error)
	GetPATByHash(ctx context.Context, hash []byte) (*storage.PAT, error)
	GetPATGrantByID(ctx context.Context, id string) (*storage.PATGrant, error)
	ListPATs(ctx context.Context, f storage.PATFilter) ([]storage.PAT, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
	NamesOf(ctx context.Context, orgID string, kind storage.NameKind, ids []string) (map[string]string, error)
	// Leaked-token reports are recorded, deferred and counted on their
	// own: a report must be written even when nothing else is.
	AddLeakReport(ctx context.Context, r *storage.LeakReport) error
	DeferLeakReport(ctx context.Context, id int64, next time.Time) error
	LeakReportStats(ctx context.Context) (storage.LeakStats, error)

	// The PAT hygiene jobs' scans (hygiene.go).
	ListPATsEnding(ctx context.Context, f storage.EndingFilter) ([]storage.PAT, error)
	ListIdlePATs(ctx context.Context, f storage.IdleFilter) ([]storage.PAT, error)
	ListWebhooks(ctx context.Context, orgID string) ([]storage.Webhook, error)
}

var (
	_ Tx    = storage.Store(nil)
	_ Store = storage.Narrowed[Tx]{}
)

// Options configure a Service.
type Options struct {
	Store   Store
	Catalog *Catalog
	// PATPrefix is the prefix of new tokens.
	PATPrefix string
	Now       func() time.Time
	// PasswordParams are the argon2id costs of new password hashes.
	PasswordParams password.Params
	// Events is told of lifecycle events; may be nil.
	Events Events

	// WebhookSecrets seals the secrets of new webhooks; nil: webhooks
	// cannot be created.
	WebhookSecrets Sealer
	// WebhookPrivateNetworks allows webhooks to loopback, private and
	// other non-public addresses; off, a URL naming one is refused.
	WebhookPrivateNetworks bool
}

// Service applies the PAT lifecycle and governance rules:
// what people do with their PATs, what admins do with their organization.
// Every change writes its audit event in the same transaction as the change.
type Service struct {
	store   Store
	catalog *Catalog
	prefix  string
	now     func() time.Time
	pw      password.Params
	events  Events
	secrets Sealer
	// privateWebhooks is Options.WebhookPrivateNetworks.
	privateWebhooks bool
}

// New returns a Service.
func New(o Options) *Service {
	s := &Service{store: o.Store, catalog: o.Catalog, prefix: o.PATPrefix, now: o.Now, pw: o.PasswordParams, events: o.Events,
		secrets: o.WebhookSecrets, privateWebhooks: o.WebhookPrivateNetworks}
	if s.now == nil {
		s.now = time.Now
	}
	if s.pw == (password.Params{}) {
		s.pw = password.Default
	}
	return s
}

func (s *Service) event(name string) {
	if s.events != nil {
		s.events.PATEvent(name)
	}
}

// audit appends an event in tx for actor.
func (s *Service) audit(ctx context.Context, tx Tx, a Actor, orgID, action, target, detail string) error {
	e := s.auditEvent(a, orgID, action, target, detail)
	return tx.AppendAudit(ctx, &e)
}

// auditEvent is the audit event audit writes.
func (s *Service) auditEvent(a Actor, orgID, action, target, detail string) storage.AuditEvent {
	return a.Attribute(storage.AuditEvent{Time: s.now(), OrgID: orgID, Action: action, Target: target,
		Outcome: "success", Detail: detail})
}

// emit writes a lifecycle event to the outbox in tx, the transaction of
// the change it reports.
func (s *Service) emit(ctx context.Context, tx Tx, typ, orgID, userID, patID string, data map[string]string) error {
	return tx.AppendEvent(ctx, s.lifecycleEvent(typ, orgID, userID, patID, data))
}

// lifecycleEvent is the lifecycle event emit writes.
func (s *Service) lifecycleEvent(typ, orgID, userID, patID string, data map[string]string) *storage.Event {
	return &storage.Event{Type: typ, Time: s.now(), OrgID: orgID, UserID: userID, PATID: patID, Data: data}
}

// orgOf reads the organization an actor acts in. A CLI actor names it
// explicitly; a user acts in its own.
func (s *Service) org(ctx context.Context, id string) (*storage.Organization, error) {
	o, err := s.store.GetOrganization(ctx, id)
	return o, storeErr(err, "organization")
}

// OrganizationByName finds an organization (for the CLI and the console's
// sign-in).
func (s *Service) OrganizationByName(ctx context.Context, name string) (*storage.Organization, error) {
	o, err := s.store.GetOrganizationByName(ctx, name)
	return o, storeErr(err, "organization")
}

// requireAdmin refuses non-admin actors and actors of another organization.
// The refusal for another organization is "not found".
func requireAdmin(a Actor, orgID string) error {
	if a.Kind == ActorCLI {
		return nil
	}
	if a.Kind != ActorUser || !a.Admin {
		return forbidden("admin-required", "this action needs Identity.Admin")
	}
	if a.OrgID != orgID {
		return notFound("organization")
	}
	return nil
}
