package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"authserver/exchange"
	"authserver/internal/rfc8693"
	"authserver/storage"
)

// The installation every run prepares: one audience with a realistic scope
// catalogue, one public client, organizations with three roles each.
const (
	audience = "orchestrator"
	clientID = "bench-cli"
)

var (
	catalogue = []string{"OR.Jobs", "OR.Execution", "OR.Folders", "OR.Assets", "OR.Queues"}
	roles     = map[string][]string{
		"Viewer":    {"OR.Jobs.Read", "OR.Execution.Read", "OR.Folders.Read", "OR.Assets.Read"},
		"Developer": {"OR.Jobs", "OR.Execution", "OR.Folders.Read", "OR.Assets", "OR.Queues.Read"},
		"Admin":     {"OR"},
	}
	folders  = []string{"Finance", "Finance/Invoices", "Finance/Payroll", "HR", "Ops", "Ops/Prod", "Ops/Staging", "Sales/EMEA"}
	patScope = []string{"OR.Jobs", "OR.Execution", "OR.Folders", "OR.Assets.Read", "OR.Queues", "OR.Jobs.Read"}
)

// prepare fills an empty, migrated database and returns the PAT tokens.
// Users get one organization-wide role and two folder roles; PATs get two
// to four scopes. Roles, users and assignments go through the store; the
// PATs, the bulk of the rows, through COPY.
func prepare(ctx context.Context, st *storage.SQLStore, dsn string, o options) ([]string, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	if err := st.CreateAudience(ctx, &storage.Audience{ID: audience, Name: "Orchestrator", Scopes: catalogue}); err != nil {
		return nil, err
	}
	if err := st.CreateClient(ctx, &storage.Client{ID: clientID, Public: true, Audiences: []string{audience},
		GrantTypes: []string{rfc8693.GrantType}}); err != nil {
		return nil, err
	}
	type owner struct{ org, user string }
	owners := make([]owner, 0, o.users)
	err := st.WithTx(ctx, func(tx storage.Store) error {
		for i := range o.orgs {
			org := &storage.Organization{Name: fmt.Sprintf("org-%03d", i), PATsEnabled: true}
			if err := tx.CreateOrganization(ctx, org); err != nil {
				return err
			}
			roleIDs := map[string]string{}
			for name, perms := range roles {
				r := &storage.Role{OrgID: org.ID, Name: name, Permissions: perms}
				if err := tx.CreateRole(ctx, r); err != nil {
					return err
				}
				roleIDs[name] = r.ID
			}
			for j := i; j < o.users; j += o.orgs {
				u := &storage.User{OrgID: org.ID, Username: fmt.Sprintf("user-%06d", j), Kind: storage.UserLocal, Status: storage.UserActive}
				if err := tx.CreateUser(ctx, u); err != nil {
					return err
				}
				orgWide := []string{"Viewer", "Developer"}[rng.IntN(2)]
				as := []storage.RoleAssignment{
					{RoleID: roleIDs[orgWide]},
					{RoleID: roleIDs["Developer"], Folder: folders[rng.IntN(len(folders))]},
					{RoleID: roleIDs["Admin"], Folder: folders[rng.IntN(len(folders))]},
				}
				for _, a := range as {
					a.OrgID, a.UserID = org.ID, u.ID
					if err := tx.CreateRoleAssignment(ctx, &a); err != nil && !isDuplicate(err) {
						return err
					}
				}
				owners = append(owners, owner{org.ID, u.ID})
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prepare users: %w", err)
	}

	tokens := make([]string, o.pats)
	// COPY goes through lib/pq's own connection: the store's connections
	// bound every statement by a deadline and offer only what its queries
	// use, which COPY is not.
	copyDB, err := sql.Open("postgres", dsn)
	if err != nil {
		return nil, err
	}
	defer copyDB.Close()
	tx, err := copyDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	cols := []string{"id", "org_id", "user_id", "name", "scopes", "token_hash", "hint", "created_at"}
	if o.usedFrom != "" {
		cols = append(cols, "last_used_at", "last_used_addr", "last_used_client", "recent_networks")
	}
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn("pats", cols...))
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	used := now.Add(-time.Hour)
	for i := range o.pats {
		tok, err := exchange.NewPAT("pat_", nil)
		if err != nil {
			return nil, err
		}
		tokens[i] = tok
		ow := owners[i%len(owners)]
		n := 2 + rng.IntN(3)
		perm := rng.Perm(len(patScope))[:n]
		scopes := ""
		for k, p := range perm {
			if k > 0 {
				scopes += " "
			}
			scopes += patScope[p]
		}
		row := []any{uuid.Must(uuid.NewV7()).String(), ow.org, ow.user, fmt.Sprintf("bench-%07d", i), scopes,
			exchange.HashPAT(tok), exchange.PATHint(tok), now.Add(-2 * time.Hour)}
		if o.usedFrom != "" {
			row = append(row, used, o.usedAddr, clientID, o.usedFrom)
		}
		if _, err := stmt.ExecContext(ctx, row...); err != nil {
			return nil, fmt.Errorf("copy pats: %w", err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("copy pats: %w", err)
	}
	if err := stmt.Close(); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if _, err := st.DB().ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	prewarm(ctx, st.DB())
	return tokens, nil
}

func isDuplicate(err error) bool {
	return err != nil && errors.Is(err, storage.ErrAlreadyExists)
}

// countPATs reports how many PATs the database holds (a sanity check).
func countPATs(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM pats").Scan(&n)
	return n, err
}

// prewarm loads every table and index of the schema into PostgreSQL's
// shared buffers (pg_prewarm), as a server that has been running holds its
// hot data. COPY writes through a small ring of buffers, so without this a
// large database starts the run reading its pages in one by one, and the
// first tens of seconds measure that. Best effort: without the extension
// the run goes on cold, and says so.
func prewarm(ctx context.Context, db *sql.DB) {
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_prewarm`); err != nil {
		logf("no pg_prewarm (%v): the run starts with a cold cache", err)
		return
	}
	var blocks int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(pg_prewarm(c.oid)), 0) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i')`).Scan(&blocks); err != nil {
		logf("pg_prewarm: %v: the run starts with a cold cache", err)
		return
	}
	logf("prewarmed %d blocks (%d MB) into shared buffers", blocks, blocks*8/1024)
}
