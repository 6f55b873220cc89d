package authserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
)

// TestAPIBadInput: every malformed or refused request gets the right status
// and an RFC 9457 problem naming what is wrong, and writes nothing.
func TestAPIBadInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		e := newEnv(t, envOptions{driver: driver})
		tok := e.apiToken("acme", "carol")
		admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
		_, mine := e.pat(patSpec{org: "acme", user: "carol", name: "existing", scopes: []string{"OR.Jobs"}})
		future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
		past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
		const json = "application/json"

		type tc struct {
			name        string
			method      string
			path        string
			token       string
			contentType string
			body        string
			status      int
			code        string
			field       string
		}
		create := func(name, body string, status int, code, field string) tc {
			return tc{name, "POST", "/api/v1/me/pats", tok, json, body, status, code, field}
		}
		cases := []tc{
			// The body as JSON.
			create("malformed JSON", `{"name": "x", "scopes": ["OR.Jobs"],}`, 400, "malformed-json", ""),
			create("truncated JSON", `{"name": "x", "scopes": ["OR.Jobs"]`, 400, "malformed-json", ""),
			create("truncated in a string", `{"name": "x`, 400, "malformed-json", ""),
			create("unknown member", `{"name": "x", "scopes": ["OR.Jobs"], "nmae": "y"}`, 400, "unknown-field", ""),
			create("name of the wrong type", `{"name": 7, "scopes": ["OR.Jobs"]}`, 400, "wrong-type", "name"),
			create("scopes of the wrong type", `{"name": "x", "scopes": "OR.Jobs"}`, 400, "wrong-type", "scopes"),
			create("a scope of the wrong type", `{"name": "x", "scopes": [1]}`, 400, "wrong-type", "scopes"),
			create("expires_at of the wrong type", `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": 1893456000}`, 400, "wrong-type", "expires_at"),
			create("trailing object", `{"name": "x", "scopes": ["OR.Jobs"]} {}`, 400, "trailing-data", ""),
			create("trailing garbage", `{"name": "x", "scopes": ["OR.Jobs"]}x`, 400, "trailing-data", ""),
			create("trailing brace", `{"name": "x", "scopes": ["OR.Jobs"]}}`, 400, "trailing-data", ""),
			create("an array body", `[{"name": "x", "scopes": ["OR.Jobs"]}]`, 400, "wrong-type", ""),
			create("a null body", `null`, 400, "wrong-type", ""),
			create("an empty body", ``, 400, "body-required", ""),
			{"text/plain", "POST", "/api/v1/me/pats", tok, "text/plain", `{"name": "x", "scopes": ["OR.Jobs"]}`, 415, "unsupported-media-type", ""},
			{"a form", "POST", "/api/v1/me/pats", tok, "application/x-www-form-urlencoded", `name=x&scopes=OR.Jobs`, 415, "unsupported-media-type", ""},
			{"no content type", "POST", "/api/v1/me/pats", tok, "", `{"name": "x", "scopes": ["OR.Jobs"]}`, 415, "unsupported-media-type", ""},
			{"JSON in another charset", "POST", "/api/v1/me/pats", tok, "application/json; charset=latin1", `{"name": "x", "scopes": ["OR.Jobs"]}`, 415, "unsupported-media-type", ""},
			create("a body over 64 KiB", `{"name": "x", "scopes": ["OR.Jobs"], "pad": "`+strings.Repeat("a", 64<<10)+`"}`, 413, "body-too-large", ""),

			// Names.
			create("an empty name", `{"name": "", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a missing name", `{"scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a name of 101 characters", `{"name": "`+strings.Repeat("n", 101)+`", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a name with a newline", `{"name": "a\nb", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a name with NUL", `{"name": "a\u0000b", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a name with a zero-width space", `{"name": "ad\u200bmin", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a name with a bidi override", `{"name": "txt\u202eexe.sh", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a name with a leading space", `{"name": " x", "scopes": ["OR.Jobs"]}`, 400, "name-invalid", "name"),
			create("a duplicate active name", `{"name": "existing", "scopes": ["OR.Jobs"]}`, 409, "name-taken", ""),

			// Scopes and expiry.
			create("an unknown scope", `{"name": "x", "scopes": ["OR.Jobs", "OR.Nope"]}`, 400, "scope-unknown", "scopes"),
			create("a malformed scope", `{"name": "x", "scopes": ["<b>"]}`, 400, "scope-unknown", "scopes"),
			create("empty scopes", `{"name": "x", "scopes": []}`, 400, "scopes-empty", "scopes"),
			create("missing scopes", `{"name": "x"}`, 400, "scopes-empty", "scopes"),
			create("expires_at in the past", `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": "`+past+`"}`, 400, "expiry-in-past", "expires_at"),
			create("expires_at a date only", `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": "2031-01-01"}`, 400, "invalid-field", "expires_at"),
			create("expires_at in words", `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": "tomorrow"}`, 400, "invalid-field", "expires_at"),
			create("expires_at without a zone", `{"name": "x", "scopes": ["OR.Jobs"], "expires_at": "2031-01-01T00:00:00"}`, 400, "invalid-field", "expires_at"),
			{"regenerate with a bad expiry", "POST", "/api/v1/me/pats/" + mine.ID + "/regenerate", tok, json, `{"expires_at": "soon"}`, 400, "invalid-field", "expires_at"},
			{"regenerate with an unknown member", "POST", "/api/v1/me/pats/" + mine.ID + "/regenerate", tok, json, `{"name": "renamed"}`, 400, "unknown-field", ""},
			{"regenerate with text", "POST", "/api/v1/me/pats/" + mine.ID + "/regenerate", tok, "text/plain", `{}`, 415, "unsupported-media-type", ""},

			// Query parameters.
			{"an unknown parameter", "GET", "/api/v1/me/pats?owner=x", tok, "", "", 400, "invalid-parameter", ""},
			{"limit zero", "GET", "/api/v1/me/pats?limit=0", tok, "", "", 400, "invalid-parameter", "limit"},
			{"limit not a number", "GET", "/api/v1/me/pats?limit=ten", tok, "", "", 400, "invalid-parameter", "limit"},
			{"limit too large", "GET", "/api/v1/me/pats?limit=1000", tok, "", "", 400, "invalid-parameter", "limit"},
			{"a repeated parameter", "GET", "/api/v1/me/pats?status=active&status=revoked", tok, "", "", 400, "invalid-parameter", "status"},
			{"a bad status", "GET", "/api/v1/me/pats?status=gone", tok, "", "", 400, "status-invalid", "status"},
			{"a forged cursor", "GET", "/api/v1/me/pats?cursor=%21%21%21", tok, "", "", 400, "cursor-invalid", "cursor"},
			{"a control character in a filter", "GET", "/api/v1/admin/audit?actor=a%00b", admin, "", "", 400, "invalid-parameter", "actor"},
			{"invalid UTF-8 in a filter", "GET", "/api/v1/admin/audit?target=%FF", admin, "", "", 400, "invalid-parameter", "target"},
			{"until before since", "GET", "/api/v1/admin/audit?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", admin, "", "", 400, "until-before-since", "until"},
			{"a parameter on a route without any", "GET", "/api/v1/me?x=1", tok, "", "", 400, "invalid-parameter", ""},

			// Routes and methods.
			{"an unknown route", "GET", "/api/v1/nothing", tok, "", "", 404, "route-not-found", ""},
			{"an unknown route without credentials", "GET", "/api/v1/me/pats/x/y", "", "", "", 404, "route-not-found", ""},
			{"the API root", "GET", "/api/v1/", tok, "", "", 404, "route-not-found", ""},
			{"a trailing slash", "GET", "/api/v1/me/", tok, "", "", 404, "route-not-found", ""},
			{"PATCH on my PATs", "PATCH", "/api/v1/me/pats", tok, json, `{}`, 405, "method-not-allowed", ""},
			{"PUT on me", "PUT", "/api/v1/me", tok, json, `{}`, 405, "method-not-allowed", ""},
			{"GET on bulk revoke", "GET", "/api/v1/admin/pats/revoke", admin, "", "", 405, "method-not-allowed", ""},
			{"DELETE on a user", "DELETE", "/api/v1/admin/users/x/deactivate", admin, "", "", 405, "method-not-allowed", ""},

			// Admin bodies.
			{"bulk revoke without ids", "POST", "/api/v1/admin/pats/revoke", admin, json, `{}`, 400, "ids-empty", "ids"},
			{"bulk revoke with ids of the wrong type", "POST", "/api/v1/admin/pats/revoke", admin, json, `{"ids": "x"}`, 400, "wrong-type", "ids"},
			{"revoke by value with a number", "POST", "/api/v1/admin/pats/revoke-by-value", admin, json, `{"token": 1}`, 400, "wrong-type", "token"},
			{"a user with an unknown member", "POST", "/api/v1/admin/users", admin, json, `{"username": "x", "role": "admin"}`, 400, "unknown-field", ""},
			{"a role with a bidi name", "POST", "/api/v1/admin/roles", admin, json, `{"name": "a\u202eb", "permissions": ["OR.Jobs"]}`, 400, "name-invalid", "name"},
			{"an assignment without a user", "POST", "/api/v1/admin/assignments", admin, json, `{"role_id": "x"}`, 400, "user-required", "user_id"},
		}
		before := snapshot(t, []any{e.patsOf("acme", "carol"), e.patsOf("acme", "alice")})
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var body []byte
				if c.body != "" || c.contentType != "" {
					body = []byte(c.body)
				}
				resp := e.send(c.method, c.path, c.token, c.contentType, body)
				p := wantProblem(t, resp, c.status, c.code, c.field)
				if c.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
					t.Fatal("405 without Allow")
				}
				if d, _ := p["detail"].(string); strings.Contains(d, strings.Repeat("a", 100)) {
					t.Fatal("the problem echoes the body")
				}
			})
		}
		if after := snapshot(t, []any{e.patsOf("acme", "carol"), e.patsOf("acme", "alice")}); after != before {
			t.Fatal("refused requests changed the store")
		}
		if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
			t.Fatalf("a bad request was logged as a server error:\n%s", e.logs.String())
		}
		t.Run("valid requests still pass", func(t *testing.T) {
			wantStatus(t, e.call("POST", "/api/v1/me/pats", tok, `{"name": "fine", "scopes": ["OR.Jobs"], "expires_at": "`+future+`"}`), http.StatusCreated)
			wantStatus(t, e.send("POST", "/api/v1/me/pats", tok, "application/json; charset=UTF-8", []byte(` {"name": "fine too", "scopes": ["OR.Jobs"]} `+"\n")), http.StatusCreated)
		})
	})
}

