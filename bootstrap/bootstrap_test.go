package bootstrap_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/bootstrap"
	"authserver/config"
	"authserver/internal/password"
	"authserver/internal/pgtest"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/internal/testenv"
	"authserver/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	ctx = context.Background()
	// cheapParams is a copy: Options holds a pointer.
	cheapParams = testenv.CheapPasswords
	cheap       = bootstrap.Options{PasswordParams: &cheapParams}
)

const file = `
bootstrap:
  audiences:
    - id: orchestrator
      name: Orchestrator
      scopes:
        - OR.Jobs
        - {name: OR.Execution, description: Start and stop processes}
        - OR.Folders
      access_token_ttl: 10m
  clients:
    - id: cli
      public: true
      audiences: [orchestrator]
    - id: gateway
      secret_sha256: "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
      audiences: [orchestrator]
      introspection: true
  organizations:
    - name: acme
      pat_max_lifetime: 365d
      roles:
        - name: Automation Developer
          permissions: [OR.Jobs, OR.Execution, OR.Folders.Read]
        - name: Reader
          permissions: [OR.Folders.Read]
      users:
        - username: alice
          password: wonderland
          admin: true
          roles:
            - role: Automation Developer
            - role: Reader
              folder: Finance/Invoices
        - username: dora
          kind: directory
`

func load(t *testing.T, yaml string) config.Bootstrap {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, config.MapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Bootstrap
}

