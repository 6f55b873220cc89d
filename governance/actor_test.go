package governance_test

import (
	"testing"
	"time"

	"authserver/governance"
	"authserver/storage"
)

// TestAttributeNamesEveryActorOneWay: the audit log's actor label and
// client address come from the Actor, whichever surface records the event.
func TestAttributeNamesEveryActorOneWay(t *testing.T) {
	const addr = "192.0.2.9"
	cases := []struct {
		name  string
		actor governance.Actor
		want  string
	}{
		{"a user is named by its id", governance.UserActor("o1", "u1", false, addr), "u1"},
		{"an admin is named by its id too", governance.UserActor("o1", "u2", true, addr), "u2"},
		{"a client is client:<id>", governance.ClientActor("cli", addr), "client:cli"},
		{"a client never identified is anonymous, not client:", governance.ClientActor("", addr), "anonymous"},
		{"no credentials is anonymous", governance.Anonymous(addr), "anonymous"},
		{"an unknown user is unknown-user, never the name typed", governance.Actor{Kind: governance.ActorUnknownUser, Addr: addr}, "unknown-user"},
		{"an actor of no kind is anonymous", governance.Actor{Addr: addr}, "anonymous"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := storage.AuditEvent{Time: time.Unix(1, 0), OrgID: "o1", Action: "x", Actor: "forged", ClientAddr: "forged"}
			got := c.actor.Attribute(in)
			if got.Actor != c.want || got.ClientAddr != addr {
				t.Fatalf("got actor %q from %q, want %q from %q", got.Actor, got.ClientAddr, c.want, addr)
			}
			if got.OrgID != in.OrgID || got.Action != in.Action || !got.Time.Equal(in.Time) {
				t.Fatalf("got %+v, want the event otherwise unchanged", got)
			}
		})
	}
	t.Run("the operator is cli, without an address", func(t *testing.T) {
		if got := governance.CLI().Attribute(storage.AuditEvent{}); got.Actor != "cli" || got.ClientAddr != "" {
			t.Fatalf("got actor %q from %q, want cli from nowhere", got.Actor, got.ClientAddr)
		}
	})
}
