package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"authserver/internal/rfc8693"
)

func TestLoadWithNothingConfiguredIsTheDefaults(t *testing.T) {
	got, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		Issuer:    "http://127.0.0.1:8080",
		HTTP:      HTTP{Addr: "127.0.0.1:8080"},
		Telemetry: Telemetry{Addr: "127.0.0.1:9464"},
		Database:  Database{Driver: "sqlite", DSN: "authserver.db", QueryTimeout: Duration(2 * time.Second)},
		Keys: Keys{
			Algorithm:      "ES256",
			RotationPeriod: Duration(30 * 24 * time.Hour),
			PublishAhead:   Duration(time.Hour),
		},
		Tokens:  Tokens{PATPrefix: "pat_", AccessTokenTTL: Duration(5 * time.Minute), DPoPProofWindow: Duration(time.Minute), MaxDelegationDepth: 2},
		Log:     Log{Level: "info", Format: "auto"},
		Console: Console{SessionIdleTimeout: Duration(30 * time.Minute), SessionAbsoluteTimeout: Duration(12 * time.Hour)},
		Events: Events{Delivery: Delivery{Interval: Duration(time.Second), Lease: Duration(time.Minute),
			RetryFor: Duration(72 * time.Hour), MinBackoff: Duration(5 * time.Second), MaxBackoff: Duration(time.Hour),
			Retention: Duration(7 * 24 * time.Hour)}, SSF: SSF{Timeout: Duration(10 * time.Second)}},
		SMTP: SMTP{TLS: "starttls", Timeout: Duration(10 * time.Second)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(\"\", nil):\ngot  %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate of the defaults: %v", err)
	}
}

