package config

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsFromFiles(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{"one trailing newline is trimmed", canary + "\n", canary},
		{"one trailing CRLF is trimmed", canary + "\r\n", canary},
		{"no trailing newline", canary, canary},
		{"only one newline is trimmed", canary + "\n\n", canary + "\n"},
		{"inner newlines stay", "a\nb\n", "a\nb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := writeFile(t, "dsn", tt.content)
			pw := writeFile(t, "password", tt.content)
			kf := writeFile(t, "key", key+"\n")
			c, err := loadYAML(t, `
database:
  dsn_file: `+dsn+`
bootstrap:
  organizations:
    - name: acme
      users:
        - username: alice
          password_file: `+pw+`
`, MapEnv{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE": kf})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Database.DSN.Reveal(); got != tt.want {
				t.Errorf("dsn: got %q, want %q", got, tt.want)
			}
			if got := c.Bootstrap.Organizations[0].Users[0].Password.Reveal(); got != tt.want {
				t.Errorf("password: got %q, want %q", got, tt.want)
			}
			if got := c.Keys.EncryptionKey.Reveal(); got != key {
				t.Errorf("encryption key: got %q, want %q", got, key)
			}
			if c.Database.DSNFile != dsn {
				t.Errorf("dsn_file: got %q, want it kept as %q", c.Database.DSNFile, dsn)
			}
		})
	}
}

func TestSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	empty := writeFile(t, "empty", "\n")
	big := writeFile(t, "big", strings.Repeat(canary, maxSecretFile/len(canary)+1))
	secret := writeFile(t, "secret", canary+"\n")
	shortKey := writeFile(t, "short-key", base64.StdEncoding.EncodeToString([]byte(canary))+"\n")

	tests := []struct {
		name string
		doc  string
		env  MapEnv
		want []string
	}{
		{
			name: "value and file both set is a problem",
			doc:  "database:\n  dsn: " + canary + "\n  dsn_file: " + secret + "\n",
			want: []string{"database.dsn_file: set together with database.dsn: use one or the other"},
		},
		{
			name: "value in the file and file in the environment is a problem too",
			doc:  "keys:\n  encryption_key: " + canary + "\n",
			env:  MapEnv{"AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE": secret},
			want: []string{"keys.encryption_key_file: set together with keys.encryption_key: use one or the other"},
		},
		{
			name: "password and password_file both set",
			doc:  "bootstrap:\n  organizations:\n    - name: acme\n      users:\n        - username: alice\n          password: " + canary + "\n          password_file: " + secret + "\n",
			want: []string{"bootstrap.organizations[0].users[0].password_file: set together with bootstrap.organizations[0].users[0].password: use one or the other"},
		},
		{
			name: "missing file",
			doc:  "database:\n  dsn_file: " + missing + "\n",
			want: []string{"database.dsn_file: cannot read secret file: open " + missing + ": no such file or directory"},
		},
		{
			name: "a directory is not a secret file",
			doc:  "database:\n  dsn_file: " + dir + "\n",
			want: []string{"database.dsn_file: cannot read secret file: read " + dir + ": is a directory"},
		},
		{
			name: "empty file",
			doc:  "bootstrap:\n  organizations:\n    - name: acme\n      users:\n        - username: alice\n          password_file: " + empty + "\n",
			want: []string{"bootstrap.organizations[0].users[0].password_file: secret file " + empty + " is empty"},
		},
		{
			name: "oversized file",
			doc:  "database:\n  dsn_file: " + big + "\n",
			want: []string{"database.dsn_file: secret file " + big + " is larger than 64 KiB"},
		},
		{
			name: "an unreadable key file is not also reported as missing with postgres",
			doc:  "database:\n  driver: postgres\n  dsn: postgres://db/authserver\nkeys:\n  encryption_key_file: " + missing + "\n",
			want: []string{"keys.encryption_key_file: cannot read secret file: open " + missing + ": no such file or directory"},
		},
		{
			name: "a value read from a file says so when it is refused",
			doc:  "keys:\n  encryption_key_file: " + shortKey + "\n",
			want: []string{"keys.encryption_key: must decode to exactly 32 bytes for AES-256, got 18 (read from keys.encryption_key_file)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.doc, tt.env)
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestSecretFileIsReadRelativeToTheWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte("relative.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	c, err := Load("", MapEnv{"AUTHSERVER_DATABASE_DSN_FILE": "dsn"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Database.DSN.Reveal(); got != "relative.db" {
		t.Errorf("dsn: got %q, want relative.db", got)
	}
}
