// Package conformance is the one list of storage tests that every Store
// implementation must pass, whatever database is behind it. Each backend's
// test calls Run with a function that opens a fresh, migrated, empty store.
package conformance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"authserver/storage"
)

// Opener returns a fresh, migrated, empty store; it registers its own
// cleanup with t.
type Opener func(t *testing.T) storage.Store

// Run runs every conformance test against stores from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"organizations CRUD and unique name", testOrganizations},
		{"users CRUD, unique username per organization", testUsers},
		{"roles CRUD and unique name per organization", testRoles},
		{"role assignments never cross organizations", testRoleAssignments},
		{"deleting a role removes its assignments", testDeleteRoleCascades},
		{"audiences CRUD", testAudiences},
		{"clients CRUD", testClients},
		{"PATs create, read by id and by hash", testPATs},
		{"PAT name unique per owner among non-revoked PATs", testPATNameUnique},
		{"PAT token hash unique", testPATHashUnique},
		{"PAT owner must belong to the PAT's organization", testPATOwnerOrg},
		{"PAT grant reads owner, organization and assignments", testPATGrant},
		{"PAT grants read together are the grants read one by one", testPATGrants},
		{"concurrent PAT grant reads each get their own PAT", testConcurrentPATGrants},
		{"PAT list filters by owner and status with a stable cursor", testListPATs},
		{"revoking keeps the first revocation", testRevokePAT},
		{"bulk revoke answers revoked and not found, never crossing organizations", testRevokePATs},
		{"last used only moves forward", testTouchPATs},
		{"PAT counts by status honour max lifetime", testCountPATs},
		{"signing keys CRUD", testSigningKeys},
		{"audit events filter and page newest first", testAudit},
		{"names of users, PATs and roles, never crossing organizations", testNamesOf},
		{"sessions CRUD and expiry", testSessions},
		{"a user's other sessions end, the one kept stays", testOtherSessions},
		{"users are searched by username and filtered by kind", testSearchUsers},
		{"set-password links by hash, per user, with expiry", testPasswordLinks},
		{"a failed transaction leaves nothing behind", testTxRollback},
		{"a transaction commits every write", testTxCommit},
		{"concurrent writers all land", testConcurrentWriters},
		{"concurrent creators of one PAT name: exactly one wins", testConcurrentSameName},
		{"times are stored and returned in UTC", testTimesUTC},
		{"a named lock serializes transactions", testLock},
		{"a DPoP proof is new once until it expires", testDPoPProofs},
		{"one DPoP nonce secret, the first stored", testDPoPNonceSecret},
		// Rotation and networks.
		{"a regenerated PAT's successor and overlap, read with every PAT read", testPATRotation},
		{"recent networks change by compare and set", testPATRecentNetworks},
		{"events fan out once, to every destination", testFanOut},
		{"an event held by one fan-out is not fanned out by another", testFanOutSkipsClaimed},
		{"a batch fan-out writes exactly its deliveries and marks exactly its events", testFanOutEvents},
		{"a batch fan-out holding an event fanned out already writes nothing", testFanOutEventsRefusesFannedOut},
		{"a batch fan-out larger than one statement's share is written whole", testFanOutEventsLarge},
		{"deliveries are leased, retried, taken over after the lease, and ended", testClaimDeliveries},
		{"concurrent claimers never share a delivery", testConcurrentClaims},
		{"outbox stats, and the purge of what is done", testOutboxStatsAndPurge},
		{"webhooks CRUD, never crossing organizations", testWebhooks},
		// Batches of the PATs' new networks.
		{"PATs read by id, of any organization, many at once", testGetPATsByID},
		{"PATs read by id in a transaction are kept from other writers until it ends", testGetPATsByIDLocks},
		{"many PATs' recent networks change by compare and set", testSetPATsRecentNetworks},
		{"audit events appended many at once", testAppendAudits},
		{"events appended many at once, in order", testAppendEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

// base is a fixed instant with sub-microsecond noise that storage drops.
var base = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	want = want.UTC().Truncate(time.Microsecond)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("%s: got %v, want %v in UTC", what, got, want)
	}
}

func org(t *testing.T, s storage.Store, name string) *storage.Organization {
	t.Helper()
	o := &storage.Organization{Name: name, PATsEnabled: true}
	must(t, s.CreateOrganization(ctx, o))
	return o
}

func user(t *testing.T, s storage.Store, o *storage.Organization, name string) *storage.User {
	t.Helper()
	u := &storage.User{OrgID: o.ID, Username: name, Kind: storage.UserLocal, Status: storage.UserActive}
	must(t, s.CreateUser(ctx, u))
	return u
}

func role(t *testing.T, s storage.Store, o *storage.Organization, name string, perms ...string) *storage.Role {
	t.Helper()
	r := &storage.Role{OrgID: o.ID, Name: name, Permissions: perms}
	must(t, s.CreateRole(ctx, r))
	return r
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func pat(t *testing.T, s storage.Store, u *storage.User, name, token string, created time.Time, expires *time.Time) *storage.PAT {
	t.Helper()
	p := &storage.PAT{
		OrgID: u.OrgID, UserID: u.ID, Name: name, Scopes: []string{"OR.Jobs", "OR.Folders.Read"},
		Hash: hash(token), Hint: "pat_…" + token[len(token)-4:], CreatedAt: created, ExpiresAt: expires,
	}
	must(t, s.CreatePAT(ctx, p))
	return p
}

func ptr[T any](v T) *T { return &v }

func testOrganizations(t *testing.T, s storage.Store) {
	o := &storage.Organization{Name: "acme", PATsEnabled: true, PATMaxLifetime: 365 * 24 * time.Hour}
	must(t, s.CreateOrganization(ctx, o))
	if o.ID == "" || o.CreatedAt.IsZero() {
		t.Fatalf("create did not fill id and time: %+v", o)
	}
	got, err := s.GetOrganization(ctx, o.ID)
	must(t, err)
	if got.Name != "acme" || !got.PATsEnabled || got.PATMaxLifetime != 365*24*time.Hour {
		t.Fatalf("got %+v", got)
	}
	byName, err := s.GetOrganizationByName(ctx, "acme")
	must(t, err)
	if byName.ID != o.ID {
		t.Fatalf("by name: got id %s, want %s", byName.ID, o.ID)
	}
	wantErr(t, s.CreateOrganization(ctx, &storage.Organization{Name: "acme"}), storage.ErrAlreadyExists)
	_, err = s.GetOrganization(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.GetOrganizationByName(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)

	got.PATsEnabled = false
	got.PATMaxLifetime = 0
	must(t, s.UpdateOrganization(ctx, got))
	again, err := s.GetOrganization(ctx, o.ID)
	must(t, err)
	if again.PATsEnabled || again.PATMaxLifetime != 0 {
		t.Fatalf("update did not land: %+v", again)
	}
	wantErr(t, s.UpdateOrganization(ctx, &storage.Organization{ID: "nope", Name: "x"}), storage.ErrNotFound)

	org(t, s, "beta")
	list, err := s.ListOrganizations(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "acme" || list[1].Name != "beta" {
		t.Fatalf("list: got %+v", list)
	}
}

func testUsers(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	u := &storage.User{OrgID: a.ID, Username: "alice", Kind: storage.UserLocal, Admin: true, PasswordHash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA"}
	must(t, s.CreateUser(ctx, u))
	if u.Status != storage.UserActive {
		t.Fatalf("default status: got %q, want active", u.Status)
	}
	got, err := s.GetUser(ctx, a.ID, u.ID)
	must(t, err)
	if got.Username != "alice" || got.Kind != storage.UserLocal || !got.Admin || got.PasswordHash != u.PasswordHash {
		t.Fatalf("got %+v", got)
	}
	byName, err := s.GetUserByUsername(ctx, a.ID, "alice")
	must(t, err)
	if byName.ID != u.ID {
		t.Fatalf("by username: got %s, want %s", byName.ID, u.ID)
	}
	_, err = s.GetUser(ctx, b.ID, u.ID)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, b.ID, "alice")
	wantErr(t, err, storage.ErrNotFound)

	wantErr(t, s.CreateUser(ctx, &storage.User{OrgID: a.ID, Username: "alice"}), storage.ErrAlreadyExists)
	must(t, s.CreateUser(ctx, &storage.User{OrgID: b.ID, Username: "alice"}))
	wantErr(t, s.CreateUser(ctx, &storage.User{OrgID: "no-such-org", Username: "zed"}), storage.ErrInvalidReference)

	got.Status = storage.UserDeactivated
	got.Kind = storage.UserSAML
	got.Admin = false
	got.PasswordHash = ""
	must(t, s.UpdateUser(ctx, got))
	again, err := s.GetUser(ctx, a.ID, u.ID)
	must(t, err)
	if again.Status != storage.UserDeactivated || again.Kind != storage.UserSAML || again.Admin || again.PasswordHash != "" {
		t.Fatalf("update did not land: %+v", again)
	}
	other := *again
	other.OrgID = b.ID
	wantErr(t, s.UpdateUser(ctx, &other), storage.ErrNotFound)

	for _, n := range []string{"carol", "bob", "dave"} {
		user(t, s, a, n)
	}
	all, err := s.ListUsers(ctx, storage.UserFilter{OrgID: a.ID})
	must(t, err)
	if names := usernames(all); !slices.Equal(names, []string{"alice", "bob", "carol", "dave"}) {
		t.Fatalf("list: got %v", names)
	}
	page, err := s.ListUsers(ctx, storage.UserFilter{OrgID: a.ID, After: "bob", Limit: 1})
	must(t, err)
	if names := usernames(page); !slices.Equal(names, []string{"carol"}) {
		t.Fatalf("page: got %v", names)
	}
	active, err := s.ListUsers(ctx, storage.UserFilter{OrgID: a.ID, Status: storage.UserDeactivated})
	must(t, err)
	if names := usernames(active); !slices.Equal(names, []string{"alice"}) {
		t.Fatalf("deactivated: got %v", names)
	}
}

func usernames(us []storage.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Username
	}
	return out
}

func testRoles(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	r := role(t, s, a, "Dev", "OR.Jobs", "OR.Folders.Read")
	got, err := s.GetRole(ctx, a.ID, r.ID)
	must(t, err)
	if got.Name != "Dev" || !slices.Equal(got.Permissions, []string{"OR.Jobs", "OR.Folders.Read"}) {
		t.Fatalf("got %+v", got)
	}
	byName, err := s.GetRoleByName(ctx, a.ID, "Dev")
	must(t, err)
	if byName.ID != r.ID {
		t.Fatalf("by name: got %s", byName.ID)
	}
	_, err = s.GetRole(ctx, b.ID, r.ID)
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.CreateRole(ctx, &storage.Role{OrgID: a.ID, Name: "Dev", Permissions: []string{"X"}}), storage.ErrAlreadyExists)
	role(t, s, b, "Dev", "X")

	got.Permissions = []string{"OR.Execution"}
	must(t, s.UpdateRole(ctx, got))
	again, err := s.GetRole(ctx, a.ID, r.ID)
	must(t, err)
	if !slices.Equal(again.Permissions, []string{"OR.Execution"}) {
		t.Fatalf("update: got %v", again.Permissions)
	}
	role(t, s, a, "Admin", "Identity.Admin")
	list, err := s.ListRoles(ctx, a.ID)
	must(t, err)
	if len(list) != 2 || list[0].Name != "Admin" || list[1].Name != "Dev" {
		t.Fatalf("list: got %+v", list)
	}
	wantErr(t, s.DeleteRole(ctx, b.ID, r.ID), storage.ErrNotFound)
	must(t, s.DeleteRole(ctx, a.ID, r.ID))
	_, err = s.GetRole(ctx, a.ID, r.ID)
	wantErr(t, err, storage.ErrNotFound)
}

func testRoleAssignments(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice := user(t, s, a, "alice")
	dev := role(t, s, a, "Dev", "OR.Jobs")
	foreign := role(t, s, b, "Dev", "OR.Jobs")

	ra := &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: dev.ID, Folder: "Finance/Invoices"}
	must(t, s.CreateRoleAssignment(ctx, ra))
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: dev.ID}))
	wantErr(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: dev.ID, Folder: "Finance/Invoices"}),
		storage.ErrAlreadyExists)
	wantErr(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: foreign.ID}),
		storage.ErrInvalidReference)
	wantErr(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: b.ID, UserID: alice.ID, RoleID: foreign.ID}),
		storage.ErrInvalidReference)

	list, err := s.ListRoleAssignments(ctx, a.ID, alice.ID)
	must(t, err)
	if len(list) != 2 || list[0].Folder != "" || list[1].Folder != "Finance/Invoices" {
		t.Fatalf("list: got %+v", list)
	}
	none, err := s.ListRoleAssignments(ctx, b.ID, "")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("other organization sees %d assignments", len(none))
	}
	wantErr(t, s.DeleteRoleAssignment(ctx, b.ID, ra.ID), storage.ErrNotFound)
	must(t, s.DeleteRoleAssignment(ctx, a.ID, ra.ID))
	list, err = s.ListRoleAssignments(ctx, a.ID, "")
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("after delete: got %d assignments, want 1", len(list))
	}
}

