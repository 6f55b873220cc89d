package exchange

import (
	"slices"
	"time"
)

// This file is the chained exchange (RFC 8693 "on behalf of"): a client
// that acts for an audience — an MCP gateway, say — presents an access
// token this server issued for that audience and gets one for another
// audience. Every hop is decided from the PAT at the root of the chain as
// it is now, so revoking the PAT, deactivating its owner or removing a
// role ends the chain at its next hop.

// The descriptions of a chained exchange's refusals. Like
// UnusableDescription, each covers several causes and names nothing the
// client sent.
const (
	// ActorTokenDescription refuses actor_token: the actor of a chained
	// exchange is the authenticated client, so a second credential would
	// only be a second, weaker claim about who acts.
	ActorTokenDescription = "actor_token is not supported: the actor is the authenticated client."
	// SubjectDescription refuses a subject JWT that is not a valid access
	// token of this server for an audience the client acts for (bad
	// signature, expired, another issuer, another audience).
	SubjectDescription = "The subject_token is not an access token this client may exchange."
	// NotDelegateDescription refuses a client the PAT's owner did not name
	// among the PAT's delegates.
	NotDelegateDescription = "The client is not a delegate of the personal access token behind the subject_token."
	// DepthDescription refuses a hop beyond tokens.max_delegation_depth.
	DepthDescription = "The delegation chain would be longer than this server allows."
)

// Actor is an RFC 8693 §4.1 act claim (and, without Act, a §4.4 may_act
// claim): the party acting, and in Act the one that acted before it.
type Actor struct {
	Subject string `json:"sub"`
	Act     *Actor `json:"act,omitempty"`
}

// Depth is the number of actors in the chain a: 0 for none, 1 for a token
// issued by one chained exchange, and so on.
func Depth(a *Actor) int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// Subject is the subject_token of a chained exchange as the one verifier
// of this server's access tokens read it: signature, issuer, lifetime and
// audience already checked.
type Subject struct {
	// Audience is the token's aud.
	Audience []string
	// UserID, OrgID and PATID are its sub, org_id and pat_id.
	UserID string
	OrgID  string
	PATID  string
	// Expiry is its exp.
	Expiry time.Time
	// Act is its act claim: the clients that exchanged it before, nil for
	// a token issued from the PAT itself.
	Act *Actor
}

// Chain admits the subject of a chained exchange a: s is the
// subject_token as the verifier read it, nil when the verifier refused it.
// The token must be for an audience the client acts for, and one more hop
// must stay within MaxDelegationDepth. Nothing here reads the PAT: Decide
// does, from s.PATID.
func (x *Rules) Chain(a *Admitted, s *Subject) *Refusal {
	if !a.req.Chained {
		return a.refuse(InvalidRequest, UnusableDescription, CauseMalformed)
	}
	if s == nil || !slices.ContainsFunc(s.Audience, func(id string) bool {
		return id != "" && slices.Contains(a.req.client.OnBehalfOf, id)
	}) {
		return a.refuse(InvalidRequest, SubjectDescription, CauseSubject)
	}
	hop := Depth(s.Act) + 1
	if hop > x.MaxDelegationDepth {
		ref := a.refuse(InvalidRequest, DepthDescription, CauseDepth)
		ref.Depth, ref.PATID, ref.OrgID, ref.UserID = hop, s.PATID, s.OrgID, s.UserID
		return ref
	}
	a.subject = s
	return nil
}

// refuse is a refusal of a with a cause, recorded against its client and,
// in a chained exchange whose subject was admitted, the depth of the hop.
func (a *Admitted) refuse(kind Kind, description string, cause Cause) *Refusal {
	ref := a.req.refuse(kind, description, cause)
	if a.subject != nil {
		ref.Depth = Depth(a.subject.Act) + 1
	}
	return ref
}

// mayAct is the may_act claim (RFC 8693 §4.4) of a token for audience:
// the one delegate of the PAT that acts for that audience. The claim names
// one party, so it is written only when exactly one delegate fits; with
// none, or several, it is left out — it is a statement for the resource
// server, not the rule: the token endpoint decides each hop from the PAT's
// delegates and the clients' on_behalf_of as they are then.
func mayAct(delegates []string, audience string, actsFor func(clientID string) []string) *Actor {
	if actsFor == nil {
		return nil
	}
	var one string
	for _, d := range delegates {
		if slices.Contains(actsFor(d), audience) {
			if one != "" {
				return nil
			}
			one = d
		}
	}
	if one == "" {
		return nil
	}
	return &Actor{Subject: one}
}
