package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	_ "github.com/lib/pq"

	"authserver/config"
	"authserver/governance"
	"authserver/internal/pgtest"
)

// replicaPublishAhead is keys.publish_ahead of the replicas: short, so that
// a rotation activates within the test (the keyring then refreshes every
// publish_ahead/4 = 1 s).
const replicaPublishAhead = 4 * time.Second

// TestReplicasShareOnePostgres runs three `authserver serve` processes, A, B
// and C, on one PostgreSQL database: replicas are
// stateless, so what one replica (or the CLI, directly in the database)
// changes is honoured by every replica on its very next request, a rotated
// key is published by all of them before any of them signs with it, and
// last-use times written by all of them lose no update.
func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel() // its own processes, database and ports; it mostly waits on them
	bin := buildBinary(t)
	dsn := pgtest.NewDatabase(t)
	addrA := freeAddr(t)
	issuer := "http://" + addrA
	// One file for every replica; each gets its own ports from the
	// environment. The issuer is the same everywhere: it is the iss of every
	// token and the audience of the management API.
	path := writeConfig(t, fmt.Sprintf(`
issuer: %q
database: {driver: postgres, dsn: %q}
keys: {encryption_key: %q, publish_ahead: %s, rotation_period: 1h}
log: {format: json}
bootstrap:
  audiences:
    - {id: orchestrator, name: Orchestrator, scopes: [OR.Jobs, OR.Folders]}
  clients:
    - {id: cli, public: true, audiences: [orchestrator]}
    - {id: ci, public: true, audiences: [orchestrator]}
  organizations:
    - name: acme
      roles: [{name: Dev, permissions: [OR.Jobs, OR.Folders]}]
      users:
        - {username: root, admin: true}
        - {username: alice, roles: [{role: Dev}]}
        - {username: bob, roles: [{role: Dev}]}
        - {username: carol, password: carol-console-password}
`, issuer, dsn, randomKEK(t), replicaPublishAhead))

	// Started together, as an orchestrator starts them: they race to
	// migrate, bootstrap and create the first key.
	started := time.Now()
	names := []string{"A", "B", "C"}
	rs := make([]*replica, len(names))
	for i, name := range names {
		httpAddr := freeAddr(t)
		if i == 0 {
			httpAddr = addrA
		}
		rs[i] = startReplica(t, bin, path, name, httpAddr, freeAddr(t))
	}
	for _, r := range rs {
		waitStatus(t, r.telemetry+"/readyz", http.StatusOK, r.log)
	}
	t.Logf("three replicas ready in %s", time.Since(started).Round(time.Millisecond))
	a, b, c := rs[0], rs[1], rs[2]

	pat := func(t *testing.T, user, name, scopes string) (token, id string) {
		t.Helper()
		return createPAT(t, path, "--org", "acme", "--user", user, "--name", name, "--scopes", scopes)
	}
	// The management API's tokens, obtained on A.
	rootPAT, _ := pat(t, "root", "admin api", "Identity.Admin Identity.PATs")
	adminJWT := mustExchange(t, a, rootPAT, issuer)["access_token"].(string)
	alicePAT, _ := pat(t, "alice", "alice api", "Identity.PATs")
	aliceJWT := mustExchange(t, a, alicePAT, issuer)["access_token"].(string)

	t.Run("a PAT revoked through /oauth2/revoke on A is refused by B and C on their next exchange", func(t *testing.T) {
		tok, _ := pat(t, "alice", "revoked by its holder", "OR.Jobs")
		for _, r := range rs {
			mustExchange(t, r, tok, "orchestrator")
		}
		resp, err := http.PostForm(a.base+"/oauth2/revoke", url.Values{"client_id": {"cli"}, "token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke on A: got %s", resp.Status)
		}
		for _, r := range []*replica{b, c, a} {
			mustRefuse(t, r, tok)
		}
	})

	t.Run("a PAT revoked through the API on A is refused by B and C on their next exchange", func(t *testing.T) {
		tok, id := pat(t, "alice", "revoked by its owner", "OR.Jobs")
		for _, r := range rs {
			mustExchange(t, r, tok, "orchestrator")
		}
		if code, body := apiCall(t, a, http.MethodDelete, "/api/v1/me/pats/"+id, aliceJWT, nil); code != http.StatusOK || body["status"] != "revoked" {
			t.Fatalf("DELETE on A: got %d %v", code, body)
		}
		for _, r := range []*replica{b, c, a} {
			mustRefuse(t, r, tok)
		}
	})

	t.Run("a PAT revoked by the CLI in the database is refused by A, B and C at once", func(t *testing.T) {
		tok, id := pat(t, "alice", "revoked by the operator", "OR.Jobs")
		for _, r := range rs {
			mustExchange(t, r, tok, "orchestrator")
		}
		if code, out, stderr := cli(t, nil, "", "pat", "revoke", "--config", path, "--org", "acme", "--id", id); code != 0 || out != "revoked "+id+"\n" {
			t.Fatalf("pat revoke: exit %d stdout %q stderr %q", code, out, stderr)
		}
		for _, r := range rs {
			mustRefuse(t, r, tok)
		}
	})

	t.Run("a user deactivated on A is refused by B and C at once and works again after reactivation", func(t *testing.T) {
		tok, _ := pat(t, "bob", "bob's job", "OR.Jobs")
		bobID := claimsOf(t, mustExchange(t, b, tok, "orchestrator")["access_token"].(string))["sub"].(string)
		if code, body := apiCall(t, a, http.MethodPost, "/api/v1/admin/users/"+bobID+"/deactivate", adminJWT, nil); code != http.StatusOK || body["status"] != "deactivated" {
			t.Fatalf("deactivate on A: got %d %v", code, body)
		}
		for _, r := range []*replica{b, c, a} {
			mustRefuse(t, r, tok)
		}
		if code, body := apiCall(t, a, http.MethodPost, "/api/v1/admin/users/"+bobID+"/reactivate", adminJWT, nil); code != http.StatusOK || body["status"] != "active" {
			t.Fatalf("reactivate on A: got %d %v", code, body)
		}
		for _, r := range []*replica{b, c, a} {
			mustExchange(t, r, tok, "orchestrator")
		}
	})

	t.Run("a role changed on A narrows the next exchange on B and C", func(t *testing.T) {
		tok, _ := pat(t, "alice", "role change", "OR.Jobs OR.Folders")
		code, body := apiCall(t, a, http.MethodGet, "/api/v1/admin/roles", adminJWT, nil)
		if code != http.StatusOK {
			t.Fatalf("list roles on A: got %d %v", code, body)
		}
		var roleID string
		for _, it := range body["items"].([]any) {
			if role := it.(map[string]any); role["name"] == "Dev" {
				roleID = role["id"].(string)
			}
		}
		setDev := func(perms ...string) {
			t.Helper()
			if code, body := apiCall(t, a, http.MethodPut, "/api/v1/admin/roles/"+roleID, adminJWT,
				map[string]any{"name": "Dev", "permissions": perms}); code != http.StatusOK {
				t.Fatalf("update role on A: got %d %v", code, body)
			}
		}
		setDev("OR.Jobs")
		for _, r := range []*replica{b, c} {
			if got := mustExchange(t, r, tok, "orchestrator")["scope"]; got != "OR.Jobs" {
				t.Errorf("replica %s: scope %q after the role lost OR.Folders, want OR.Jobs", r.name, got)
			}
		}
		setDev("OR.Jobs", "OR.Folders")
		for _, r := range []*replica{b, c} {
			if got := mustExchange(t, r, tok, "orchestrator")["scope"]; got != "OR.Folders OR.Jobs" && got != "OR.Jobs OR.Folders" {
				t.Errorf("replica %s: scope %q after the role was restored", r.name, got)
			}
		}
	})

	t.Run("PATs disabled on A are refused by B and C at once and re-enabling restores them", func(t *testing.T) {
		tok, _ := pat(t, "alice", "org switch", "OR.Jobs")
		code, settings := apiCall(t, a, http.MethodGet, "/api/v1/admin/settings", adminJWT, nil)
		if code != http.StatusOK {
			t.Fatalf("settings on A: got %d %v", code, settings)
		}
		settings["pats_enabled"] = false
		if code, body := apiCall(t, a, http.MethodPut, "/api/v1/admin/settings", adminJWT, settings); code != http.StatusOK || body["pats_enabled"] != false {
			t.Fatalf("disable PATs on A: got %d %v", code, body)
		}
		for _, r := range []*replica{b, c, a} {
			mustRefuse(t, r, tok)
		}
		// The admin's own API token came from a PAT: it stops too, on every
		// replica.
		if code, body := apiCall(t, b, http.MethodGet, "/api/v1/admin/settings", adminJWT, nil); code != http.StatusUnauthorized {
			t.Errorf("the admin's PAT-based token on B after PATs were disabled: got %d %v, want 401", code, body)
		}
		// So an operator re-enables them, through the governance rules the
		// CLI uses, straight in the database.
		setPATsEnabled(t, path, "acme", true)
		for _, r := range []*replica{b, c, a} {
			mustExchange(t, r, tok, "orchestrator")
		}
		if code, body := apiCall(t, c, http.MethodGet, "/api/v1/admin/settings", adminJWT, nil); code != http.StatusOK || body["pats_enabled"] != true {
			t.Errorf("the admin's token on C after PATs were re-enabled: got %d %v", code, body)
		}
	})

	t.Run("a console session created on A works on B and C, and signing out on B ends it everywhere", func(t *testing.T) {
		// The cookie jar ignores ports, so the browser-like client carries
		// A's cookies to B and C, as a load balancer in front of them would.
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		page := func(r *replica, path string) (int, string) {
			t.Helper()
			resp, err := client.Get(r.base + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		post := func(r *replica, path string, form url.Values) int {
			t.Helper()
			resp, err := client.PostForm(r.base+path, form)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		_, login := page(a, "/console/login")
		if code := post(a, "/console/login", url.Values{"csrf_token": {hiddenCSRF(t, login)},
			"organization": {"acme"}, "username": {"carol"}, "password": {"carol-console-password"}}); code != http.StatusSeeOther {
			t.Fatalf("sign-in on A: %d", code)
		}
		var tokensOnB string
		for _, r := range []*replica{b, c, a} {
			code, body := page(r, "/console/tokens")
			if code != http.StatusOK || !strings.Contains(body, "carol") {
				t.Fatalf("the session from A does not work on %s: %d", r.name, code)
			}
			if r == b {
				tokensOnB = body
			}
		}
		if code := post(b, "/console/logout", url.Values{"csrf_token": {hiddenCSRF(t, tokensOnB)}}); code != http.StatusSeeOther {
			t.Fatalf("sign-out on B: %d", code)
		}
		for _, r := range []*replica{a, c} {
			if code, _ := page(r, "/console/tokens"); code == http.StatusOK {
				t.Fatalf("the session signed out on B still works on %s", r.name)
			}
		}
	})

	t.Run("a rotated key is in every replica's JWKS before any replica signs with it", func(t *testing.T) {
		tok, _ := pat(t, "alice", "rotation", "OR.Jobs")
		testRotationAcrossReplicas(t, path, issuer, rs, tok)
	})

	// Last: it stops the replicas.
	t.Run("last-use times from every replica land without lost updates", func(t *testing.T) {
		testLastUsedAcrossReplicas(t, path, dsn, rs, pat)
	})
	t.Logf("whole test: %s", time.Since(started).Round(time.Millisecond))
}

// testRotationAcrossReplicas rotates the key with the CLI and watches every
// replica's JWKS and the kid of tokens from every replica, every 200 ms,
// across the activation.
func testRotationAcrossReplicas(t *testing.T, path, issuer string, rs []*replica, tok string) {
	before := jwksOf(t, rs[0])
	rotateStart := time.Now()
	code, out, stderr := cli(t, nil, "", "keys", "rotate", "--config", path)
	if code != 0 {
		t.Fatalf("keys rotate: exit %d: %s", code, stderr)
	}
	m := regexp.MustCompile(`created signing key (\S+) `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate did not create a key: %q", out)
	}
	kid := m[1]
	if len(before.Key(kid)) != 0 {
		t.Fatalf("kid %s was published before the rotation", kid)
	}

	published := map[string]time.Time{} // replica → first JWKS holding kid
	signed := map[string]time.Time{}    // replica → first token signed with kid
	oldTokens, newTokens := map[string]string{}, map[string]string{}
	deadline := rotateStart.Add(replicaPublishAhead + 10*time.Second)
	for len(signed) < len(rs) {
		if time.Now().After(deadline) {
			t.Fatalf("not every replica signed with the new key %s by %s after the rotation: published %v, signed %v",
				kid, time.Since(rotateStart).Round(time.Millisecond), published, signed)
		}
		for _, r := range rs {
			if _, ok := published[r.name]; !ok && len(jwksOf(t, r).Key(kid)) > 0 {
				published[r.name] = time.Now()
			}
		}
		for _, r := range rs {
			jwt := mustExchange(t, r, tok, "orchestrator")["access_token"].(string)
			at := time.Now()
			switch k := kidOf(t, jwt); {
			case k == kid:
				if _, ok := signed[r.name]; !ok {
					signed[r.name], newTokens[r.name] = at, jwt
				}
			case !signed[r.name].IsZero():
				t.Errorf("replica %s went back to key %s after signing with %s", r.name, k, kid)
			case len(before.Key(k)) == 0:
				t.Errorf("replica %s signed with key %s, neither the new key nor one published before", r.name, k)
			default:
				oldTokens[r.name] = jwt
			}
		}
		time.Sleep(200 * time.Millisecond)
	}

	var firstSigned time.Time
	for _, at := range signed {
		if firstSigned.IsZero() || at.Before(firstSigned) {
			firstSigned = at
		}
	}
	since := func(at time.Time) time.Duration { return at.Sub(rotateStart).Round(time.Millisecond) }
	for _, r := range rs {
		pub, ok := published[r.name]
		switch {
		case !ok:
			t.Errorf("replica %s never published %s, yet replicas signed with it", r.name, kid)
		case !pub.Before(firstSigned):
			t.Errorf("replica %s published %s at +%s, not before the first token signed with it at +%s",
				r.name, kid, since(pub), since(firstSigned))
		}
		if len(oldTokens[r.name]) == 0 {
			t.Errorf("replica %s was never seen signing with the old key", r.name)
		}
		if ok {
			t.Logf("replica %s: new kid in its JWKS at +%s, first token signed with it at +%s",
				r.name, since(pub), since(signed[r.name]))
		}
	}
	if firstSigned.Before(rotateStart.Add(replicaPublishAhead)) {
		t.Errorf("a replica signed with %s at +%s, before keys.publish_ahead (%s) had passed",
			kid, since(firstSigned), replicaPublishAhead)
	}

	// Every token, old key or new, from every replica, verifies against
	// every replica's JWKS, as a resource server behind any of them would
	// verify it.
	for _, r := range rs {
		set := jwksOf(t, r)
		for _, from := range rs {
			for _, jwt := range []string{oldTokens[from.name], newTokens[from.name]} {
				if jwt == "" {
					continue
				}
				if err := verifyJWT(jwt, set, issuer); err != nil {
					t.Errorf("a token from %s (kid %s) does not verify against %s's JWKS: %v", from.name, kidOf(t, jwt), r.name, err)
				}
			}
		}
	}
}

// testLastUsedAcrossReplicas uses distinct PATs on different replicas and
// one PAT on all of them at once, the latest use on A, then stops A before
// B and C — whose final flushes then carry older times than A wrote — and
// reads the times from the database.
func testLastUsedAcrossReplicas(t *testing.T, path, dsn string, rs []*replica, pat func(t *testing.T, user, name, scopes string) (string, string)) {
	type window struct{ from, to time.Time } // a use happened within
	type use struct {
		id  string
		win window
	}
	var distinct []use
	for _, r := range rs {
		tok, id := pat(t, "alice", "used on "+r.name, "OR.Jobs")
		from := time.Now()
		mustExchange(t, r, tok, "orchestrator")
		distinct = append(distinct, use{id, window{from, time.Now()}})
	}

	shared, sharedID := pat(t, "alice", "used everywhere", "OR.Jobs")
	var wg sync.WaitGroup
	errs := make(chan error, len(rs)*5)
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if code, body, err := exchangeAt(r.base, shared, "orchestrator"); err != nil || code != http.StatusOK {
					errs <- fmt.Errorf("replica %s: %d %v %v", r.name, code, body, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The latest use, on A, in a later second than every other, so that even
	// a to-the-second comparison tells it from B's and C's. It goes through
	// another client: a use within a minute of the recorded one through
	// the same client is not written at all, so only a use that must be
	// written can show that B's and C's older times do not undo it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	from := time.Now()
	iat := int64(claimsOf(t, mustExchangeVia(t, rs[0], "ci", shared, "orchestrator")["access_token"].(string))["iat"].(float64))
	latest := window{from, time.Now()}

	rs[0].stop(t)
	var swg sync.WaitGroup
	for _, r := range rs[1:] {
		swg.Add(1)
		go func() {
			defer swg.Done()
			r.stop(t)
		}()
	}
	swg.Wait()

	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The server stores times at microsecond precision.
	within := func(what, id string, w window) bool {
		t.Helper()
		got := lastUsed(t, db, id)
		switch {
		case !got.Valid:
			t.Errorf("%s: last_used_at was never written (lost update)", what)
		case got.Time.Before(w.from.Truncate(time.Microsecond)) || got.Time.After(w.to):
			t.Errorf("%s: last_used_at %s, want the use between %s and %s", what, got.Time.UTC().Format(time.RFC3339Nano),
				w.from.UTC().Format(time.RFC3339Nano), w.to.UTC().Format(time.RFC3339Nano))
		default:
			return true
		}
		return false
	}
	for i, u := range distinct {
		within("the PAT used on "+rs[i].name, u.id, u.win)
	}
	if within("the PAT used on every replica", sharedID, latest) {
		if got := lastUsed(t, db, sharedID).Time; got.Unix() != iat {
			t.Errorf("the PAT used on every replica: last_used_at %s, want the second of the latest use %s",
				got.UTC(), time.Unix(iat, 0).UTC())
		}
		var client string
		if err := db.QueryRow(`SELECT last_used_client FROM pats WHERE id = $1`, sharedID).Scan(&client); err != nil {
			t.Fatal(err)
		}
		if client != "ci" {
			t.Errorf("the PAT used on every replica: last used through %q, want the latest use's ci", client)
		}
	}
}

// setPATsEnabled switches an organization's PATs through the governance
// rules, as the operator commands do.
func setPATsEnabled(t *testing.T, path, org string, enabled bool) {
	t.Helper()
	ctx := context.Background()
	s, err := (&app{env: config.MapEnv{}, configPath: path}).openService(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, err := s.org(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.gov.UpdateSettings(ctx, governance.CLI(), o.ID,
		governance.Settings{PATsEnabled: enabled, PATMaxLifetime: o.PATMaxLifetime}); err != nil {
		t.Fatal(err)
	}
}

// replica is one `authserver serve` process of the built binary.
type replica struct {
	name      string
	base      string // http://ADDR, the public listener
	telemetry string // http://ADDR, the telemetry listener
	cmd       *exec.Cmd
	log       *syncBuffer
	done      chan struct{} // closed when the process has exited
	err       error         // cmd.Wait's answer, once done is closed
}

// startReplica starts serve with the configuration at path, on its own
// ports, without waiting for it to be ready. The test's cleanup kills it if
// the test did not stop it.
func startReplica(t *testing.T, bin, path, name, httpAddr, telemetryAddr string) *replica {
	t.Helper()
	r := &replica{name: name, base: "http://" + httpAddr, telemetry: "http://" + telemetryAddr,
		log: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve", "--config", path)
	// Configuration comes from the file and these two variables only: an
	// AUTHSERVER_ variable of the test environment (AUTHSERVER_TEST_…) would
	// be refused as unknown.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, config.EnvPrefix) {
			env = append(env, kv)
		}
	}
	r.cmd.Env = append(env, "AUTHSERVER_HTTP_ADDR="+httpAddr, "AUTHSERVER_TELEMETRY_ADDR="+telemetryAddr)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
			if t.Failed() {
				t.Logf("replica %s log:\n%s", r.name, r.log)
			}
		}
	})
	return r
}

// stop sends SIGTERM and checks that the replica exits cleanly: status 0
// and "stopped" logged, after last-use times and audit events are flushed.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("replica %s: %v", r.name, err)
		return
	}
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Errorf("replica %s still running 20s after SIGTERM:\n%s", r.name, r.log)
		return
	}
	if r.err != nil || !strings.Contains(r.log.String(), `"msg":"stopped"`) {
		t.Errorf("replica %s: exit after SIGTERM: %v\n%s", r.name, r.err, r.log)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// exchangeAt exchanges pat for audience as the public client cli at base.
// It is safe to call from any goroutine.
func exchangeAt(base, pat, audience string) (int, map[string]any, error) {
	return exchangeVia(base, "cli", pat, audience)
}

// exchangeVia is exchangeAt through another client.
func exchangeVia(base, client, pat, audience string) (int, map[string]any, error) {
	resp, err := httpClient.PostForm(base+"/oauth2/token", exchangeForm(client, audience, pat))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("answer %s is not JSON: %w", resp.Status, err)
	}
	return resp.StatusCode, body, nil
}

