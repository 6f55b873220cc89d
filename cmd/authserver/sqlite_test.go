package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneShotCommandsNeedADatabase: every command but serve and migrate
// refuses to create a missing SQLite database, so that run from the wrong
// directory it names the file it looked for instead of creating an empty
// one and calling its schema behind.
func TestOneShotCommandsNeedADatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "missing.db")
	path := writeConfig(t, fmt.Sprintf("database: {dsn: %q}\nkeys: {encryption_key: %q}\n", db, randomKEK(t)))
	for _, c := range []struct {
		name string
		args []string
	}{
		{"pat list", []string{"pat", "list", "--org", "acme"}},
		{"pat create", []string{"pat", "create", "--org", "acme", "--user", "alice", "--name", "x", "--scopes", "OR.Jobs"}},
		{"user create", []string{"user", "create", "--org", "acme", "--username", "bob"}},
		{"keys list", []string{"keys", "list"}},
		{"keys rotate", []string{"keys", "rotate"}},
		{"config check --connect", []string{"config", "check", "--connect"}},
		{"serve --no-migrate", []string{"serve", "--no-migrate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := cli(t, nil, "", append(c.args, "--config", path)...)
			oneErrorLine(t, c.name, code, out, stderr)
			want := "authserver: no database at " + db + ": run `authserver serve` or `authserver migrate` first, or pass --config\n"
			if stderr != want {
				t.Errorf("got %q, want %q", stderr, want)
			}
			if _, err := os.Stat(db); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the database was created: %v", err)
			}
		})
	}

	t.Run("migrate creates it", func(t *testing.T) {
		if code, out, stderr := cli(t, nil, "", "migrate", "--config", path); code != 0 || !strings.HasPrefix(out, "applied migrations") {
			t.Fatalf("migrate: exit %d stdout %q stderr %q", code, out, stderr)
		}
		if code, out, stderr := cli(t, nil, "", "keys", "list", "--config", path); code != 0 {
			t.Fatalf("keys list after migrate: exit %d stdout %q stderr %q", code, out, stderr)
		}
	})
}
