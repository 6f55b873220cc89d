package authserver_test

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"authserver/authserver"
)

// openAPIPath is the OpenAPI document of the management API.
const openAPIPath = "../docs/openapi.yaml"

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// protocolRoutes are the OAuth and discovery endpoints of the public
// listener (docs/endpoints.md), which docs/openapi.yaml documents besides
// the management API's route table.
var protocolRoutes = []authserver.APIRoute{
	{Method: "POST", Path: "/oauth2/token"},
	{Method: "POST", Path: "/oauth2/introspect"},
	{Method: "POST", Path: "/oauth2/revoke"},
	{Method: "GET", Path: "/.well-known/oauth-authorization-server"},
	{Method: "GET", Path: "/.well-known/openid-configuration"},
	{Method: "GET", Path: "/.well-known/jwks.json"},
	{Method: "GET", Path: "/.well-known/oauth-protected-resource"},
}

// TestOpenAPIMatchesRoutes: docs/openapi.yaml documents exactly the routes
// the server serves — every documented API operation is served (an
// unauthenticated request gets 401, never 404 or 405), every route of the
// table the mux is built from is documented, and so is every OAuth and
// discovery endpoint, each answering a bare request with neither 404 nor
// 405 — and the document holds together (OpenAPI 3.1, every $ref
// resolves, every path parameter declared, every operation answers
// something).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s is not YAML: %v", openAPIPath, err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Fatalf("openapi %q, want 3.1.x", v)
	}
	checkRefs(t, doc, doc, "#")

	paths, _ := doc["paths"].(map[string]any)
	documented := map[authserver.APIRoute]bool{}
	public := map[authserver.APIRoute]bool{} // security: [] — no credentials
	operationIDs := map[string]bool{}
	params := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for _, m := range httpMethods {
			op, ok := ops[m].(map[string]any)
			if !ok {
				continue
			}
			route := authserver.APIRoute{Method: strings.ToUpper(m), Path: path}
			documented[route] = true
			if sec, ok := op["security"].([]any); ok && len(sec) == 0 {
				public[route] = true
			}
			id, _ := op["operationId"].(string)
			if id == "" || operationIDs[id] {
				t.Errorf("%v: missing or duplicate operationId %q", route, id)
			}
			operationIDs[id] = true
			if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
				t.Errorf("%v: no responses", route)
			}
			declared := map[string]bool{}
			for _, list := range []any{ops["parameters"], op["parameters"]} {
				ps, _ := list.([]any)
				for _, p := range ps {
					p := resolve(t, doc, p)
					if p["in"] == "path" {
						declared[p["name"].(string)] = true
					}
				}
			}
			for _, m := range params.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%v: path parameter %s not declared", route, m[1])
				}
			}
		}
	}

	served := map[authserver.APIRoute]bool{}
	for _, r := range authserver.APIRoutes() {
		served[r] = true
		if !documented[r] {
			t.Errorf("%s %s is served but not documented in %s", r.Method, r.Path, openAPIPath)
		}
	}
	protocol := map[authserver.APIRoute]bool{}
	for _, r := range protocolRoutes {
		protocol[r] = true
		if !documented[r] {
			t.Errorf("%s %s is served but not documented in %s", r.Method, r.Path, openAPIPath)
		}
	}
	for r := range documented {
		if !served[r] && !protocol[r] {
			t.Errorf("%s %s is documented but neither in the API's route table nor an OAuth or discovery endpoint", r.Method, r.Path)
		}
	}

	// Every documented operation is served by the real server: without
	// credentials it is 401, where an unknown route is 404 and a wrong
	// method 405 whatever the credentials. A public operation (security:
	// []) is served without credentials: a request without a body is
	// refused for its body (400 or 415), not for its credentials.
	e := newEnv(t, envOptions{})
	for r := range documented {
		path := params.ReplaceAllString(r.Path, "00000000-0000-7000-8000-000000000000")
		resp := e.call(r.Method, path, "", nil)
		if protocol[r] {
			// The OAuth endpoints refuse a bare POST for its body (400),
			// discovery answers it (200): either way, served.
			if slices.Contains([]int{http.StatusNotFound, http.StatusMethodNotAllowed}, resp.StatusCode) {
				t.Errorf("%s %s answers %d: not served", r.Method, r.Path, resp.StatusCode)
			}
			continue
		}
		if public[r] {
			if !slices.Contains([]int{http.StatusBadRequest, http.StatusUnsupportedMediaType}, resp.StatusCode) {
				t.Errorf("%s %s (public) answers %d without a body, want 400 or 415: %s", r.Method, r.Path, resp.StatusCode, resp.body)
			}
			continue
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s answers %d without credentials, want 401 (a served route): %s", r.Method, r.Path, resp.StatusCode, resp.body)
		}
	}
	// And the check can fail: an undocumented path or method is not served.
	for _, r := range []authserver.APIRoute{{Method: "GET", Path: "/api/v1/undocumented"}, {Method: "PATCH", Path: "/api/v1/me"},
		{Method: "GET", Path: "/oauth2/token"}, {Method: "POST", Path: "/.well-known/jwks.json"}, {Method: "GET", Path: "/oauth2/undocumented"}} {
		if got := e.call(r.Method, r.Path, "", nil).StatusCode; !slices.Contains([]int{404, 405}, got) {
			t.Errorf("%s %s answers %d, want 404 or 405", r.Method, r.Path, got)
		}
	}
}

// checkRefs fails for every $ref in v that does not resolve within doc.
func checkRefs(t *testing.T, doc, v any, at string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			if lookup(doc, ref) == nil {
				t.Errorf("%s: $ref %s does not resolve", at, ref)
			}
		}
		for k, c := range x {
			checkRefs(t, doc, c, at+"/"+k)
		}
	case []any:
		for _, c := range x {
			checkRefs(t, doc, c, at+"/[]")
		}
	}
}

// resolve follows a $ref, if v is one.
func resolve(t *testing.T, doc, v any) map[string]any {
	t.Helper()
	m, _ := v.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		r, _ := lookup(doc, ref).(map[string]any)
		if r == nil {
			t.Fatalf("$ref %s does not resolve", ref)
		}
		return r
	}
	return m
}

// lookup resolves a local JSON pointer such as #/components/schemas/PAT.
func lookup(doc any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}
