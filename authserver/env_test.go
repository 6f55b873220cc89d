package authserver_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authserver/authserver"
	"authserver/bootstrap"
	"authserver/config"
	"authserver/exchange"
	"authserver/internal/pgtest"
	"authserver/internal/rfc8693"
	"authserver/internal/storetest"
	"authserver/internal/testenv"
	"authserver/outbox"
	"authserver/outbox/mail"
	"authserver/outbox/ssf"
	"authserver/outbox/webhook"
	"authserver/signing"
	"authserver/storage"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	stopChromium()
	os.Exit(code)
}

var ctx = context.Background()

// cheapPasswords are the argon2id costs of the tests' passwords, at
// bootstrap and in the server: the default's 19 MiB per hash would make
// argon2id a good part of the package's CPU.
var cheapPasswords = testenv.CheapPasswords

// Secrets of the test clients, and their hashes as the config holds them.
const (
	gatewaySecret      = "gateway-secret-0123456789abcdef"
	introspectorSecret = "introspector-secret-0123456789ab"
)

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// baseConfig is the installation every end-to-end test starts from.
var baseConfig = `
bootstrap:
  audiences:
    - id: orchestrator
      name: Orchestrator
      scopes:
        - OR.Jobs
        - {name: OR.Execution, description: Start and stop processes}
        - OR.Folders
    - id: https://api.example.com
      name: Example API
      scopes: [API.Read, API.Write]
      access_token_ttl: 2m
  clients:
    - id: cli
      public: true
      audiences: [orchestrator, https://api.example.com]
    - id: gateway
      secret_sha256: "` + sha256hex(gatewaySecret) + `"
      audiences: [orchestrator]
    - id: introspector
      secret_sha256: "` + sha256hex(introspectorSecret) + `"
      grant_types: []
      introspection: true
    - id: api-only
      public: true
      audiences: [https://api.example.com]
    - id: bound
      public: true
      audiences: [orchestrator]
      dpop: required
  organizations:
    - name: acme
      pat_max_lifetime: 0
      roles:
        - name: Dev
          permissions: [OR.Jobs, OR.Execution]
        - name: FolderReader
          permissions: [OR.Folders.Read]
        - name: ApiReader
          permissions: [API.Read]
      users:
        - username: alice
          password: alice-password
          admin: true
          roles:
            - role: Dev
            - role: FolderReader
              folder: Finance
            - role: ApiReader
        - username: bob
          password: bob-password
        - username: carol
          password: carol-password
          roles:
            - role: Dev
        - username: dora
          kind: directory
    - name: globex
      roles:
        - name: Dev
          permissions: [OR.Jobs, OR.Execution]
      users:
        - username: eve
          password: eve-password
          admin: true
          roles:
            - role: Dev
`

// envOptions vary the installation.
type envOptions struct {
	driver    string // default sqlite
	algorithm string // default ES256
	config    string // extra YAML merged over baseConfig's top level (no bootstrap)
	now       func() time.Time
	// noRateLimits turns the rate limits off, for tests that send many
	// failures from one address (every test client is 127.0.0.1).
	noRateLimits bool
	// hygiene is how often the PAT hygiene jobs run; 0: the default (a
	// minute, longer than most tests).
	hygiene time.Duration
	// deliveryInterval replaces the outbox's test poll interval (a
	// second, as in production: a change made through the server nudges
	// its dispatcher, so only retries and events written past governance
	// wait for the poll). Tests that count on retries shorten it.
	deliveryInterval time.Duration
	// publicWebhooksOnly keeps the server's default: webhooks to public
	// addresses only. Otherwise tests allow private networks, where their
	// receivers are.
	publicWebhooksOnly bool
}

