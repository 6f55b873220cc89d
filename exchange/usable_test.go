package exchange

import (
	"testing"
	"time"

	"authserver/storage"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// usableGrant is a PAT that is usable at t0 + 1h: created at t0, expiring at
// t0 + 30 days, in an organization with PATs enabled and a 90-day maximum,
// owned by an active local user.
func usableGrant() *storage.PATGrant {
	return &storage.PATGrant{
		PAT: storage.PAT{
			ID: "p1", OrgID: "o1", UserID: "u1",
			CreatedAt: t0,
			ExpiresAt: ptr(t0.Add(30 * 24 * time.Hour)),
		},
		Owner: storage.User{ID: "u1", OrgID: "o1", Kind: storage.UserLocal, Status: storage.UserActive},
		Org:   storage.Organization{ID: "o1", PATsEnabled: true, PATMaxLifetime: 90 * 24 * time.Hour},
	}
}

func TestCheckUsable(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name   string
		change func(g *storage.PATGrant)
		now    time.Time
		want   Cause
	}{
		{"an active PAT of an active local user is usable", func(*storage.PATGrant) {}, now, CauseNone},
		{"a PAT without expiry is usable", func(g *storage.PATGrant) { g.PAT.ExpiresAt = nil }, now, CauseNone},
		{"no maximum lifetime means no limit", func(g *storage.PATGrant) {
			g.PAT.ExpiresAt, g.Org.PATMaxLifetime = nil, 0
		}, t0.Add(100 * 365 * 24 * time.Hour), CauseNone},
		{"a revoked PAT cannot be exchanged", func(g *storage.PATGrant) { g.PAT.RevokedAt = ptr(t0) }, now, CauseRevoked},
		{"a PAT is expired at its expires_at", func(*storage.PATGrant) {}, t0.Add(30 * 24 * time.Hour), CauseExpired},
		{"a PAT is usable just before its expires_at", func(*storage.PATGrant) {}, t0.Add(30*24*time.Hour - time.Nanosecond), CauseNone},
		{"a lowered maximum lifetime applies to an existing PAT", func(g *storage.PATGrant) {
			g.Org.PATMaxLifetime = time.Hour
		}, now, CauseMaxLifetime},
		{"the maximum lifetime binds a PAT without expiry", func(g *storage.PATGrant) {
			g.PAT.ExpiresAt = nil
		}, t0.Add(90 * 24 * time.Hour), CauseMaxLifetime},
		{"a PAT is usable just before created_at plus the maximum", func(g *storage.PATGrant) {
			g.PAT.ExpiresAt = nil
		}, t0.Add(90*24*time.Hour - time.Nanosecond), CauseNone},
		{"PATs disabled in the organization block use", func(g *storage.PATGrant) { g.Org.PATsEnabled = false }, now, CauseOrgDisabled},
		{"a deactivated owner blocks use", func(g *storage.PATGrant) { g.Owner.Status = storage.UserDeactivated }, now, CauseUserDeactivated},
		{"an unknown owner status fails closed", func(g *storage.PATGrant) { g.Owner.Status = "" }, now, CauseUserDeactivated},
		{"a directory owner cannot use a PAT", func(g *storage.PATGrant) { g.Owner.Kind = storage.UserDirectory }, now, CauseNonLocal},
		{"a SAML owner cannot use a PAT", func(g *storage.PATGrant) { g.Owner.Kind = storage.UserSAML }, now, CauseNonLocal},
		{"a regenerated PAT without overlap is reused", func(g *storage.PATGrant) {
			g.PAT.RevokedAt, g.PAT.RevokedReason = ptr(t0), storage.RegeneratedReason
		}, now, CauseReused},
		{"a regenerated PAT is usable in its overlap", func(g *storage.PATGrant) {
			g.PAT.RevokedAt, g.PAT.RevokedReason, g.PAT.OverlapUntil = ptr(t0), storage.RegeneratedReason, ptr(now.Add(time.Nanosecond))
		}, now, CauseNone},
		{"a regenerated PAT is reused at the end of its overlap", func(g *storage.PATGrant) {
			g.PAT.RevokedAt, g.PAT.RevokedReason, g.PAT.OverlapUntil = ptr(t0), storage.RegeneratedReason, ptr(now)
		}, now, CauseReused},
		{"an overlap does not outlast the PAT's expiry", func(g *storage.PATGrant) {
			g.PAT.RevokedAt, g.PAT.RevokedReason, g.PAT.OverlapUntil = ptr(t0), storage.RegeneratedReason, ptr(t0.Add(60*24*time.Hour))
		}, t0.Add(30 * 24 * time.Hour), CauseExpired},
		{"an overlap does not make another revocation usable", func(g *storage.PATGrant) {
			g.PAT.RevokedAt, g.PAT.RevokedReason, g.PAT.OverlapUntil = ptr(t0), "owner", ptr(now.Add(time.Hour))
		}, now, CauseRevoked},
		{"an overlap does not outlast a deactivated owner", func(g *storage.PATGrant) {
			g.PAT.RevokedAt, g.PAT.RevokedReason, g.PAT.OverlapUntil = ptr(t0), storage.RegeneratedReason, ptr(now.Add(time.Hour))
			g.Owner.Status = storage.UserDeactivated
		}, now, CauseUserDeactivated},
		{"revoked is reported before expired", func(g *storage.PATGrant) { g.PAT.RevokedAt = ptr(t0) }, t0.Add(365 * 24 * time.Hour), CauseRevoked},
		{"expired is reported before max-lifetime", func(g *storage.PATGrant) {
			g.Org.PATMaxLifetime = 30 * 24 * time.Hour
		}, t0.Add(31 * 24 * time.Hour), CauseExpired},
		{"max-lifetime is reported before org-disabled", func(g *storage.PATGrant) {
			g.Org.PATMaxLifetime, g.Org.PATsEnabled = time.Hour, false
		}, now, CauseMaxLifetime},
		{"org-disabled is reported before user-deactivated", func(g *storage.PATGrant) {
			g.Org.PATsEnabled, g.Owner.Status = false, storage.UserDeactivated
		}, now, CauseOrgDisabled},
		{"user-deactivated is reported before non-local", func(g *storage.PATGrant) {
			g.Owner.Status, g.Owner.Kind = storage.UserDeactivated, storage.UserSAML
		}, now, CauseUserDeactivated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := usableGrant()
			tt.change(g)
			if got := CheckUsable(g, tt.now); got != tt.want {
				t.Errorf("CheckUsable = %q, want %q", got, tt.want)
			}
		})
	}
	if got := CheckUsable(nil, now); got != CauseUnknown {
		t.Errorf("CheckUsable(nil) = %q, want %q", got, CauseUnknown)
	}
}

