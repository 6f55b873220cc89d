package main

import (
	"context"
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

// parseCurl reads the curl line serve --demo prints into the URL and the
// form it posts.
func parseCurl(t *testing.T, out string) (string, url.Values) {
	t.Helper()
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "curl ") {
			line = strings.TrimSpace(l)
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
	st.Close()
	if err != nil {
		t.Fatal(err)
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
	if strings.Contains(logs, pat) || strings.Contains(logs, pw) {
		t.Fatal("a demo secret reached the log")
	}
	if !strings.Contains(logs, "demo installation created") {
		t.Errorf("the log does not record the demo: %s", logs)
	}

	// A second --demo on the same database refuses, in one line.
	code, out, stderr := cli(t, nil, "", "serve", "--config", path, "--demo")
	oneErrorLine(t, "serve --demo on a database with the demo", code, out, stderr)
	if !strings.Contains(stderr, "--demo needs an empty database") {
		t.Errorf("second --demo: %q", stderr)
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
	if code != 1 || !strings.Contains(stderr, `no organization "demo"`) {
		t.Errorf("a refused --demo created the demo organization: exit %d %q", code, stderr)
	}
}
