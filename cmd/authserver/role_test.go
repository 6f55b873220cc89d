package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// roleBootstrap declares the organizations the role and org commands are
// tried on.
const roleBootstrap = `
bootstrap:
  audiences:
    - {id: orchestrator, name: Orchestrator, scopes: [OR.Jobs, OR.Folders]}
  clients:
    - {id: cli, public: true, audiences: [orchestrator]}
  organizations:
    - name: acme
      roles: [{name: Dev, permissions: [OR.Jobs]}]
      users:
        - {username: alice, roles: [{role: Dev}]}
        - {username: bob}
    - name: other
      pats_enabled: false
      pat_max_lifetime: 30d
      roles: [{name: Ops, permissions: [OR.Folders]}]
      users: [{username: olga}]
`

// roleSetup writes a migrated, bootstrapped SQLite configuration for the
// role and org commands.
func roleSetup(t *testing.T) string {
	t.Helper()
	path := writeConfig(t, sqliteDB(t)+roleBootstrap)
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	applyBootstrap(t, path)
	return path
}

// ok runs a command that must succeed and returns its stdout.
func ok(t *testing.T, path string, args ...string) string {
	t.Helper()
	code, out, stderr := cli(t, nil, "", append(args, "--config", path)...)
	if code != 0 {
		t.Fatalf("%v: exit %d stderr %q", args, code, stderr)
	}
	return out
}

// TestRoleCommands: roles created, assigned and deleted from the command
// line decide what an exchange grants, like those of the console and the
// API.
func TestRoleCommands(t *testing.T) {
	for _, db := range []struct {
		name  string
		block func(*testing.T) string
	}{{"sqlite", sqliteDB}, {"postgres", postgresDB}} {
		t.Run(db.name, func(t *testing.T) {
			httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
			path := writeConfig(t, fmt.Sprintf("http: {addr: %q}\ntelemetry: {addr: %q}\nlog: {format: json}\n%s%s",
				httpAddr, telemetryAddr, db.block(t), roleBootstrap))
			srv := startServer(t, path, httpAddr, telemetryAddr)

			out := ok(t, path, "role", "create", "--org", "acme", "--name", "Reader", "--permissions", "OR.Folders.Read, OR.Jobs.Read")
			if !strings.HasPrefix(out, "created role Reader (") || !strings.Contains(out, "with permissions OR.Folders.Read OR.Jobs.Read") {
				t.Fatalf("role create: %q", out)
			}
			out = ok(t, path, "role", "assign", "--org", "acme", "--user", "bob", "--role", "Reader", "--folder", "Finance/Tax")
			if out != "assigned role Reader to user bob at folder Finance/Tax\n" {
				t.Fatalf("role assign: %q", out)
			}
			out = ok(t, path, "role", "assign", "--org", "acme", "--user", "bob", "--role", "Dev")
			if out != "assigned role Dev to user bob organization-wide\n" {
				t.Fatalf("role assign organization-wide: %q", out)
			}
			rows := tableRows(t, ok(t, path, "role", "list", "--org", "acme"))
			if len(rows) != 2 || strings.Join(rows[0], " ") != "Dev 2 OR.Jobs" || strings.Join(rows[1], " ") != "Reader 1 OR.Folders.Read OR.Jobs.Read" {
				t.Fatalf("role list: %q", rows)
			}

			// Bob's PAT now exchanges, with Reader's rights in Finance/Tax.
			token, _ := createPAT(t, path, "--org", "acme", "--user", "bob", "--name", "t", "--scopes", "OR.Jobs OR.Folders")
			code, body := postToken(t, srv.base, exchangeForm("cli", "orchestrator", token))
			if code != http.StatusOK || body["scope"] != "OR.Jobs" {
				t.Fatalf("exchange with Dev: %d %v", code, body)
			}

			out = ok(t, path, "role", "unassign", "--org", "acme", "--user", "bob", "--role", "Dev")
			if out != "user bob no longer holds role Dev organization-wide\n" {
				t.Fatalf("role unassign: %q", out)
			}
			code, body = postToken(t, srv.base, exchangeForm("cli", "orchestrator", token))
			if code != http.StatusOK || body["scope"] != "" && body["scope"] != nil {
				t.Fatalf("exchange with Reader at a folder only: %d %v", code, body)
			}

			// An assigned role is deleted only with --yes.
			code, stdout, stderr := cli(t, nil, "", "role", "delete", "--config", path, "--org", "acme", "--role", "Reader")
			oneErrorLine(t, "delete an assigned role", code, stdout, stderr)
			if !strings.Contains(stderr, "cannot delete role Reader: the role has 1 assignment;") || !strings.Contains(stderr, "--yes") {
				t.Fatalf("delete an assigned role: %q", stderr)
			}
			if out := ok(t, path, "role", "delete", "--org", "acme", "--role", "Reader", "--yes"); out != "deleted role Reader\n" {
				t.Fatalf("role delete --yes: %q", out)
			}
			if code, body := postToken(t, srv.base, exchangeForm("cli", "orchestrator", token)); code != http.StatusBadRequest || body["error"] != "invalid_scope" {
				t.Fatalf("exchange after the role went: %d %v", code, body)
			}
			rows = tableRows(t, ok(t, path, "role", "list", "--org", "acme"))
			if len(rows) != 1 || rows[0][0] != "Dev" || rows[0][1] != "1" {
				t.Fatalf("role list after delete: %q", rows)
			}
			ok(t, path, "role", "create", "--org", "acme", "--name", "Idle", "--permissions", "OR")
			if out := ok(t, path, "role", "delete", "--org", "acme", "--role", "Idle"); out != "deleted role Idle\n" {
				t.Fatalf("an unassigned role goes without --yes: %q", out)
			}
		})
	}
}