func TestReenablingRestoresAnOtherwiseValidPAT(t *testing.T) {
	now := t0.Add(time.Hour)
	g := usableGrant()

	g.Org.PATsEnabled = false
	if got := CheckUsable(g, now); got != CauseOrgDisabled {
		t.Fatalf("disabled: CheckUsable = %q, want %q", got, CauseOrgDisabled)
	}
	g.Org.PATsEnabled = true
	if got := CheckUsable(g, now); got != CauseNone {
		t.Errorf("re-enabled: CheckUsable = %q, want usable", got)
	}

	g.Owner.Status = storage.UserDeactivated
	if got := CheckUsable(g, now); got != CauseUserDeactivated {
		t.Fatalf("deactivated: CheckUsable = %q, want %q", got, CauseUserDeactivated)
	}
	g.Owner.Status = storage.UserActive
	if got := CheckUsable(g, now); got != CauseNone {
		t.Errorf("reactivated: CheckUsable = %q, want usable", got)
	}

	// Re-enabling does not revive a PAT that expired meanwhile.
	g.Org.PATsEnabled = false
	later := t0.Add(31 * 24 * time.Hour)
	g.Org.PATsEnabled = true
	if got := CheckUsable(g, later); got != CauseExpired {
		t.Errorf("re-enabled after expiry: CheckUsable = %q, want %q", got, CauseExpired)
	}
}