// TestAPINamesOnlyWhatItDefines: a problem names a JSON member or a query
// parameter only if the route defines it. Any other name is the client's
// text — a token pasted into the wrong place, say — and is neither in the
// detail nor in errors.
func TestAPINamesOnlyWhatItDefines(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.apiToken("acme", "carol")
	_, mine := e.pat(patSpec{org: "acme", user: "carol", scopes: []string{"OR.Jobs"}})
	const secret = "pat_NotAMemberNotAParameterxxxxxxxxxxxxx"
	for _, c := range []struct {
		name, method, path, body string
		code, field              string // field: the defined name the problem must name
		takes                    string // what the detail must list instead, if anything
	}{
		{"unknown member is not echoed", "POST", "/api/v1/me/pats", `{"name": "x", "scopes": ["OR.Jobs"], "` + secret + `": 1}`, "unknown-field", "", ""},
		{"unknown member of another route is not named", "POST", "/api/v1/me/pats/" + mine.ID + "/regenerate", `{"name": "` + secret + `"}`, "unknown-field", "", ""},
		{"unknown member holding the secret is not echoed", "POST", "/api/v1/me/pats", `{"name": "x", "scopes": ["OR.Jobs"], "x": "` + secret + `"}`, "unknown-field", "", ""},
		{"unknown parameter is not echoed", "GET", "/api/v1/me/pats?" + secret + "=1", "", "invalid-parameter", "", "status, name, audience, expiring, limit, cursor"},
		{"repeated unknown parameter is not echoed", "GET", "/api/v1/me/pats?" + secret + "=1&" + secret + "=2", "", "invalid-parameter", "", "status, name, audience, expiring, limit, cursor"},
		{"unknown parameter of a route without any is not echoed", "GET", "/api/v1/me?" + secret + "=1", "", "invalid-parameter", "", "takes none"},
		{"repeated defined parameter is named", "GET", "/api/v1/me/pats?status=" + secret + "&status=active", "", "invalid-parameter", "status", ""},
		{"defined member of the wrong type is named", "POST", "/api/v1/me/pats", `{"name": ["` + secret + `"], "scopes": ["OR.Jobs"]}`, "wrong-type", "name", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.call(c.method, c.path, tok, nilIfEmpty(c.body))
			p := wantProblem(t, r, http.StatusBadRequest, c.code, c.field)
			if strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), strings.ToLower(secret)) {
				t.Fatalf("got %s, want no trace of the client's name", r.body)
			}
			if c.field == "" && p["errors"] != nil {
				t.Fatalf("got errors %v, want none: no defined field is at fault", p["errors"])
			}
			if d, _ := p["detail"].(string); !strings.Contains(d, c.takes) {
				t.Fatalf("got detail %q, want it to list %q", d, c.takes)
			}
		})
	}
}

