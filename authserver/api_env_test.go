package authserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"authserver/authserver"
	"authserver/exchange"
	"authserver/internal/duration"
	"authserver/storage"
)

// Helpers of the management API tests.

const problemBase = "https://authserver.dev/problems/"

// apiToken exchanges a fresh PAT of org/user holding scopes for an API
// token (audience = the issuer, client cli), as a real client would.
func (e *env) apiToken(org, user string, scopes ...string) string {
	e.t.Helper()
	if len(scopes) == 0 {
		scopes = []string{exchange.ScopePATs}
	}
	pat, _ := e.pat(patSpec{org: org, user: user, scopes: scopes})
	return e.exchangeForAPI(pat)
}

// exchangeForAPI exchanges a PAT for an API token.
func (e *env) exchangeForAPI(pat string) string {
	e.t.Helper()
	resp := e.exchange(pat, url.Values{"audience": {e.url}})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("exchange for the API: %d %s", resp.StatusCode, resp.body)
	}
	tok, _ := resp.json(e.t)["access_token"].(string)
	return tok
}

// call sends a JSON request to the API with a bearer token ("" for none).
// body is marshalled unless it is a string or []byte (sent as is).
func (e *env) call(method, path, token string, body any) *response {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	return e.send(method, path, token, ct, raw)
}

// send sends a request with an explicit content type.
func (e *env) send(method, path, token, contentType string, body []byte) *response {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequest(method, e.url+path, rd)
	} else {
		req, err = http.NewRequest(method, e.url+path, nil)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// callSession sends a JSON request authenticated by a console session, as
// a page script would: the cookie, and for unsafe methods the session's
// CSRF token in X-CSRF-Token.
func (e *env) callSession(method, path string, s *consoleLogin, body any) *response {
	e.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	var req *http.Request
	var err error
	if rd != nil {
		req, err = http.NewRequest(method, e.url+path, rd)
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, err = http.NewRequest(method, e.url+path, nil)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: authserver.ConsoleSessionCookie, Value: s.cookie})
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set(authserver.ConsoleCSRFHeader, s.csrf)
	}
	return e.do(req)
}

// wantStatus fails unless the response has the status.
func wantStatus(t *testing.T, r *response, status int) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json: %s", ct, r.body)
	}
	return r.json(t)
}

// wantProblem fails unless the response is an RFC 9457 problem with the
// status and code, and, when field is not empty, naming the field.
func wantProblem(t *testing.T, r *response, status int, code, field string) map[string]any {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	p := r.json(t)
	if p["type"] != problemBase+code || p["code"] != code {
		t.Fatalf("problem type %v code %v, want %s%s: %s", p["type"], p["code"], problemBase, code, r.body)
	}
	if p["status"] != float64(status) || p["title"] != http.StatusText(status) {
		t.Fatalf("problem status %v title %v, want %d %q", p["status"], p["title"], status, http.StatusText(status))
	}
	if d, _ := p["detail"].(string); d == "" {
		t.Fatalf("problem without detail: %s", r.body)
	}
	if field != "" {
		errs, _ := p["errors"].([]any)
		found := false
		for _, fe := range errs {
			if m, _ := fe.(map[string]any); m["field"] == field && m["detail"] != "" {
				found = true
			}
		}
		if !found {
			t.Fatalf("problem does not name field %q: %s", field, r.body)
		}
	}
	return p
}

// items returns the items of a list answer.
func items(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	raw, ok := m["items"].([]any)
	if !ok {
		t.Fatalf("no items array: %v", m)
	}
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i], _ = v.(map[string]any)
	}
	return out
}

// ids returns the "id" of each item.
func ids(list []map[string]any) []string {
	out := make([]string, len(list))
	for i, m := range list {
		out[i], _ = m["id"].(string)
	}
	return out
}

// patsOf lists a user's PATs straight from the store, for "nothing
// changed" assertions. The last use (time, address, client) and the
// recent networks are cleared: exchanges move them behind the request,
// whatever the API does.
func (e *env) patsOf(org, user string) []storage.PAT {
	e.t.Helper()
	u := e.user(org, user)
	list, err := e.store.ListPATs(ctx, storage.PATFilter{OrgID: u.OrgID, UserID: u.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range list {
		list[i].LastUsedAt, list[i].LastUsedAddr, list[i].LastUsedClient = nil, "", ""
		list[i].RecentNetworks = nil
	}
	return list
}

// snapshot renders store state for equality checks.
func snapshot(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setSettings changes an organization's settings straight in the store.
func (e *env) setSettings(org string, enabled bool, maxLifetime string) {
	e.t.Helper()
	o, err := e.store.GetOrganization(ctx, e.orgIDs[org])
	if err != nil {
		e.t.Fatal(err)
	}
	o.PATsEnabled = enabled
	o.PATMaxLifetime = 0
	if maxLifetime != "0" {
		d, err := duration.Parse(maxLifetime)
		if err != nil {
			e.t.Fatal(err)
		}
		o.PATMaxLifetime = d
	}
	if err := e.store.UpdateOrganization(ctx, o); err != nil {
		e.t.Fatal(err)
	}
}

// exchangeOK reports whether a PAT can be exchanged for orchestrator now.
func (e *env) exchangeOK(token string) bool {
	e.t.Helper()
	resp := e.exchange(token, url.Values{"audience": {"orchestrator"}})
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusBadRequest:
		if got := resp.json(e.t)["error"]; got != "invalid_request" {
			e.t.Fatalf("refused exchange answered %v, want invalid_request", got)
		}
		return false
	}
	e.t.Fatalf("exchange: %d %s", resp.StatusCode, resp.body)
	return false
}

// strs converts a JSON array of strings.
func strs(v any) []string {
	raw, _ := v.([]any)
	out := make([]string, 0, len(raw))
	for _, x := range raw {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func sortedEqual(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
