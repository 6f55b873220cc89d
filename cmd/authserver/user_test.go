package main

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"

	"authserver/config"
	"authserver/internal/password"
	"authserver/storage"
)

// userConfig writes a configuration with a known issuer over database
// block db, with patBootstrap applied.
func userConfig(t *testing.T, db string) string {
	t.Helper()
	path := writeConfig(t, "issuer: https://auth.example.com\n"+db+patBootstrap)
	if code, _, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	applyBootstrap(t, path)
	return path
}

// storedUser reads a user as stored, password hash included.
func storedUser(t *testing.T, path, org, username string) (*storage.User, storage.Store) {
	t.Helper()
	cfg, err := config.Load(path, config.MapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o, err := st.GetOrganizationByName(context.Background(), org)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByUsername(context.Background(), o.ID, username)
	if err != nil {
		t.Fatal(err)
	}
	return u, st
}

// passwordIs reports whether pw is the stored password of org/username.
func passwordIs(t *testing.T, path, org, username, pw string) bool {
	t.Helper()
	u, _ := storedUser(t, path, org, username)
	if u.PasswordHash == "" {
		return false
	}
	ok, err := password.Verify(pw, u.PasswordHash)
	return ok && err == nil
}

// TestUserListCommand: user list prints the organization's users as a
// table, filtered by status, kind and a username search.
func TestUserListCommand(t *testing.T) {
	path := userConfig(t, sqliteDB(t))
	for _, args := range [][]string{
		{"user", "create", "--org", "acme", "--username", "Alicia", "--no-password"},
		{"user", "create", "--org", "acme", "--username", "sam", "--kind", "saml"},
		{"user", "deactivate", "--org", "acme", "--user", "sam"},
	} {
		if code, _, stderr := cli(t, nil, "", append(args, "--config", path)...); code != 0 {
			t.Fatalf("%v: %s", args, stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"Alicia", "alice", "dora", "sam"}},
		{[]string{"--search", "ALI"}, []string{"Alicia", "alice"}},
		{[]string{"--kind", "directory"}, []string{"dora"}},
		{[]string{"--status", "deactivated"}, []string{"sam"}},
		{[]string{"--kind", "local", "--search", "a"}, []string{"Alicia", "alice"}},
	} {
		code, out, stderr := cli(t, nil, "", append(append([]string{"user", "list", "--org", "acme"}, c.args...), "--config", path)...)
		if code != 0 || !strings.HasPrefix(out, "USERNAME") {
			t.Fatalf("%v: exit %d stdout %q stderr %q", c.args, code, out, stderr)
		}
		var names []string
		for _, row := range tableRows(t, out) {
			names = append(names, row[0])
		}
		if strings.Join(names, " ") != strings.Join(c.want, " ") {
			t.Errorf("%v: got %v, want %v", c.args, names, c.want)
		}
	}
	code, out, stderr := cli(t, nil, "", "user", "list", "--org", "acme", "--search", "zed", "--config", path)
	if code != 0 || out != "" || !strings.Contains(stderr, "no users in organization acme match") {
		t.Errorf("no match: exit %d stdout %q stderr %q", code, out, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "list", "--org", "acme", "--kind", "robot"}, "authserver: --kind: must be local, directory or saml\n"},
		{[]string{"user", "list", "--org", "acme", "--status", "gone"}, "authserver: --status: must be active or deactivated\n"},
		{[]string{"user", "list", "--org", "acme", "--search", strings.Repeat("a", 101)}, "authserver: --search: must be plain text of at most 100 characters\n"},
		{[]string{"user", "list", "--org", "nope"}, "authserver: --org: no organization has this name\n"},
	} {
		code, out, stderr := cli(t, nil, "", append(c.args, "--config", path)...)
		oneErrorLine(t, strings.Join(c.args, " "), code, out, stderr)
		if stderr != c.want {
			t.Errorf("%v: got %q, want %q", c.args, stderr, c.want)
		}
	}
}

