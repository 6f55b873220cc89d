package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"authserver/config"
	"authserver/exchange"
	"authserver/internal/password"
)

// parseCurl reads the exchange's curl line serve --demo prints into the
// URL and the form it posts.
func parseCurl(t *testing.T, out string) (string, url.Values) {
	t.Helper()
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		// The first exchange line: the PAT's (the gateway's comes later).
		if strings.HasPrefix(strings.TrimSpace(l), "curl ") && strings.Contains(l, "/oauth2/token ") {
			line = strings.TrimSpace(l)
			break
		}
	}
	f := strings.Fields(line)
	if len(f) < 5 || strings.Join(f[:4], " ") != "curl -s -X POST" || (len(f)-5)%2 != 0 {
		t.Fatalf("no curl line of the expected shape in:\n%s", out)
	}
	form := url.Values{}
	for i := 5; i < len(f); i += 2 {
		if f[i] != "-d" && f[i] != "--data-urlencode" {
			t.Fatalf("curl option %q: want -d or --data-urlencode", f[i])
		}
		k, v, ok := strings.Cut(f[i+1], "=")
		if !ok {
			t.Fatalf("curl data %q is not name=value", f[i+1])
		}
		form.Add(k, v)
	}
	return f[4], form
}

// introspectCurl matches the introspection's curl line serve --demo
// prints: the endpoint, the client's secret, and the token from the
// shell variable ACCESS_TOKEN.
var introspectCurl = regexp.MustCompile(`(?m)^  curl -s -X POST (\S+) -u demo-introspector:(\S+) --data-urlencode "token=\$ACCESS_TOKEN"$`)

// introspect posts the request the introspection's curl line sends, with
// token in place of $ACCESS_TOKEN, and returns the status and the answer.
func introspect(t *testing.T, endpoint, secret, token string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("demo-introspector", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("introspection answered %s with no JSON: %v", resp.Status, err)
	}
	return resp.StatusCode, body
}

// gatewayCurl matches the chained exchange's curl line serve --demo
// prints: the endpoint, the gateway's secret, and the subject token from
// the shell variable MCP_TOKEN.
var gatewayCurl = regexp.MustCompile(`(?m)^  curl -s -X POST (\S+) -u demo-gateway:(\S+) -d grant_type=(\S+) -d subject_token_type=(\S+) ` +
	`-d audience=demo-api --data-urlencode "subject_token=\$MCP_TOKEN"$`)

