//go:build !nolivecheck

package authserver_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/responses"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"authserver/exchange"
)

// The live check of docs/openapi.yaml: every response the end-to-end tests
// receive from the real server, for a documented operation, is validated
// against the document — the status is one the operation documents, the
// content type one the status documents, the body matches its schema and
// the documented headers theirs — and a mismatch fails the test that sent
// the request. Requests to undocumented paths or methods (the 404 and 405
// tests, the console) pass unchecked.

// openAPIModel is docs/openapi.yaml, parsed once per test binary.
type openAPIModel struct {
	model     *v3.Document
	opts      *config.ValidationOptions
	responses responses.ResponseBodyValidator
	// mu serializes validations: the tests send requests from several
	// goroutines, and the validator's caches are not documented as safe
	// for concurrent use.
	mu sync.Mutex
}

var (
	openAPIOnce   sync.Once
	openAPILoaded *openAPIModel
	openAPIErr    error
)

// loadOpenAPI parses docs/openapi.yaml into a response validator.
func loadOpenAPI() (*openAPIModel, error) {
	openAPIOnce.Do(func() {
		raw, err := os.ReadFile(openAPIPath)
		if err != nil {
			openAPIErr = err
			return
		}
		doc, err := libopenapi.NewDocument(raw)
		if err != nil {
			openAPIErr = fmt.Errorf("%s: %w", openAPIPath, err)
			return
		}
		m, err := doc.BuildV3Model()
		if err != nil {
			openAPIErr = fmt.Errorf("%s: %w", openAPIPath, err)
			return
		}
		opts := []config.Option{config.WithFormatAssertions()}
		openAPILoaded = &openAPIModel{model: &m.Model, opts: config.NewValidationOptions(opts...),
			responses: responses.NewResponseBodyValidator(&m.Model, opts...)}
	})
	return openAPILoaded, openAPIErr
}

// operation finds the documented operation a request is for: its path
// template, or "" when the document has no such path and method.
func (m *openAPIModel) operation(req *http.Request) (*v3.PathItem, string) {
	item, errs, path := paths.FindPath(req, m.model, m.opts)
	if item == nil || len(errs) > 0 || helpers.ExtractOperation(req, item) == nil {
		return nil, ""
	}
	return item, path
}

// operations lists every documented operation as "METHOD /path".
func (m *openAPIModel) operations() []string {
	var out []string
	for path, item := range m.model.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// documentedStatuses lists the status codes an operation documents.
func (m *openAPIModel) documentedStatuses(op string) []string {
	method, path, _ := strings.Cut(op, " ")
	item := m.model.Paths.PathItems.GetOrZero(path)
	if item == nil {
		return nil
	}
	o := item.GetOperations().GetOrZero(strings.ToLower(method))
	if o == nil || o.Responses == nil {
		return nil
	}
	var out []string
	for code := range o.Responses.Codes.KeysFromOldest() {
		out = append(out, code)
	}
	return out
}

// check validates one response; the response's body is read and put back.
// It answers the operation ("" when undocumented) and what is wrong.
func (m *openAPIModel) check(req *http.Request, resp *http.Response) (op string, problems []string) {
	item, path := m.operation(req)
	if item == nil {
		return "", nil
	}
	op = req.Method + " " + path
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return op, []string{"reading the body: " + err.Error()}
	}
	// The validator reads the body of the copy it is given.
	cp := *resp
	cp.Body = io.NopCloser(bytes.NewReader(body))
	m.mu.Lock()
	ok, errs := m.responses.ValidateResponseBodyWithPathItem(req, &cp, item, path)
	m.mu.Unlock()
	if ok {
		return op, nil
	}
	for _, e := range errs {
		p := e.Message
		if e.Reason != "" {
			p += ": " + e.Reason
		}
		for _, s := range e.SchemaValidationErrors {
			p += fmt.Sprintf("; at %s: %s", s.FieldPath, s.Reason)
		}
		problems = append(problems, p)
	}
	return op, problems
}

