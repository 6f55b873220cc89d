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
	"authserver/storage"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	ctx   = context.Background()
	cheap = bootstrap.Options{PasswordParams: &password.Params{Memory: 64, Time: 1, Threads: 1}}
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