// TestUserSetPasswordCommand: user set-password sets a password read from
// stdin, or prints a set-password link alone on stdout (built from the
// issuer) and clears the password; user create --link does the same for
// a new user. Refusals are one line on stderr that never holds the
// password.
func TestUserSetPasswordCommand(t *testing.T) {
	path := userConfig(t, sqliteDB(t))
	const prefix = "https://auth.example.com/console/set-password#"

	code, out, stderr := cli(t, nil, "a fine new password\n", "user", "set-password", "--org", "acme", "--user", "alice", "--config", path)
	if code != 0 || !strings.Contains(out, "password of alice set") || strings.Contains(out+stderr, "a fine new password") {
		t.Fatalf("set-password: exit %d stdout %q stderr %q", code, out, stderr)
	}
	if !passwordIs(t, path, "acme", "alice", "a fine new password") {
		t.Fatal("the password did not land")
	}

	code, out, stderr = cli(t, nil, "", "user", "set-password", "--org", "acme", "--user", "alice", "--link", "--config", path)
	if code != 0 || !strings.HasPrefix(out, prefix) || strings.Count(out, "\n") != 1 || !strings.Contains(stderr, "works once") {
		t.Fatalf("set-password --link: exit %d stdout %q stderr %q", code, out, stderr)
	}
	secret := strings.TrimSpace(strings.TrimPrefix(out, prefix))
	if strings.Contains(stderr, secret) {
		t.Fatal("the link is on stderr too")
	}
	if passwordIs(t, path, "acme", "alice", "a fine new password") {
		t.Fatal("a link left the old password working")
	}
	alice, st := storedUser(t, path, "acme", "alice")
	sum := sha256.Sum256([]byte(secret))
	if l, err := st.GetPasswordLink(context.Background(), sum[:]); err != nil || l.UserID != alice.ID {
		t.Fatalf("the printed link is not alice's stored link: %+v %v", l, err)
	}

	code, out, stderr = cli(t, nil, "", "user", "create", "--org", "acme", "--username", "newbie", "--link", "--config", path)
	if code != 0 || !strings.HasPrefix(out, prefix) || strings.Count(out, "\n") != 1 || !strings.Contains(stderr, "created user newbie") {
		t.Fatalf("create --link: exit %d stdout %q stderr %q", code, out, stderr)
	}

	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"a short password", "short one\n", []string{"--org", "acme", "--user", "alice"}, "authserver: the password: must have at least 12 characters\n"},
		{"a password with the username", "alice in wonderland\n", []string{"--org", "acme", "--user", "alice"}, "authserver: the password: must not contain the username\n"},
		{"an empty password", "\n", []string{"--org", "acme", "--user", "alice"}, "authserver: the password on stdin is empty\n"},
		{"nothing on stdin", "", []string{"--org", "acme", "--user", "alice"}, "authserver: read password: nothing on stdin\n"},
		{"an unknown user", "a fine new password\n", []string{"--org", "acme", "--user", "zed"}, "authserver: no user \"zed\" in organization \"acme\"\n"},
		{"an unknown organization", "a fine new password\n", []string{"--org", "nope", "--user", "alice"}, "authserver: --org: no organization has this name\n"},
		{"a directory user", "a fine new password\n", []string{"--org", "acme", "--user", "dora"}, "authserver: only local users have a password\n"},
		{"a user of another organization", "", []string{"--org", "other", "--user", "alice", "--link"}, "authserver: no user \"alice\" in organization \"other\"\n"},
	} {
		code, out, stderr := cli(t, nil, c.stdin, append(append([]string{"user", "set-password"}, c.args...), "--config", path)...)
		oneErrorLine(t, c.name, code, out, stderr)
		if stderr != c.want {
			t.Errorf("%s: got %q, want %q", c.name, stderr, c.want)
		}
	}
	if passwordIs(t, path, "acme", "alice", "alice in wonderland") {
		t.Fatal("a refused password landed")
	}
}