func TestServeDemo(t *testing.T) {
	httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	path := writeConfig(t, fmt.Sprintf("http: {addr: %q}\ntelemetry: {addr: %q}\nlog: {format: json}\ndatabase: {dsn: %q}\n",
		httpAddr, telemetryAddr, db))
	srv := startServer(t, path, httpAddr, telemetryAddr, "--demo")
	out := srv.stdout.String()

	endpoint, form := parseCurl(t, out)
	if endpoint != srv.base+"/oauth2/token" {
		t.Errorf("curl posts to %s, want the issuer's token endpoint %s/oauth2/token", endpoint, srv.base)
	}
	pat := form.Get("subject_token")
	if exchange.CheckPAT("pat_", pat) != nil {
		t.Fatalf("the curl line does not carry a PAT: %v", form)
	}
	if !regexp.MustCompile(`PAT \(demo\.read\)\s+` + pat + `\n`).MatchString(out) {
		t.Errorf("the PAT is not printed on its own row:\n%s", out)
	}
	if strings.Count(out, pat) != 2 {
		t.Errorf("the PAT is printed %d times, want twice (its row and the curl line)", strings.Count(out, pat))
	}
	m := regexp.MustCompile(`console password\s+(\S+)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no console password in:\n%s", out)
	}
	pw := m[1]

	// The same request the curl line sends.
	resp, err := http.PostForm(endpoint, form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the printed curl exchange answered %s", resp.Status)
	}
	code, body := postToken(t, srv.base, form)
	if code != http.StatusOK || body["scope"] != "demo.read" || body["access_token"] == nil {
		t.Fatalf("demo exchange: %d %v", code, body)
	}
	jwt, _ := body["access_token"].(string)

	// The printed client secret introspects that JWT as active, with the
	// printed curl line; a wrong secret is refused.
	im := introspectCurl.FindStringSubmatch(out)
	if im == nil {
		t.Fatalf("no introspection curl line in:\n%s", out)
	}
	introspectURL, secret := im[1], im[2]
	if introspectURL != srv.base+"/oauth2/introspect" {
		t.Errorf("the introspection curl line posts to %s, want %s/oauth2/introspect", introspectURL, srv.base)
	}
	if !regexp.MustCompile(`client secret\s+` + regexp.QuoteMeta(secret) + ` \(client demo-introspector: `).MatchString(out) {
		t.Errorf("the client secret is not printed on its own row:\n%s", out)
	}
	if strings.Count(out, secret) != 2 {
		t.Errorf("the client secret is printed %d times, want twice (its row and the curl line)", strings.Count(out, secret))
	}
	code, body = introspect(t, introspectURL, secret, jwt)
	if code != http.StatusOK || body["active"] != true || body["aud"] != "demo-api" || body["scope"] != "demo.read" ||
		body["client_id"] != "demo-cli" || body["token_type"] != "Bearer" {
		t.Fatalf("introspection of the demo JWT with the printed secret: %d %v", code, body)
	}
	if code, body = introspect(t, introspectURL, secret+"x", jwt); code != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("introspection with a wrong secret: %d %v", code, body)
	}
	// The introspecting client may not exchange PATs.
	asIntrospector := url.Values{}
	for k, v := range form {
		asIntrospector[k] = v
	}
	asIntrospector.Set("client_id", "demo-introspector")
	asIntrospector.Set("client_secret", secret)
	if code, body = postToken(t, srv.base, asIntrospector); code != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Errorf("exchange as demo-introspector: %d %v, want 400 unauthorized_client", code, body)
	}

	// The gateway pattern: the PAT's token for demo-mcp, exchanged by
	// demo-gateway with the printed secret and curl line, is a demo-api
	// token whose act names the gateway.
	gm := gatewayCurl.FindStringSubmatch(out)
	if gm == nil {
		t.Fatalf("no gateway curl line in:\n%s", out)
	}
	gwSecret := gm[2]
	if gm[1] != srv.base+"/oauth2/token" || strings.Count(out, gwSecret) != 2 ||
		!regexp.MustCompile(`gateway secret\s+`+regexp.QuoteMeta(gwSecret)+` \(client demo-gateway: `).MatchString(out) {
		t.Errorf("the gateway's secret is not printed once on its row and once in its curl line:\n%s", out)
	}
	mcpForm := url.Values{}
	for k, v := range form {
		mcpForm[k] = v
	}
	mcpForm.Set("audience", "demo-mcp")
	code, body = postToken(t, srv.base, mcpForm)
	mcpToken, _ := body["access_token"].(string)
	if code != http.StatusOK || mcpToken == "" {
		t.Fatalf("the PAT's exchange for demo-mcp: %d %v", code, body)
	}
	chained := url.Values{"grant_type": {gm[3]}, "subject_token_type": {gm[4]}, "audience": {"demo-api"}, "subject_token": {mcpToken},
		"client_id": {"demo-gateway"}, "client_secret": {gwSecret}}
	code, body = postToken(t, srv.base, chained)
	if code != http.StatusOK || body["scope"] != "demo.read" {
		t.Fatalf("the gateway's chained exchange: %d %v", code, body)
	}
	chainedJWT, _ := body["access_token"].(string)
	code, body = introspect(t, introspectURL, secret, chainedJWT)
	if act, _ := body["act"].(map[string]any); code != http.StatusOK || body["active"] != true || body["client_id"] != "demo-gateway" ||
		body["aud"] != "demo-api" || act["sub"] != "demo-gateway" {
		t.Fatalf("introspection of the chained token: %d %v", code, body)
	}

	// The same chained exchange, DPoP-bound to the gateway's own key made
	// and used with the dpop commands, as docs/agents.md shows.
	keyFile := filepath.Join(t.TempDir(), "gateway.jwk")
	code, jkt, stderr := cli(t, nil, "", "dpop", "keygen", "--out", keyFile)
	if code != 0 {
		t.Fatalf("dpop keygen: %d %s", code, stderr)
	}
	code, proof, stderr := cli(t, nil, "", "dpop", "proof", "--key", keyFile, "--url", srv.base+"/oauth2/token")
	if code != 0 {
		t.Fatalf("dpop proof: %d %s", code, stderr)
	}
	code, body = postTokenWith(t, srv.base, chained, http.Header{"DPoP": {strings.TrimSpace(proof)}})
	if code != http.StatusOK || body["token_type"] != "DPoP" {
		t.Fatalf("the gateway's DPoP-bound chained exchange: %d %v", code, body)
	}
	boundJWT, _ := body["access_token"].(string)
	code, body = introspect(t, introspectURL, secret, boundJWT)
	if cnf, _ := body["cnf"].(map[string]any); code != http.StatusOK || body["active"] != true || cnf["jkt"] != strings.TrimSpace(jkt) {
		t.Fatalf("introspection of the bound chained token: %d %v, want cnf.jkt %s", code, body, jkt)
	}
	code, body = postTokenWith(t, srv.base, chained, http.Header{"DPoP": {strings.TrimSpace(proof)}})
	if code != http.StatusBadRequest || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("the same proof twice: %d %v", code, body)
	}

	// The printed password is the demo user's.
	cfg, err := config.Load(path, config.MapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.GetOrganizationByName(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByUsername(context.Background(), o.ID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	// The client secret is stored as its SHA-256 only.
	c, err := st.GetClient(context.Background(), "demo-introspector")
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256([]byte(secret)); !bytes.Equal(c.SecretHash, h[:]) || c.Public || !c.Introspection || len(c.GrantTypes) != 0 {
		t.Errorf("demo-introspector is stored as %+v, want confidential, introspection only, the secret's SHA-256", c)
	}
	if ok, err := password.Verify(pw, u.PasswordHash); !ok || err != nil || !u.Admin {
		t.Errorf("the printed password does not sign the demo admin in (ok %t, err %v, admin %t)", ok, err, u.Admin)
	}

	// The demo PAT is an ordinary PAT of the demo organization.
	code, list, _ := cli(t, nil, "", "pat", "list", "--config", path, "--org", "demo")
	if code != 0 || !strings.Contains(list, "demo.read") || strings.Contains(list, pat) {
		t.Errorf("pat list --org demo: %q", list)
	}

	srv.stop()
	logs := srv.stderr.String()
	if strings.Contains(logs, pat) || strings.Contains(logs, pw) || strings.Contains(logs, secret) {
		t.Fatal("a demo secret reached the log")
	}
	if !strings.Contains(logs, "demo installation created") {
		t.Errorf("the log does not record the demo: %s", logs)
	}

	// A second --demo on the same database refuses, in one line.
	code, out, stderr = cli(t, nil, "", "serve", "--config", path, "--demo")
	oneErrorLine(t, "serve --demo on a database with the demo", code, out, stderr)
	if !strings.Contains(stderr, "--demo needs an empty database") {
		t.Errorf("second --demo: %q", stderr)
	}
	if strings.Contains(out+stderr, secret) || introspectCurl.MatchString(out) {
		t.Errorf("the second --demo printed a client secret: %q %q", out, stderr)
	}

	// A later start without --demo prints no secret, and the first secret
	// still introspects: it was not rotated.
	srv = startServer(t, path, httpAddr, telemetryAddr)
	if out := srv.stdout.String(); strings.Contains(out, secret) || strings.Contains(out, "secret") {
		t.Errorf("a second start printed a secret: %q", out)
	}
	if code, body := introspect(t, introspectURL, secret, jwt); code != http.StatusOK || body["active"] != true {
		t.Errorf("after a restart the printed secret introspects the demo JWT as %d %v, want active", code, body)
	}
	srv.stop()
	if logs := srv.stderr.String(); strings.Contains(logs, secret) {
		t.Error("the client secret reached the log")
	}
	if strings.Contains(logs, gwSecret) {
		t.Error("the gateway's secret reached the log")
	}
}

func TestServeDemoRefusesBootstrappedDatabase(t *testing.T) {
	httpAddr, telemetryAddr := freeAddr(t), freeAddr(t)
	path := writeConfig(t, fmt.Sprintf(`http: {addr: %q}
telemetry: {addr: %q}
log: {format: json}
database: {dsn: %q}
bootstrap:
  organizations: [{name: acme}]
`, httpAddr, telemetryAddr, filepath.Join(t.TempDir(), "b.db")))
	code, out, stderr := cli(t, nil, "", "serve", "--config", path, "--demo")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || out != "" || !strings.HasPrefix(lines[len(lines)-1], "authserver: --demo needs an empty database") {
		t.Fatalf("serve --demo with bootstrap: exit %d stdout %q stderr %q", code, out, stderr)
	}
	code, _, stderr = cli(t, nil, "", "pat", "list", "--config", path, "--org", "demo")
	if code != 1 || !strings.Contains(stderr, "--org: no organization has this name") {
		t.Errorf("a refused --demo created the demo organization: exit %d %q", code, stderr)
	}
}
