package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"authserver/config"
	"authserver/exchange"
	"authserver/internal/pgtest"
	"authserver/storage"
)

// patBootstrap declares the organizations the PAT commands are tried on.
const patBootstrap = `
bootstrap:
  audiences:
    - {id: orchestrator, name: Orchestrator, scopes: [OR.Jobs, OR.Folders]}
  clients:
    - {id: cli, public: true, audiences: [orchestrator]}
    - {id: gw, secret_sha256: "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b", audiences: [orchestrator], on_behalf_of: [orchestrator]}
  organizations:
    - name: acme
      roles: [{name: Dev, permissions: [OR.Jobs, OR.Folders]}]
      users:
        - {username: alice, roles: [{role: Dev}]}
        - {username: dora, kind: directory}
    - name: other
      roles: [{name: Dev, permissions: [OR.Jobs]}]
      users:
        - {username: olga, roles: [{role: Dev}]}
    - name: limited
      pat_max_lifetime: 30d
      users: [{username: lee}]
    - name: off
      pats_enabled: false
      users: [{username: ola}]
`

// patConfig writes a configuration for the PAT tests: the database block
// db, free ports, and patBootstrap.
func patConfig(t *testing.T, db string) (path, httpAddr, telemetryAddr string) {
	t.Helper()
	httpAddr, telemetryAddr = freeAddr(t), freeAddr(t)
	path = writeConfig(t, fmt.Sprintf("http: {addr: %q}\ntelemetry: {addr: %q}\nlog: {format: json}\n%s%s",
		httpAddr, telemetryAddr, db, patBootstrap))
	return path, httpAddr, telemetryAddr
}

func sqliteDB(t *testing.T) string {
	return fmt.Sprintf("database: {dsn: %q}\n", filepath.Join(t.TempDir(), "a.db"))
}

func postgresDB(t *testing.T) string {
	dsn := pgtest.NewDatabase(t)
	return fmt.Sprintf("database: {driver: postgres, dsn: %q}\nkeys: {encryption_key: %q}\n", dsn, randomKEK(t))
}

var createdID = regexp.MustCompile(`created PAT ([0-9a-f-]{36}) `)

// createPAT runs pat create, checks that stdout holds the token alone and
// stderr its id and no token, and returns both.
func createPAT(t *testing.T, path string, args ...string) (token, id string) {
	t.Helper()
	code, out, stderr := cli(t, nil, "", append([]string{"pat", "create", "--config", path}, args...)...)
	if code != 0 {
		t.Fatalf("pat create %v: exit %d: %s", args, code, stderr)
	}
	token, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.ContainsAny(token, " \n\t") {
		t.Fatalf("stdout is not the token alone on one line: %q", out)
	}
	if err := exchange.CheckPAT("pat_", token); err != nil {
		t.Fatalf("stdout %q is not a well-formed PAT: %v", out, err)
	}
	if strings.Contains(stderr, token) {
		t.Fatalf("the token reached stderr: %q", stderr)
	}
	if !strings.Contains(stderr, "shown only this once") {
		t.Errorf("stderr does not warn that the token is shown once: %q", stderr)
	}
	m := createdID.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("stderr does not name the new PAT's id: %q", stderr)
	}
	return token, m[1]
}