func TestApply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		b := load(t, file)

		res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap)
		if err != nil {
			t.Fatal(err)
		}
		// 1 audience, 2 clients, 1 organization, 2 roles, 2 users, 2 assignments.
		if res.Created != 10 || res.Updated != 0 {
			t.Fatalf("first run: got %+v, want 10 created", res)
		}

		t.Run("the file's contents are in the store", func(t *testing.T) {
			au, err := st.GetAudience(ctx, "orchestrator")
			if err != nil || au.AccessTokenTTL != 10*time.Minute || len(au.Scopes) != 3 ||
				len(au.ScopeDescriptions) != 1 || au.ScopeDescriptions["OR.Execution"] != "Start and stop processes" {
				t.Fatalf("audience: %+v, %v", au, err)
			}
			cl, err := st.GetClient(ctx, "gateway")
			if err != nil || cl.Public || len(cl.SecretHash) != 32 || !cl.Introspection ||
				!slices.Equal(cl.GrantTypes, []string{rfc8693.GrantType}) {
				t.Fatalf("client: %+v, %v", cl, err)
			}
			org, err := st.GetOrganizationByName(ctx, "acme")
			if err != nil || !org.PATsEnabled || org.PATMaxLifetime != 365*24*time.Hour {
				t.Fatalf("organization: %+v, %v", org, err)
			}
			alice, err := st.GetUserByUsername(ctx, org.ID, "alice")
			if err != nil || !alice.Admin || alice.Kind != storage.UserLocal {
				t.Fatalf("alice: %+v, %v", alice, err)
			}
			if ok, err := password.Verify("wonderland", alice.PasswordHash); !ok || err != nil {
				t.Fatalf("alice's password does not verify: %v", err)
			}
			dora, err := st.GetUserByUsername(ctx, org.ID, "dora")
			if err != nil || dora.Kind != storage.UserDirectory || dora.PasswordHash != "" {
				t.Fatalf("dora: %+v, %v", dora, err)
			}
			ras, err := st.ListRoleAssignments(ctx, org.ID, alice.ID)
			if err != nil || len(ras) != 2 {
				t.Fatalf("assignments: %+v, %v", ras, err)
			}
		})

		t.Run("running twice changes nothing", func(t *testing.T) {
			org, _ := st.GetOrganizationByName(ctx, "acme")
			before, _ := st.GetUserByUsername(ctx, org.ID, "alice")
			res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap)
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed() {
				t.Fatalf("second run changed %+v", res)
			}
			after, _ := st.GetUserByUsername(ctx, org.ID, "alice")
			if after.PasswordHash != before.PasswordHash || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatal("second run rewrote alice")
			}
		})

		t.Run("changing a scope description updates the audience, once", func(t *testing.T) {
			b2 := load(t, replace(file, "{name: OR.Execution, description: Start and stop processes}", "{name: OR.Execution, description: Run processes}"))
			for i, want := range []int{1, 0} {
				res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b2, cheap)
				if err != nil || res.Created != 0 || res.Updated != want {
					t.Fatalf("run %d: got %+v, %v; want %d updated", i+1, res, err, want)
				}
			}
			au, _ := st.GetAudience(ctx, "orchestrator")
			if au.ScopeDescriptions["OR.Execution"] != "Run processes" {
				t.Fatalf("descriptions %v", au.ScopeDescriptions)
			}
			// Back to the file as it was, for the tests below.
			if res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap); err != nil || res.Updated != 1 {
				t.Fatalf("restoring: %+v, %v", res, err)
			}
		})

		t.Run("on_behalf_of is applied, and removed with the file's line", func(t *testing.T) {
			b2 := load(t, replace(file, "      introspection: true\n", "      introspection: true\n      on_behalf_of: [orchestrator]\n"))
			for i, want := range []int{1, 0} {
				res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b2, cheap)
				if err != nil || res.Created != 0 || res.Updated != want {
					t.Fatalf("run %d: got %+v, %v; want %d updated", i+1, res, err, want)
				}
			}
			cl, err := st.GetClient(ctx, "gateway")
			if err != nil || !slices.Equal(cl.OnBehalfOf, []string{"orchestrator"}) {
				t.Fatalf("client: %+v, %v", cl, err)
			}
			if res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap); err != nil || res.Updated != 1 {
				t.Fatalf("restoring: %+v, %v", res, err)
			}
			if cl, err := st.GetClient(ctx, "gateway"); err != nil || len(cl.OnBehalfOf) != 0 {
				t.Fatalf("client after the line was removed: %+v, %v", cl, err)
			}
		})

		t.Run("requiring DPoP of a client updates it, once, and back", func(t *testing.T) {
			b2 := load(t, replace(file, "      introspection: true\n", "      introspection: true\n      dpop: required\n"))
			for i, want := range []int{1, 0} {
				res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b2, cheap)
				if err != nil || res.Created != 0 || res.Updated != want {
					t.Fatalf("run %d: got %+v, %v; want %d updated", i+1, res, err, want)
				}
			}
			if cl, err := st.GetClient(ctx, "gateway"); err != nil || !cl.DPoPRequired {
				t.Fatalf("client: %+v, %v", cl, err)
			}
			if res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap); err != nil || res.Updated != 1 {
				t.Fatalf("restoring: %+v, %v", res, err)
			}
			if cl, err := st.GetClient(ctx, "gateway"); err != nil || cl.DPoPRequired {
				t.Fatalf("client: %+v, %v", cl, err)
			}
		})

		t.Run("changing a role's permissions in the file updates it", func(t *testing.T) {
			b2 := load(t, replace(file, "permissions: [OR.Folders.Read]", "permissions: [OR.Folders]"))
			res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b2, cheap)
			if err != nil {
				t.Fatal(err)
			}
			if res.Updated != 1 || res.Created != 0 {
				t.Fatalf("got %+v, want exactly the role updated", res)
			}
			org, _ := st.GetOrganizationByName(ctx, "acme")
			r, err := st.GetRoleByName(ctx, org.ID, "Reader")
			if err != nil || !slices.Equal(r.Permissions, []string{"OR.Folders"}) {
				t.Fatalf("role: %+v, %v", r, err)
			}
		})

		t.Run("a changed password is rehashed", func(t *testing.T) {
			b3 := load(t, replace(file, "password: wonderland", "password: looking-glass"))
			if _, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b3, cheap); err != nil {
				t.Fatal(err)
			}
			org, _ := st.GetOrganizationByName(ctx, "acme")
			alice, _ := st.GetUserByUsername(ctx, org.ID, "alice")
			if ok, _ := password.Verify("looking-glass", alice.PasswordHash); !ok {
				t.Fatal("the new password does not verify")
			}
		})

		t.Run("organization settings are initial values that admins own", func(t *testing.T) {
			org, _ := st.GetOrganizationByName(ctx, "acme")
			org.PATsEnabled = false
			if err := st.UpdateOrganization(ctx, org); err != nil {
				t.Fatal(err)
			}
			if _, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap); err != nil {
				t.Fatal(err)
			}
			again, _ := st.GetOrganizationByName(ctx, "acme")
			if again.PATsEnabled {
				t.Fatal("bootstrap re-enabled PATs an admin had disabled")
			}
		})
	})
}