// openAPITransport validates every response to a documented operation
// against docs/openapi.yaml, failing t on a mismatch, and records which
// statuses each operation was seen to answer.
type openAPITransport struct {
	next  http.RoundTripper
	t     testing.TB
	model *openAPIModel

	mu   sync.Mutex
	seen map[string]map[int]bool // "METHOD /path" → statuses
}

func newOpenAPITransport(t testing.TB, next http.RoundTripper) *openAPITransport {
	t.Helper()
	m, err := loadOpenAPI()
	if err != nil {
		t.Fatalf("loading %s: %v", openAPIPath, err)
	}
	return &openAPITransport{next: next, t: t, model: m, seen: map[string]map[int]bool{}}
}

func (o *openAPITransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	op, problems := o.model.check(req, resp)
	if op == "" {
		return resp, nil
	}
	o.mu.Lock()
	if o.seen[op] == nil {
		o.seen[op] = map[int]bool{}
	}
	o.seen[op][resp.StatusCode] = true
	o.mu.Unlock()
	if len(problems) > 0 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		o.t.Errorf("%s answered %d (%s), which %s does not allow:\n  %s\n  body: %.400s",
			op, resp.StatusCode, resp.Header.Get("Content-Type"), openAPIPath, strings.Join(problems, "\n  "), body)
	}
	return resp, nil
}

