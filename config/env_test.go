package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestEnvOverridesEachScalarType(t *testing.T) {
	tests := []struct {
		name string
		env  MapEnv
		get  func(*Config) any
		want any
	}{
		{"string", MapEnv{"AUTHSERVER_ISSUER": "https://auth.example.com"}, func(c *Config) any { return c.Issuer }, "https://auth.example.com"},
		{"nested string", MapEnv{"AUTHSERVER_HTTP_TLS_CERT_FILE": "c.pem", "AUTHSERVER_HTTP_TLS_KEY_FILE": "k.pem"}, func(c *Config) any { return c.HTTP.TLSCertFile + " " + c.HTTP.TLSKeyFile }, "c.pem k.pem"},
		{"secret", MapEnv{"AUTHSERVER_DATABASE_DSN": "/var/lib/authserver/db.sqlite"}, func(c *Config) any { return c.Database.DSN.Reveal() }, "/var/lib/authserver/db.sqlite"},
		{"int", MapEnv{"AUTHSERVER_DATABASE_MAX_OPEN_CONNS": "25"}, func(c *Config) any { return c.Database.MaxOpenConns }, 25},
		{"duration with days", MapEnv{"AUTHSERVER_KEYS_ROTATION_PERIOD": "7d"}, func(c *Config) any { return c.Keys.RotationPeriod.D() }, 7 * 24 * time.Hour},
		{"duration in Go syntax", MapEnv{"AUTHSERVER_TOKENS_ACCESS_TOKEN_TTL": "90s"}, func(c *Config) any { return c.Tokens.AccessTokenTTL.D() }, 90 * time.Second},
		{"bool", MapEnv{"AUTHSERVER_TOKENS_DPOP_NONCE": "true"}, func(c *Config) any { return c.Tokens.DPoPNonce }, true},
		{"the DPoP proof window", MapEnv{"AUTHSERVER_TOKENS_DPOP_PROOF_WINDOW": "2m"}, func(c *Config) any { return c.Tokens.DPoPProofWindow.D() }, 2 * time.Minute},
		{"empty value clears a string", MapEnv{"AUTHSERVER_TOKENS_DEFAULT_AUDIENCE": ""}, func(c *Config) any { return c.Tokens.DefaultAudience }, ""},
		{"delegation depth", MapEnv{"AUTHSERVER_TOKENS_MAX_DELEGATION_DEPTH": "1"}, func(c *Config) any { return c.Tokens.MaxDelegationDepth }, 1},
		{"the config file variable is not a key", MapEnv{"AUTHSERVER_CONFIG": "/etc/authserver.yaml"}, func(c *Config) any { return c.Issuer }, "http://127.0.0.1:8080"},
		{
			"Kubernetes service links are ignored",
			MapEnv{"AUTHSERVER_SERVICE_HOST": "10.0.0.1", "AUTHSERVER_SERVICE_PORT": "8080", "AUTHSERVER_SERVICE_PORT_HTTP": "8080", "AUTHSERVER_PORT": "tcp://10.0.0.1:8080", "AUTHSERVER_PORT_8080_TCP": "tcp://10.0.0.1:8080", "AUTHSERVER_PORT_8080_TCP_ADDR": "10.0.0.1"},
			func(c *Config) any { return c.HTTP.Addr }, "127.0.0.1:8080",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", tt.env)
			checkNoLeak(t, err)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestEnvProblems(t *testing.T) {
	tests := []struct {
		name string
		env  MapEnv
		want []string
	}{
		{"bad integer", MapEnv{"AUTHSERVER_DATABASE_MAX_OPEN_CONNS": "many"}, []string{`AUTHSERVER_DATABASE_MAX_OPEN_CONNS: must be an integer, got "many"`}},
		{"bad duration", MapEnv{"AUTHSERVER_KEYS_PUBLISH_AHEAD": "soon"}, []string{`AUTHSERVER_KEYS_PUBLISH_AHEAD: invalid duration "soon": use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h`}},
		{"empty duration", MapEnv{"AUTHSERVER_KEYS_PUBLISH_AHEAD": ""}, []string{`AUTHSERVER_KEYS_PUBLISH_AHEAD: empty duration: use Go syntax such as 90m or 1h30m, with d for days as in 30d or 1d12h`}},
		{"unknown variable with a likely match", MapEnv{"AUTHSERVER_DATABSE_DSN": "x"}, []string{`AUTHSERVER_DATABSE_DSN: unknown environment variable, did you mean AUTHSERVER_DATABASE_DSN?`}},
		{"unknown variable", MapEnv{"AUTHSERVER_FEATURE_FLAGS": "x"}, []string{`AUTHSERVER_FEATURE_FLAGS: unknown environment variable`}},
		{"bootstrap lists have no variables", MapEnv{"AUTHSERVER_BOOTSTRAP_AUDIENCES": "x"}, []string{`AUTHSERVER_BOOTSTRAP_AUDIENCES: unknown environment variable`}},
		{"other prefixes are not ours", MapEnv{"AUTHSERVERX": "x", "OTHER_DATABASE_DSN": "x"}, nil},
		{"a value that validation refuses names its variable", MapEnv{"AUTHSERVER_DATABASE_MAX_OPEN_CONNS": "-1"}, []string{`database.max_open_conns: must not be negative (0 is the driver's default) (set by AUTHSERVER_DATABASE_MAX_OPEN_CONNS)`}},
		{"a query timeout under 100ms is refused", MapEnv{"AUTHSERVER_DATABASE_QUERY_TIMEOUT": "10ms"}, []string{`database.query_timeout: must be between 100ms and 1m (set by AUTHSERVER_DATABASE_QUERY_TIMEOUT)`}},
		{"a query timeout over a minute is refused", MapEnv{"AUTHSERVER_DATABASE_QUERY_TIMEOUT": "2m"}, []string{`database.query_timeout: must be between 100ms and 1m (set by AUTHSERVER_DATABASE_QUERY_TIMEOUT)`}},
		{
			"every problem at once",
			MapEnv{"AUTHSERVER_LOG_LEVEL": "loud", "AUTHSERVER_DATABASE_MAX_OPEN_CONNS": "x", "AUTHSERVER_ZZZ": "", "AUTHSERVER_AAA": ""},
			[]string{
				`AUTHSERVER_DATABASE_MAX_OPEN_CONNS: must be an integer, got "x"`,
				`AUTHSERVER_AAA: unknown environment variable`,
				`AUTHSERVER_ZZZ: unknown environment variable`,
				`log.level: must be debug, info, warn or error, got "loud" (set by AUTHSERVER_LOG_LEVEL)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", tt.env)
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestEnvVariablesAreDerivedFromTheKeys(t *testing.T) {
	var names []string
	for _, v := range envVars(reflect.TypeFor[Config]()) {
		names = append(names, v.name)
		if kubernetesServiceLink.MatchString(v.name) {
			t.Errorf("%s would be ignored as a Kubernetes service link", v.name)
		}
	}
	want := []string{
		"AUTHSERVER_ISSUER",
		"AUTHSERVER_HTTP_ADDR", "AUTHSERVER_HTTP_TLS_CERT_FILE", "AUTHSERVER_HTTP_TLS_KEY_FILE", "AUTHSERVER_HTTP_TRUSTED_PROXIES",
		"AUTHSERVER_TELEMETRY_ADDR", "AUTHSERVER_TELEMETRY_PPROF",
		"AUTHSERVER_DATABASE_DRIVER", "AUTHSERVER_DATABASE_DSN", "AUTHSERVER_DATABASE_DSN_FILE", "AUTHSERVER_DATABASE_MAX_OPEN_CONNS",
		"AUTHSERVER_DATABASE_QUERY_TIMEOUT",
		"AUTHSERVER_KEYS_ALGORITHM", "AUTHSERVER_KEYS_ENCRYPTION_KEY", "AUTHSERVER_KEYS_ENCRYPTION_KEY_FILE",
		"AUTHSERVER_KEYS_ROTATION_PERIOD", "AUTHSERVER_KEYS_PUBLISH_AHEAD",
		"AUTHSERVER_TOKENS_PAT_PREFIX", "AUTHSERVER_TOKENS_ACCESS_TOKEN_TTL", "AUTHSERVER_TOKENS_DEFAULT_AUDIENCE",
		"AUTHSERVER_TOKENS_MAX_DELEGATION_DEPTH",
		"AUTHSERVER_TOKENS_DPOP_PROOF_WINDOW", "AUTHSERVER_TOKENS_DPOP_NONCE",
		"AUTHSERVER_LOG_LEVEL", "AUTHSERVER_LOG_FORMAT",
		"AUTHSERVER_CONSOLE_SESSION_IDLE_TIMEOUT", "AUTHSERVER_CONSOLE_SESSION_ABSOLUTE_TIMEOUT",
		"AUTHSERVER_EVENTS_DELIVERY_INTERVAL", "AUTHSERVER_EVENTS_DELIVERY_LEASE", "AUTHSERVER_EVENTS_DELIVERY_RETRY_FOR",
		"AUTHSERVER_EVENTS_DELIVERY_MIN_BACKOFF", "AUTHSERVER_EVENTS_DELIVERY_MAX_BACKOFF", "AUTHSERVER_EVENTS_DELIVERY_RETENTION",
		"AUTHSERVER_EVENTS_SSF_TIMEOUT", "AUTHSERVER_EVENTS_WEBHOOKS_PRIVATE_NETWORKS",
		"AUTHSERVER_SMTP_HOST", "AUTHSERVER_SMTP_PORT", "AUTHSERVER_SMTP_USERNAME", "AUTHSERVER_SMTP_PASSWORD",
		"AUTHSERVER_SMTP_PASSWORD_FILE", "AUTHSERVER_SMTP_FROM", "AUTHSERVER_SMTP_TLS", "AUTHSERVER_SMTP_TIMEOUT",
	}
	if !slices.Equal(names, want) {
		t.Errorf("variables:\ngot  %q\nwant %q", names, want)
	}
}

func TestEnvParsesEachKindOfField(t *testing.T) {
	// Config has no boolean reachable from the environment yet; this
	// struct checks that one would work.
	type section struct {
		On    bool     `yaml:"on"`
		Count int64    `yaml:"count"`
		Name  string   `yaml:"name"`
		TTL   Duration `yaml:"ttl"`
		List  []string `yaml:"list"`
	}
	var v struct {
		S section `yaml:"s"`
	}
	var errs Errors
	set := applyEnv(MapEnv{
		"AUTHSERVER_S_ON": "true", "AUTHSERVER_S_COUNT": "42", "AUTHSERVER_S_NAME": "x", "AUTHSERVER_S_TTL": "2d",
	}, reflect.ValueOf(&v).Elem(), &errs)
	if len(errs.Problems) != 0 {
		t.Fatalf("problems: %v", &errs)
	}
	want := section{On: true, Count: 42, Name: "x", TTL: Duration(48 * time.Hour)}
	if !reflect.DeepEqual(v.S, want) {
		t.Errorf("got %+v, want %+v", v.S, want)
	}
	if set["s.on"] != "AUTHSERVER_S_ON" || len(set) != 4 {
		t.Errorf("set: got %v, want the four key paths", set)
	}

	applyEnv(MapEnv{"AUTHSERVER_S_ON": "yes please", "AUTHSERVER_S_LIST": "a"}, reflect.ValueOf(&v).Elem(), &errs)
	wantProblems(t, &errs,
		`AUTHSERVER_S_ON: must be true or false, got "yes please"`,
		`AUTHSERVER_S_LIST: unknown environment variable`,
	)
}

func TestMapEnv(t *testing.T) {
	m := MapEnv{"B": "2", "A": "1=one"}
	if got := m.Environ(); !slices.Equal(got, []string{"A=1=one", "B=2"}) {
		t.Errorf("Environ: got %q", got)
	}
	if v, ok := m.LookupEnv("A"); !ok || v != "1=one" {
		t.Errorf("LookupEnv(A) = %q, %v", v, ok)
	}
	if _, ok := MapEnv(nil).LookupEnv("A"); ok {
		t.Error("nil MapEnv has A")
	}
}

func TestOSEnv(t *testing.T) {
	t.Setenv("AUTHSERVER_LOG_FORMAT", "json")
	c, err := Load("", OSEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Format != "json" {
		t.Errorf("log.format: got %q, want json from the process environment", c.Log.Format)
	}
}
