package authserver_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authserver/authserver"
	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/storage"
)

// The security checklist. SECURITY.md maps every item to the
// test that covers it: the items covered elsewhere (cross-organization
// access, CSRF, session fixation, alg none, names in the API, …) are not
// repeated here.

// wantOAuthError fails unless r is exactly the RFC 6749 §5.2 answer
// {"error": code, "error_description": description} with status.
func wantOAuthError(t *testing.T, r *response, status int, code, description string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.body)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("not JSON (%v): %s", err, r.body)
	}
	want := map[string]any{"error": code, "error_description": description}
	if !maps.Equal(body, want) {
		t.Fatalf("body %s, want exactly %v", r.body, want)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}
}

// TestSecurityChecklist walks the checklist items that need a real server,
// on both databases, asserting the exact answer of each.
func TestSecurityChecklist(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		// Dozens of deliberate failures from one address: the limits have
		// their own test (TestRateLimits).
		e := newEnv(t, envOptions{driver: driver, noRateLimits: true})
		carol := e.user("acme", "carol")
		carolTok, carolPAT := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs", exchange.ScopePATs}})

		// The three OAuth endpoints read their bodies with one function;
		// each checklist item is sent to each.
		type endpoint struct {
			path     string
			ok       url.Values // a request the endpoint answers 200
			repeated string     // a parameter it takes once
			user     string     // Basic credentials
			secret   string
		}
		endpoints := []endpoint{
			{"/oauth2/token", exchangeForm(carolTok), "subject_token", "", ""},
			{"/oauth2/introspect", url.Values{"token": {carolTok}}, "token", "introspector", introspectorSecret},
			{"/oauth2/revoke", url.Values{"token": {"pat_unknown"}, "client_id": {"cli"}}, "token", "", ""},
		}
		send := func(ep endpoint, method, contentType string, body []byte) *response {
			t.Helper()
			req, err := http.NewRequest(method, e.url+ep.path, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			if ep.user != "" {
				req.SetBasicAuth(ep.user, ep.secret)
			}
			return e.do(req)
		}
		const form = "application/x-www-form-urlencoded"

		t.Run("hostile form bodies get exact answers at every OAuth endpoint", func(t *testing.T) {
			for _, ep := range endpoints {
				okBody := ep.ok.Encode()
				var multi bytes.Buffer
				mw := multipart.NewWriter(&multi)
				for k, v := range ep.ok {
					mw.WriteField(k, v[0])
				}
				mw.Close()
				cases := []struct {
					name, method, contentType, body string
					status                          int
					description                     string
				}{
					{"a repeated parameter", "POST", form, okBody + "&" + ep.repeated + "=other", 400,
						"A parameter is repeated: " + ep.repeated + "."},
					{"repeated unknown parameter is not echoed", "POST", form, okBody + "&pat_Unknown0123456789abcdefghijklmnopqrs=1&pat_Unknown0123456789abcdefghijklmnopqrs=2", 400,
						"A parameter this endpoint does not define is repeated."},
					{"GET", "GET", "", "", 405, "Use POST."},
					{"a JSON body", "POST", "application/json", `{"token": "x"}`, 400, "The body must be application/x-www-form-urlencoded."},
					{"text/plain", "POST", "text/plain", okBody, 400, "The body must be application/x-www-form-urlencoded."},
					{"no content type", "POST", "", okBody, 400, "The body must be application/x-www-form-urlencoded."},
					{"a malformed content type", "POST", "application/x-www-form-urlencoded; charset", okBody, 400, "The body must be application/x-www-form-urlencoded."},
					{"a multipart body", "POST", mw.FormDataContentType(), multi.String(), 400, "The body must be application/x-www-form-urlencoded."},
					{"invalid UTF-8 in a value", "POST", form, okBody + "&x=%C3%28", 400, "A parameter value is not valid UTF-8 text."},
					{"raw invalid UTF-8 in a value", "POST", form, okBody + "&x=\xff\xfe", 400, "A parameter value is not valid UTF-8 text."},
					{"invalid UTF-8 in a name", "POST", form, okBody + "&%ff=x", 400, "A parameter name is not valid UTF-8 text."},
					{"a NUL byte in a value", "POST", form, okBody + "&x=a%00b", 400, "A parameter value is not valid UTF-8 text."},
					{"a NUL byte in a name", "POST", form, okBody + "&a%00b=x", 400, "A parameter name is not valid UTF-8 text."},
					{"bad percent-encoding", "POST", form, okBody + "&x=%zz", 400, "The body is not valid form encoding."},
					{"a truncated percent-encoding", "POST", form, okBody + "&x=%4", 400, "The body is not valid form encoding."},
					{"a semicolon separator", "POST", form, okBody + ";x=1", 400, "The body is not valid form encoding."},
				}
				for _, c := range cases {
					t.Run(ep.path+": "+c.name, func(t *testing.T) {
						r := send(ep, c.method, c.contentType, []byte(c.body))
						wantOAuthError(t, r, c.status, "invalid_request", c.description)
						if c.status == 405 && r.Header.Get("Allow") != "POST" {
							t.Fatalf("Allow %q", r.Header.Get("Allow"))
						}
					})
				}
				t.Run(ep.path+": the baseline is answered 200", func(t *testing.T) {
					if r := send(ep, "POST", form+"; charset=UTF-8", []byte(okBody)); r.StatusCode != 200 {
						t.Fatalf("%d %s", r.StatusCode, r.body)
					}
				})
			}
		})

		t.Run("a body of 64 KiB + 1 is 413, of exactly 64 KiB is read", func(t *testing.T) {
			for _, ep := range endpoints {
				base := ep.ok.Encode() + "&pad="
				exact := base + strings.Repeat("a", 64<<10-len(base))
				if r := send(ep, "POST", form, []byte(exact)); r.StatusCode != 200 {
					t.Fatalf("%s: exactly 64 KiB: %d %s", ep.path, r.StatusCode, r.body)
				}
				wantOAuthError(t, send(ep, "POST", form, []byte(exact+"a")), 413, "invalid_request", "The request body is larger than 64 KiB.")
			}
			api := e.exchangeForAPI(carolTok)
			base := `{"name": "big", "scopes": ["OR.Jobs"], "expires_at": null}`
			exact := base[:len(base)-1] + strings.Repeat(" ", 64<<10-len(base)) + "}"
			wantStatus(t, e.send("POST", "/api/v1/me/pats", api, "application/json", []byte(exact)), http.StatusCreated)
			wantProblemExactly(t, e.send("POST", "/api/v1/me/pats", api, "application/json", []byte(" "+exact)),
				413, "body-too-large", "the request body is larger than 64 KiB")
			cl := e.consoleClient()
			r := cl.post("/console/login", url.Values{"organization": {"acme"}, "username": {"carol"},
				"password": {strings.Repeat("a", 64<<10)}})
			wantPage(t, r, http.StatusRequestEntityTooLarge, "The form is larger than 64 KiB.")
		})

		t.Run("bodies of 10 MiB are refused at once, never read whole", func(t *testing.T) {
			api := e.exchangeForAPI(e.patToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin))
			session := e.consoleSignIn("acme", "alice")
			type target struct {
				method, path string
				header       http.Header
				status       int // 413 when the route reads a body
			}
			var targets []target
			for _, ep := range endpoints {
				targets = append(targets, target{"POST", ep.path, http.Header{"Content-Type": {form}}, 413})
			}
			for _, rt := range authserver.APIRoutes() {
				if rt.Method != "POST" && rt.Method != "PUT" {
					continue
				}
				status := 413
				if strings.HasSuffix(rt.Path, "/deactivate") || strings.HasSuffix(rt.Path, "/reactivate") {
					status = 404 // takes no body: answered without reading one
				}
				path := strings.ReplaceAll(rt.Path, "{id}", "00000000-0000-7000-8000-000000000000")
				targets = append(targets, target{rt.Method, path, http.Header{"Content-Type": {"application/json"},
					"Authorization": {"Bearer " + api}}, status})
			}
			targets = append(targets, target{"POST", "/console/login", http.Header{"Content-Type": {form}}, 413})
			targets = append(targets, target{"POST", "/console/set-password", http.Header{"Content-Type": {form}}, 413})
			for _, rt := range authserver.ConsoleRoutes() {
				if rt.Method != "POST" {
					continue
				}
				path := strings.ReplaceAll(rt.Path, "{id}", "00000000-0000-7000-8000-000000000000")
				targets = append(targets, target{"POST", path, http.Header{"Content-Type": {form},
					"Cookie": {authserver.ConsoleSessionCookie + "=" + session.cookie}}, 413})
			}
			for _, tg := range targets {
				t.Run(tg.method+" "+tg.path, func(t *testing.T) {
					status, elapsed := e.hugeBody(t, tg.method, tg.path, tg.header)
					if status != tg.status {
						t.Fatalf("status %d, want %d", status, tg.status)
					}
					if elapsed > 2*time.Second {
						t.Fatalf("answered after %v", elapsed)
					}
				})
			}
		})

		t.Run("scope strings of 10 000 entries or with forbidden characters are invalid_scope", func(t *testing.T) {
			ok := exchangeForm(carolTok)
			for _, c := range []struct{ name, scope, description string }{
				{"10 000 entries", strings.TrimSpace(strings.Repeat("OR.J ", 10000)), "At most 100 scopes may be requested."},
				{"101 entries", strings.TrimSpace(strings.Repeat("OR.Jobs ", 101)), "At most 100 scopes may be requested."},
				{"a double quote", `OR.Jobs "x"`, "The scope parameter holds a character RFC 6749 does not allow."},
				{"a backslash", `OR.Jobs\x`, "The scope parameter holds a character RFC 6749 does not allow."},
				{"a tab", "OR.Jobs\tOR.Execution", "The scope parameter holds a character RFC 6749 does not allow."},
				{"a non-ASCII letter", "OR.Jöbs", "The scope parameter holds a character RFC 6749 does not allow."},
				{"a bidi override", "OR.\u202eJobs", "The scope parameter holds a character RFC 6749 does not allow."},
				{"SQL", "OR.Jobs'--", "A requested scope is not covered by the personal access token."},
			} {
				t.Run(c.name, func(t *testing.T) {
					wantOAuthError(t, e.post("/oauth2/token", with(ok, "scope", c.scope), "", ""), 400, "invalid_scope", c.description)
				})
			}
			if r := e.post("/oauth2/token", with(ok, "scope", strings.TrimSpace(strings.Repeat("OR.Jobs ", 100))), "", ""); r.StatusCode != 200 {
				t.Fatalf("100 entries: %d %s", r.StatusCode, r.body)
			}
		})

		t.Run("a JWT presented as subject_token by a client not configured for chained exchange is unauthorized_client", func(t *testing.T) {
			valid := e.exchange(carolTok, url.Values{"audience": {"orchestrator"}}).json(t)["access_token"].(string)
			now := time.Now().Unix()
			claims := exchange.Claims{Issuer: e.url, Subject: carol.ID, Audience: "orchestrator", Expiry: now - 60,
				IssuedAt: now - 360, NotBefore: now - 360, ID: "jti", ClientID: "cli", Scope: "OR.Jobs",
				OrgID: carol.OrgID, PATID: carolPAT.ID}
			expired := e.signOurs(claims)
			claims.Expiry, claims.Issuer = now+300, "https://evil.example.com"
			foreign := foreignJWT(t, claims)
			for name, tok := range map[string]string{"a JWT of this server": valid, "an expired JWT": expired,
				"a JWT of another issuer": foreign, "a JWT with alg none": algNone(t, valid)} {
				t.Run(name, func(t *testing.T) {
					// The public client cli has no on_behalf_of: whatever the
					// token, it may not present one (TestChainRefusals covers
					// the same tokens from a gateway that may).
					wantOAuthError(t, e.exchange(tok, url.Values{"audience": {"orchestrator"}}), 400, "unauthorized_client",
						"The client is not allowed to present an access token as subject_token.")
				})
			}
		})

		t.Run("every {id} route answers another user's or organization's id 404 and changes nothing", func(t *testing.T) {
			bob := e.apiToken("acme", "bob")
			alice := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
			eve := e.apiToken("globex", "eve", exchange.ScopePATs, exchange.ScopeAdmin)
			dev, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "Dev")
			if err != nil {
				t.Fatal(err)
			}
			as, err := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], carol.ID)
			if err != nil || len(as) == 0 {
				t.Fatalf("carol's assignments: %v %v", as, err)
			}
			hook := &storage.Webhook{OrgID: e.orgIDs["acme"], URL: "https://hooks.example/in", Secret: []byte{1}}
			if err := e.store.CreateWebhook(ctx, hook); err != nil {
				t.Fatal(err)
			}
			state := func() string {
				users, _ := e.store.ListUsers(ctx, storage.UserFilter{OrgID: e.orgIDs["acme"]})
				roles, _ := e.store.ListRoles(ctx, e.orgIDs["acme"])
				assignments, _ := e.store.ListRoleAssignments(ctx, e.orgIDs["acme"], "")
				webhooks, _ := e.store.ListWebhooks(ctx, e.orgIDs["acme"])
				return snapshot(t, []any{users, roles, assignments, e.patsOf("acme", "carol"), webhooks})
			}
			type attempt struct {
				tokens []string // other users of the organization, or admins of another
				id     string
				body   any
			}
			role := map[string]any{"name": "Hijacked", "permissions": []string{"OR"}}
			cases := map[authserver.APIRoute]attempt{
				{Method: "GET", Path: "/api/v1/me/pats/{id}"}:                 {[]string{bob, alice, eve}, carolPAT.ID, nil},
				{Method: "DELETE", Path: "/api/v1/me/pats/{id}"}:              {[]string{bob, alice, eve}, carolPAT.ID, nil},
				{Method: "POST", Path: "/api/v1/me/pats/{id}/regenerate"}:     {[]string{bob, alice, eve}, carolPAT.ID, nil},
				{Method: "GET", Path: "/api/v1/me/pats/{id}/effective"}:       {[]string{bob, alice, eve}, carolPAT.ID, nil},
				{Method: "POST", Path: "/api/v1/admin/users/{id}/deactivate"}: {[]string{eve}, carol.ID, nil},
				{Method: "POST", Path: "/api/v1/admin/users/{id}/reactivate"}: {[]string{eve}, carol.ID, nil},
				{Method: "GET", Path: "/api/v1/admin/users/{id}/access"}:      {[]string{eve}, carol.ID, nil},
				{Method: "POST", Path: "/api/v1/admin/users/{id}/password"}:   {[]string{eve}, carol.ID, map[string]any{"set_password_link": true}},
				{Method: "PUT", Path: "/api/v1/admin/users/{id}/email"}:       {[]string{eve}, carol.ID, map[string]any{"email": "hijacked@example.com"}},
				{Method: "PUT", Path: "/api/v1/admin/roles/{id}"}:             {[]string{eve}, dev.ID, role},
				{Method: "DELETE", Path: "/api/v1/admin/roles/{id}"}:          {[]string{eve}, dev.ID, nil},
				{Method: "DELETE", Path: "/api/v1/admin/assignments/{id}"}:    {[]string{eve}, as[0].ID, nil},
				{Method: "DELETE", Path: "/api/v1/admin/webhooks/{id}"}:       {[]string{eve}, hook.ID, nil},
			}
			before := state()
			for _, rt := range authserver.APIRoutes() {
				if !strings.Contains(rt.Path, "{id}") {
					continue
				}
				c, ok := cases[rt]
				if !ok {
					t.Errorf("%s %s has no IDOR case: add one", rt.Method, rt.Path)
					continue
				}
				path := strings.ReplaceAll(rt.Path, "{id}", c.id)
				if strings.HasSuffix(path, "/effective") {
					path += "?audience=orchestrator"
				}
				if rt.Method == "DELETE" && strings.HasPrefix(rt.Path, "/api/v1/admin/roles/") {
					path += "?confirm=true" // the role is assigned: confirmed, it would go
				}
				for _, tok := range c.tokens {
					wantProblem(t, e.call(rt.Method, path, tok, c.body), http.StatusNotFound, "not-found", "")
				}
				if after := state(); after != before {
					t.Fatalf("%s %s of another user or organization changed acme", rt.Method, rt.Path)
				}
			}
			if !e.exchangeOK(carolTok) {
				t.Fatal("carol's PAT no longer works")
			}
		})

		t.Run("API query strings and bodies: bad percent-encoding, NUL bytes and invalid UTF-8", func(t *testing.T) {
			api := e.exchangeForAPI(carolTok)
			for _, c := range []struct {
				name, method, path, body string
				status                   int
				code, detail             string
			}{
				{"bad percent-encoding in the query", "GET", "/api/v1/me/pats?status=%zz", "", 400, "invalid-parameter",
					"the query string is not valid URL encoding"},
				{"a NUL byte in a query value", "GET", "/api/v1/me/pats?status=a%00", "", 400, "invalid-parameter",
					"status: must be valid UTF-8 text without control characters"},
				{"invalid UTF-8 in a query value", "GET", "/api/v1/me/pats?status=%ff", "", 400, "invalid-parameter",
					"status: must be valid UTF-8 text without control characters"},
				{"a repeated query parameter", "GET", "/api/v1/me/pats?status=active&status=revoked", "", 400, "invalid-parameter",
					"status: must not be repeated"},
				{"invalid UTF-8 in a JSON string", "POST", "/api/v1/me/pats", "{\"name\": \"a\xffb\", \"scopes\": [\"OR.Jobs\"]}", 400,
					"malformed-json", "the request body is not valid UTF-8"},
				{"a raw NUL byte in a JSON string", "POST", "/api/v1/me/pats", "{\"name\": \"a\x00b\", \"scopes\": [\"OR.Jobs\"]}", 400,
					"malformed-json", "the request body is not valid JSON (at byte 12)"},
				{"an escaped NUL in a name", "POST", "/api/v1/me/pats", `{"name": "a\u0000b", "scopes": ["OR.Jobs"]}`, 400,
					"name-invalid", "name: must not contain control, zero-width or bidirectional-formatting characters"},
				{"a NUL byte in an id", "GET", "/api/v1/me/pats/a%00b", "", 404, "not-found", "personal access token not found"},
			} {
				t.Run(c.name, func(t *testing.T) {
					var body []byte
					if c.body != "" {
						body = []byte(c.body)
					}
					wantProblemExactly(t, e.send(c.method, c.path, api, "application/json", body), c.status, c.code, c.detail)
				})
			}
		})

		t.Run("console: names with SQL metacharacters are kept verbatim, invisible characters refused", func(t *testing.T) {
			cl := e.consoleClient().signIn("acme", "bob")
			sql := `x'); DROP TABLE pats;-- " OR 1=1`
			r := cl.post("/console/tokens", url.Values{"name": {sql}, "scopes": {"OR.Jobs"}, "expiry": {"never"}})
			wantPage(t, r, http.StatusOK, "This token will not be shown again")
			wantPage(t, cl.get("/console/tokens"), http.StatusOK, `x&#39;); DROP TABLE pats;-- &#34; OR 1=1`)
			if pats := e.patsOf("acme", "bob"); len(pats) == 0 || pats[len(pats)-1].Name != sql && pats[0].Name != sql {
				t.Fatalf("stored names %v", pats)
			}
			n := len(e.patsOf("acme", "bob"))
			for _, name := range []string{"ad\u200bmin", "txt\u202eexe.sh", "a\u2066b", "\ufeffbom"} {
				r := cl.post("/console/tokens", url.Values{"name": {name}, "scopes": {"OR.Jobs"}, "expiry": {"never"}})
				wantPage(t, r, http.StatusBadRequest, "must not contain control, zero-width or bidirectional-formatting characters")
			}
			if got := len(e.patsOf("acme", "bob")); got != n {
				t.Fatalf("refused names created PATs: %d → %d", n, got)
			}
			for _, who := range [][2]string{{"acme' OR '1'='1", "bob"}, {"acme", "bob' --"}, {"acme", "b\u202eob"}} {
				r := e.consoleClient().tryLogin(who[0], who[1], "bob-password")
				if r.StatusCode != http.StatusForbidden || signInError(t, r) != htmlEscape(authserver.ConsoleSignInFailed) {
					t.Fatalf("sign-in as %q/%q: %d %s", who[0], who[1], r.StatusCode, r.body)
				}
			}
		})
	})
}