func testDeleteRoleCascades(t *testing.T, s storage.Store) {
	a := org(t, s, "a")
	alice := user(t, s, a, "alice")
	dev := role(t, s, a, "Dev", "OR.Jobs")
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: dev.ID}))
	must(t, s.DeleteRole(ctx, a.ID, dev.ID))
	list, err := s.ListRoleAssignments(ctx, a.ID, alice.ID)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("assignments of a deleted role remain: %+v", list)
	}
}

func testAudiences(t *testing.T, s storage.Store) {
	au := &storage.Audience{ID: "orchestrator", Name: "Orchestrator", Scopes: []string{"OR.Jobs", "OR.Folders"}, AccessTokenTTL: 10 * time.Minute,
		ScopeDescriptions: map[string]string{"OR.Jobs": "Start and stop jobs “now”"}}
	must(t, s.CreateAudience(ctx, au))
	got, err := s.GetAudience(ctx, "orchestrator")
	must(t, err)
	if got.Name != "Orchestrator" || !slices.Equal(got.Scopes, au.Scopes) || got.AccessTokenTTL != 10*time.Minute ||
		!maps.Equal(got.ScopeDescriptions, au.ScopeDescriptions) {
		t.Fatalf("got %+v", got)
	}
	wantErr(t, s.CreateAudience(ctx, &storage.Audience{ID: "orchestrator", Name: "x", Scopes: []string{"A"}}), storage.ErrAlreadyExists)
	got.Scopes = []string{"OR.Jobs"}
	got.AccessTokenTTL = 0
	got.ScopeDescriptions = nil
	must(t, s.UpdateAudience(ctx, got))
	must(t, s.CreateAudience(ctx, &storage.Audience{ID: "https://api.example.com", Name: "API", Scopes: []string{"API.Read"}}))
	list, err := s.ListAudiences(ctx)
	must(t, err)
	if len(list) != 2 || list[1].ID != "orchestrator" || !slices.Equal(list[1].Scopes, []string{"OR.Jobs"}) || list[1].AccessTokenTTL != 0 ||
		list[1].ScopeDescriptions != nil {
		t.Fatalf("list: got %+v", list)
	}
	must(t, s.DeleteAudience(ctx, "orchestrator"))
	_, err = s.GetAudience(ctx, "orchestrator")
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.DeleteAudience(ctx, "orchestrator"), storage.ErrNotFound)
	wantErr(t, s.UpdateAudience(ctx, &storage.Audience{ID: "nope"}), storage.ErrNotFound)
}