func TestCauseValues(t *testing.T) {
	want := map[Cause]string{
		CauseUnknown: "unknown", CauseMalformed: "malformed", CauseRevoked: "revoked",
		CauseExpired: "expired", CauseMaxLifetime: "max-lifetime", CauseOrgDisabled: "org-disabled",
		CauseUserDeactivated: "user-deactivated", CauseNonLocal: "non-local",
		CauseScope: "scope", CauseTarget: "target", CauseClient: "client",
		CauseSubject: "subject", CauseNotDelegate: "not-delegate", CauseDepth: "depth",
		CauseReused: "reused", CauseNetwork: "network",
	}
	all := Causes()
	if len(all) != len(want) {
		t.Errorf("Causes() has %d causes, want %d", len(all), len(want))
	}
	seen := map[Cause]bool{}
	for _, c := range all {
		if w, ok := want[c]; !ok || string(c) != w {
			t.Errorf("Causes() holds %q, not one of the refusal causes", c)
		}
		if seen[c] {
			t.Errorf("Causes() lists %q twice", c)
		}
		seen[c] = true
	}
	if CauseNone != "" {
		t.Errorf("CauseNone = %q, want empty", CauseNone)
	}
}

func TestUsableUntil(t *testing.T) {
	tests := []struct {
		name   string
		change func(g *storage.PATGrant)
		want   time.Time
		wantOK bool
	}{
		{"the PAT's expiry when it comes first", func(*storage.PATGrant) {}, t0.Add(30 * 24 * time.Hour), true},
		{"the maximum lifetime when it comes first", func(g *storage.PATGrant) {
			g.Org.PATMaxLifetime = 24 * time.Hour
		}, t0.Add(24 * time.Hour), true},
		{"the maximum lifetime for a PAT without expiry", func(g *storage.PATGrant) {
			g.PAT.ExpiresAt = nil
		}, t0.Add(90 * 24 * time.Hour), true},
		{"the PAT's expiry without a maximum lifetime", func(g *storage.PATGrant) {
			g.Org.PATMaxLifetime = 0
		}, t0.Add(30 * 24 * time.Hour), true},
		{"no limit at all", func(g *storage.PATGrant) {
			g.PAT.ExpiresAt, g.Org.PATMaxLifetime = nil, 0
		}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := usableGrant()
			tt.change(g)
			got, ok := UsableUntil(g)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("UsableUntil = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok && CheckUsable(g, got) == CauseNone {
				t.Errorf("PAT still usable at UsableUntil %v", got)
			}
			if ok && CheckUsable(g, got.Add(-time.Nanosecond)) != CauseNone {
				t.Errorf("PAT not usable just before UsableUntil %v", got)
			}
		})
	}
}

func TestUsableUntilOverlap(t *testing.T) {
	g := usableGrant()
	g.PAT.RevokedAt, g.PAT.RevokedReason = ptr(t0), storage.RegeneratedReason
	end := t0.Add(2 * time.Hour)
	g.PAT.OverlapUntil = &end
	if until, ok := UsableUntil(g); !ok || !until.Equal(end) {
		t.Errorf("UsableUntil = %v %v, want the overlap's end %v", until, ok, end)
	}
	late := t0.Add(100 * 24 * time.Hour)
	g.PAT.OverlapUntil = &late
	if until, ok := UsableUntil(g); !ok || !until.Equal(*g.PAT.ExpiresAt) {
		t.Errorf("UsableUntil = %v %v, want the expiry %v", until, ok, *g.PAT.ExpiresAt)
	}
}