// TestPATCommands runs the operator's PAT lifecycle against a running
// server on both databases: what the CLI creates is exchangeable, what it
// revokes is not, and no token ever shows in a listing.
func TestPATCommands(t *testing.T) {
	for _, db := range []struct {
		name  string
		block func(*testing.T) string
	}{{"sqlite", sqliteDB}, {"postgres", postgresDB}} {
		t.Run(db.name, func(t *testing.T) {
			path, httpAddr, telemetryAddr := patConfig(t, db.block(t))
			srv := startServer(t, path, httpAddr, telemetryAddr)
			exchangeStatus := func(pat string) (int, map[string]any) {
				return postToken(t, srv.base, exchangeForm("cli", "orchestrator", pat))
			}

			token, id := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "ci job", "--scopes", "OR.Jobs OR.Folders", "--expires-in", "30d")
			if code, body := exchangeStatus(token); code != http.StatusOK || body["scope"] != "OR.Folders OR.Jobs" && body["scope"] != "OR.Jobs OR.Folders" {
				t.Fatalf("a CLI-created PAT exchanges: got %d %v", code, body)
			}

			code, out, stderr := cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme")
			if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "ci job") || !strings.Contains(out, "alice") ||
				!strings.Contains(out, "active") || !strings.Contains(out, "OR.Jobs OR.Folders") {
				t.Fatalf("pat list: exit %d stdout %q stderr %q", code, out, stderr)
			}
			if strings.Contains(out+stderr, token) || strings.Contains(out+stderr, token[4:]) {
				t.Fatal("pat list shows the token")
			}
			if !strings.Contains(out, exchange.PATHint(token)) {
				t.Errorf("pat list does not show the hint %q:\n%s", exchange.PATHint(token), out)
			}
			// The expiry is 30 days out.
			want := time.Now().Add(30 * 24 * time.Hour).UTC()
			if !strings.Contains(out, want.Format("2006-01-02T15")) && !strings.Contains(out, want.Add(-time.Hour).Format("2006-01-02T15")) {
				t.Errorf("pat list does not show an expiry 30 days out (%s):\n%s", want.Format(time.RFC3339), out)
			}

			// Revoke by id: the next exchange fails.
			code, out, stderr = cli(t, nil, "", "pat", "revoke", "--config", path, "--org", "acme", "--id", id)
			if code != 0 || out != "revoked "+id+"\n" {
				t.Fatalf("revoke by id: exit %d stdout %q stderr %q", code, out, stderr)
			}
			if code, body := exchangeStatus(token); code != http.StatusBadRequest || body["error"] != "invalid_request" {
				t.Fatalf("a PAT revoked by the CLI still exchanges: %d %v", code, body)
			}
			code, out, _ = cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme", "--user", "alice", "--status", "revoked")
			if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "revoked") {
				t.Fatalf("a revoked PAT stays listed as revoked: exit %d %q", code, out)
			}
			code, out, _ = cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme", "--status", "active")
			if code != 0 || strings.Contains(out, id) {
				t.Fatalf("--status active lists a revoked PAT: exit %d %q", code, out)
			}

			// The name of a revoked PAT is free again.
			token2, id2 := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "ci job", "--scopes", "OR.Jobs")
			if code, body := exchangeStatus(token2); code != http.StatusOK {
				t.Fatalf("second PAT: %d %v", code, body)
			}

			// A token of another organization is not found by value, and
			// stays usable.
			otherToken, _ := createPAT(t, path, "--org", "other", "--user", "olga", "--name", "x", "--scopes", "OR.Jobs")
			code, out, stderr = cli(t, nil, otherToken+"\n", "pat", "revoke", "--config", path, "--org", "acme", "--token-stdin")
			oneErrorLine(t, "revoke another organization's token by value", code, out, stderr)
			if !strings.Contains(stderr, `no PAT of organization "acme" has that value`) || strings.Contains(stderr, otherToken) {
				t.Errorf("revoke another organization's token: stderr %q", stderr)
			}
			if code, body := exchangeStatus(otherToken); code != http.StatusOK {
				t.Fatalf("another organization's PAT was touched: %d %v", code, body)
			}

			// Revoke by value, read from stdin: answered with owner and name.
			code, out, stderr = cli(t, nil, token2+"\n", "pat", "revoke", "--config", path, "--org", "acme", "--token-stdin")
			if code != 0 || !strings.Contains(out, id2) || !strings.Contains(out, `"ci job"`) || !strings.Contains(out, "alice") {
				t.Fatalf("revoke by value: exit %d stdout %q stderr %q", code, out, stderr)
			}
			if strings.Contains(out+stderr, token2) {
				t.Fatal("revoke by value echoes the token")
			}
			if code, body := exchangeStatus(token2); code != http.StatusBadRequest {
				t.Fatalf("a PAT revoked by value still exchanges: %d %v", code, body)
			}
			code, out, stderr = cli(t, nil, token2+"\n", "pat", "revoke", "--config", path, "--org", "acme", "--token-stdin")
			oneErrorLine(t, "revoking a revoked PAT by value", code, out, stderr)
			if !strings.Contains(stderr, id2) || !strings.Contains(stderr, "was already revoked at") || strings.Contains(stderr, token2) {
				t.Errorf("revoking a revoked PAT by value: stderr %q", stderr)
			}
			// By id: said so, exit 1, and the revocation is the first one.
			code, out, stderr = cli(t, nil, "", "pat", "revoke", "--config", path, "--org", "acme", "--id", id2)
			oneErrorLine(t, "revoking a revoked PAT by id", code, out, stderr)
			if !strings.Contains(stderr, "1 of 1 PATs were already revoked, nothing changed for them: "+id2) {
				t.Errorf("revoking a revoked PAT by id: stderr %q", stderr)
			}

			// Unknown ids are reported, the others revoked, exit 1.
			_, id3 := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "third", "--scopes", "OR.Jobs")
			code, out, stderr = cli(t, nil, "", "pat", "revoke", "--config", path, "--org", "acme", "--id", id3, "--id", "no-such-id")
			if code != 1 || out != "revoked "+id3+"\n" || !strings.Contains(stderr, "1 of 2 ids match no PAT") || !strings.Contains(stderr, "no-such-id") {
				t.Errorf("revoke with an unknown id: exit %d stdout %q stderr %q", code, out, stderr)
			}
			// A token passed as an id is not echoed back.
			code, _, stderr = cli(t, nil, "", "pat", "revoke", "--config", path, "--org", "acme", "--id", otherToken)
			if code != 1 || strings.Contains(stderr, otherToken) {
				t.Errorf("a token given as --id: exit %d stderr %q", code, stderr)
			}

			srv.stop()
			for _, secret := range []string{token, token2, otherToken} {
				if strings.Contains(srv.stderr.String(), secret) || strings.Contains(srv.stdout.String(), secret) {
					t.Fatal("a PAT reached the server's output")
				}
			}
		})
	}
}

