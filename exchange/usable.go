package exchange

import (
	"time"

	"authserver/storage"
)

// Cause is why an exchange was refused. It is for logs, metrics and the
// audit log (an audit event's outcome), never for the caller: every
// unusable-PAT cause gets the same answer at the token endpoint.
type Cause string

// The refusal causes. The first eight are why a PAT is unusable; the
// others are the other refusals the token endpoint counts.
const (
	// CauseNone: nothing refused, the PAT is usable.
	CauseNone Cause = ""
	// CauseUnknown: no PAT has the presented token's hash.
	CauseUnknown Cause = "unknown"
	// CauseMalformed: the presented token fails CheckPAT (prefix, length,
	// alphabet or checksum), so no database was asked.
	CauseMalformed Cause = "malformed"
	// CauseRevoked: the PAT has been revoked.
	CauseRevoked Cause = "revoked"
	// CauseExpired: now is at or after the PAT's expires_at.
	CauseExpired Cause = "expired"
	// CauseMaxLifetime: now is at or after created_at plus the
	// organization's maximum PAT lifetime (which may have been lowered
	// since the PAT was created).
	CauseMaxLifetime Cause = "max-lifetime"
	// CauseOrgDisabled: the owner's organization has PATs disabled.
	CauseOrgDisabled Cause = "org-disabled"
	// CauseUserDeactivated: the owner is not an active user.
	CauseUserDeactivated Cause = "user-deactivated"
	// CauseNonLocal: the owner is not a local user (directory or SAML).
	CauseNonLocal Cause = "non-local"
	// CauseScope: the requested scope exceeds the PAT or the audience, or
	// nothing would be granted (invalid_scope).
	CauseScope Cause = "scope"
	// CauseTarget: the audience or resource is unknown, not allowed to the
	// client, or given more than once (invalid_target).
	CauseTarget Cause = "target"
	// CauseClient: the client failed to authenticate or is not allowed the
	// grant (or, presenting an access token, a chained exchange).
	CauseClient Cause = "client"
	// CauseSubject: a chained exchange's subject_token is not a valid
	// access token of this server for an audience the client acts for.
	CauseSubject Cause = "subject"
	// CauseNotDelegate: the client of a chained exchange is not among the
	// delegates of the PAT behind the subject_token.
	CauseNotDelegate Cause = "not-delegate"
	// CauseDepth: a chained exchange would go beyond the maximum
	// delegation depth.
	CauseDepth Cause = "depth"

	// CauseReused: the PAT was replaced by regeneration and its overlap,
	// if any, has ended: a rotated secret is still in someone's hands.
	// An unusable-PAT cause, answered as CauseRevoked is.
	CauseReused Cause = "reused"
	// CauseNetwork: the client's address is outside the PAT's allowed
	// networks. An unusable-PAT cause.
	CauseNetwork Cause = "network"
)

// Causes lists every refusal cause (not CauseNone), for example to
// initialise a metric's label values so that every series exists from the
// start.
func Causes() []Cause {
	return []Cause{
		CauseUnknown, CauseMalformed, CauseRevoked, CauseExpired, CauseMaxLifetime,
		CauseOrgDisabled, CauseUserDeactivated, CauseNonLocal,
		CauseScope, CauseTarget, CauseClient, CauseSubject, CauseNotDelegate, CauseDepth,
		CauseReused, CauseNetwork,
	}
}

// CheckUsable decides whether the PAT of g may be used at now, and
// returns CauseNone or the first refusal cause in this order: revoked (or
// reused), expired, max-lifetime, org-disabled, user-deactivated,
// non-local. A PAT revoked because it was regenerated with an overlap is
// usable until the overlap ends (storage.PAT.InOverlap), then reused, as
// is one regenerated without an overlap. The client's network is Decide's
// to check (it needs the address). It
// reads only g, which the caller must have just read from the database:
// usability is never cached, so disabling an organization, deactivating a
// user or lowering the maximum lifetime takes effect at the next use, and
// undoing it restores PATs that are otherwise valid. A nil g is
// CauseUnknown. An owner status or kind other than active and local is
// refused, so an unexpected value fails closed.
func CheckUsable(g *storage.PATGrant, now time.Time) Cause {
	if g == nil {
		return CauseUnknown
	}
	p := &g.PAT
	switch {
	case p.InOverlap(now):
		// Regenerated, in its overlap: usable as far as revocation goes.
	case p.RevokedAt != nil && p.RevokedReason == storage.RegeneratedReason:
		return CauseReused
	case p.RevokedAt != nil:
		return CauseRevoked
	}
	return checkLife(g, now)
}

// checkLife is CheckUsable past revocation.
func checkLife(g *storage.PATGrant, now time.Time) Cause {
	p := &g.PAT
	switch {
	case p.ExpiresAt != nil && !now.Before(*p.ExpiresAt):
		return CauseExpired
	case g.Org.PATMaxLifetime > 0 && !now.Before(p.CreatedAt.Add(g.Org.PATMaxLifetime)):
		return CauseMaxLifetime
	case !g.Org.PATsEnabled:
		return CauseOrgDisabled
	case g.Owner.Status != storage.UserActive:
		return CauseUserDeactivated
	case g.Owner.Kind != storage.UserLocal:
		return CauseNonLocal
	}
	return CauseNone
}

// UsableUntil is the first instant at which the PAT of g stops being usable
// by the passage of time alone: the earlier of its expires_at and created_at
// plus the organization's maximum lifetime. ok is false when neither
// applies. The token endpoint caps a JWT's exp with it, so no JWT outlives
// the PAT it came from, whichever of the two limits is the binding one. A
// regenerated PAT in its overlap is usable until the overlap ends at the
// latest.
func UsableUntil(g *storage.PATGrant) (until time.Time, ok bool) {
	if g.PAT.ExpiresAt != nil {
		until, ok = *g.PAT.ExpiresAt, true
	}
	if o := g.PAT.OverlapUntil; g.PAT.RevokedAt != nil && o != nil && (!ok || o.Before(until)) {
		until, ok = *o, true
	}
	if lifetime := g.Org.PATMaxLifetime; lifetime > 0 {
		if limit := g.PAT.CreatedAt.Add(lifetime); !ok || limit.Before(until) {
			until, ok = limit, true
		}
	}
	return until, ok
}