// mustExchange exchanges pat on r and fails the test unless a token is
// issued.
func mustExchange(t *testing.T, r *replica, pat, audience string) map[string]any {
	t.Helper()
	return mustExchangeVia(t, r, "cli", pat, audience)
}

// mustExchangeVia is mustExchange through another client.
func mustExchangeVia(t *testing.T, r *replica, client, pat, audience string) map[string]any {
	t.Helper()
	code, body, err := exchangeVia(r.base, client, pat, audience)
	if err != nil || code != http.StatusOK {
		t.Fatalf("exchange through %s on replica %s: got %d %v %v, want 200", client, r.name, code, body, err)
	}
	if _, ok := body["access_token"].(string); !ok {
		t.Fatalf("exchange through %s on replica %s: no access_token in %v", client, r.name, body)
	}
	return body
}

// mustRefuse checks that r refuses pat as unusable: 400 invalid_request.
func mustRefuse(t *testing.T, r *replica, pat string) {
	t.Helper()
	code, body, err := exchangeAt(r.base, pat, "orchestrator")
	if err != nil || code != http.StatusBadRequest || body["error"] != "invalid_request" {
		t.Errorf("exchange on replica %s: got %d %v %v, want 400 invalid_request", r.name, code, body, err)
	}
	if _, ok := body["access_token"]; ok {
		t.Errorf("replica %s issued a token", r.name)
	}
}