// wantProblemExactly fails unless r is the RFC 9457 problem with status,
// code and detail.
func wantProblemExactly(t *testing.T, r *response, status int, code, detail string) {
	t.Helper()
	p := wantProblem(t, r, status, code, "")
	if p["detail"] != detail {
		t.Fatalf("detail %q, want %q", p["detail"], detail)
	}
}

// hugeBody sends headers that declare a 10 MiB body, then 1 MiB of it and
// no more, and returns the status of the answer and how long it took. An
// answer at all proves the server did not wait for the whole body.
func (e *env) hugeBody(t *testing.T, method, path string, header http.Header) (int, time.Duration) {
	t.Helper()
	u, _ := url.Parse(e.url)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, u.Host, 10<<20)
	header.Write(&head)
	head.WriteString("\r\n")
	start := time.Now()
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatal(err)
	}
	go func() {
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for range 16 { // 1 MiB; write errors once the server hangs up are expected
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body was still coming: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// patToken creates a PAT in the database and returns its token.
func (e *env) patToken(org, user string, scopes ...string) string {
	e.t.Helper()
	tok, _ := e.pat(patSpec{org: org, user: user, scopes: scopes})
	return tok
}

// foreignJWT signs claims with a key of another issuer (ES256, its own
// kid), as an at+jwt.
func foreignJWT(t *testing.T, c exchange.Claims) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "foreign"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(c)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var b64 = base64.RawURLEncoding

// algNone re-issues a JWT's claims under {"alg": "none"} with its kid and
// no signature.
func algNone(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	header, _ := json.Marshal(map[string]string{"alg": "none", "typ": "at+jwt", "kid": kidOf(t, token)})
	return b64.EncodeToString(header) + "." + parts[1] + "."
}

// hs256 re-signs a JWT's claims with HMAC-SHA256 under secret, keeping its
// kid: the algorithm-confusion attack, where secret is the server's public
// key.
func hs256(t *testing.T, token string, secret []byte) string {
	t.Helper()
	parts := strings.Split(token, ".")
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "at+jwt", "kid": kidOf(t, token)})
	input := b64.EncodeToString(header) + "." + parts[1]
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64.EncodeToString(mac.Sum(nil))
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	raw, err := b64.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("no kid in %s", raw)
	}
	return h.Kid
}

// publicKeySecrets are the byte strings an attacker would try as the HMAC
// secret of an algorithm-confusion attack: the server's published public
// key as PEM, as its JWK and as the whole JWKS document.
func (e *env) publicKeySecrets(t *testing.T, kid string) map[string][]byte {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(e.keys.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("kid %s: %d keys in the JWKS", kid, len(keys))
	}
	der, err := x509.MarshalPKIXPublicKey(keys[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := json.Marshal(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"PEM":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		"DER":  der,
		"JWK":  jwk,
		"JWKS": e.keys.JWKS(),
	}
}
