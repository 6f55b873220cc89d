package governance

import (
	"context"
	"slices"
	"strings"

	"authserver/storage"
)

// EventNames are the names of an audit event's actor and target, as people
// read them: a user actor's username; the target's name as the action
// implies (a PAT's name, a user's username, a role's name, the
// organization's name). Empty where there is no name to show: the actor or
// target is no user, PAT or role, or it no longer exists (the caller then
// shows the id).
type EventNames struct {
	Actor, Target string
}

// targetKind is what an action's target names, by the action's first
// segment; actions not listed have targets that are no named thing.
var targetKind = map[string]storage.NameKind{
	"pat":      storage.NamesOfPATs,
	"exchange": storage.NamesOfPATs,
	"user":     storage.NamesOfUsers,
	"console":  storage.NamesOfUsers,
	"role":     storage.NamesOfRoles,
}

// AuditNames resolves the actors and targets of events of an organization
// to names, for its admins, in at most one read per kind of thing (users,
// PATs, roles). The answer is parallel to events.
func (s *Service) AuditNames(ctx context.Context, a Actor, orgID string, events []storage.AuditEvent) ([]EventNames, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	want := map[storage.NameKind][]string{}
	add := func(kind storage.NameKind, id string) {
		if plausibleID(id) && !slices.Contains(want[kind], id) {
			want[kind] = append(want[kind], id)
		}
	}
	needOrg := false
	for _, e := range events {
		add(storage.NamesOfUsers, e.Actor)
		if kind, ok := targetOf(e.Action); ok {
			add(kind, e.Target)
		}
		needOrg = needOrg || e.Action == "org.settings"
	}
	found := map[storage.NameKind]map[string]string{}
	for kind, ids := range want {
		m, err := s.store.NamesOf(ctx, orgID, kind, ids)
		if err != nil {
			return nil, storeErr(err, "audit event")
		}
		found[kind] = m
	}
	orgName := ""
	if needOrg {
		o, err := s.org(ctx, orgID)
		if err != nil {
			return nil, err
		}
		orgName = o.Name
	}
	out := make([]EventNames, len(events))
	for i, e := range events {
		out[i].Actor = found[storage.NamesOfUsers][e.Actor]
		switch kind, ok := targetOf(e.Action); {
		case ok:
			out[i].Target = found[kind][e.Target]
		case e.Action == "org.settings" && e.Target == orgID:
			out[i].Target = orgName
		}
	}
	return out, nil
}

// targetOf is the kind of thing an action's target is. Role assignments
// (role.assign, role.unassign) name the assignment, not the role.
func targetOf(action string) (storage.NameKind, bool) {
	if action == "role.assign" || action == "role.unassign" {
		return "", false
	}
	head, _, _ := strings.Cut(action, ".")
	kind, ok := targetKind[head]
	return kind, ok
}