// failingStore fails every CreateUser in its transactions, to prove Apply
// is all or nothing.
type failingStore struct{ bootstrap.Store }

type failingTx struct{ bootstrap.Tx }

var errInjected = errors.New("injected failure")

func (f failingStore) Update(ctx context.Context, fn func(bootstrap.Tx) error) error {
	return f.Store.Update(ctx, func(tx bootstrap.Tx) error { return fn(failingTx{tx}) })
}

func (failingTx) CreateUser(context.Context, *storage.User) error { return errInjected }

func TestApplyIsAllOrNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		_, err := bootstrap.Apply(ctx, failingStore{storage.Narrow[bootstrap.Tx](st)}, load(t, file), cheap)
		if !errors.Is(err, errInjected) {
			t.Fatalf("got %v, want the injected failure", err)
		}
		if _, err := st.GetAudience(ctx, "orchestrator"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the audience written before the failure survived: %v", err)
		}
		if _, err := st.GetOrganizationByName(ctx, "acme"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("the organization written before the failure survived: %v", err)
		}
	})
}

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("test fixture does not contain " + old)
	}
	return strings.Replace(s, old, new, 1)
}

// TestApplyAfterRuntimeChanges pins what a start with an unchanged file
// does to what the console, the API or the CLI changed since (the rules
// docs/configuration.md states): a role's permissions, a user's password
// and declared assignments follow the file again; a renamed or deleted
// role of the file is created again under its name, with the file's
// users assigned to it, while the renamed one stays as it is; a user's
// status, assignments and roles the file does not declare, and objects it
// does not name are left alone.
func TestApplyAfterRuntimeChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		b := load(t, file)
		apply := func() bootstrap.Result {
			t.Helper()
			res, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		apply()
		org, err := st.GetOrganizationByName(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		alice, _ := st.GetUserByUsername(ctx, org.ID, "alice")
		dora, _ := st.GetUserByUsername(ctx, org.ID, "dora")
		dev, _ := st.GetRoleByName(ctx, org.ID, "Automation Developer")
		reader, _ := st.GetRoleByName(ctx, org.ID, "Reader")

		// What an administrator does at run time.
		reader.Name, reader.Permissions = "Invoice Readers", []string{"OR.Folders"}
		if err := st.UpdateRole(ctx, reader); err != nil {
			t.Fatal(err)
		}
		dev.Permissions = []string{"OR.Jobs"}
		if err := st.UpdateRole(ctx, dev); err != nil {
			t.Fatal(err)
		}
		ras, _ := st.ListRoleAssignments(ctx, org.ID, alice.ID)
		for _, ra := range ras {
			if ra.RoleID == dev.ID {
				if err := st.DeleteRoleAssignment(ctx, org.ID, ra.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := st.CreateRoleAssignment(ctx, &storage.RoleAssignment{OrgID: org.ID, UserID: dora.ID, RoleID: dev.ID, Folder: "Ops"}); err != nil {
			t.Fatal(err)
		}
		auditors := &storage.Role{OrgID: org.ID, Name: "Auditors", Permissions: []string{"OR.Folders.Read"}}
		if err := st.CreateRole(ctx, auditors); err != nil {
			t.Fatal(err)
		}
		zed := &storage.User{OrgID: org.ID, Username: "zed", Kind: storage.UserLocal, Status: storage.UserActive}
		if err := st.CreateUser(ctx, zed); err != nil {
			t.Fatal(err)
		}
		alice.Status = storage.UserDeactivated
		if alice.PasswordHash, err = password.Hash("set-at-run-time", *cheap.PasswordParams); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateUser(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if err := st.UpdateAudience(ctx, &storage.Audience{ID: "orchestrator", Name: "Renamed", Scopes: []string{"OR.Jobs"}}); err != nil {
			t.Fatal(err)
		}

		// A restart with the same file.
		apply()

		t.Run("a renamed role of the file is created again; the renamed one stays", func(t *testing.T) {
			again, err := st.GetRoleByName(ctx, org.ID, "Reader")
			if err != nil || again.ID == reader.ID || !slices.Equal(again.Permissions, []string{"OR.Folders.Read"}) {
				t.Fatalf("Reader after the restart: %+v, %v; want a new role with the file's permissions", again, err)
			}
			renamed, err := st.GetRole(ctx, org.ID, reader.ID)
			if err != nil || renamed.Name != "Invoice Readers" || !slices.Equal(renamed.Permissions, []string{"OR.Folders"}) {
				t.Fatalf("the renamed role: %+v, %v; want it left as the administrator made it", renamed, err)
			}
			ras, _ := st.ListRoleAssignments(ctx, org.ID, alice.ID)
			var readerFolders, renamedFolders []string
			for _, ra := range ras {
				switch ra.RoleID {
				case again.ID:
					readerFolders = append(readerFolders, ra.Folder)
				case renamed.ID:
					renamedFolders = append(renamedFolders, ra.Folder)
				}
			}
			if !slices.Equal(readerFolders, []string{"Finance/Invoices"}) || !slices.Equal(renamedFolders, []string{"Finance/Invoices"}) {
				t.Fatalf("alice holds Reader at %v and the renamed role at %v; want both at Finance/Invoices", readerFolders, renamedFolders)
			}
		})

		t.Run("a role's permissions follow the file", func(t *testing.T) {
			r, err := st.GetRole(ctx, org.ID, dev.ID)
			if err != nil || !slices.Equal(r.Permissions, []string{"OR.Jobs", "OR.Execution", "OR.Folders.Read"}) {
				t.Fatalf("Automation Developer: %+v, %v", r, err)
			}
		})

		t.Run("a removed declared assignment is made again; others stay", func(t *testing.T) {
			ras, _ := st.ListRoleAssignments(ctx, org.ID, alice.ID)
			if !slices.ContainsFunc(ras, func(ra storage.RoleAssignment) bool { return ra.RoleID == dev.ID && ra.Folder == "" }) {
				t.Fatalf("alice's organization-wide Automation Developer assignment was not made again: %+v", ras)
			}
			ras, _ = st.ListRoleAssignments(ctx, org.ID, dora.ID)
			if len(ras) != 1 || ras[0].RoleID != dev.ID || ras[0].Folder != "Ops" {
				t.Fatalf("dora's assignment made at run time: %+v", ras)
			}
		})

		t.Run("a password follows the file; the status is left alone", func(t *testing.T) {
			a, _ := st.GetUserByUsername(ctx, org.ID, "alice")
			if ok, _ := password.Verify("wonderland", a.PasswordHash); !ok {
				t.Fatal("alice's password is not the file's again")
			}
			if a.Status != storage.UserDeactivated {
				t.Fatalf("alice's status %q: the restart reactivated her", a.Status)
			}
		})

		t.Run("objects the file does not name are left alone", func(t *testing.T) {
			if r, err := st.GetRoleByName(ctx, org.ID, "Auditors"); err != nil || r.ID != auditors.ID {
				t.Fatalf("Auditors: %+v, %v", r, err)
			}
			if u, err := st.GetUserByUsername(ctx, org.ID, "zed"); err != nil || u.ID != zed.ID {
				t.Fatalf("zed: %+v, %v", u, err)
			}
		})

		t.Run("an audience follows the file", func(t *testing.T) {
			au, err := st.GetAudience(ctx, "orchestrator")
			if err != nil || au.Name != "Orchestrator" || len(au.Scopes) != 3 {
				t.Fatalf("audience: %+v, %v", au, err)
			}
		})

		t.Run("a deleted role of the file is created again with its assignments", func(t *testing.T) {
			if err := st.DeleteRole(ctx, org.ID, dev.ID); err != nil {
				t.Fatal(err)
			}
			apply()
			r, err := st.GetRoleByName(ctx, org.ID, "Automation Developer")
			if err != nil || r.ID == dev.ID || !slices.Equal(r.Permissions, []string{"OR.Jobs", "OR.Execution", "OR.Folders.Read"}) {
				t.Fatalf("Automation Developer after deletion and restart: %+v, %v", r, err)
			}
			ras, _ := st.ListRoleAssignments(ctx, org.ID, alice.ID)
			if !slices.ContainsFunc(ras, func(ra storage.RoleAssignment) bool { return ra.RoleID == r.ID && ra.Folder == "" }) {
				t.Fatalf("alice was not assigned the recreated role: %+v", ras)
			}
			ras, _ = st.ListRoleAssignments(ctx, org.ID, dora.ID)
			if len(ras) != 0 {
				t.Fatalf("dora's run-time assignment to the deleted role came back: %+v", ras)
			}
			if res := apply(); res.Changed() {
				t.Fatalf("a further restart changed %+v", res)
			}
		})
	})
}

// TestApplyHygieneSettingsAndEmail: a new organization takes the file's
// expiry notice days and idle revocation time (the defaults when absent),
// as initial values; a user's e-mail address follows the file when the
// file gives one, and stays as set at run time when it does not.
func TestApplyHygieneSettingsAndEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		st := storetest.Open(t, driver)
		b := load(t, `
bootstrap:
  organizations:
    - name: acme
      expiry_notice_days: [14, 60]
      pat_idle_revoke_after: 90d
      users:
        - {username: alice, email: alice@example.com}
        - {username: bob}
    - name: globex
    - name: initech
      expiry_notice_days: []
`)
		if _, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]struct {
			days []int
			idle time.Duration
		}{"acme": {[]int{14, 60}, 90 * 24 * time.Hour}, "globex": {[]int{30, 7, 1}, 0}, "initech": {[]int{}, 0}} {
			o, err := st.GetOrganizationByName(ctx, name)
			if err != nil || !slices.Equal(o.ExpiryNoticeDays, want.days) || o.PATIdleRevokeAfter != want.idle {
				t.Fatalf("%s: %+v %v, want %v", name, o, err, want)
			}
		}
		acme, _ := st.GetOrganizationByName(ctx, "acme")
		alice, _ := st.GetUserByUsername(ctx, acme.ID, "alice")
		bob, _ := st.GetUserByUsername(ctx, acme.ID, "bob")
		if alice.Email != "alice@example.com" || bob.Email != "" {
			t.Fatalf("addresses %q %q", alice.Email, bob.Email)
		}
		// Run-time changes: the settings and both addresses.
		acme.ExpiryNoticeDays, acme.PATIdleRevokeAfter = []int{3}, 0
		alice.Email, bob.Email = "a@example.org", "bob@example.org"
		for _, err := range []error{st.UpdateOrganization(ctx, acme), st.UpdateUser(ctx, alice), st.UpdateUser(ctx, bob)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), b, cheap); err != nil {
			t.Fatal(err)
		}
		acme, _ = st.GetOrganizationByName(ctx, "acme")
		alice, _ = st.GetUserByUsername(ctx, acme.ID, "alice")
		bob, _ = st.GetUserByUsername(ctx, acme.ID, "bob")
		if !slices.Equal(acme.ExpiryNoticeDays, []int{3}) || acme.PATIdleRevokeAfter != 0 {
			t.Fatalf("the settings were reset: %+v", acme)
		}
		if alice.Email != "alice@example.com" || bob.Email != "bob@example.org" {
			t.Fatalf("addresses after the second run %q %q", alice.Email, bob.Email)
		}
	})
}