func testClients(t *testing.T, s storage.Store) {
	grant := []string{"urn:ietf:params:oauth:grant-type:token-exchange"}
	pub := &storage.Client{ID: "cli", Public: true, Audiences: []string{"orchestrator"}, GrantTypes: grant}
	must(t, s.CreateClient(ctx, pub))
	conf := &storage.Client{ID: "gateway", SecretHash: hash("secret"), Audiences: []string{"orchestrator", "api"}, GrantTypes: []string{},
		Introspection: true, OnBehalfOf: []string{"mcp"}}
	must(t, s.CreateClient(ctx, conf))
	got, err := s.GetClient(ctx, "cli")
	must(t, err)
	if !got.Public || len(got.SecretHash) != 0 || !slices.Equal(got.GrantTypes, grant) || got.OnBehalfOf == nil || len(got.OnBehalfOf) != 0 {
		t.Fatalf("public client: got %+v", got)
	}
	got, err = s.GetClient(ctx, "gateway")
	must(t, err)
	if got.Public || !slices.Equal(got.SecretHash, hash("secret")) || !got.Introspection ||
		len(got.GrantTypes) != 0 || !slices.Equal(got.Audiences, []string{"orchestrator", "api"}) ||
		!slices.Equal(got.OnBehalfOf, []string{"mcp"}) {
		t.Fatalf("confidential client: got %+v", got)
	}
	wantErr(t, s.CreateClient(ctx, &storage.Client{ID: "cli", Public: true}), storage.ErrAlreadyExists)
	if got.DPoPRequired {
		t.Fatalf("a client requires DPoP by default: %+v", got)
	}
	got.Introspection = false
	got.SecretHash = hash("rotated")
	got.OnBehalfOf = []string{"mcp", "api"}
	got.DPoPRequired = true
	must(t, s.UpdateClient(ctx, got))
	again, err := s.GetClient(ctx, "gateway")
	must(t, err)
	if again.Introspection || !slices.Equal(again.SecretHash, hash("rotated")) || !slices.Equal(again.OnBehalfOf, []string{"mcp", "api"}) ||
		!again.DPoPRequired {
		t.Fatalf("update: got %+v", again)
	}
	list, err := s.ListClients(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != "cli" {
		t.Fatalf("list: got %+v", list)
	}
	must(t, s.DeleteClient(ctx, "cli"))
	_, err = s.GetClient(ctx, "cli")
	wantErr(t, err, storage.ErrNotFound)
}

func testPATs(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice := user(t, s, a, "alice")
	p := pat(t, s, alice, "ci", "pat_token_one_0001", base, ptr(base.Add(24*time.Hour)))
	if p.ID == "" {
		t.Fatal("create did not fill the id")
	}
	got, err := s.GetPAT(ctx, a.ID, p.ID)
	must(t, err)
	if got.Name != "ci" || got.UserID != alice.ID || !slices.Equal(got.Scopes, p.Scopes) ||
		!slices.Equal(got.Hash, hash("pat_token_one_0001")) || got.Hint != "pat_…0001" ||
		got.LastUsedAt != nil || got.RevokedAt != nil || got.RevokedReason != "" || len(got.Delegates) != 0 {
		t.Fatalf("got %+v", got)
	}
	sameTime(t, "created_at", got.CreatedAt, base)
	sameTime(t, "expires_at", *got.ExpiresAt, base.Add(24*time.Hour))
	byHash, err := s.GetPATByHash(ctx, hash("pat_token_one_0001"))
	must(t, err)
	if byHash.ID != p.ID {
		t.Fatalf("by hash: got %s", byHash.ID)
	}
	_, err = s.GetPAT(ctx, b.ID, p.ID)
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.GetPATByHash(ctx, hash("unknown"))
	wantErr(t, err, storage.ErrNotFound)

	never := pat(t, s, alice, "forever", "pat_token_two_0002", base, nil)
	got, err = s.GetPAT(ctx, a.ID, never.ID)
	must(t, err)
	if got.ExpiresAt != nil {
		t.Fatalf("no-expiry PAT got expires_at %v", got.ExpiresAt)
	}

	delegated := &storage.PAT{OrgID: a.ID, UserID: alice.ID, Name: "agent", Scopes: []string{"OR.Jobs"},
		Hash: hash("pat_token_three_0003"), Hint: "h", CreatedAt: base, Delegates: []string{"gateway", "mcp"}}
	must(t, s.CreatePAT(ctx, delegated))
	got, err = s.GetPAT(ctx, a.ID, delegated.ID)
	must(t, err)
	if !slices.Equal(got.Delegates, []string{"gateway", "mcp"}) {
		t.Fatalf("delegates: got %q", got.Delegates)
	}
	listed, err := s.ListPATs(ctx, storage.PATFilter{OrgID: a.ID, Name: "agent", Now: base})
	must(t, err)
	if len(listed) != 1 || !slices.Equal(listed[0].Delegates, []string{"gateway", "mcp"}) {
		t.Fatalf("delegates in a list: got %+v", listed)
	}
	g, err := s.GetPATGrant(ctx, hash("pat_token_three_0003"))
	must(t, err)
	if !slices.Equal(g.PAT.Delegates, []string{"gateway", "mcp"}) {
		t.Fatalf("delegates in the grant: got %q", g.PAT.Delegates)
	}
	g, err = s.GetPATGrantByID(ctx, never.ID)
	must(t, err)
	if g.PAT.Delegates == nil || len(g.PAT.Delegates) != 0 {
		t.Fatalf("a PAT without delegates: got %#v in the grant", g.PAT.Delegates)
	}
}

func testPATNameUnique(t *testing.T, s storage.Store) {
	a := org(t, s, "a")
	alice, bob := user(t, s, a, "alice"), user(t, s, a, "bob")
	first := pat(t, s, alice, "deploy", "pat_name_a_0001", base, nil)
	err := s.CreatePAT(ctx, &storage.PAT{OrgID: a.ID, UserID: alice.ID, Name: "deploy", Scopes: []string{"A"}, Hash: hash("other"), Hint: "h"})
	wantErr(t, err, storage.ErrAlreadyExists)
	pat(t, s, bob, "deploy", "pat_name_b_0002", base, nil)
	_, err = s.RevokePAT(ctx, a.ID, first.ID, base, "owner")
	must(t, err)
	pat(t, s, alice, "deploy", "pat_name_c_0003", base, nil)
}

func testPATHashUnique(t *testing.T, s storage.Store) {
	a := org(t, s, "a")
	alice := user(t, s, a, "alice")
	pat(t, s, alice, "one", "pat_same_0001", base, nil)
	err := s.CreatePAT(ctx, &storage.PAT{OrgID: a.ID, UserID: alice.ID, Name: "two", Scopes: []string{"A"}, Hash: hash("pat_same_0001"), Hint: "h"})
	wantErr(t, err, storage.ErrAlreadyExists)
}

func testPATOwnerOrg(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice := user(t, s, a, "alice")
	err := s.CreatePAT(ctx, &storage.PAT{OrgID: b.ID, UserID: alice.ID, Name: "x", Scopes: []string{"A"}, Hash: hash("x"), Hint: "h"})
	wantErr(t, err, storage.ErrInvalidReference)
	list, err := s.ListPATs(ctx, storage.PATFilter{})
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("a refused PAT was written: %+v", list)
	}
}

func testPATGrant(t *testing.T, s storage.Store) {
	a := org(t, s, "acme")
	a.PATMaxLifetime = 90 * 24 * time.Hour
	must(t, s.UpdateOrganization(ctx, a))
	alice := user(t, s, a, "alice")
	lonely := user(t, s, a, "lonely")
	dev := role(t, s, a, "Dev", "OR.Jobs", "OR.Execution")
	reader := role(t, s, a, "Reader", "OR.Folders.Read")
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: dev.ID}))
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: alice.ID, RoleID: reader.ID, Folder: "Finance"}))
	p := pat(t, s, alice, "ci", "pat_grant_0001", base, nil)

	g, err := s.GetPATGrant(ctx, hash("pat_grant_0001"))
	must(t, err)
	if g.PAT.ID != p.ID || g.Owner.ID != alice.ID || g.Owner.Username != "alice" || g.Owner.Kind != storage.UserLocal ||
		g.Owner.Status != storage.UserActive || g.Org.ID != a.ID || g.Org.Name != "acme" || !g.Org.PATsEnabled ||
		g.Org.PATMaxLifetime != 90*24*time.Hour {
		t.Fatalf("got %+v", g)
	}
	sort.Slice(g.Grants, func(i, j int) bool { return g.Grants[i].Folder < g.Grants[j].Folder })
	want := []storage.Grant{{Folder: "", Permissions: []string{"OR.Jobs", "OR.Execution"}}, {Folder: "Finance", Permissions: []string{"OR.Folders.Read"}}}
	if fmt.Sprint(g.Grants) != fmt.Sprint(want) {
		t.Fatalf("grants: got %v, want %v", g.Grants, want)
	}

	byID, err := s.GetPATGrantByID(ctx, p.ID)
	must(t, err)
	if byID.PAT.ID != p.ID || byID.Owner.ID != alice.ID || len(byID.Grants) != 2 {
		t.Fatalf("by id: got %+v", byID)
	}
	_, err = s.GetPATGrantByID(ctx, "no-such-id")
	wantErr(t, err, storage.ErrNotFound)

	pat(t, s, lonely, "ci", "pat_grant_0002", base, nil)
	g, err = s.GetPATGrant(ctx, hash("pat_grant_0002"))
	must(t, err)
	if g.Owner.ID != lonely.ID || len(g.Grants) != 0 {
		t.Fatalf("user without roles: got %+v", g)
	}
	_, err = s.GetPATGrant(ctx, hash("unknown"))
	wantErr(t, err, storage.ErrNotFound)
}