// statuses returns the statuses op was seen to answer.
func (o *openAPITransport) statuses(op string) []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []int
	for s := range o.seen[op] {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// TestOpenAPICheckCanFail: the live check refuses a response that breaks
// the document — an undocumented status, an undocumented content type, a
// body against its schema, a missing required header — and passes one that
// keeps it, so a green run means the responses were really checked.
func TestOpenAPICheckCanFail(t *testing.T) {
	m, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	problem := `{"type":"https://authserver.dev/problems/not-found","title":"Not Found","status":404,"code":"not-found","detail":"x"}`
	oauthErr := `{"error":"invalid_client","error_description":"x"}`
	for _, c := range []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"valid problem", "GET", "/api/v1/me/pats/abc", 404, http.Header{"Content-Type": {"application/problem+json"}}, problem, true},
		{"undocumented status", "GET", "/api/v1/me/pats/abc", 418, http.Header{"Content-Type": {"application/problem+json"}}, problem, false},
		{"undocumented content type", "GET", "/api/v1/me/pats/abc", 404, http.Header{"Content-Type": {"text/html"}}, "<p>no</p>", false},
		{"body against the schema", "GET", "/api/v1/me/pats/abc", 404, http.Header{"Content-Type": {"application/problem+json"}}, `{"title":"Not Found"}`, false},
		{"valid OAuth error", "POST", "/oauth2/token", 401, http.Header{"Content-Type": {"application/json;charset=UTF-8"},
			"Www-Authenticate": {`Basic realm="authserver", charset="UTF-8"`}, "Cache-Control": {"no-store"}}, oauthErr, true},
		{"OAuth error with an extra member", "POST", "/oauth2/token", 400, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}},
			`{"error":"invalid_request","error_description":"x","error_debug":"y"}`, false},
		{"missing required header", "POST", "/oauth2/token", 401, http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}, oauthErr, false},
		{"unknown error code", "POST", "/oauth2/introspect", 400, http.Header{"Content-Type": {"application/json"}}, `{"error":"nope","error_description":"x"}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://127.0.0.1:1"+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(strings.NewReader(c.body)), Request: req}
			op, problems := m.check(req, resp)
			if op == "" {
				t.Fatalf("%s %s not found in the document", c.method, c.path)
			}
			if got := len(problems) == 0; got != c.ok {
				t.Fatalf("valid = %v, want %v; problems: %v", got, c.ok, problems)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != c.body {
				t.Fatalf("the body was not put back: %q", b)
			}
		})
	}
	// An undocumented path or method is not checked.
	for _, r := range [][2]string{{"GET", "/console/"}, {"PATCH", "/api/v1/me"}} {
		req, _ := http.NewRequest(r[0], "http://127.0.0.1:1"+r[1], nil)
		resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("x"))}
		if op, _ := m.check(req, resp); op != "" {
			t.Errorf("%s %s matched %q", r[0], r[1], op)
		}
	}
}

// TestOpenAPIEveryOperation sends every documented operation a request it
// grants and one it refuses, so that the live check above sees a success
// and a typical problem of each; it then fails for any documented
// operation that was not seen to answer both a 2xx and (where the
// operation documents one) a 4xx. An operation added to docs/openapi.yaml
// needs its two requests here.
func TestOpenAPIEveryOperation(t *testing.T) {
	e := newEnv(t, envOptions{noRateLimits: true})
	admin := e.apiToken("acme", "alice", exchange.ScopeAdmin, exchange.ScopePATs)
	self := e.apiToken("acme", "bob", exchange.ScopePATs)
	unknownID := "00000000-0000-7000-8000-000000000000"
	bob := e.user("acme", "bob")

	want := func(r *response, status int) map[string]any {
		t.Helper()
		if r.StatusCode != status {
			t.Fatalf("%s %s: status %d, want %d: %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
		}
		if len(r.body) == 0 || !strings.Contains(r.Header.Get("Content-Type"), "json") {
			return nil
		}
		return r.json(t)
	}
	id := func(m map[string]any) string {
		t.Helper()
		s, _ := m["id"].(string)
		if s == "" {
			t.Fatalf("no id in %v", m)
		}
		return s
	}

	// OAuth and discovery.
	pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", "OR.Folders"}})
	jwt := e.jwtFor(pat)
	want(e.exchange("pat_not-a-real-one", url.Values{"audience": {"orchestrator"}}), http.StatusBadRequest)
	want(e.introspect(pat), http.StatusOK)
	want(e.introspect(jwt), http.StatusOK)
	want(e.introspect("pat_not-a-real-one"), http.StatusOK)
	want(e.post("/oauth2/introspect", url.Values{"token": {pat}}, "", ""), http.StatusUnauthorized)
	want(e.post("/oauth2/introspect", url.Values{"token": {pat}}, "gateway", gatewaySecret), http.StatusForbidden)
	want(e.post("/oauth2/introspect", url.Values{}, "introspector", introspectorSecret), http.StatusBadRequest)
	want(e.revoke(jwt), http.StatusBadRequest)
	want(e.revoke(pat), http.StatusOK)
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/.well-known/jwks.json",
		"/.well-known/oauth-protected-resource"} {
		want(e.call("GET", p, "", nil), http.StatusOK)
	}

	// Self-service.
	want(e.call("GET", "/api/v1/me", self, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/me", "", nil), http.StatusUnauthorized)
	want(e.call("GET", "/api/v1/scopes", self, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/scopes", "not-a-token", nil), http.StatusUnauthorized)
	created := want(e.call("POST", "/api/v1/me/pats", self, map[string]any{"name": "laptop", "scopes": []string{"OR.Jobs"}}), http.StatusCreated)
	want(e.call("POST", "/api/v1/me/pats", self, map[string]any{"name": "", "scopes": []string{"OR.Jobs"}}), http.StatusBadRequest)
	want(e.call("GET", "/api/v1/me/pats?status=active", self, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/me/pats?limit=0", self, nil), http.StatusBadRequest)
	mine := id(created)
	want(e.call("GET", "/api/v1/me/pats/"+mine, self, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/me/pats/"+unknownID, self, nil), http.StatusNotFound)
	want(e.call("GET", "/api/v1/me/pats/"+mine+"/effective?audience=orchestrator", self, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/me/pats/"+mine+"/effective", self, nil), http.StatusBadRequest)
	regenerated := want(e.call("POST", "/api/v1/me/pats/"+mine+"/regenerate", self, nil), http.StatusOK)
	want(e.call("POST", "/api/v1/me/pats/"+mine+"/regenerate", self, nil), http.StatusConflict) // now revoked
	want(e.call("DELETE", "/api/v1/me/pats/"+id(regenerated), self, nil), http.StatusOK)
	want(e.call("DELETE", "/api/v1/me/pats/"+unknownID, self, nil), http.StatusNotFound)

	want(e.call("PUT", "/api/v1/me/password", self, map[string]any{"current_password": "bob-password", "password": "a new and long passphrase"}), http.StatusNoContent)
	want(e.call("PUT", "/api/v1/me/password", self, map[string]any{"current_password": "wrong", "password": "another long passphrase"}), http.StatusBadRequest)
	want(e.call("PUT", "/api/v1/me/email", self, map[string]any{"email": "bob@example.com"}), http.StatusOK)
	want(e.call("PUT", "/api/v1/me/email", self, map[string]any{"email": "Bob <bob@example.com>"}), http.StatusBadRequest)

	// Admin.
	want(e.call("GET", "/api/v1/admin/settings", admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/settings", self, nil), http.StatusForbidden)
	want(e.call("PUT", "/api/v1/admin/settings", admin, map[string]any{"pats_enabled": true, "pat_max_lifetime": "0"}), http.StatusOK)
	want(e.call("PUT", "/api/v1/admin/settings", admin, map[string]any{"pats_enabled": true}), http.StatusBadRequest)
	want(e.call("PUT", "/api/v1/admin/settings", admin, map[string]any{"pats_enabled": true, "pat_max_lifetime": "0",
		"expiry_notice_days": []int{14, 3}, "pat_idle_revoke_after": "90d"}), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/pats?owner="+bob.ID, admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/pats?owner="+unknownID, admin, nil), http.StatusNotFound)
	_, victimRec := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
	want(e.call("POST", "/api/v1/admin/pats/revoke", admin, map[string]any{"ids": []string{victimRec.ID, unknownID}}), http.StatusOK)
	want(e.call("POST", "/api/v1/admin/pats/revoke", admin, map[string]any{"ids": []string{}}), http.StatusBadRequest)
	leaked, _ := e.pat(patSpec{org: "acme", user: "bob", scopes: []string{"OR.Jobs"}})
	want(e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]any{"token": leaked}), http.StatusOK)
	want(e.call("POST", "/api/v1/admin/pats/revoke-by-value", admin, map[string]any{"token": "pat_not-a-real-one"}), http.StatusNotFound)

	want(e.call("GET", "/api/v1/admin/users?status=active", admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/users?status=sleeping", admin, nil), http.StatusBadRequest)
	user := want(e.call("POST", "/api/v1/admin/users", admin, map[string]any{"username": "frank", "password": "a long enough passphrase"}), http.StatusCreated)
	want(e.call("POST", "/api/v1/admin/users", admin, map[string]any{"username": "frank"}), http.StatusConflict)
	frank := id(user)
	want(e.call("POST", "/api/v1/admin/users/"+frank+"/deactivate", admin, nil), http.StatusOK)
	want(e.call("POST", "/api/v1/admin/users/"+unknownID+"/deactivate", admin, nil), http.StatusNotFound)
	want(e.call("POST", "/api/v1/admin/users/"+frank+"/reactivate", admin, nil), http.StatusOK)
	want(e.call("POST", "/api/v1/admin/users/"+unknownID+"/reactivate", admin, nil), http.StatusNotFound)
	want(e.call("POST", "/api/v1/admin/users/"+frank+"/password", admin, map[string]any{"set_password_link": true}), http.StatusOK)
	want(e.call("POST", "/api/v1/admin/users/"+frank+"/password", admin, map[string]any{"password": "short"}), http.StatusBadRequest)
	want(e.call("GET", "/api/v1/admin/users/"+bob.ID+"/access", admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/users/"+unknownID+"/access", admin, nil), http.StatusNotFound)
	want(e.call("PUT", "/api/v1/admin/users/"+frank+"/email", admin, map[string]any{"email": "frank@example.com"}), http.StatusOK)
	want(e.call("PUT", "/api/v1/admin/users/"+unknownID+"/email", admin, map[string]any{"email": "x@example.com"}), http.StatusNotFound)

	want(e.call("GET", "/api/v1/admin/roles", admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/roles", self, nil), http.StatusForbidden)
	role := want(e.call("POST", "/api/v1/admin/roles", admin, map[string]any{"name": "Ops", "permissions": []string{"OR.Jobs"}}), http.StatusCreated)
	want(e.call("POST", "/api/v1/admin/roles", admin, map[string]any{"name": "Ops", "permissions": []string{"OR.Jobs"}}), http.StatusConflict)
	ops := id(role)
	want(e.call("PUT", "/api/v1/admin/roles/"+ops, admin, map[string]any{"name": "Operations", "permissions": []string{"OR.Jobs", "OR.Execution"}}), http.StatusOK)
	want(e.call("PUT", "/api/v1/admin/roles/"+unknownID, admin, map[string]any{"name": "X", "permissions": []string{"OR.Jobs"}}), http.StatusNotFound)

	assignment := want(e.call("POST", "/api/v1/admin/assignments", admin, map[string]any{"user_id": frank, "role_id": ops, "folder": "Finance"}), http.StatusCreated)
	want(e.call("POST", "/api/v1/admin/assignments", admin, map[string]any{"user_id": unknownID, "role_id": ops}), http.StatusNotFound)
	want(e.call("GET", "/api/v1/admin/assignments?user_id="+frank, admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/assignments?user_id="+unknownID, admin, nil), http.StatusNotFound)
	want(e.call("DELETE", "/api/v1/admin/assignments/"+id(assignment), admin, nil), http.StatusNoContent)
	want(e.call("DELETE", "/api/v1/admin/assignments/"+unknownID, admin, nil), http.StatusNotFound)
	want(e.call("POST", "/api/v1/admin/assignments", admin, map[string]any{"user_id": frank, "role_id": ops}), http.StatusCreated)
	want(e.call("DELETE", "/api/v1/admin/roles/"+ops, admin, nil), http.StatusConflict) // assigned, not confirmed
	want(e.call("DELETE", "/api/v1/admin/roles/"+ops+"?confirm=true", admin, nil), http.StatusNoContent)
	want(e.call("DELETE", "/api/v1/admin/roles/"+unknownID, admin, nil), http.StatusNotFound)

	want(e.call("GET", "/api/v1/admin/audit?action=pat.create", admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/audit?since=yesterday", admin, nil), http.StatusBadRequest)

	want(e.call("GET", "/api/v1/admin/webhooks", admin, nil), http.StatusOK)
	want(e.call("GET", "/api/v1/admin/webhooks", self, nil), http.StatusForbidden)
	hook := want(e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": "https://hooks.example/in", "event_types": []string{"pat.revoked"}}), http.StatusCreated)
	want(e.call("POST", "/api/v1/admin/webhooks", admin, map[string]any{"url": "http://hooks.example/in"}), http.StatusBadRequest)
	want(e.call("DELETE", "/api/v1/admin/webhooks/"+id(hook), admin, nil), http.StatusNoContent)
	want(e.call("DELETE", "/api/v1/admin/webhooks/"+unknownID, admin, nil), http.StatusNotFound)

	// Leaked-token reports.
	want(e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": []string{"pat_not-a-real-one"}}), http.StatusAccepted)
	want(e.call("POST", "/api/v1/leaked-tokens", "", map[string]any{"tokens": "pat_not-a-real-one"}), http.StatusBadRequest)

	// Every documented operation was seen to succeed and to refuse.
	for _, op := range e.openAPI.model.operations() {
		documents4xx := slices.ContainsFunc(e.openAPI.model.documentedStatuses(op), func(c string) bool { return c[0] == '4' })
		seen := e.openAPI.statuses(op)
		if !slices.ContainsFunc(seen, func(s int) bool { return s/100 == 2 }) {
			t.Errorf("%s: no successful response checked (seen %v); add a request to this test", op, seen)
		}
		if documents4xx && !slices.ContainsFunc(seen, func(s int) bool { return s/100 == 4 }) {
			t.Errorf("%s: no refusal checked (seen %v); add a request to this test", op, seen)
		}
	}
}