// TestPATCreateRefusals checks that every lifecycle rule applies to the
// command line, each refusal one clear line and no token.
func TestPATCreateRefusals(t *testing.T) {
	path, _, _ := patConfig(t, sqliteDB(t))
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	applyBootstrap(t, path)
	createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "taken", "--scopes", "OR.Jobs")
	tomorrow := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a scope outside the catalogue is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs Nope.Read"},
			"--scopes: not in the scope catalogue: scope 2 (counting from 1)"},
		{"an empty scope list is refused", []string{"--org", "acme", "--user", "alice", "--scopes", " "}, "--scopes: must name at least one scope"},
		{"an organization with PATs disabled refuses", []string{"--org", "off", "--user", "ola", "--scopes", "OR.Jobs"},
			"personal access tokens are disabled in this organization"},
		{"a directory user cannot own a PAT", []string{"--org", "acme", "--user", "dora", "--scopes", "OR.Jobs"},
			"only local users can own personal access tokens"},
		{"an expiry beyond the maximum lifetime is refused", []string{"--org", "limited", "--user", "lee", "--scopes", "OR.Jobs", "--expires-in", "31d"},
			"--expires-in: is beyond the organization's maximum lifetime of 30d"},
		{"no expiry is refused under a maximum lifetime", []string{"--org", "limited", "--user", "lee", "--scopes", "OR.Jobs", "--no-expiry"},
			`--no-expiry is not allowed in organization "limited", whose maximum PAT lifetime is 30d`},
		{"an expiry in the past is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--expires-at", "2000-01-01T00:00:00Z"},
			"--expires-at: must be in the future"},
		{"an expiry that is not RFC 3339 is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--expires-at", "tomorrow"},
			`--expires-at: "tomorrow" is not an RFC 3339 time`},
		{"a malformed duration is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--expires-in", "3 weeks"},
			"--expires-in: invalid duration"},
		{"a bad network is refused by position", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs",
			"--allow-cidr", "10.0.0.0/8", "--allow-cidr", "nope"}, "--allow-cidr: entry 2 (counting from 1) is not a network"},
		{"a zero duration is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--expires-in", "0"},
			"--expires-in: must be positive"},
		{"expiry flags are mutually exclusive", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--expires-in", "1d", "--expires-at", tomorrow},
			"use only one of --expires-in, --expires-at and --no-expiry"},
		{"--no-expiry excludes --expires-in", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--expires-in", "1d", "--no-expiry"},
			"use only one of --expires-in, --expires-at and --no-expiry"},
		{"a duplicate name is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--name", "taken"},
			`user alice already has a PAT named "taken" that is not revoked`},
		{"a name with a bidi override is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--name", "a\u202eb"},
			"--name: must not contain"},
		{"an unknown user is refused", []string{"--org", "acme", "--user", "zed", "--scopes", "OR.Jobs"}, `no user "zed" in organization "acme"`},
		{"a user of another organization is unknown", []string{"--org", "acme", "--user", "olga", "--scopes", "OR.Jobs"}, `no user "olga" in organization "acme"`},
		{"an unknown organization is refused", []string{"--org", "nope", "--user", "alice", "--scopes", "OR.Jobs"}, "--org: no organization has this name"},
		{"a missing flag is an error", []string{"--org", "acme", "--user", "alice"}, `required flag(s) "scopes" not set`},
		{"an unknown delegate is refused by position", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--delegate", "gw", "--delegate", "pat_nope"},
			"--delegate: not a client of this server: delegate 2 (counting from 1)"},
		{"a public client cannot be a delegate", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--delegate", "cli"},
			"--delegate: not a client that acts on behalf of users"},
		{"a delegate named twice is refused", []string{"--org", "acme", "--user", "alice", "--scopes", "OR.Jobs", "--delegate", "gw", "--delegate", "gw"},
			"--delegate: names a client twice: delegate 2 (counting from 1)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"pat", "create", "--config", path}, c.args...)
			if !strings.Contains(strings.Join(c.args, " "), "--name") {
				args = append(args, "--name", "n-"+strings.ReplaceAll(c.name, " ", "-"))
			}
			code, out, stderr := cli(t, nil, "", args...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) {
				t.Errorf("got stderr %q, want %q", stderr, c.want)
			}
			if strings.Contains(stderr, "pat_") {
				t.Errorf("stderr looks like it holds a token: %q", stderr)
			}
		})
	}

	// --delegate, repeatable, names the clients allowed a chained exchange.
	code, _, stderr := cli(t, nil, "", "pat", "create", "--config", path, "--org", "acme", "--user", "alice", "--name", "agent",
		"--scopes", "OR.Jobs", "--delegate", "gw")
	if code != 0 || !strings.Contains(stderr, "delegates: gw\n") {
		t.Fatalf("pat create --delegate: exit %d: %q", code, stderr)
	}

	// A refusal leaves nothing behind, and the defaults still work.
	code, out, _ := cli(t, nil, "", "pat", "list", "--config", path, "--org", "limited")
	if code != 0 || out != "" {
		t.Errorf("a refused create left a PAT: %q", out)
	}
	createPAT(t, path, "--org", "limited", "--user", "lee", "--name", "default expiry", "--scopes", "OR.Jobs")
	code, out, _ = cli(t, nil, "", "pat", "list", "--config", path, "--org", "limited")
	if want := time.Now().Add(30 * 24 * time.Hour).UTC().Format("2006-01-02"); code != 0 || !strings.Contains(out, want) {
		t.Errorf("no expiry flag gives the maximum lifetime (%s): %q", want, out)
	}

	// Deactivating the owner blocks new PATs too.
	if code, _, stderr := cli(t, nil, "", "user", "deactivate", "--config", path, "--org", "acme", "--user", "alice"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr = cli(t, nil, "", "pat", "create", "--config", path, "--org", "acme", "--user", "alice", "--name", "late", "--scopes", "OR.Jobs")
	oneErrorLine(t, "deactivated owner", code, out, stderr)
	if !strings.Contains(stderr, "the user is deactivated") {
		t.Errorf("deactivated owner: %q", stderr)
	}
}