func testListPATs(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice, bob := user(t, s, a, "alice"), user(t, s, a, "bob")
	carol := user(t, s, b, "carol")
	now := base.Add(100 * 24 * time.Hour)
	active := pat(t, s, alice, "active", "pat_list_0001", now.Add(-time.Hour), ptr(now.Add(time.Hour)))
	expired := pat(t, s, alice, "expired", "pat_list_0002", now.Add(-2*time.Hour), ptr(now.Add(-time.Minute)))
	revoked := pat(t, s, bob, "revoked", "pat_list_0003", now.Add(-time.Hour), nil)
	old := pat(t, s, bob, "old", "pat_list_0004", now.Add(-60*24*time.Hour), nil)
	pat(t, s, carol, "other org", "pat_list_0005", now, nil)
	_, err := s.RevokePAT(ctx, a.ID, revoked.ID, now, "admin")
	must(t, err)

	// Newest first: ids are UUIDv7, descending.
	sorted := func(ids ...string) []string { slices.Sort(ids); slices.Reverse(ids); return ids }
	odd := pat(t, s, bob, `Deploy 50%_off\x`, "pat_list_0006", now.Add(-time.Hour), ptr(now.Add(6*24*time.Hour)))
	other := &storage.PAT{OrgID: a.ID, UserID: alice.ID, Name: "deploy-other", Scopes: []string{"API.Read", "OR.Jobs.Extra"},
		Hash: hash("pat_list_0007"), Hint: "pat_…0007", CreatedAt: now.Add(-25 * 24 * time.Hour)}
	must(t, s.CreatePAT(ctx, other))
	week := now.Add(7 * 24 * time.Hour)
	cases := []struct {
		name string
		f    storage.PATFilter
		want []string
	}{
		{"whole organization", storage.PATFilter{OrgID: a.ID}, sorted(active.ID, expired.ID, revoked.ID, old.ID, odd.ID, other.ID)},
		{"one owner", storage.PATFilter{OrgID: a.ID, UserID: bob.ID}, sorted(revoked.ID, old.ID, odd.ID)},
		{"active", storage.PATFilter{OrgID: a.ID, Status: storage.PATActive, Now: now}, sorted(active.ID, old.ID, odd.ID, other.ID)},
		{"expired", storage.PATFilter{OrgID: a.ID, Status: storage.PATExpired, Now: now}, sorted(expired.ID)},
		{"revoked", storage.PATFilter{OrgID: a.ID, Status: storage.PATRevoked, Now: now}, sorted(revoked.ID)},
		{"active under a 30-day maximum", storage.PATFilter{OrgID: a.ID, Status: storage.PATActive, Now: now, MaxLifetime: 30 * 24 * time.Hour}, sorted(active.ID, odd.ID, other.ID)},
		{"name, any case", storage.PATFilter{OrgID: a.ID, Name: "DEPLOY"}, sorted(odd.ID, other.ID)},
		{"name with LIKE wildcards matches them literally", storage.PATFilter{OrgID: a.ID, Name: `50%_off\`}, sorted(odd.ID)},
		{"a wildcard alone is no wildcard", storage.PATFilter{OrgID: a.ID, Name: "%"}, sorted(odd.ID)},
		{"underscore alone", storage.PATFilter{OrgID: a.ID, Name: "_"}, sorted(odd.ID)},
		{"any of an audience's scopes, whole names only", storage.PATFilter{OrgID: a.ID, AnyScope: []string{"API.Read", "OR.Job"}}, sorted(other.ID)},
		{"scope with a wildcard", storage.PATFilter{OrgID: a.ID, AnyScope: []string{"OR.Jobs%"}}, nil},
		{"expiring within a week", storage.PATFilter{OrgID: a.ID, Now: now, ExpiringBefore: week}, sorted(active.ID, odd.ID)},
		{"expiring within a week, counting a 30-day maximum", storage.PATFilter{OrgID: a.ID, Now: now, MaxLifetime: 30 * 24 * time.Hour, ExpiringBefore: week}, sorted(active.ID, odd.ID, other.ID)},
		{"expiring and a status", storage.PATFilter{OrgID: a.ID, Now: now, Status: storage.PATActive, ExpiringBefore: week, UserID: bob.ID}, sorted(odd.ID)},
		{"expired under a 30-day maximum", storage.PATFilter{OrgID: a.ID, Status: storage.PATExpired, Now: now, MaxLifetime: 30 * 24 * time.Hour}, sorted(expired.ID, old.ID)},
	}
	for _, c := range cases {
		got, err := s.ListPATs(ctx, c.f)
		must(t, err)
		if !slices.Equal(patIDs(got), c.want) {
			t.Errorf("%s: got %v, want %v", c.name, patIDs(got), c.want)
		}
	}
	if _, err := s.ListPATs(ctx, storage.PATFilter{OrgID: a.ID, Status: "bogus"}); err == nil {
		t.Error("an unknown status filter was accepted")
	}
	checkPATPagingSeesEachOnce(t, s, alice, now)
}

// checkPATPagingSeesEachOnce walks the organization of owner two PATs at a
// time while PATs are added behind the cursor: every PAT present at the
// start is seen exactly once.
func checkPATPagingSeesEachOnce(t *testing.T, s storage.Store, owner *storage.User, now time.Time) {
	all, err := s.ListPATs(ctx, storage.PATFilter{OrgID: owner.OrgID})
	must(t, err)
	var seen []string
	cursor := ""
	for i := 0; ; i++ {
		page, err := s.ListPATs(ctx, storage.PATFilter{OrgID: owner.OrgID, After: cursor, Limit: 2})
		must(t, err)
		if len(page) == 0 {
			break
		}
		seen = append(seen, patIDs(page)...)
		cursor = page[len(page)-1].ID
		if i < 2 {
			pat(t, s, owner, fmt.Sprintf("added during paging %d", i), fmt.Sprintf("pat_page_%04d", i), now, nil)
		}
		if i > 10 {
			t.Fatal("paging does not end")
		}
	}
	for _, p := range all {
		if n := countOf(seen, p.ID); n != 1 {
			t.Errorf("PAT %s seen %d times while paging", p.Name, n)
		}
	}
}

func patIDs(ps []storage.PAT) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func countOf(l []string, v string) int {
	n := 0
	for _, x := range l {
		if x == v {
			n++
		}
	}
	return n
}

func testRevokePAT(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice := user(t, s, a, "alice")
	p := pat(t, s, alice, "ci", "pat_revoke_0001", base, nil)
	got, err := s.RevokePAT(ctx, b.ID, p.ID, base, "admin")
	wantErr(t, err, storage.ErrNotFound)
	got, err = s.RevokePAT(ctx, a.ID, p.ID, base.Add(time.Minute), "owner")
	must(t, err)
	sameTime(t, "revoked_at", *got.RevokedAt, base.Add(time.Minute))
	if got.RevokedReason != "owner" {
		t.Fatalf("reason: got %q", got.RevokedReason)
	}
	got, err = s.RevokePAT(ctx, a.ID, p.ID, base.Add(time.Hour), "admin")
	must(t, err)
	sameTime(t, "revoked_at after a second revoke", *got.RevokedAt, base.Add(time.Minute))
	if got.RevokedReason != "owner" {
		t.Fatalf("reason after a second revoke: got %q", got.RevokedReason)
	}
	_, err = s.RevokePAT(ctx, a.ID, "no-such-id", base, "owner")
	wantErr(t, err, storage.ErrNotFound)
}

func testRevokePATs(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice, carol := user(t, s, a, "alice"), user(t, s, b, "carol")
	p1 := pat(t, s, alice, "one", "pat_bulk_0001", base, nil)
	p2 := pat(t, s, alice, "two", "pat_bulk_0002", base, nil)
	foreign := pat(t, s, carol, "three", "pat_bulk_0003", base, nil)
	res, err := s.RevokePATs(ctx, a.ID, []string{p1.ID, foreign.ID, "missing", p2.ID, p1.ID}, base, "admin")
	must(t, err)
	if !slices.Equal(res.Revoked, []string{p1.ID, p2.ID}) || !slices.Equal(res.NotFound, []string{foreign.ID, "missing"}) {
		t.Fatalf("got revoked %v not found %v", res.Revoked, res.NotFound)
	}
	f, err := s.GetPAT(ctx, b.ID, foreign.ID)
	must(t, err)
	if f.RevokedAt != nil {
		t.Fatal("a bulk revoke crossed organizations")
	}
}

func testTouchPATs(t *testing.T, s storage.Store) {
	a := org(t, s, "a")
	alice := user(t, s, a, "alice")
	p1 := pat(t, s, alice, "one", "pat_touch_0001", base, nil)
	p2 := pat(t, s, alice, "two", "pat_touch_0002", base, nil)
	must(t, s.TouchPATs(ctx, map[string]storage.PATUse{
		p1.ID:  {At: base.Add(2 * time.Minute), Addr: "203.0.113.7", Client: "ci"},
		p2.ID:  {At: base.Add(time.Minute), Addr: "2001:db8::1", Client: "cli"},
		"gone": {At: base}}))
	must(t, s.TouchPATs(ctx, map[string]storage.PATUse{p1.ID: {At: base.Add(time.Minute), Addr: "198.51.100.1", Client: "old"}}))
	got, err := s.GetPAT(ctx, a.ID, p1.ID)
	must(t, err)
	sameTime(t, "last_used_at after an older touch", *got.LastUsedAt, base.Add(2*time.Minute))
	if got.LastUsedAddr != "203.0.113.7" || got.LastUsedClient != "ci" {
		t.Errorf("after an older touch: last used from %q by %q, want the newer use's", got.LastUsedAddr, got.LastUsedClient)
	}
	got, err = s.GetPAT(ctx, a.ID, p2.ID)
	must(t, err)
	sameTime(t, "last_used_at", *got.LastUsedAt, base.Add(time.Minute))
	if got.LastUsedAddr != "2001:db8::1" || got.LastUsedClient != "cli" {
		t.Errorf("last used from %q by %q", got.LastUsedAddr, got.LastUsedClient)
	}
	// A use that names no address or client (an introspection) moves the
	// time and keeps the last exchange's address and client.
	must(t, s.TouchPATs(ctx, map[string]storage.PATUse{p2.ID: {At: base.Add(3 * time.Minute)}}))
	list, err := s.ListPATs(ctx, storage.PATFilter{OrgID: a.ID, UserID: alice.ID})
	must(t, err)
	if len(list) != 2 || list[0].ID != p2.ID {
		t.Fatalf("list: got %v", patIDs(list))
	}
	sameTime(t, "last_used_at after an anonymous use", *list[0].LastUsedAt, base.Add(3*time.Minute))
	if list[0].LastUsedAddr != "2001:db8::1" || list[0].LastUsedClient != "cli" {
		t.Errorf("after an anonymous use: last used from %q by %q", list[0].LastUsedAddr, list[0].LastUsedClient)
	}

	// The exchange's read carries the last use, which decides whether a
	// use needs writing; a PAT never used has none.
	p3 := pat(t, s, alice, "three", "pat_touch_0003", base, nil)
	wantUse := func(what string, p storage.PAT, want storage.PATUse) {
		t.Helper()
		got := p.LastUse()
		if want.At.IsZero() != got.At.IsZero() {
			t.Errorf("%s: last used at %v, want %v", what, got.At, want.At)
		} else if !want.At.IsZero() {
			sameTime(t, what, got.At, want.At)
		}
		if got.Addr != want.Addr || got.Client != want.Client {
			t.Errorf("%s: last used from %q by %q, want %q by %q", what, got.Addr, got.Client, want.Addr, want.Client)
		}
	}
	used := storage.PATUse{At: base.Add(3 * time.Minute), Addr: "2001:db8::1", Client: "cli"}
	g, err := s.GetPATGrant(ctx, p2.Hash)
	must(t, err)
	wantUse("the grant by hash", g.PAT, used)
	g, err = s.GetPATGrantByID(ctx, p2.ID)
	must(t, err)
	wantUse("the grant by id", g.PAT, used)
	gs, err := s.GetPATGrants(ctx, [][]byte{p1.Hash, p2.Hash, p3.Hash})
	must(t, err)
	if len(gs) != 3 {
		t.Fatalf("GetPATGrants: %d grants, want 3", len(gs))
	}
	wantUse("the batch's first grant", gs[string(p1.Hash)].PAT, storage.PATUse{At: base.Add(2 * time.Minute), Addr: "203.0.113.7", Client: "ci"})
	wantUse("the batch's second grant", gs[string(p2.Hash)].PAT, used)
	wantUse("the batch's never used grant", gs[string(p3.Hash)].PAT, storage.PATUse{})
}

func testCountPATs(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	b.PATMaxLifetime = 30 * 24 * time.Hour
	must(t, s.UpdateOrganization(ctx, b))
	alice, carol := user(t, s, a, "alice"), user(t, s, b, "carol")
	now := base.Add(100 * 24 * time.Hour)
	pat(t, s, alice, "active", "pat_count_0001", now.Add(-60*24*time.Hour), nil)
	pat(t, s, alice, "expired", "pat_count_0002", now.Add(-time.Hour), ptr(now.Add(-time.Minute)))
	r := pat(t, s, alice, "revoked", "pat_count_0003", now, nil)
	_, err := s.RevokePAT(ctx, a.ID, r.ID, now, "owner")
	must(t, err)
	pat(t, s, carol, "too old", "pat_count_0004", now.Add(-60*24*time.Hour), nil)
	pat(t, s, carol, "young", "pat_count_0005", now.Add(-24*time.Hour), nil)
	got, err := s.CountPATs(ctx, now)
	must(t, err)
	want := storage.PATCounts{storage.PATActive: 2, storage.PATExpired: 2, storage.PATRevoked: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func testSigningKeys(t *testing.T, s storage.Store) {
	k1 := &storage.SigningKey{KID: "k1", Algorithm: "ES256", PrivateKey: []byte{1, 2, 3}, PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: base, ActivatesAt: base}
	k2 := &storage.SigningKey{KID: "k2", Algorithm: "ES256", PrivateKey: []byte{4, 5, 6}, PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: base, ActivatesAt: base.Add(time.Hour)}
	must(t, s.CreateSigningKey(ctx, k2))
	must(t, s.CreateSigningKey(ctx, k1))
	wantErr(t, s.CreateSigningKey(ctx, &storage.SigningKey{KID: "k1", Algorithm: "ES256", PrivateKey: []byte{1}, PublicJWK: []byte("{}"), ActivatesAt: base}), storage.ErrAlreadyExists)
	list, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(list) != 2 || list[0].KID != "k1" || list[1].KID != "k2" || !slices.Equal(list[0].PrivateKey, []byte{1, 2, 3}) ||
		string(list[0].PublicJWK) != `{"kty":"EC"}` || list[0].RetiresAt != nil {
		t.Fatalf("list: got %+v", list)
	}
	sameTime(t, "activates_at", list[1].ActivatesAt, base.Add(time.Hour))
	must(t, s.UpdateSigningKeyRetirement(ctx, "k1", ptr(base.Add(2*time.Hour))))
	wantErr(t, s.UpdateSigningKeyRetirement(ctx, "nope", nil), storage.ErrNotFound)
	n, err := s.DeleteSigningKeys(ctx, base.Add(2*time.Hour))
	must(t, err)
	if n != 0 {
		t.Fatalf("deleted %d keys retiring exactly at the bound, want 0", n)
	}
	n, err = s.DeleteSigningKeys(ctx, base.Add(3*time.Hour))
	must(t, err)
	if n != 1 {
		t.Fatalf("deleted %d keys, want 1", n)
	}
	list, err = s.ListSigningKeys(ctx)
	must(t, err)
	if len(list) != 1 || list[0].KID != "k2" {
		t.Fatalf("after delete: got %+v", list)
	}
}

func testAudit(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	events := []storage.AuditEvent{
		{Time: base, OrgID: a.ID, Actor: "u1", Action: "pat.create", Target: "p1", ClientAddr: "192.0.2.1", Outcome: "success"},
		{Time: base.Add(time.Minute), OrgID: a.ID, Actor: "u1", Action: "pat.revoke", Target: "p1", ClientAddr: "192.0.2.1", Outcome: "success", Detail: "by owner"},
		{Time: base.Add(2 * time.Minute), OrgID: a.ID, Actor: "u2", Action: "pat.create", Target: "p2", Outcome: "success"},
		{Time: base.Add(3 * time.Minute), OrgID: b.ID, Actor: "u3", Action: "pat.create", Target: "p3", Outcome: "success"},
	}
	// An event written late (queued off the request path) with an earlier
	// time still lists in time order.
	late := storage.AuditEvent{Time: base.Add(90 * time.Second), OrgID: b.ID, Actor: "u9", Action: "exchange.refused", Outcome: "revoked"}
	for i := range events {
		must(t, s.AppendAudit(ctx, &events[i]))
		if events[i].ID == 0 {
			t.Fatal("append did not fill the id")
		}
	}
	must(t, s.AppendAudit(ctx, &late))
	inB, err := s.ListAudit(ctx, storage.AuditFilter{OrgID: b.ID})
	must(t, err)
	if len(inB) != 2 || inB[0].Actor != "u3" || inB[1].Actor != "u9" {
		t.Fatalf("a late-written older event is not listed after newer ones: %+v", inB)
	}
	list, err := s.ListAudit(ctx, storage.AuditFilter{OrgID: a.ID})
	must(t, err)
	if len(list) != 3 || list[0].Target != "p2" || list[2].Target != "p1" || list[1].Detail != "by owner" || list[2].ClientAddr != "192.0.2.1" {
		t.Fatalf("list: got %+v", list)
	}
	sameTime(t, "event time", list[2].Time, base)
	cases := []struct {
		name string
		f    storage.AuditFilter
		want int
	}{
		{"by actor", storage.AuditFilter{OrgID: a.ID, Actor: "u1"}, 2},
		{"by action", storage.AuditFilter{OrgID: a.ID, Action: "pat.create"}, 2},
		{"by target", storage.AuditFilter{OrgID: a.ID, Target: "p1"}, 2},
		{"since", storage.AuditFilter{OrgID: a.ID, Since: base.Add(time.Minute)}, 2},
		{"until", storage.AuditFilter{OrgID: a.ID, Until: base.Add(time.Minute)}, 1},
		{"before cursor", storage.AuditFilter{OrgID: a.ID, BeforeTime: list[0].Time, Before: list[0].ID}, 2},
		{"limit", storage.AuditFilter{OrgID: a.ID, Limit: 1}, 1},
		{"other organization", storage.AuditFilter{OrgID: b.ID}, 2},
	}
	for _, c := range cases {
		got, err := s.ListAudit(ctx, c.f)
		must(t, err)
		if len(got) != c.want {
			t.Errorf("%s: got %d events, want %d", c.name, len(got), c.want)
		}
	}
}

func testSessions(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice := user(t, s, a, "alice")
	se := &storage.Session{ID: "h1", UserID: alice.ID, OrgID: a.ID, CSRFToken: "c", CreatedAt: base, ExpiresAt: base.Add(12 * time.Hour)}
	must(t, s.CreateSession(ctx, se))
	wantErr(t, s.CreateSession(ctx, &storage.Session{ID: "h2", UserID: alice.ID, OrgID: b.ID, CSRFToken: "c", ExpiresAt: base}), storage.ErrInvalidReference)
	wantErr(t, s.CreateSession(ctx, &storage.Session{ID: "h1", UserID: alice.ID, OrgID: a.ID, CSRFToken: "c", ExpiresAt: base}), storage.ErrAlreadyExists)
	got, err := s.GetSession(ctx, "h1")
	must(t, err)
	if got.UserID != alice.ID || got.OrgID != a.ID || got.CSRFToken != "c" {
		t.Fatalf("got %+v", got)
	}
	sameTime(t, "last_seen_at", got.LastSeenAt, base)
	must(t, s.TouchSession(ctx, "h1", base.Add(10*time.Minute)))
	got, err = s.GetSession(ctx, "h1")
	must(t, err)
	sameTime(t, "last_seen_at after touch", got.LastSeenAt, base.Add(10*time.Minute))

	must(t, s.CreateSession(ctx, &storage.Session{ID: "h3", UserID: alice.ID, OrgID: a.ID, CSRFToken: "c", CreatedAt: base, ExpiresAt: base.Add(time.Hour)}))
	n, err := s.DeleteExpiredSessions(ctx, base.Add(20*time.Minute), 15*time.Minute)
	must(t, err)
	if n != 1 {
		t.Fatalf("idle sweep deleted %d, want 1 (h3 idle since creation)", n)
	}
	n, err = s.DeleteExpiredSessions(ctx, base.Add(12*time.Hour), 24*time.Hour)
	must(t, err)
	if n != 1 {
		t.Fatalf("absolute sweep deleted %d, want 1", n)
	}
	must(t, s.CreateSession(ctx, &storage.Session{ID: "h4", UserID: alice.ID, OrgID: a.ID, CSRFToken: "c", ExpiresAt: base.Add(time.Hour)}))
	must(t, s.CreateSession(ctx, &storage.Session{ID: "h5", UserID: alice.ID, OrgID: a.ID, CSRFToken: "c", ExpiresAt: base.Add(time.Hour)}))
	must(t, s.DeleteSession(ctx, "h4"))
	wantErr(t, s.DeleteSession(ctx, "h4"), storage.ErrNotFound)
	must(t, s.DeleteUserSessions(ctx, alice.ID))
	_, err = s.GetSession(ctx, "h5")
	wantErr(t, err, storage.ErrNotFound)
}

func testOtherSessions(t *testing.T, s storage.Store) {
	a := org(t, s, "a")
	alice, bob := user(t, s, a, "alice"), user(t, s, a, "bob")
	for _, se := range []storage.Session{
		{ID: "a1", UserID: alice.ID}, {ID: "a2", UserID: alice.ID}, {ID: "a3", UserID: alice.ID}, {ID: "b1", UserID: bob.ID},
	} {
		se.OrgID, se.CSRFToken, se.ExpiresAt = a.ID, "c", base.Add(time.Hour)
		must(t, s.CreateSession(ctx, &se))
	}
	must(t, s.DeleteOtherUserSessions(ctx, alice.ID, "a2"))
	for id, want := range map[string]bool{"a1": false, "a2": true, "a3": false, "b1": true} {
		_, err := s.GetSession(ctx, id)
		if got := err == nil; got != want {
			t.Fatalf("session %s: present %t, want %t (err %v)", id, got, want, err)
		}
	}
}

func testSearchUsers(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	for _, u := range []storage.User{
		{Username: "Alice", Kind: storage.UserLocal}, {Username: "malice", Kind: storage.UserDirectory},
		{Username: "bob", Kind: storage.UserSAML}, {Username: "al_ice", Kind: storage.UserLocal},
		{Username: "50%off", Kind: storage.UserLocal}, {Username: `back\slash`, Kind: storage.UserLocal},
	} {
		u.OrgID = a.ID
		must(t, s.CreateUser(ctx, &u))
	}
	must(t, s.CreateUser(ctx, &storage.User{OrgID: b.ID, Username: "alice"}))
	for _, c := range []struct {
		name string
		f    storage.UserFilter
		want []string
	}{
		{"a substring, ignoring case", storage.UserFilter{Search: "LIC"}, []string{"Alice", "malice"}},
		{"an underscore is not a wildcard", storage.UserFilter{Search: "l_i"}, []string{"al_ice"}},
		{"a percent sign is not a wildcard", storage.UserFilter{Search: "0%o"}, []string{"50%off"}},
		{"a lone percent sign matches itself only", storage.UserFilter{Search: "%"}, []string{"50%off"}},
		{"a backslash is not an escape", storage.UserFilter{Search: `k\s`}, []string{`back\slash`}},
		{"by kind", storage.UserFilter{Kind: storage.UserLocal}, []string{"50%off", "Alice", "al_ice", `back\slash`}},
		{"search and kind together", storage.UserFilter{Search: "alice", Kind: storage.UserDirectory}, []string{"malice"}},
		{"search with a cursor and a limit", storage.UserFilter{Search: "ice", After: "Alice", Limit: 1}, []string{"al_ice"}},
		{"nothing matches", storage.UserFilter{Search: "zed"}, []string{}},
	} {
		c.f.OrgID = a.ID
		got, err := s.ListUsers(ctx, c.f)
		must(t, err)
		if names := usernames(got); !slices.Equal(names, c.want) {
			t.Fatalf("%s: got %q, want %q", c.name, names, c.want)
		}
	}
}

func testPasswordLinks(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice, bob := user(t, s, a, "alice"), user(t, s, a, "bob")
	l := &storage.PasswordLink{Hash: hash("link-1"), UserID: alice.ID, OrgID: a.ID, CreatedAt: base, ExpiresAt: base.Add(72 * time.Hour)}
	must(t, s.CreatePasswordLink(ctx, l))
	got, err := s.GetPasswordLink(ctx, hash("link-1"))
	must(t, err)
	if got.UserID != alice.ID || got.OrgID != a.ID || string(got.Hash) != string(hash("link-1")) {
		t.Fatalf("got %+v", got)
	}
	sameTime(t, "created_at", got.CreatedAt, base)
	sameTime(t, "expires_at", got.ExpiresAt, base.Add(72*time.Hour))
	_, err = s.GetPasswordLink(ctx, hash("link-0"))
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.CreatePasswordLink(ctx, &storage.PasswordLink{Hash: hash("link-1"), UserID: bob.ID, OrgID: a.ID, ExpiresAt: base}), storage.ErrAlreadyExists)
	wantErr(t, s.CreatePasswordLink(ctx, &storage.PasswordLink{Hash: hash("link-x"), UserID: alice.ID, OrgID: b.ID, ExpiresAt: base}), storage.ErrInvalidReference)

	must(t, s.CreatePasswordLink(ctx, &storage.PasswordLink{Hash: hash("link-2"), UserID: alice.ID, OrgID: a.ID, ExpiresAt: base.Add(time.Hour)}))
	must(t, s.CreatePasswordLink(ctx, &storage.PasswordLink{Hash: hash("link-3"), UserID: bob.ID, OrgID: a.ID, ExpiresAt: base.Add(time.Hour)}))
	must(t, s.DeletePasswordLinks(ctx, alice.ID))
	for _, h := range []string{"link-1", "link-2"} {
		_, err = s.GetPasswordLink(ctx, hash(h))
		wantErr(t, err, storage.ErrNotFound)
	}
	n, err := s.DeleteExpiredPasswordLinks(ctx, base.Add(time.Hour-time.Microsecond))
	must(t, err)
	if n != 0 {
		t.Fatalf("swept %d links before their expiry", n)
	}
	n, err = s.DeleteExpiredPasswordLinks(ctx, base.Add(time.Hour))
	must(t, err)
	if n != 1 {
		t.Fatalf("swept %d links at their expiry, want 1", n)
	}
}

func testTxRollback(t *testing.T, s storage.Store) {
	boom := errors.New("boom")
	err := s.WithTx(ctx, func(tx storage.Store) error {
		o := &storage.Organization{Name: "acme", PATsEnabled: true}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, &storage.User{OrgID: o.ID, Username: "alice"}); err != nil {
			return err
		}
		// A nested transaction joins the outer one and rolls back with it.
		return tx.WithTx(ctx, func(tx storage.Store) error {
			if err := tx.CreateAudience(ctx, &storage.Audience{ID: "api", Name: "API", Scopes: []string{"A"}}); err != nil {
				return err
			}
			return boom
		})
	})
	wantErr(t, err, boom)
	if _, err := s.GetOrganizationByName(ctx, "acme"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("organization survived a rolled-back transaction: %v", err)
	}
	if _, err := s.GetAudience(ctx, "api"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("audience survived a rolled-back transaction: %v", err)
	}
	// A constraint violation inside a transaction rolls back earlier writes.
	o := org(t, s, "taken")
	err = s.WithTx(ctx, func(tx storage.Store) error {
		if err := tx.CreateUser(ctx, &storage.User{OrgID: o.ID, Username: "first"}); err != nil {
			return err
		}
		return tx.CreateOrganization(ctx, &storage.Organization{Name: "taken"})
	})
	wantErr(t, err, storage.ErrAlreadyExists)
	if _, err := s.GetUserByUsername(ctx, o.ID, "first"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user survived a rolled-back transaction: %v", err)
	}
}

func testTxCommit(t *testing.T, s storage.Store) {
	var orgID string
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		o := &storage.Organization{Name: "acme", PATsEnabled: true}
		if err := tx.CreateOrganization(ctx, o); err != nil {
			return err
		}
		orgID = o.ID
		// Reads inside the transaction see its own writes.
		if _, err := tx.GetOrganization(ctx, o.ID); err != nil {
			return err
		}
		return tx.CreateUser(ctx, &storage.User{OrgID: o.ID, Username: "alice"})
	}))
	if _, err := s.GetUserByUsername(ctx, orgID, "alice"); err != nil {
		t.Fatalf("committed user not found: %v", err)
	}
}

func testConcurrentWriters(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	alice := user(t, s, o, "alice")
	p := pat(t, s, alice, "shared", "pat_conc_0001", base, nil)
	const writers = 8
	const each = 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.WithTx(ctx, func(tx storage.Store) error {
					u := &storage.User{OrgID: o.ID, Username: fmt.Sprintf("user-%d-%d", w, i)}
					if err := tx.CreateUser(ctx, u); err != nil {
						return err
					}
					return tx.AppendAudit(ctx, &storage.AuditEvent{OrgID: o.ID, Actor: "test", Action: "user.create", Target: u.ID, Outcome: "success"})
				})
				if err != nil {
					errs <- err
				}
				if err := s.TouchPATs(ctx, map[string]storage.PATUse{p.ID: {At: base.Add(time.Duration(w*each+i) * time.Second)}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	users, err := s.ListUsers(ctx, storage.UserFilter{OrgID: o.ID})
	must(t, err)
	if len(users) != writers*each+1 {
		t.Fatalf("got %d users, want %d", len(users), writers*each+1)
	}
	events, err := s.ListAudit(ctx, storage.AuditFilter{OrgID: o.ID})
	must(t, err)
	if len(events) != writers*each {
		t.Fatalf("got %d audit events, want %d", len(events), writers*each)
	}
	got, err := s.GetPAT(ctx, o.ID, p.ID)
	must(t, err)
	sameTime(t, "last_used_at after concurrent touches", *got.LastUsedAt, base.Add(time.Duration(writers*each-1)*time.Second))
}

func testConcurrentSameName(t *testing.T, s storage.Store) {
	o := org(t, s, "acme")
	alice := user(t, s, o, "alice")
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- s.CreatePAT(ctx, &storage.PAT{OrgID: o.ID, UserID: alice.ID, Name: "race", Scopes: []string{"A"},
				Hash: hash(fmt.Sprintf("pat_race_%d", i)), Hint: "h"})
		}()
	}
	wg.Wait()
	close(results)
	ok := 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, storage.ErrAlreadyExists):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creators won, want exactly 1", ok)
	}
}

func testTimesUTC(t *testing.T, s storage.Store) {
	tokyo := time.FixedZone("JST", 9*3600)
	local := time.Date(2026, 7, 1, 9, 30, 0, 123456789, tokyo)
	o := &storage.Organization{Name: "acme", PATsEnabled: true, CreatedAt: local}
	must(t, s.CreateOrganization(ctx, o))
	got, err := s.GetOrganization(ctx, o.ID)
	must(t, err)
	sameTime(t, "created_at", got.CreatedAt, local)
	if got.CreatedAt.Hour() != 0 {
		t.Fatalf("got hour %d, want 0 (09:30 JST is 00:30 UTC)", got.CreatedAt.Hour())
	}
	alice := user(t, s, o, "alice")
	p := pat(t, s, alice, "tz", "pat_tz_0001", local, ptr(local.Add(time.Hour)))
	// Comparisons in SQL must use instants, not wall clocks: the PAT is
	// active just before its expiry and expired at it, whatever the zone.
	for _, c := range []struct {
		now  time.Time
		want storage.PATStatus
	}{
		{local.Add(59 * time.Minute).In(time.FixedZone("PST", -8*3600)), storage.PATActive},
		{local.Add(time.Hour).UTC(), storage.PATExpired},
	} {
		list, err := s.ListPATs(ctx, storage.PATFilter{OrgID: o.ID, Status: c.want, Now: c.now})
		must(t, err)
		if len(list) != 1 || list[0].ID != p.ID {
			t.Errorf("at %v: want the PAT listed as %s, got %d PATs", c.now, c.want, len(list))
		}
	}
}

func testLock(t *testing.T, s storage.Store) {
	if err := s.Lock(ctx, "outside"); err == nil {
		t.Fatal("Lock outside a transaction succeeded")
	}
	o := org(t, s, "acme")
	// Each transaction reads a counter and writes it back one higher under
	// the lock: without serialization, increments would be lost.
	const workers = 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.WithTx(ctx, func(tx storage.Store) error {
				if err := tx.Lock(ctx, "counter"); err != nil {
					return err
				}
				cur, err := tx.GetOrganization(ctx, o.ID)
				if err != nil {
					return err
				}
				time.Sleep(5 * time.Millisecond)
				cur.PATMaxLifetime += time.Second
				return tx.UpdateOrganization(ctx, cur)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.GetOrganization(ctx, o.ID)
	must(t, err)
	if got.PATMaxLifetime != workers*time.Second {
		t.Fatalf("got %v after %d locked increments, want %v", got.PATMaxLifetime, workers, workers*time.Second)
	}
}

func testNamesOf(t *testing.T, s storage.Store) {
	a, b := org(t, s, "a"), org(t, s, "b")
	alice, carol := user(t, s, a, "alice"), user(t, s, b, "carol")
	p := pat(t, s, alice, "deploy", "pat_names_0001", base, nil)
	r := role(t, s, a, "Viewer", "OR.Jobs")
	cases := []struct {
		kind storage.NameKind
		ids  []string
		want map[string]string
	}{
		{storage.NamesOfUsers, []string{alice.ID, carol.ID, "gone"}, map[string]string{alice.ID: "alice"}},
		{storage.NamesOfPATs, []string{p.ID, alice.ID}, map[string]string{p.ID: "deploy"}},
		{storage.NamesOfRoles, []string{r.ID}, map[string]string{r.ID: "Viewer"}},
		{storage.NamesOfRoles, nil, map[string]string{}},
	}
	for _, c := range cases {
		got, err := s.NamesOf(ctx, a.ID, c.kind, c.ids)
		must(t, err)
		if !maps.Equal(got, c.want) {
			t.Errorf("names of %s: got %v, want %v", c.kind, got, c.want)
		}
	}
	many := make([]string, 0, 1201)
	for i := range 1200 {
		many = append(many, fmt.Sprintf("missing-%d", i))
	}
	many = append(many, alice.ID)
	got, err := s.NamesOf(ctx, a.ID, storage.NamesOfUsers, many)
	must(t, err)
	if !maps.Equal(got, map[string]string{alice.ID: "alice"}) {
		t.Errorf("names of 1201 ids: got %v", got)
	}
	if _, err := s.NamesOf(ctx, a.ID, "sessions", []string{"x"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

func testDPoPProofs(t *testing.T, s storage.Store) {
	p, q := hash("proof-1"), hash("proof-2")
	use := func(h []byte, expires, now time.Time) bool {
		t.Helper()
		fresh, err := s.UseDPoPProof(ctx, h, expires, now)
		must(t, err)
		return fresh
	}
	if !use(p, base.Add(time.Minute), base) {
		t.Fatal("a first proof is a replay")
	}
	if use(p, base.Add(time.Minute), base.Add(30*time.Second)) {
		t.Fatal("the same proof was new twice before it expired")
	}
	if !use(q, base.Add(time.Minute), base) {
		t.Fatal("another proof is a replay")
	}
	// An expired row not yet purged is taken over, with its new expiry.
	if !use(p, base.Add(3*time.Minute), base.Add(time.Minute)) {
		t.Fatal("an expired proof is still a replay")
	}
	if use(p, base.Add(3*time.Minute), base.Add(2*time.Minute)) {
		t.Fatal("the taken-over row kept its old expiry")
	}
	n, err := s.DeleteExpiredDPoPProofs(ctx, base.Add(time.Minute))
	must(t, err)
	if n != 1 { // q; p lives until +3m
		t.Fatalf("purged %d proofs, want 1", n)
	}
	if !use(q, base.Add(2*time.Minute), base.Add(time.Minute)) {
		t.Fatal("a purged proof is still recorded")
	}

	// Concurrent uses of one proof: exactly one is new.
	r := hash("proof-raced")
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UseDPoPProof(ctx, r, base.Add(time.Minute), base)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d concurrent uses of one proof were new, want 1", fresh)
	}
}

func testDPoPNonceSecret(t *testing.T, s storage.Store) {
	first, err := s.DPoPNonceSecret(ctx, []byte("first-candidate-secret-32-bytes!"))
	must(t, err)
	if string(first) != "first-candidate-secret-32-bytes!" {
		t.Fatalf("first secret = %q", first)
	}
	again, err := s.DPoPNonceSecret(ctx, []byte("another-candidate-secret-32bytes"))
	must(t, err)
	if string(again) != string(first) {
		t.Fatalf("a second candidate replaced the stored secret: %q", again)
	}
}

// grantFixture is an organization whose users hold various roles, and n
// PATs spread over them; tokens[i] is the token of PAT i.
func grantFixture(t *testing.T, s storage.Store, n int) (tokens []string) {
	a := org(t, s, "acme")
	dev := role(t, s, a, "Dev", "OR.Jobs", "OR.Execution")
	reader := role(t, s, a, "Reader", "OR.Folders.Read")
	users := []*storage.User{user(t, s, a, "alice"), user(t, s, a, "bob"), user(t, s, a, "lonely")}
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: users[0].ID, RoleID: dev.ID}))
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: users[0].ID, RoleID: reader.ID, Folder: "Finance"}))
	must(t, s.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: a.ID, UserID: users[1].ID, RoleID: reader.ID, Folder: "Ops/Prod"}))
	for i := range n {
		tok := fmt.Sprintf("pat_batch_%04d", i)
		p := pat(t, s, users[i%len(users)], fmt.Sprintf("p%d", i), tok, base.Add(time.Duration(i)*time.Second), nil)
		if i%5 == 4 {
			_, err := s.RevokePAT(ctx, a.ID, p.ID, base.Add(time.Hour), "admin")
			must(t, err)
		}
		tokens = append(tokens, tok)
	}
	return tokens
}

// sameGrant compares two grants, the order of role grants aside.
func sameGrant(t *testing.T, what string, got, want *storage.PATGrant) {
	t.Helper()
	norm := func(g *storage.PATGrant) string {
		c := *g
		c.Grants = slices.Clone(g.Grants)
		sort.Slice(c.Grants, func(i, j int) bool { return c.Grants[i].Folder < c.Grants[j].Folder })
		return fmt.Sprintf("%+v", c)
	}
	if norm(got) != norm(want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, norm(got), norm(want))
	}
}

func testPATGrants(t *testing.T, s storage.Store) {
	tokens := grantFixture(t, s, 12)
	var hashes [][]byte
	for _, tok := range tokens {
		hashes = append(hashes, hash(tok))
	}
	hashes = append(hashes, hash("unknown"), hash(tokens[3]))
	got, err := s.GetPATGrants(ctx, hashes)
	must(t, err)
	if len(got) != len(tokens) {
		t.Fatalf("got %d grants for %d PATs (an unknown and a repeated hash)", len(got), len(tokens))
	}
	for i, tok := range tokens {
		one, err := s.GetPATGrant(ctx, hash(tok))
		must(t, err)
		g := got[string(hash(tok))]
		if g == nil {
			t.Fatalf("PAT %d missing from the batch", i)
		}
		sameGrant(t, fmt.Sprintf("PAT %d", i), g, one)
		if (i%5 == 4) != (g.PAT.RevokedAt != nil) {
			t.Fatalf("PAT %d: revoked_at %v", i, g.PAT.RevokedAt)
		}
	}
	if _, ok := got[string(hash("unknown"))]; ok {
		t.Fatal("an unknown hash got a grant")
	}
	none, err := s.GetPATGrants(ctx, nil)
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("no hashes: got %v", none)
	}
	// Inside a transaction too (a batch never spans transactions, but the
	// call works in one).
	must(t, s.WithTx(ctx, func(tx storage.Store) error {
		in, err := tx.GetPATGrants(ctx, hashes[:3])
		if err == nil && len(in) != 3 {
			err = fmt.Errorf("in a transaction: got %d grants, want 3", len(in))
		}
		return err
	}))
}

// testConcurrentPATGrants reads PATs from many goroutines at once, as
// concurrent exchanges do (on PostgreSQL they share queries): each caller
// must get the PAT it asked for, as a read of its own returns it, and an
// unknown hash must be not found.
func testConcurrentPATGrants(t *testing.T, s storage.Store) {
	tokens := grantFixture(t, s, 40)
	want := make(map[string]*storage.PATGrant, len(tokens))
	for _, tok := range tokens {
		g, err := s.GetPATGrant(ctx, hash(tok))
		must(t, err)
		want[tok] = g
	}
	const callers, reads = 48, 25
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range reads {
				k := (c*7 + i*13) % (len(tokens) + 1)
				if k == len(tokens) {
					if _, err := s.GetPATGrant(ctx, hash(fmt.Sprintf("unknown-%d-%d", c, i))); !errors.Is(err, storage.ErrNotFound) {
						errs <- fmt.Errorf("unknown hash: got %v, want not found", err)
						return
					}
					continue
				}
				g, err := s.GetPATGrant(ctx, hash(tokens[k]))
				if err != nil {
					errs <- err
					return
				}
				if g.PAT.ID != want[tokens[k]].PAT.ID || g.Owner.ID != want[tokens[k]].Owner.ID ||
					len(g.Grants) != len(want[tokens[k]].Grants) || (g.PAT.RevokedAt == nil) != (want[tokens[k]].PAT.RevokedAt == nil) {
					errs <- fmt.Errorf("asked for PAT %d, got %+v", k, g.PAT)
					return
				}
				// Each caller owns what it got: writing to it must not
				// show in another's (the race detector watches too).
				g.PAT.Scopes = append(g.PAT.Scopes[:0], "changed")
				for j := range g.Grants {
					g.Grants[j].Folder = "changed"
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testPATRotation(t *testing.T, s storage.Store) {
	a := org(t, s, "acme")
	alice := user(t, s, a, "alice")
	old := pat(t, s, alice, "ci", "pat_rotation_old", base, nil)
	successor := pat(t, s, alice, "ci2", "pat_rotation_new", base, nil)
	_, err := s.RevokePAT(ctx, a.ID, old.ID, base, storage.RegeneratedReason)
	must(t, err)
	until := base.Add(24 * time.Hour)
	must(t, s.SetPATSuccessor(ctx, a.ID, old.ID, successor.ID, &until))
	wantErr(t, s.SetPATSuccessor(ctx, a.ID, "no-such-id", successor.ID, nil), storage.ErrNotFound)

	got, err := s.GetPAT(ctx, a.ID, old.ID)
	must(t, err)
	sameTime(t, "overlap_until", *got.OverlapUntil, until)
	if got.ReplacedBy != successor.ID || !got.InOverlap(base) || got.InOverlap(until) {
		t.Fatalf("got %+v", got)
	}
	g, err := s.GetPATGrant(ctx, hash("pat_rotation_old"))
	must(t, err)
	if g.PAT.RevokedReason != storage.RegeneratedReason || g.PAT.OverlapUntil == nil || g.PAT.ReplacedBy != successor.ID {
		t.Fatalf("grant: %+v", g.PAT)
	}
	listed, err := s.ListPATs(ctx, storage.PATFilter{OrgID: a.ID, Status: storage.PATRevoked, Now: base})
	must(t, err)
	if len(listed) != 1 || listed[0].ID != old.ID || listed[0].OverlapUntil == nil {
		t.Fatalf("revoked list: %+v", listed)
	}

	// Ending the overlap: only once, and only while it runs.
	end := base.Add(time.Hour)
	ended, err := s.EndPATOverlap(ctx, a.ID, old.ID, end)
	must(t, err)
	if !ended {
		t.Fatal("the overlap did not end")
	}
	if ended, err = s.EndPATOverlap(ctx, a.ID, old.ID, end.Add(time.Minute)); err != nil || ended {
		t.Fatalf("ending an ended overlap: %v %v", ended, err)
	}
	got, err = s.GetPAT(ctx, a.ID, old.ID)
	must(t, err)
	sameTime(t, "overlap_until", *got.OverlapUntil, end)
}

func testPATRecentNetworks(t *testing.T, s storage.Store) {
	a := org(t, s, "acme")
	alice := user(t, s, a, "alice")
	p := &storage.PAT{OrgID: a.ID, UserID: alice.ID, Name: "roaming", Scopes: []string{"OR.Jobs"}, Hash: hash("pat_networks"),
		Hint: "h", CreatedAt: base, AllowedCIDRs: []string{"192.0.2.0/24", "2001:db8::/32"}}
	must(t, s.CreatePAT(ctx, p))
	got, err := s.GetPAT(ctx, a.ID, p.ID)
	must(t, err)
	if !slices.Equal(got.AllowedCIDRs, p.AllowedCIDRs) || len(got.RecentNetworks) != 0 {
		t.Fatalf("got %+v", got)
	}
	first := []string{"192.0.2.0/24"}
	ok, err := s.SetPATRecentNetworks(ctx, a.ID, p.ID, nil, first)
	must(t, err)
	if !ok {
		t.Fatal("the first set failed")
	}
	// A writer that read the empty list loses.
	if ok, err = s.SetPATRecentNetworks(ctx, a.ID, p.ID, nil, []string{"198.51.100.0/24"}); err != nil || ok {
		t.Fatalf("a stale compare and set: %v %v", ok, err)
	}
	second := []string{"2001:db8:0:1::/64", "192.0.2.0/24"}
	ok, err = s.SetPATRecentNetworks(ctx, a.ID, p.ID, first, second)
	must(t, err)
	if !ok {
		t.Fatal("the second set failed")
	}
	g, err := s.GetPATGrant(ctx, hash("pat_networks"))
	must(t, err)
	if !slices.Equal(g.PAT.RecentNetworks, second) || !slices.Equal(g.PAT.AllowedCIDRs, p.AllowedCIDRs) {
		t.Fatalf("grant: %+v", g.PAT)
	}
	gs, err := s.GetPATGrants(ctx, [][]byte{hash("pat_networks")})
	must(t, err)
	if b := gs[string(hash("pat_networks"))]; b == nil || !slices.Equal(b.PAT.RecentNetworks, second) {
		t.Fatalf("batched grant: %+v", b)
	}
	if ok, err = s.SetPATRecentNetworks(ctx, "another-org", p.ID, second, first); err != nil || ok {
		t.Fatalf("another organization's PAT: %v %v", ok, err)
	}
}
