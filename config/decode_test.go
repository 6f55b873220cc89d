package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestDecodeReportsKeyPaths(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "unknown top-level key",
			doc:  "isuer: https://auth.example.com\n",
			want: []string{`isuer: unknown key, did you mean "issuer"? (line 1)`},
		},
		{
			name: "unknown key without a likely match",
			doc:  "http:\n  addr: 127.0.0.1:8080\n  compression: gzip\n",
			want: []string{`http.compression: unknown key (line 3)`},
		},
		{
			name: "unknown key inside a bootstrap list",
			doc: `bootstrap:
  organizations:
    - name: acme
      users:
        - username: alice
        - username: bob
          admni: true
`,
			want: []string{`bootstrap.organizations[0].users[1].admni: unknown key, did you mean "admin"? (line 7)`},
		},
		{
			name: "unknown key holding a dot is quoted",
			doc:  "http:\n  tls.cert: x\n",
			want: []string{`http["tls.cert"]: unknown key (line 2)`},
		},
		{
			name: "list where a string belongs",
			doc:  "http: {addr: [1]}\n",
			want: []string{`http.addr: must be a string, not a list (line 1)`},
		},
		{
			name: "mapping where a string belongs",
			doc:  "issuer:\n  url: x\n",
			want: []string{`issuer: must be a string, not a mapping (line 2)`},
		},
		{
			name: "string where a boolean belongs",
			doc:  "bootstrap:\n  organizations:\n    - name: acme\n      pats_enabled: \"yes please\"\n",
			want: []string{`bootstrap.organizations[0].pats_enabled: must be true or false, got "yes please" (line 4)`},
		},
		{
			name: "string where an integer belongs",
			doc:  "database:\n  max_open_conns: ten\n",
			want: []string{`database.max_open_conns: must be an integer, got "ten" (line 2)`},
		},
		{
			name: "fraction where an integer belongs",
			doc:  "database:\n  max_open_conns: 2.5\n",
			want: []string{`database.max_open_conns: must be an integer, got "2.5" (line 2)`},
		},
		{
			name: "string where a list belongs",
			doc:  "bootstrap:\n  audiences:\n    - id: a\n      scopes: OR.Jobs\n",
			want: []string{`bootstrap.audiences[0].scopes: must be a list, not a string (line 4)`},
		},
		{
			name: "mapping where a list belongs",
			doc:  "bootstrap:\n  clients:\n    id: cli\n",
			want: []string{`bootstrap.clients: must be a list, not a mapping (line 3)`},
		},
		{
			name: "string where a section belongs",
			doc:  "keys: ES256\n",
			want: []string{`keys: must be a mapping, not a string (line 1)`},
		},
		{
			name: "bad duration",
			doc:  "keys:\n  rotation_period: 30x\n",
			want: []string{`keys.rotation_period: invalid duration "30x": use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h (line 2)`},
		},
		{
			name: "bare number as a duration",
			doc:  "tokens:\n  access_token_ttl: 300\n",
			want: []string{`tokens.access_token_ttl: invalid duration "300": use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h (line 2)`},
		},
		{
			name: "negative duration",
			doc:  "bootstrap:\n  organizations:\n    - name: acme\n      pat_max_lifetime: -1d\n",
			want: []string{`bootstrap.organizations[0].pat_max_lifetime: invalid duration "-1d": must not be negative (line 4)`},
		},
		{
			name: "list as a duration",
			doc:  "keys:\n  publish_ahead: [1h]\n",
			want: []string{`keys.publish_ahead: must be a duration such as 90m or 30d, not a list (line 2)`},
		},
		{
			name: "duplicate key",
			doc:  "log:\n  level: debug\n  level: info\n",
			want: []string{`log.level: duplicate key, first set on line 2 (line 3)`},
		},
		{
			name: "non-string key",
			doc:  "http:\n  [a, b]: x\n",
			want: []string{`http: keys must be plain strings, not a list (line 2)`},
		},
		{
			name: "merge of a scalar",
			doc:  "http:\n  <<: 5\n",
			want: []string{`http: << must merge a mapping or a list of mappings, not a number (line 2)`},
		},
		{
			name: "merge of a list of scalars",
			doc:  "http:\n  <<: [a]\n",
			want: []string{`http: << must merge mappings, not a string (line 2)`},
		},
		{
			name: "explicit keys override merged ones without a duplicate",
			doc:  "x-base: &b {addr: 127.0.0.1:1}\nhttp:\n  <<: *b\n  addr: 127.0.0.1:2\n",
			want: []string{`x-base: unknown key (line 1)`},
		},
		{
			name: "every decode problem at once, in file order",
			doc: `http: {addr: [1], port: 8080}
keys:
  rotation_period: 30x
  algorithm: [ES256]
bootstrap:
  clients:
    - id: cli
      public: maybe
`,
			want: []string{
				`http.addr: must be a string, not a list (line 1)`,
				`http.port: unknown key (line 1)`,
				`keys.rotation_period: invalid duration "30x": use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h (line 3)`,
				`keys.algorithm: must be a string, not a list (line 4)`,
				`bootstrap.clients[0].public: must be true or false, got "maybe" (line 8)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.doc, nil)
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestDecodeKeepsValidationQuietAboutKeysItCouldNotRead(t *testing.T) {
	// The misspelt secret_sha256 would otherwise also make the client
	// "neither public nor with a secret".
	_, err := loadYAML(t, `bootstrap:
  audiences:
    - id: a
      scopes: OR.Jobs
  clients:
    - id: gateway
      secret_sha265: 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
      audiences: [a]
`, nil)
	wantProblems(t, err,
		`bootstrap.audiences[0].scopes: must be a list, not a string (line 4)`,
		`bootstrap.clients[0].secret_sha265: unknown key, did you mean "secret_sha256"? (line 7)`,
	)
}

func TestDecodeAnchorsAliasesAndMerges(t *testing.T) {
	c, err := loadYAML(t, `bootstrap:
  audiences:
    - &orch
      id: orchestrator
      scopes: &orscopes [OR.Jobs, OR.Folders]
    - <<: *orch
      id: orchestrator-staging
  organizations:
    - name: acme
      roles:
        - {name: Dev, permissions: *orscopes}
      users:
        - &dev
          username: alice
          roles: [{role: Dev}]
        - <<: [*dev, {admin: true}]
          username: bob
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Bootstrap.Audiences[1]
	if a.ID != "orchestrator-staging" || strings.Join(a.Scopes.Names(), " ") != "OR.Jobs OR.Folders" {
		t.Errorf("merged audience: got %+v, want id orchestrator-staging with the scopes of orchestrator", a)
	}
	bob := c.Bootstrap.Organizations[0].Users[1]
	if bob.Username != "bob" || !bob.Admin || len(bob.Roles) != 1 || bob.Roles[0].Role != "Dev" {
		t.Errorf("merged user: got %+v, want bob, admin, with role Dev", bob)
	}
}

func TestDecodeStopsAnAliasBomb(t *testing.T) {
	// 200 organizations × 200 roles × 200 permissions once expanded, from a
	// file of a few kilobytes: far more than maxNodes.
	const n = 200
	list := func(item string) string { return strings.TrimSuffix(strings.Repeat(item+", ", n), ", ") }
	doc := fmt.Sprintf("x-role: &r {name: r, permissions: [%s]}\nx-org: &o {name: acme, roles: [%s]}\nbootstrap: {organizations: [%s]}\n",
		list("A"), list("*r"), list("*o"))

	_, err := loadYAML(t, doc, nil)
	lines := problemLines(t, err)
	want := fmt.Sprintf(": the file expands to more than %d values through aliases; stopped reading (line 1)", maxNodes)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "bootstrap.organizations[") || !strings.HasSuffix(lines[0], want) {
		t.Errorf("problems: got %q, want one ending with %q", lines, want)
	}

	// The work is bounded by the budget, not by the expansion (8 000 000
	// permissions): once it is spent, an alias is not followed any more, so
	// what is still visited is at most one node per alias left in the
	// lists above it.
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	d := &decoder{errs: &Errors{}, lines: map[string]int{}, budget: maxNodes}
	var c Config
	d.value(root.Content[0], reflect.ValueOf(&c).Elem(), "")
	if visited := maxNodes - d.budget; visited > maxNodes+n*n+n {
		t.Errorf("visited %d nodes for a budget of %d: the aliases were expanded past it", visited, maxNodes)
	}
}