// TestRoleCommandRefusals: each refusal is one line on stderr, exit 1,
// never repeating the value that was refused.
func TestRoleCommandRefusals(t *testing.T) {
	path := roleSetup(t)
	ok(t, path, "role", "assign", "--org", "acme", "--user", "bob", "--role", "Dev", "--folder", "Ops")
	for _, c := range []struct {
		name   string
		args   []string
		want   string
		hidden string
	}{
		{"an unknown organization", []string{"role", "list", "--org", "nope-org"}, "--org: no organization has this name", "nope-org"},
		{"an unknown organization on create", []string{"role", "create", "--org", "nope-org", "--name", "X", "--permissions", "OR.Jobs"}, "--org: no organization has this name", "nope-org"},
		{"an unknown role", []string{"role", "delete", "--org", "acme", "--role", "Ghost<b>"}, "--role: the organization has no role with this name", "Ghost"},
		{"another organization's role", []string{"role", "assign", "--org", "acme", "--user", "bob", "--role", "Ops"}, "--role: the organization has no role with this name", ""},
		{"an unknown user", []string{"role", "assign", "--org", "acme", "--user", "zed\x1b[31m", "--role", "Dev"}, "--user: the organization has no user with this username", "zed"},
		{"another organization's user", []string{"role", "unassign", "--org", "acme", "--user", "olga", "--role", "Dev"}, "--user: the organization has no user with this username", "olga"},
		{"a folder with a control character", []string{"role", "assign", "--org", "acme", "--user", "bob", "--role", "Dev", "--folder", "Fin\x07ance"}, "--folder: must be empty (organization-wide)", "\x07"},
		{"a folder with a bidi override", []string{"role", "unassign", "--org", "acme", "--user", "bob", "--role", "Dev", "--folder", "Fin\u202eance"}, "--folder: must be", "\u202e"},
		{"a folder with an empty segment", []string{"role", "assign", "--org", "acme", "--user", "bob", "--role", "Dev", "--folder", "A//B"}, "--folder: must be", "A//B"},
		{"a duplicate assignment", []string{"role", "assign", "--org", "acme", "--user", "bob", "--role", "Dev", "--folder", "Ops"}, "user bob already holds role Dev at folder Ops", ""},
		{"an assignment that does not exist", []string{"role", "unassign", "--org", "acme", "--user", "bob", "--role", "Dev"}, "user bob does not hold role Dev organization-wide", ""},
		{"an assignment at another folder", []string{"role", "unassign", "--org", "acme", "--user", "bob", "--role", "Dev", "--folder", "Ops/Sub"}, "user bob does not hold role Dev at folder Ops/Sub", ""},
		{"an assigned role without --yes", []string{"role", "delete", "--org", "acme", "--role", "Dev"}, "the role has 2 assignments;", ""},
		{"a duplicate role name", []string{"role", "create", "--org", "acme", "--name", "Dev", "--permissions", "OR.Jobs"}, "a role with this name exists in the organization", ""},
		{"a permission no audience understands", []string{"role", "create", "--org", "acme", "--name", "X", "--permissions", "OR.Jobs Secret.Sauce"},
			"--permissions: no audience understands permission 2 (counting from 1)", "Secret"},
		{"a malformed permission", []string{"role", "create", "--org", "acme", "--name", "X", "--permissions", "pat_abc..def"}, "--permissions: permission 1 (counting from 1) is not a dotted permission name", "pat_abc"},
		{"a management permission", []string{"role", "create", "--org", "acme", "--name", "X", "--permissions", "Identity.Admin"}, "--permissions: permission 1 (counting from 1) is a management scope", ""},
		{"no permissions", []string{"role", "create", "--org", "acme", "--name", "X", "--permissions", " , "}, "--permissions: must name at least one permission", ""},
		{"a bad role name", []string{"role", "create", "--org", "acme", "--name", "a\u200bb", "--permissions", "OR.Jobs"}, "--name: must not contain", ""},
		{"a missing flag", []string{"role", "assign", "--org", "acme", "--user", "bob"}, `required flag(s) "role" not set`, ""},
		{"an unknown subcommand", []string{"role", "rename"}, "unknown command", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append(c.args, "--config", path)...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) {
				t.Errorf("stderr %q, want %q", stderr, c.want)
			}
			if c.hidden != "" && strings.Contains(stderr, c.hidden) {
				t.Errorf("stderr %q repeats the refused value", stderr)
			}
		})
	}
	// Nothing changed: Dev still has both assignments.
	rows := tableRows(t, ok(t, path, "role", "list", "--org", "acme"))
	if len(rows) != 1 || strings.Join(rows[0], " ") != "Dev 2 OR.Jobs" {
		t.Fatalf("role list after refusals: %q", rows)
	}
}

