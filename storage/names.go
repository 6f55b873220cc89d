package storage

import (
	"context"
	"fmt"
	"strings"
)

// NameKind is a kind of thing of an organization that has a name.
type NameKind string

// The kinds of named things NamesOf resolves.
const (
	NamesOfUsers NameKind = "users" // by username
	NamesOfPATs  NameKind = "pats"
	NamesOfRoles NameKind = "roles"
)

// maxNamesOf bounds the ids one NamesOf statement names, well within both
// databases' limits on parameters.
const maxNamesOf = 500

// NamesOf maps ids of an organization's users, PATs or roles to their
// names, in one statement per 500 ids. Ids that name nothing of the
// organization (deleted, another organization's) are absent.
func (s *SQLStore) NamesOf(ctx context.Context, orgID string, kind NameKind, ids []string) (map[string]string, error) {
	col := "name"
	switch kind {
	case NamesOfUsers:
		col = "username"
	case NamesOfPATs, NamesOfRoles:
	default:
		return nil, fmt.Errorf("names of: unknown kind %q", kind)
	}
	out := make(map[string]string, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), maxNamesOf)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, 0, n+1)
		args = append(args, orgID)
		for _, id := range chunk {
			args = append(args, id)
		}
		var rows []struct {
			ID   string `db:"id"`
			Name string `db:"name"`
		}
		q := `SELECT id, ` + col + ` AS name FROM ` + string(kind) +
			` WHERE org_id = ? AND id IN (?` + strings.Repeat(`, ?`, n-1) + `)`
		if err := s.sel(ctx, "names of "+string(kind), &rows, q, args...); err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r.ID] = r.Name
		}
	}
	return out, nil
}