// env is a real server on a real database behind httptest, with the
// helpers an end-to-end test needs.
type env struct {
	t     testing.TB
	url   string // the issuer
	cfg   *config.Config
	store *storage.SQLStore
	keys  *signing.Keyring
	srv   *authserver.Server
	reg   *prometheus.Registry
	logs  *syncBuffer
	// http is the client of every request the tests send; its transport
	// validates each response to a documented operation against
	// docs/openapi.yaml (openapi_check_test.go).
	http    *http.Client
	openAPI *openAPITransport
	now     func() time.Time
	orgIDs  map[string]string
	// storeClosed is set by tests that take the database away: shutdown
	// cannot flush then.
	storeClosed bool
	// driver, dsn and kek open the database and its keys again, as
	// another replica does (replica).
	driver, dsn string
	kek         []byte
	// hygiene is the interval of the PAT hygiene jobs, for replicas too.
	hygiene time.Duration
}

// closeStore takes the database away from the running server.
func (e *env) closeStore() {
	e.storeClosed = true
	e.store.Close()
}

// serverOptions fills the server's settings from a loaded configuration,
// as cmd/authserver does.
func serverOptions(cfg *config.Config, st storage.Store, keys *signing.Keyring, log *slog.Logger) authserver.Options {
	o := authserver.Options{
		Issuer:                 cfg.Issuer,
		PATPrefix:              cfg.Tokens.PATPrefix,
		AccessTokenTTL:         cfg.Tokens.AccessTokenTTL.D(),
		DefaultAudience:        cfg.Tokens.DefaultAudience,
		MaxDelegationDepth:     cfg.Tokens.MaxDelegationDepth,
		DPoPProofWindow:        cfg.Tokens.DPoPProofWindow.D(),
		DPoPNonce:              cfg.Tokens.DPoPNonce,
		ConsoleSessionIdle:     cfg.Console.SessionIdleTimeout.D(),
		ConsoleSessionAbsolute: cfg.Console.SessionAbsoluteTimeout.D(),
		TrustedProxies:         cfg.HTTP.TrustedProxies.Prefixes(),
		Pprof:                  cfg.Telemetry.Pprof,
		WebhookPrivateNetworks: cfg.Events.Webhooks.PrivateNetworks,
		Store:                  st,
		Keys:                   keys,
		Logger:                 log,
	}
	for _, r := range cfg.Events.SSF.Receivers {
		o.SSF.Receivers = append(o.SSF.Receivers, ssf.Receiver{Name: r.Name, URL: r.URL, Audience: r.Audience,
			Authorization: r.Authorization.Reveal(), Events: r.Events})
	}
	o.SSF.Timeout = cfg.Events.SSF.Timeout.D()
	m := cfg.SMTP
	o.Mail = mail.Config{Host: m.Host, Port: m.Port, Username: m.Username, Password: m.Password.Reveal(), From: m.From,
		TLS: m.TLS, Timeout: m.Timeout.D()}
	return o
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.driver == "" {
		o.driver = storage.DriverSQLite
	}
	if o.algorithm == "" {
		o.algorithm = "ES256"
	}
	if o.now == nil {
		o.now = time.Now
	}
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()

	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(o.config+baseConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	cfg, err := config.Load(path, config.MapEnv{"AUTHSERVER_ISSUER": issuer, "AUTHSERVER_KEYS_ALGORITHM": o.algorithm})
	if err != nil {
		t.Fatal(err)
	}
	dsn := storetest.MigratedDSN(t, o.driver)
	st := storetest.OpenAt(t, o.driver, dsn)
	if _, err := bootstrap.Apply(ctx, storage.Narrow[bootstrap.Tx](st), cfg.Bootstrap, bootstrap.Options{PasswordParams: &cheapPasswords}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	keys, err := signing.New(ctx, storage.Narrow[signing.KeyTx](st), signing.Options{
		Algorithm: o.algorithm, RotationPeriod: cfg.Keys.RotationPeriod.D(), PublishAhead: cfg.Keys.PublishAhead.D(),
		MaxTokenTTL: 5 * time.Minute, KEK: kek, Now: o.now, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	so := serverOptions(cfg, st, keys, log)
	so.Registry, so.Now, so.LastUsedInterval, so.InsecureNoRateLimits = reg, o.now, 50*time.Millisecond, o.noRateLimits
	so.HygieneInterval, so.PasswordParams = o.hygiene, cheapPasswords
	// Webhooks: secrets sealed as cmd/authserver seals them, deliveries
	// paced for tests.
	if so.WebhookSecrets, err = signing.NewSealer(kek, webhook.SecretPurpose); err != nil {
		t.Fatal(err)
	}
	so.Delivery = outbox.Timing{Interval: time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if o.deliveryInterval != 0 {
		so.Delivery.Interval = o.deliveryInterval
	}
	// The tests' receivers listen on the loopback host.
	so.WebhookPrivateNetworks = so.WebhookPrivateNetworks || !o.publicWebhooksOnly
	srv, err := authserver.New(so)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	ts.Config.Handler = srv.Handler()
	ts.Start()
	client := ts.Client()
	checked := newOpenAPITransport(t, client.Transport)
	client.Transport = checked
	e := &env{t: t, url: issuer, cfg: cfg, store: st, keys: keys, srv: srv, reg: reg, logs: logs,
		http: client, openAPI: checked, now: o.now, orgIDs: map[string]string{}, driver: o.driver, dsn: dsn, kek: kek,
		hygiene: o.hygiene}
	t.Cleanup(func() {
		ts.Close()
		if err := srv.Shutdown(context.Background()); err != nil && !e.storeClosed {
			t.Errorf("shutdown: %v", err)
		}
	})
	orgs, err := st.ListOrganizations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, org := range orgs {
		e.orgIDs[org.Name] = org.ID
	}
	return e
}

// user returns a bootstrap user.
func (e *env) user(org, username string) *storage.User {
	e.t.Helper()
	u, err := e.store.GetUserByUsername(ctx, e.orgIDs[org], username)
	if err != nil {
		e.t.Fatalf("user %s/%s: %v", org, username, err)
	}
	return u
}

// patSpec describes a PAT to create directly in the database.
type patSpec struct {
	org, user string
	name      string
	scopes    []string
	created   time.Time  // zero: now
	expires   *time.Time // nil: never
	delegates []string   // the clients allowed a chained exchange
	cidrs     []string   // the allowed networks (canonical); nil: any
}

// pat creates a PAT in the database and returns its token and record.
func (e *env) pat(s patSpec) (string, *storage.PAT) {
	e.t.Helper()
	token, err := exchange.NewPAT(e.cfg.Tokens.PATPrefix, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	u := e.user(s.org, s.user)
	if s.name == "" {
		s.name = "pat-" + token[len(token)-8:]
	}
	p := &storage.PAT{OrgID: u.OrgID, UserID: u.ID, Name: s.name, Scopes: s.scopes, Hash: exchange.HashPAT(token),
		Hint: exchange.PATHint(token), CreatedAt: s.created, ExpiresAt: s.expires, Delegates: s.delegates, AllowedCIDRs: s.cidrs}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = e.now()
	}
	if err := e.store.CreatePAT(ctx, p); err != nil {
		e.t.Fatal(err)
	}
	return token, p
}

// post sends a form to a path, with optional Basic credentials.
func (e *env) post(path string, form url.Values, basicID, basicSecret string) *response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return e.do(req)
}

// do sends a request and reads the whole response.
func (e *env) do(req *http.Request) *response {
	e.t.Helper()
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{Response: resp, body: body}
}

// exchange posts a token exchange for the public client "cli".
func (e *env) exchange(token string, extra url.Values) *response {
	e.t.Helper()
	form := url.Values{
		"grant_type":         {rfc8693.GrantType},
		"subject_token":      {token},
		"subject_token_type": {rfc8693.TokenTypeAccessToken},
		"client_id":          {"cli"},
	}
	for k, v := range extra {
		form[k] = v
	}
	return e.post("/oauth2/token", form, "", "")
}

// metricsText scrapes the server's registry in the text format.
func (e *env) metricsText() string {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.srv.TelemetryHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

type response struct {
	*http.Response
	body []byte
}

// json decodes the body into a map.
func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func ptr[T any](v T) *T { return &v }
