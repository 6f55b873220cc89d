package governance

import "authserver/storage"

// ActorKind says who acts.
type ActorKind string

// The kinds of actor.
const (
	ActorUser   ActorKind = "user"
	ActorCLI    ActorKind = "cli"
	ActorClient ActorKind = "client"
	ActorAnon   ActorKind = "anonymous"
	// ActorUnknownUser is whoever tried to sign in as a user the
	// organization does not have. The name typed is not recorded: it is
	// client-supplied, and a username field often holds a mistyped
	// password.
	ActorUnknownUser ActorKind = "unknown-user"
	// ActorSystem is the server itself, acting on an organization's
	// policy with no one asking: the PAT hygiene jobs (idle revocation).
	ActorSystem ActorKind = "system"
)

// Actor is who performs an action, as the audit log records it. Build one
// with UserActor, ClientActor, Anonymous or CLI, and turn it into the audit
// log's actor with Attribute: the audit log names actors one way,
// whichever surface records the event.
type Actor struct {
	Kind ActorKind
	// UserID and OrgID identify a user actor; Admin is its admin flag as
	// established at authentication.
	UserID string
	OrgID  string
	Admin  bool
	// ClientID identifies a client actor.
	ClientID string
	// Addr is the client address of the request.
	Addr string
}

// UserActor is a user of organization orgID acting from addr; admin is its
// admin flag as established at authentication.
func UserActor(orgID, userID string, admin bool, addr string) Actor {
	return Actor{Kind: ActorUser, UserID: userID, OrgID: orgID, Admin: admin, Addr: addr}
}

// ClientActor is an OAuth client acting from addr. Without a client id
// (the client was never identified) it is the anonymous actor: "client:"
// naming no one would read as a client that exists.
func ClientActor(clientID, addr string) Actor {
	if clientID == "" {
		return Anonymous(addr)
	}
	return Actor{Kind: ActorClient, ClientID: clientID, Addr: addr}
}

// Anonymous is whoever acted from addr without credentials (a leak
// report, a refused exchange by no known client).
func Anonymous(addr string) Actor { return Actor{Kind: ActorAnon, Addr: addr} }

// CLI is the actor of operator commands: it may act in any organization.
func CLI() Actor { return Actor{Kind: ActorCLI, Admin: true} }

// System is the actor of the server's own jobs (governance/hygiene.go).
func System() Actor { return Actor{Kind: ActorSystem} }

// Attribute returns e as done by a: its actor label and client address
// are a's. It is the only place an audit event's actor is written.
func (a Actor) Attribute(e storage.AuditEvent) storage.AuditEvent {
	e.Actor, e.ClientAddr = a.label(), a.Addr
	return e
}

// label is how the audit log names the actor: a user by its id, a client
// as "client:<id>", the operator as "cli".
func (a Actor) label() string {
	switch a.Kind {
	case ActorUser:
		return a.UserID
	case ActorClient:
		return "client:" + a.ClientID
	case ActorCLI:
		return "cli"
	case ActorUnknownUser:
		return string(ActorUnknownUser)
	case ActorSystem:
		return string(ActorSystem)
	}
	return string(ActorAnon)
}