// apiCall sends a management API request to r with a bearer token and
// returns the status and the decoded JSON object.
func apiCall(t *testing.T, r *replica, method, path, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, decodeJSON(t, resp)
}

// decodeJSON reads and closes a response's JSON object body.
func decodeJSON(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s answered %s with no JSON object: %v", resp.Request.URL.Path, resp.Status, err)
	}
	return m
}

// jwksOf fetches r's JWKS.
func jwksOf(t *testing.T, r *replica) *jose.JSONWebKeySet {
	t.Helper()
	resp, err := httpClient.Get(r.base + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS of %s: %s %v", r.name, resp.Status, err)
	}
	return &set
}

// jwtPart decodes the header (0) or the claims (1) of a compact JWS.
func jwtPart(t *testing.T, jwt string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func claimsOf(t *testing.T, jwt string) map[string]any { return jwtPart(t, jwt, 1) }

func kidOf(t *testing.T, jwt string) string {
	kid, _ := jwtPart(t, jwt, 0)["kid"].(string)
	return kid
}

// verifyJWT checks jwt as a resource server would with a JWKS: the
// signature by the key its kid names, typ at+jwt, iss, and exp.
func verifyJWT(jwt string, set *jose.JSONWebKeySet, issuer string) error {
	jws, err := jose.ParseSignedCompact(jwt, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		return err
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return fmt.Errorf("typ %q", typ)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("%d published keys with kid %s", len(keys), h.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return err
	}
	var claims struct {
		Issuer string `json:"iss"`
		Expiry int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return err
	}
	if claims.Issuer != issuer {
		return fmt.Errorf("iss %q, want %q", claims.Issuer, issuer)
	}
	if time.Unix(claims.Expiry, 0).Before(time.Now()) {
		return fmt.Errorf("expired")
	}
	return nil
}

// hiddenCSRF reads the csrf_token hidden field of a console page.
func hiddenCSRF(t *testing.T, html string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(html)
	if m == nil {
		t.Fatal("no csrf_token field on the page")
	}
	return m[1]
}