// TestOrgCommands lists organizations and shows and changes their PAT
// policy.
func TestOrgCommands(t *testing.T) {
	path := roleSetup(t)
	rows := tableRows(t, ok(t, path, "org", "list"))
	if len(rows) != 2 || strings.Join(rows[0], " ") != "acme enabled none 2" || strings.Join(rows[1], " ") != "other disabled 30d 1" {
		t.Fatalf("org list: %q", rows)
	}
	if out := ok(t, path, "org", "settings", "--org", "other"); out != "organization: other\npats_enabled: false\npat_max_lifetime: 30d\nexpiry_notice_days: 30,7,1\npat_idle_revoke_after: 0 (never)\n" {
		t.Fatalf("org settings: %q", out)
	}
	if out := ok(t, path, "org", "settings", "--org", "other", "--pats-enabled", "--pat-max-lifetime", "90d"); out != "organization: other\npats_enabled: true\npat_max_lifetime: 90d\nexpiry_notice_days: 30,7,1\npat_idle_revoke_after: 0 (never)\n" {
		t.Fatalf("org settings with changes: %q", out)
	}
	if out := ok(t, path, "org", "settings", "--org", "acme", "--pats-enabled=false"); out != "organization: acme\npats_enabled: false\npat_max_lifetime: 0 (no limit)\nexpiry_notice_days: 30,7,1\npat_idle_revoke_after: 0 (never)\n" {
		t.Fatalf("disable PATs: %q", out)
	}
	if out := ok(t, path, "org", "settings", "--org", "other", "--pat-max-lifetime", "0"); !strings.Contains(out, "pat_max_lifetime: 0 (no limit)\n") {
		t.Fatalf("remove the limit: %q", out)
	}
	rows = tableRows(t, ok(t, path, "org", "list"))
	if strings.Join(rows[0], " ") != "acme disabled none 2" || strings.Join(rows[1], " ") != "other enabled none 1" {
		t.Fatalf("org list after changes: %q", rows)
	}
	// The policy the command set is the one pat create obeys.
	code, _, stderr := cli(t, nil, "", "pat", "create", "--config", path, "--org", "acme", "--user", "alice", "--name", "x", "--scopes", "OR.Jobs")
	if code != 1 || !strings.Contains(stderr, "disabled") {
		t.Fatalf("PATs disabled by org settings: exit %d %q", code, stderr)
	}

	for _, c := range []struct {
		name   string
		args   []string
		want   string
		hidden string
	}{
		{"an unknown organization", []string{"--org", "nope<i>"}, "--org: no organization has this name", "nope"},
		{"a bad boolean", []string{"--org", "acme", "--pats-enabled=maybe"}, "--pats-enabled: must be true or false", "maybe"},
		{"a bad duration", []string{"--org", "acme", "--pat-max-lifetime", "soon-ish"}, "--pat-max-lifetime: must be a duration", "soon-ish"},
		{"a lifetime below the minimum", []string{"--org", "acme", "--pat-max-lifetime", "1m"}, "--pat-max-lifetime: ", ""},
		{"a missing --org", nil, `required flag(s) "org" not set`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append([]string{"org", "settings", "--config", path}, c.args...)...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) || c.hidden != "" && strings.Contains(stderr, c.hidden) {
				t.Errorf("stderr %q, want %q without %q", stderr, c.want, c.hidden)
			}
		})
	}
	if out := ok(t, path, "org", "settings", "--org", "acme"); out != "organization: acme\npats_enabled: false\npat_max_lifetime: 0 (no limit)\nexpiry_notice_days: 30,7,1\npat_idle_revoke_after: 0 (never)\n" {
		t.Fatalf("refusals changed the settings: %q", out)
	}
}
