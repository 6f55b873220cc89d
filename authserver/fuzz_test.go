package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/rfc8693"
)

// The server's input handling fuzzed through the real handler (the one
// the listener serves: request ids, the mux, the endpoints, fosite, the
// database). The environment is built once per fuzzing process, outside
// f.Fuzz; each input is one in-process request.

// FuzzTokenEndpoint posts arbitrary bodies, content types and
// Authorization headers to /oauth2/token. Whatever the input: no 5xx (the
// database is up), every refusal is RFC 6749 JSON with an error, and a
// token is only ever issued for a body whose subject_token is the one
// usable PAT.
func FuzzTokenEndpoint(f *testing.F) {
	e := newEnv(f, envOptions{noRateLimits: true})
	good, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "OR.Folders"}})
	revoked, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	if _, err := e.store.RevokePAT(ctx, p.OrgID, p.ID, time.Now(), "owner"); err != nil {
		f.Fatal(err)
	}
	const form = "application/x-www-form-urlencoded"
	basic := "Basic Z2F0ZXdheTpnYXRld2F5LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm" // gateway:gatewaySecret
	f.Add(form, exchangeForm(good).Encode(), "")
	f.Add(form, exchangeForm(revoked).Encode(), "")
	f.Add(form, with(exchangeForm(good), "client_id", "<delete>").Encode(), basic)
	f.Add(form, with(exchangeForm(good), "scope", "OR.Jobs.Read OR.Folders").Encode(), "")
	f.Add(form, with(exchangeForm(good), "audience", "<delete>", "resource", "https://api.example.com").Encode(), "")
	f.Add(form+"; charset=utf-8", exchangeForm(good).Encode()+"&audience=orchestrator", "Bearer x.y.z")
	f.Add("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nx\r\n--x--", "")
	f.Add("application/json", `{"grant_type":"`+rfc8693.GrantType+`"}`, "")
	f.Add(form, "grant_type=%zz&subject_token=%00", "Basic !!!")
	// Access tokens as subject_token (a chained exchange): this
	// installation has no client with on_behalf_of, so none is granted.
	jwt := e.jwtFor(good)
	f.Add(form, with(exchangeForm(good), "subject_token", jwt).Encode(), "")
	f.Add(form, with(exchangeForm(good), "client_id", "<delete>", "subject_token", jwt, "subject_token_type", rfc8693.TokenTypeJWT).Encode(), basic)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, contentType, body, authorization string) {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkTokenAnswer(t, rec, body, good)
	})
}

// checkTokenAnswer holds the token endpoint's invariants for one answer.
func checkTokenAnswer(t *testing.T, rec *httptest.ResponseRecorder, body, good string) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d for a body of %d bytes: %s", rec.Code, len(body), rec.Body)
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d with Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var answer map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil {
		t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body)
	}
	if rec.Code != http.StatusOK {
		if code, _ := answer["error"].(string); code == "" {
			t.Fatalf("status %d without an error: %s", rec.Code, rec.Body)
		}
		if _, ok := answer["access_token"]; ok {
			t.Fatalf("status %d with a token", rec.Code)
		}
		return
	}
	form, err := url.ParseQuery(body)
	if err != nil || form.Get("subject_token") != good {
		t.Fatalf("a token was issued for a body without the usable PAT: %q", body)
	}
	if tok, _ := answer["access_token"].(string); strings.Count(tok, ".") != 2 {
		t.Fatalf("200 without an access token: %s", rec.Body)
	}
}

// apiFuzzRoutes are the management API's routes that read a JSON body,
// with the principal's ids filled in where a route names one.
var apiFuzzRoutes = []struct{ method, path string }{
	{"POST", "/api/v1/me/pats"},
	{"POST", "/api/v1/me/pats/{pat}/regenerate"},
	{"PUT", "/api/v1/admin/settings"},
	{"POST", "/api/v1/admin/pats/revoke"},
	{"POST", "/api/v1/admin/pats/revoke-by-value"},
	{"POST", "/api/v1/admin/users"},
	{"POST", "/api/v1/admin/roles"},
	{"PUT", "/api/v1/admin/roles/{role}"},
	{"POST", "/api/v1/admin/assignments"},
	{"POST", "/api/v1/leaked-tokens"},
}