// nilIfEmpty is body for call: nil (no body) for "".
func nilIfEmpty(body string) any {
	if body == "" {
		return nil
	}
	return body
}

// TestAPIMemberNamesExactAndOnce: a body's member names match exactly,
// case included, and each is sent once, at any depth. Reading "NAME" as
// "name", or keeping the last of two "name"s, let one body mean one thing
// to whoever reviews or filters it and another to the server.
func TestAPIMemberNamesExactAndOnce(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok := e.apiToken("acme", "carol")
	admin := e.apiToken("acme", "alice", exchange.ScopePATs, exchange.ScopeAdmin)
	const me = "/api/v1/me/pats"
	state := func() string {
		t.Helper()
		return snapshot(t, []any{e.patsOf("acme", "carol"),
			string(e.call("GET", "/api/v1/admin/settings", admin, nil).body),
			string(e.call("GET", "/api/v1/admin/roles", admin, nil).body)})
	}
	for _, c := range []struct {
		name, method, path, token, body string
		code, field                     string // field: the defined member named, if any
		notEchoed                       string // client text the answer must not hold
	}{
		{"duplicate member is refused", "POST", me, tok, `{"name": "a", "scopes": ["OR.Jobs"], "name": "b"}`, "duplicate-member", "name", ""},
		{"duplicate member spelled with an escape is refused", "POST", me, tok, `{"name": "a", "scopes": ["OR.Jobs"], "n\u0061me": "b"}`, "duplicate-member", "name", ""},
		{"duplicate array member is refused", "POST", me, tok, `{"name": "a", "scopes": ["OR.Jobs"], "scopes": ["OR.Folders"]}`, "duplicate-member", "scopes", ""},
		{"differently-cased member is unknown", "POST", me, tok, `{"NaMe": "a", "scopes": ["OR.Jobs"]}`, "unknown-field", "", "NaMe"},
		{"differently-cased repeat of a member is unknown", "POST", me, tok, `{"name": "a", "scopes": ["OR.Jobs"], "NAME": "b", "scopes": ["OR.Folders"]}`, "unknown-field", "", "NAME"},
		{"nested duplicate is refused", "POST", me, tok, `{"name": "a", "scopes": ["OR.Jobs"], "expires_at": {"zzNested": 1, "zzNested": 2}}`, "duplicate-member", "", "zzNested"},
		{"duplicate in an object in an array is refused", "POST", me, tok, `{"name": "a", "scopes": [{"zzInArray": 1, "zzInArray": 2}]}`, "duplicate-member", "", "zzInArray"},
		{"repeated unknown member is not echoed", "POST", me, tok, `{"name": "a", "scopes": ["OR.Jobs"], "zzUnknown": 1, "zzUnknown": 2}`, "unknown-field", "", "zzUnknown"},
		{"duplicate member of a leaked-token report is refused", "POST", "/api/v1/leaked-tokens", "", `{"tokens": [], "tokens": ["pat_x"]}`, "duplicate-member", "tokens", ""},
		{"duplicate member of the settings is refused", "PUT", "/api/v1/admin/settings", admin, `{"pats_enabled": true, "pat_max_lifetime": "0", "pats_enabled": false}`, "duplicate-member", "pats_enabled", ""},
		{"duplicate member of a role is refused", "POST", "/api/v1/admin/roles", admin, `{"name": "r", "permissions": ["OR.Jobs"], "permissions": ["OR.Folders"]}`, "duplicate-member", "permissions", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := state()
			r := e.call(c.method, c.path, c.token, c.body)
			p := wantProblem(t, r, http.StatusBadRequest, c.code, c.field)
			if c.notEchoed != "" && strings.Contains(string(r.body), c.notEchoed) {
				t.Fatalf("got %s, want no trace of %q", r.body, c.notEchoed)
			}
			if c.field == "" && p["errors"] != nil {
				t.Fatalf("got errors %v, want none: no defined member is at fault", p["errors"])
			}
			if after := state(); after != before {
				t.Fatal("a refused body changed the store")
			}
		})
	}
}