func TestPATListFollowsCursor(t *testing.T) {
	defer func(n int) { listPageSize = n }(listPageSize)
	listPageSize = 2
	path, _, _ := patConfig(t, sqliteDB(t))
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	applyBootstrap(t, path)
	var ids []string
	for i := range 5 {
		_, id := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", fmt.Sprintf("p%d", i), "--scopes", "OR.Jobs")
		ids = append(ids, id)
	}
	code, out, stderr := cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme")
	if code != 0 {
		t.Fatal(stderr)
	}
	rows := tableRows(t, out)
	if len(rows) != len(ids) {
		t.Fatalf("got %d rows, want %d:\n%s", len(rows), len(ids), out)
	}
	for i, id := range ids { // newest first
		if got := rows[len(ids)-1-i][0]; got != id {
			t.Errorf("row %d: got id %s, want %s", len(ids)-1-i, got, id)
		}
	}
	code, out, stderr = cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme", "--status", "bogus")
	oneErrorLine(t, "bad status", code, out, stderr)
	if !strings.Contains(stderr, "--status: must be active, expired or revoked") {
		t.Errorf("bad status: %q", stderr)
	}
}

func TestPATRevokeUsage(t *testing.T) {
	path, _, _ := patConfig(t, sqliteDB(t))
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	applyBootstrap(t, path)
	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"neither --id nor --token-stdin", "", nil, "give either --id"},
		{"both --id and --token-stdin", "x\n", []string{"--id", "x", "--token-stdin"}, "give either --id"},
		{"nothing on stdin", "", []string{"--token-stdin"}, "read the token from stdin: nothing on stdin"},
		{"a malformed value", "not a token\n", []string{"--token-stdin"}, `no PAT of organization "acme" has that value`},
		{"a well-formed unknown token", "pat_000000000000000000000000000000000000\n", []string{"--token-stdin"}, `no PAT of organization "acme" has that value`},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, c.stdin, append([]string{"pat", "revoke", "--config", path, "--org", "acme"}, c.args...)...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) {
				t.Errorf("got %q, want %q", stderr, c.want)
			}
		})
	}
}