// FuzzAPIDecode sends arbitrary JSON bodies and content types to every
// route of the management API that reads a body, with a valid admin bearer
// token. Whatever the input: no 5xx, and every answer that is not 2xx is
// an RFC 9457 problem.
func FuzzAPIDecode(f *testing.F) {
	start := time.Now()
	// A frozen clock: the bearer token never expires however long the
	// fuzzer runs.
	e := newEnv(f, envOptions{noRateLimits: true, now: func() time.Time { return start }})
	bearer := "Bearer " + e.exchangeForAPI(e.patToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin))
	_, regen := e.pat(patSpec{org: "acme", user: "alice", name: "regenerate me", scopes: []string{"OR.Jobs"}})
	dev, err := e.store.GetRoleByName(ctx, e.orgIDs["acme"], "Dev")
	if err != nil {
		f.Fatal(err)
	}
	acme, err := e.store.GetOrganization(ctx, e.orgIDs["acme"])
	if err != nil {
		f.Fatal(err)
	}
	carol := e.user("acme", "carol")
	paths := make([]string, len(apiFuzzRoutes))
	for i, rt := range apiFuzzRoutes {
		paths[i] = strings.NewReplacer("{pat}", regen.ID, "{role}", dev.ID).Replace(rt.path)
	}

	const js = "application/json"
	seeds := []string{
		`{"name": "fuzz", "scopes": ["OR.Jobs"], "expires_at": null}`,
		`{"expires_at": "2999-01-01T00:00:00Z"}`,
		`{"pats_enabled": true, "pat_max_lifetime": "365d"}`,
		`{"ids": ["00000000-0000-7000-8000-000000000000"]}`,
		`{"token": "pat_0123456789"}`,
		`{"username": "fuzzed", "kind": "local", "admin": false}`,
		`{"name": "Fuzz role", "permissions": ["OR.Jobs"]}`,
		`{"name": "Dev", "permissions": ["OR.Jobs", "OR.Execution"]}`,
		`{"user_id": "` + carol.ID + `", "role_id": "` + dev.ID + `", "folder": "Fin/Q1"}`,
		`{"tokens": ["pat_x", "", "\u202e"]}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), js, []byte(s))
	}
	f.Add(uint8(0), js+"; charset=latin1", []byte(seeds[0]))
	f.Add(uint8(0), "text/plain", []byte(`{"name": "x"}`))
	f.Add(uint8(2), js, []byte(`{"pats_enabled": "yes", "pat_max_lifetime": 1e309}`))
	f.Add(uint8(3), js, []byte(`{"ids": [`+strings.Repeat(`"x",`, 2000)+`"x"]}`))
	f.Add(uint8(5), js, []byte("{\"username\": \"a\xffb\"}"))
	f.Add(uint8(9), js, []byte(`[{"tokens": []}]`))
	f.Add(uint8(7), js, []byte(`{"name": "Dev", "permissions": null} trailing`))
	f.Add(uint8(0), js, []byte(`{"name": "a", "scopes": ["OR.Jobs"], "NAME": "b", "scopes": ["OR.Folders"]}`))
	f.Add(uint8(9), js, []byte(`{"tokens": [], "tokens": ["pat_x"]}`))
	f.Add(uint8(1), js, []byte(`{"expires_at": {"a": 1, "a": 2}}`))

	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		i := int(route) % len(apiFuzzRoutes)
		req := httptest.NewRequest(apiFuzzRoutes[i].method, paths[i], strings.NewReader(string(body)))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", bearer)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if apiFuzzRoutes[i].path == "/api/v1/admin/settings" {
			// Keep the principal's organization usable for the next input.
			if err := e.store.UpdateOrganization(ctx, acme); err != nil {
				t.Fatal(err)
			}
		}
		checkAPIAnswer(t, rec)
	})
}

// checkAPIAnswer holds the management API's invariants for one answer.
func checkAPIAnswer(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Code < 300 {
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d, body not JSON: %q", rec.Code, rec.Body)
		}
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("status %d with Content-Type %q: %s", rec.Code, ct, rec.Body)
	}
	var p struct {
		Type, Title, Code string
		Status            int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code || p.Code == "" ||
		p.Type != problemBase+p.Code || p.Title != http.StatusText(rec.Code) {
		t.Fatalf("status %d, not a problem: %s", rec.Code, rec.Body)
	}
}