// TestDecodeScopesBareOrDescribed: an audience's scopes mix bare names and
// {name, description} mappings; a mapping's problems are named by key
// path and line.
func TestDecodeScopesBareOrDescribed(t *testing.T) {
	c, err := loadYAML(t, `
bootstrap:
  audiences:
    - id: orchestrator
      name: Orchestrator
      scopes:
        - OR.Jobs
        - {name: OR.Execution, description: "Start and stop processes"}
        - name: OR.Folders
          description: Read folder contents
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Bootstrap.Audiences[0].Scopes
	want := Scopes{{Name: "OR.Jobs"}, {Name: "OR.Execution", Description: "Start and stop processes"},
		{Name: "OR.Folders", Description: "Read folder contents"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if d := got.Descriptions(); len(d) != 2 || d["OR.Folders"] != "Read folder contents" {
		t.Errorf("descriptions %v", d)
	}
	if d := (Scopes{{Name: "A"}}).Descriptions(); d != nil {
		t.Errorf("no descriptions: got %v, want nil", d)
	}

	_, err = loadYAML(t, `
bootstrap:
  audiences:
    - id: orchestrator
      name: Orchestrator
      scopes:
        - {name: OR.Jobs, descripton: "Jobs"}
        - [OR.Folders]
        - {description: "no name"}
`, nil)
	lines := problemLines(t, err)
	for _, w := range []string{
		`bootstrap.audiences[0].scopes[0].descripton: unknown key, did you mean "description"? (line 7)`,
		"bootstrap.audiences[0].scopes[1]: must be a mapping, not a list (line 8)",
		"bootstrap.audiences[0].scopes[2]: invalid scope name \"\": use dotted names such as OR.Jobs.Read (line 9)",
	} {
		if !slices.Contains(lines, w) {
			t.Errorf("problems %q lack %q", lines, w)
		}
	}
}