// TestPATRegenerate: the operator regenerates a PAT with the default or a
// new expiry; the new token alone is on stdout and exchanges, the old one
// stops; expired, revoked and unknown PATs and bad expiries are one clear
// error line each, exit 1.
func TestPATRegenerate(t *testing.T) {
	path, httpAddr, telemetryAddr := patConfig(t, sqliteDB(t))
	srv := startServer(t, path, httpAddr, telemetryAddr)
	exchangeStatus := func(pat string) int {
		code, _ := postToken(t, srv.base, exchangeForm("cli", "orchestrator", pat))
		return code
	}
	old, id := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "ci", "--scopes", "OR.Jobs", "--expires-in", "10d")

	code, out, stderr := cli(t, nil, "", "pat", "regenerate", "--config", path, "--org", "acme", "--id", id, "--expires-in", "45d")
	if code != 0 {
		t.Fatalf("regenerate: exit %d stderr %q", code, stderr)
	}
	token, ok := strings.CutSuffix(out, "\n")
	if !ok || exchange.CheckPAT("pat_", token) != nil || strings.Contains(stderr, token) {
		t.Fatalf("stdout is not the new token alone: %q (stderr %q)", out, stderr)
	}
	if !strings.Contains(stderr, "regenerated PAT "+id) || !strings.Contains(stderr, "shown only this once") {
		t.Errorf("stderr %q", stderr)
	}
	if exchangeStatus(token) != http.StatusOK || exchangeStatus(old) == http.StatusOK {
		t.Fatal("the new token must exchange and the old one not")
	}
	code, out, _ = cli(t, nil, "", "pat", "list", "--config", path, "--org", "acme", "--status", "active")
	if want := time.Now().Add(45 * 24 * time.Hour).UTC().Format("2006-01-02"); code != 0 || !strings.Contains(out, want) || strings.Contains(out, id) {
		t.Errorf("the regenerated PAT expires on %s and the old one is not active: %q", want, out)
	}
	newID := regexp.MustCompile(`as ([0-9a-f-]{36});`).FindStringSubmatch(stderr)
	if newID == nil {
		t.Fatalf("stderr does not name the new PAT: %q", stderr)
	}

	// Without --expires-in: the old lifetime (45 days) from now.
	code, _, stderr = cli(t, nil, "", "pat", "regenerate", "--config", path, "--org", "acme", "--id", newID[1])
	if code != 0 || !strings.Contains(stderr, "expires: "+time.Now().Add(45*24*time.Hour).UTC().Format("2006-01-02")) {
		t.Fatalf("default expiry: exit %d stderr %q", code, stderr)
	}

	// With --overlap the old token keeps working, and the stderr says until when.
	overlapOld, overlapID := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "rolling", "--scopes", "OR.Jobs",
		"--allow-cidr", "127.0.0.1", "--allow-cidr", "2001:DB8::/32")
	if p := storedPAT(t, path, "acme", overlapID); !slices.Equal(p.AllowedCIDRs, []string{"127.0.0.1/32", "2001:db8::/32"}) {
		t.Fatalf("--allow-cidr stored %v", p.AllowedCIDRs)
	}
	code, out, stderr = cli(t, nil, "", "pat", "regenerate", "--config", path, "--org", "acme", "--id", overlapID, "--overlap", "2d")
	if code != 0 || !strings.Contains(stderr, "the old token works until "+time.Now().Add(48*time.Hour).UTC().Format("2006-01-02")) {
		t.Fatalf("--overlap 2d: exit %d stderr %q", code, stderr)
	}
	if overlapNew, _ := strings.CutSuffix(out, "\n"); exchangeStatus(overlapOld) != http.StatusOK || exchangeStatus(overlapNew) != http.StatusOK {
		t.Fatal("during the overlap both tokens must exchange")
	}

	_, expiredID := createPAT(t, path, "--org", "acme", "--user", "alice", "--name", "short", "--scopes", "OR.Jobs", "--expires-in", "1s")
	time.Sleep(1100 * time.Millisecond)
	_, limitedID := createPAT(t, path, "--org", "limited", "--user", "lee", "--name", "l", "--scopes", "OR.Jobs")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a revoked PAT", []string{"--org", "acme", "--id", id}, "cannot regenerate PAT " + id + ": it is revoked"},
		{"an expired PAT", []string{"--org", "acme", "--id", expiredID}, "cannot regenerate PAT " + expiredID + ": it has expired"},
		{"an unknown id", []string{"--org", "acme", "--id", "no-such-id"}, `cannot regenerate: no-such-id matches no PAT of organization "acme"`},
		{"another organization's PAT", []string{"--org", "acme", "--id", limitedID}, `matches no PAT of organization "acme"`},
		{"a token given as the id", []string{"--org", "acme", "--id", old}, "(a value that is not an id"},
		{"beyond the maximum lifetime", []string{"--org", "limited", "--id", limitedID, "--expires-in", "31d"},
			"--expires-in: is beyond the organization's maximum lifetime of 30d"},
		{"a malformed duration", []string{"--org", "acme", "--id", id, "--expires-in", "soon"}, "--expires-in: invalid duration"},
		{"a zero duration", []string{"--org", "acme", "--id", id, "--expires-in", "0"}, "--expires-in: must be positive"},
		{"a missing id", []string{"--org", "acme"}, `required flag(s) "id" not set`},
		{"an overlap beyond seven days", []string{"--org", "limited", "--id", limitedID, "--overlap", "8d"}, "--overlap: may be at most 7d"},
		{"a malformed overlap", []string{"--org", "limited", "--id", limitedID, "--overlap", "soon"}, "--overlap: invalid duration"},
		{"a negative overlap", []string{"--org", "limited", "--id", limitedID, "--overlap", "-1h"}, "--overlap: invalid duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append([]string{"pat", "regenerate", "--config", path}, c.args...)...)
			oneErrorLine(t, c.name, code, out, stderr)
			if !strings.Contains(stderr, c.want) || strings.Contains(stderr, old) {
				t.Errorf("stderr %q, want %q", stderr, c.want)
			}
		})
	}
}

// storedPAT reads a PAT of org as stored.
func storedPAT(t *testing.T, path, org, id string) *storage.PAT {
	t.Helper()
	cfg, err := config.Load(path, config.MapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o, err := st.GetOrganizationByName(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.GetPAT(context.Background(), o.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
