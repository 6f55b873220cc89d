package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secretConfig loads a configuration whose every secret holds the canary.
func secretConfig(t *testing.T) *Config {
	t.Helper()
	key := base64.StdEncoding.EncodeToString([]byte(canary + strings.Repeat("k", 32-len(canary))))
	c, err := loadYAML(t, `
database:
  driver: postgres
  dsn: postgres://authserver:`+canary+`@db/authserver
bootstrap:
  organizations:
    - name: acme
      users:
        - username: alice
          password: `+canary+`
`, MapEnv{"AUTHSERVER_KEYS_ENCRYPTION_KEY": key})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Database.DSN.Reveal(), canary) || c.Keys.EncryptionKey.Reveal() != key {
		t.Fatal("secrets not loaded")
	}
	return c
}

func TestSecretsNeverPrint(t *testing.T) {
	c := secretConfig(t)
	key := c.Keys.EncryptionKey.Reveal()

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c, "dsn", c.Database.DSN)
	asJSON, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	asYAML, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", c),
		"%+v":       fmt.Sprintf("%+v", c),
		"%#v":       fmt.Sprintf("%#v", c),
		"%v value":  fmt.Sprintf("%v", *c),
		"%#v value": fmt.Sprintf("%#v", *c),
		"%s secret": fmt.Sprintf("%s", c.Database.DSN),
		"%q secret": fmt.Sprintf("%q", c.Database.DSN),
		"slog":      logged.String(),
		"json":      string(asJSON),
		"yaml":      string(asYAML),
	}
	for name, out := range outputs {
		if strings.Contains(out, canary) || strings.Contains(out, key) {
			t.Errorf("%s output holds a secret:\n%s", name, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s output does not show the mask %s:\n%s", name, redacted, out)
		}
	}
}

func TestSecretsNeverAppearInProblems(t *testing.T) {
	secret := writeFile(t, "secret", canary+"\n")
	// Each document misuses a secret in a different way; loadYAML checks
	// that no problem message holds the canary.
	docs := map[string]string{
		"wrong type around a secret":     "database:\n  dsn: {url: " + canary + "}\n",
		"secret in a list":               "keys:\n  encryption_key: [" + canary + "]\n",
		"secret as a tagged value":       "keys:\n  encryption_key: !!binary " + canary + "\n",
		"duplicate secret key":           "database:\n  dsn: " + canary + "\n  dsn: " + canary + "x\n",
		"misspelt secret key":            "database:\n  dns: " + canary + "\n",
		"invalid encryption key":         "keys:\n  encryption_key: " + canary + "\n",
		"short encryption key":           "keys:\n  encryption_key: " + base64.StdEncoding.EncodeToString([]byte(canary)) + "\n",
		"secret and secret file":         "database:\n  dsn: " + canary + "\n  dsn_file: " + secret + "\n",
		"password of a SAML user":        "bootstrap:\n  organizations:\n    - name: a\n      users:\n        - {username: u, kind: saml, password: " + canary + "}\n",
		"password file of a SAML user":   "bootstrap:\n  organizations:\n    - name: a\n      users:\n        - {username: u, kind: saml, password_file: " + secret + "}\n",
		"password as a mapping":          "bootstrap:\n  organizations:\n    - name: a\n      users:\n        - {username: u, password: {p: " + canary + "}}\n",
		"secret digest that is not hex":  "bootstrap:\n  clients:\n    - {id: c, secret_sha256: " + canary + "}\n",
		"postgres without key, with dsn": "database:\n  driver: postgres\n  dsn: postgres://u:" + canary + "@db/x\n",
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			_, err := loadYAML(t, doc, nil)
			if err == nil {
				t.Fatal("Load: got no error, want one")
			}
		})
	}
	envs := map[string]MapEnv{
		"encryption key in the environment":  {"AUTHSERVER_KEYS_ENCRYPTION_KEY": canary},
		"dsn in the environment with a file": {"AUTHSERVER_DATABASE_DSN": canary, "AUTHSERVER_DATABASE_DSN_FILE": secret},
		"secret in a misspelt variable":      {"AUTHSERVER_DATABASE_DNS": canary},
	}
	for name, env := range envs {
		t.Run(name, func(t *testing.T) {
			_, err := Load("", env)
			checkNoLeak(t, err)
			if err == nil {
				t.Fatal("Load: got no error, want one")
			}
		})
	}
}