func TestLoadEmptyFilesAreTheDefaults(t *testing.T) {
	want, err := Load("", MapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{
		"empty file":         "",
		"only comments":      "# nothing configured yet\n",
		"only a document":    "---\n",
		"null document":      "~\n",
		"null sections":      "http:\nkeys:\nbootstrap:\n",
		"empty mapping":      "{}\n",
		"empty sections map": "http: {}\nbootstrap: {}\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := loadYAML(t, doc, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadSpecExample(t *testing.T) {
	c, err := Load("testdata/spec.yaml", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	enabled := true
	want := Bootstrap{
		Audiences: []Audience{{
			ID: "orchestrator", Name: "Orchestrator",
			Scopes:         Scopes{{Name: "OR.Jobs"}, {Name: "OR.Execution"}, {Name: "OR.Folders"}},
			AccessTokenTTL: Duration(5 * time.Minute),
		}},
		Clients: []Client{
			{ID: "cli", Public: true, Audiences: []string{"orchestrator"}, GrantTypes: []string{rfc8693.GrantType}, DPoP: DPoPOptional},
			{
				ID: "gateway", SecretSHA256: "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b",
				Audiences: []string{"orchestrator"}, GrantTypes: []string{rfc8693.GrantType}, Introspection: true,
				DPoP: DPoPOptional,
			},
		},
		Organizations: []Organization{{
			Name: "acme", PATsEnabled: &enabled, PATMaxLifetime: Duration(365 * 24 * time.Hour),
			Roles: []Role{{Name: "Automation Developer", Permissions: []string{"OR.Jobs", "OR.Execution", "OR.Folders.Read"}}},
			Users: []User{{
				Username: "alice", Kind: "local", Password: "...",
				Roles: []Assignment{{Role: "Automation Developer", Folder: ""}},
			}},
		}},
	}
	if !reflect.DeepEqual(c.Bootstrap, want) {
		t.Errorf("bootstrap:\ngot  %+v\nwant %+v", c.Bootstrap, want)
	}
	// Every top-level value in the example is the default.
	c.Bootstrap = Bootstrap{}
	defaults, _ := Load("", nil)
	if !reflect.DeepEqual(c, defaults) {
		t.Errorf("settings:\ngot  %+v\nwant the defaults %+v", c, defaults)
	}
}

func TestLoadDefaultsInsideBootstrapLists(t *testing.T) {
	c, err := loadYAML(t, `
bootstrap:
  audiences:
    - id: orchestrator
      scopes: [OR.Jobs]
  clients:
    - id: omitted
      public: true
    - id: null-grants
      public: true
      grant_types: ~
    - id: introspection-only
      secret_sha256: 2BB80D537B1DA3E38BD30361AA855686BDE0EACD7162FEF6A25FE97BF527A25B
      grant_types: []
      introspection: true
  organizations:
    - name: acme
      users:
        - username: alice
    - name: globex
      pats_enabled: false
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Bootstrap
	tests := []struct {
		name      string
		got, want any
	}{
		{"audience name defaults to its id", b.Audiences[0].Name, "orchestrator"},
		{"omitted grant_types default to token exchange", b.Clients[0].GrantTypes, []string{rfc8693.GrantType}},
		{"null grant_types default to token exchange", b.Clients[1].GrantTypes, []string{rfc8693.GrantType}},
		{"explicit empty grant_types stay empty", b.Clients[2].GrantTypes, []string{}},
		{"secret_sha256 is lower-cased", b.Clients[2].SecretSHA256, "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"},
		{"pats_enabled defaults to true", *b.Organizations[0].PATsEnabled, true},
		{"explicit pats_enabled false stays false", *b.Organizations[1].PATsEnabled, false},
		{"user kind defaults to local", b.Organizations[0].Users[0].Kind, "local"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadDerivesTheIssuer(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		env     MapEnv
		want    string
		problem string
	}{
		{name: "from the default address", want: "http://127.0.0.1:8080"},
		{name: "from http.addr", doc: "http: {addr: 'auth.internal:9000'}", want: "http://auth.internal:9000"},
		{name: "from an address set in the environment", env: MapEnv{"AUTHSERVER_HTTP_ADDR": "localhost:8443"}, want: "http://localhost:8443"},
		{
			name: "with https when TLS files are set",
			doc:  "http: {addr: 'localhost:8443', tls_cert_file: cert.pem, tls_key_file: key.pem}",
			want: "https://localhost:8443",
		},
		{name: "an explicit issuer wins", doc: "issuer: https://auth.example.com\nhttp: {addr: ':8080'}", want: "https://auth.example.com"},
		{
			name:    "not from an address on every interface",
			doc:     "http:\n  addr: 0.0.0.0:8080\n",
			problem: `issuer: not set, and http.addr "0.0.0.0:8080" listens on every interface, which is no address clients can use: set issuer to the URL clients reach this server at`,
		},
		{
			name:    "not from an address without a host",
			env:     MapEnv{"AUTHSERVER_HTTP_ADDR": ":8080"},
			problem: `issuer: not set, and http.addr ":8080" listens on every interface, which is no address clients can use: set issuer to the URL clients reach this server at`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, tt.doc, tt.env)
			if tt.problem != "" {
				wantProblems(t, err, tt.problem)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tt.want {
				t.Errorf("issuer: got %q, want %q", c.Issuer, tt.want)
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := loadYAML(t, `issuer: https://auth.example.com/
htpp:
  addr: 127.0.0.1:8080
keys:
  rotation_period: 30x
tokens:
  pat_prefix: PAT-
bootstrap:
  organizations:
    - name: acme
      pats_enabled: "yes please"
      roles:
        - name: Dev
          permissions: [OR.Jobs]
      users:
        - username: alice
          roles:
            - role: Foo
        - username: bob
          kind: admin
        - username: alice
          passwrod: x
`, MapEnv{"AUTHSERVER_DATABSE_DSN": "x"})
	wantProblems(t, err,
		`htpp: unknown key, did you mean "http"? (line 2)`,
		`keys.rotation_period: invalid duration "30x": use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h (line 5)`,
		`bootstrap.organizations[0].pats_enabled: must be true or false, got "yes please" (line 11)`,
		`bootstrap.organizations[0].users[2].passwrod: unknown key, did you mean "password"? (line 22)`,
		`AUTHSERVER_DATABSE_DSN: unknown environment variable, did you mean AUTHSERVER_DATABASE_DSN?`,
		`issuer: must not end with a slash (line 1)`,
		`tokens.pat_prefix: must be a lower-case letter, up to 15 more lower-case letters or digits, and an underscore, such as pat_ (line 7)`,
		`bootstrap.organizations[0].users[0].roles[0].role: unknown role "Foo" (line 18)`,
		`bootstrap.organizations[0].users[1].kind: must be local, directory or saml, got "admin" (line 20)`,
		`bootstrap.organizations[0].users[2].username: duplicate username "alice" (first at users[0]) (line 21)`,
	)
}

func TestLoadSaysWhereAnOverriddenValueCameFrom(t *testing.T) {
	_, err := loadYAML(t, "log:\n  level: info\n", MapEnv{"AUTHSERVER_LOG_LEVEL": "verbose"})
	wantProblems(t, err, `log.level: must be debug, info, warn or error, got "verbose" (set by AUTHSERVER_LOG_LEVEL)`)
}

func TestLoadFileProblems(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "malformed YAML is one problem",
			doc:  "http:\n  addr: [127.0.0.1\nkeys: {\n",
			want: []string{"invalid YAML: did not find expected ',' or ']' (line 1)"},
		},
		{
			name: "tabs for indentation are malformed YAML",
			doc:  "http:\n\taddr: x\n",
			want: []string{"invalid YAML: found character that cannot start any token (line 2)"},
		},
		{
			name: "several documents are one problem",
			doc:  "http: {}\n---\nkeys: {}\n",
			want: []string{"the file holds more than one YAML document; the configuration must be one (line 2)"},
		},
		{
			name: "the top level must be a mapping",
			doc:  "- issuer\n",
			want: []string{"must be a mapping, not a list (line 1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.doc, nil)
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestLoadUnreadableFileIsAPlainError(t *testing.T) {
	_, err := Load(t.TempDir()+"/missing.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "read config file: ") {
		t.Errorf("got %q, want it to start with %q", err, "read config file: ")
	}
}

func TestLoadAppliesEnvironmentAfterTheFile(t *testing.T) {
	c, err := loadYAML(t, "http:\n  addr: 127.0.0.1:1\nlog:\n  level: debug\n",
		MapEnv{"AUTHSERVER_HTTP_ADDR": "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:2" || c.Log.Level != "debug" {
		t.Errorf("got http.addr %q and log.level %q, want the environment's 127.0.0.1:2 and the file's debug", c.HTTP.Addr, c.Log.Level)
	}
}
