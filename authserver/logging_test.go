package authserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"authserver/exchange"
	"authserver/internal/rfc8693"
)

// logLines parses the captured JSON log.
func (e *env) logLines() []map[string]any {
	e.t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			e.t.Fatalf("log line is not JSON (%v): %s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// linesOf returns the log lines of one request.
func (e *env) linesOf(requestID string) []map[string]any {
	var out []map[string]any
	for _, l := range e.logLines() {
		if l["request_id"] == requestID {
			out = append(out, l)
		}
	}
	return out
}

// withID sends a request with an X-Request-Id header ("" for none).
func (e *env) withID(req *http.Request, id string) *response {
	e.t.Helper()
	if id != "" {
		req.Header.Set("X-Request-Id", id)
	}
	return e.do(req)
}

// unknownExchange is a refused exchange request (an unknown PAT), which
// logs a line besides the access log.
func (e *env) unknownExchange() *http.Request {
	e.t.Helper()
	unknown, _ := exchange.NewPAT(e.cfg.Tokens.PATPrefix, nil)
	form := url.Values{"grant_type": {rfc8693.GrantType}, "subject_token": {unknown},
		"subject_token_type": {rfc8693.TokenTypeAccessToken}, "client_id": {"cli"}, "audience": {"orchestrator"}}
	req, err := http.NewRequest(http.MethodPost, e.url+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestID: a well-formed X-Request-Id is kept, anything else is
// replaced by a generated one; either way it is echoed and names every
// log line of the request.
func TestRequestID(t *testing.T) {
	e := newEnv(t, envOptions{})
	pat, _ := exchange.NewPAT(e.cfg.Tokens.PATPrefix, nil)
	for _, c := range []struct {
		name, sent string
		kept       bool
	}{
		{"a client's id is kept", "req-42.A_b", true},
		{"an id of 128 characters is kept", strings.Repeat("a", 128), true},
		{"no id: one is generated", "", false},
		{"an id of 129 characters is replaced", strings.Repeat("a", 129), false},
		{"an id with a space is replaced", "bad id", false},
		{"an id with a quote is replaced", `x"y`, false},
		{"an id with non-ASCII is replaced", "idé", false},
		{"a PAT sent as the id is replaced, never logged", pat, false},
		{"a JWT-shaped id is replaced", "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := e.withID(e.unknownExchange(), c.sent)
			got := resp.Header.Get("X-Request-Id")
			switch {
			case c.kept && got != c.sent:
				t.Fatalf("X-Request-Id %q, want %q echoed", got, c.sent)
			case !c.kept && !generatedID.MatchString(got):
				t.Fatalf("X-Request-Id %q, want a generated id (32 hex digits)", got)
			}
			var msgs []string
			for _, l := range e.linesOf(got) {
				msgs = append(msgs, l["msg"].(string))
			}
			slices.Sort(msgs)
			if want := []string{"http request", "token exchange refused"}; !slices.Equal(msgs, want) {
				t.Fatalf("lines of request %s: %v, want %v", got, msgs, want)
			}
		})
	}
	if strings.Contains(e.logs.String(), pat) {
		t.Fatal("a PAT sent as the request id reached the log")
	}
	a, b := e.withID(e.unknownExchange(), ""), e.withID(e.unknownExchange(), "")
	if a.Header.Get("X-Request-Id") == b.Header.Get("X-Request-Id") {
		t.Fatal("two requests got the same generated id")
	}
}

// TestEveryRequestLineHasItsRequestID: whatever handler logs, it logs with
// the request's context, so every line it writes names the request.
func TestEveryRequestLineHasItsRequestID(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	api := e.apiToken("acme", "alice")
	form := func(path string, v url.Values, id, secret string) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if id != "" {
			req.SetBasicAuth(id, secret)
		}
		return req
	}
	apiReq := func(path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+api)
		return req
	}
	// Each request, the id it is sent with, and a line its handler logs.
	steps := []struct {
		id, msg string
		req     func() *http.Request
		closeDB bool
	}{
		{"refused-exchange", "token exchange refused", e.unknownExchange, false},
		{"refused-introspection", "introspection refused", func() *http.Request {
			return form("/oauth2/introspect", url.Values{"token": {tok}}, "introspector", "wrong-secret")
		}, false},
		{"holder-revocation", "pat revoked by its holder", func() *http.Request {
			return form("/oauth2/revoke", url.Values{"token": {tok}, "client_id": {"cli"}}, "", "")
		}, false},
		{"api-down", "management API request failed", func() *http.Request { return apiReq("/api/v1/me/pats") }, true},
		{"exchange-down", "token exchange failed", func() *http.Request {
			tok2, _ := exchange.NewPAT(e.cfg.Tokens.PATPrefix, nil)
			return form("/oauth2/token", url.Values{"grant_type": {rfc8693.GrantType}, "subject_token": {tok2},
				"subject_token_type": {rfc8693.TokenTypeAccessToken}, "client_id": {"cli"}, "audience": {"orchestrator"}}, "", "")
		}, true},
	}
	for _, s := range steps {
		if s.closeDB && !e.storeClosed {
			e.closeStore()
		}
		if got := e.withID(s.req(), s.id).Header.Get("X-Request-Id"); got != s.id {
			t.Fatalf("%s: X-Request-Id %q", s.id, got)
		}
	}

	ours := map[string]bool{}
	for _, s := range steps {
		ours[s.id] = true
		var msgs []string
		for _, l := range e.linesOf(s.id) {
			msgs = append(msgs, l["msg"].(string))
		}
		if !slices.Contains(msgs, s.msg) || !slices.Contains(msgs, "http request") {
			t.Errorf("request %s logged %v, want %q and the access line", s.id, msgs, s.msg)
		}
	}
	// No handler line goes without its request id.
	for _, l := range e.logLines() {
		msg, _ := l["msg"].(string)
		// The outbox's dispatcher works behind every request, and its
		// lines ("outbox: … failed" once the database is gone) belong to
		// none.
		handlerLine := (msg == "http request" || strings.HasSuffix(msg, " refused") || strings.HasSuffix(msg, " failed") ||
			strings.HasPrefix(msg, "pat ") || strings.HasPrefix(msg, "management API")) && !strings.HasPrefix(msg, "outbox: ")
		if !handlerLine || l["level"] == "DEBUG" && msg == "http request" {
			continue
		}
		id, _ := l["request_id"].(string)
		if !ours[id] && !generatedID.MatchString(id) {
			t.Errorf("a request's line without its request id: %v", l)
		}
	}
}

// TestAccessLog: one line per request with the route pattern, never the
// path, query, headers or body; telemetry requests at debug level only.
func TestAccessLog(t *testing.T) {
	e := newEnv(t, envOptions{})
	tok, p := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs"}})
	api := e.apiToken("acme", "alice")
	fields := []string{"time", "level", "msg", "method", "route", "status", "bytes", "duration_ms", "client_addr", "request_id"}

	access := func(t *testing.T, id string) map[string]any {
		t.Helper()
		var found []map[string]any
		for _, l := range e.linesOf(id) {
			if l["msg"] == "http request" {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%d access lines for request %s, want 1", len(found), id)
		}
		var keys []string
		for k := range found[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := slices.Sorted(slices.Values(fields))
		if !slices.Equal(keys, want) {
			t.Fatalf("access line has %v, want exactly %v", keys, want)
		}
		return found[0]
	}

	t.Run("a route with a parameter is logged as its pattern", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/api/v1/me/pats/"+p.ID+"?verbose=1", nil)
		req.Header.Set("Authorization", "Bearer "+api)
		resp := e.withID(req, "access-1")
		l := access(t, "access-1")
		if l["method"] != "GET" || l["route"] != "GET /api/v1/me/pats/{id}" || l["status"] != float64(resp.StatusCode) ||
			l["bytes"] != float64(len(resp.body)) || l["client_addr"] != "127.0.0.1" || l["level"] != "INFO" {
			t.Fatalf("access line %v for a %d answer of %d bytes", l, resp.StatusCode, len(resp.body))
		}
		if d, ok := l["duration_ms"].(float64); !ok || d < 0 {
			t.Fatalf("duration_ms %v", l["duration_ms"])
		}
		line, _ := json.Marshal(l)
		if strings.Contains(string(line), p.ID) || strings.Contains(string(line), "verbose") {
			t.Fatalf("the access line holds the path or query: %s", line)
		}
	})

	t.Run("a token in a query string or a path is never logged", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/oauth2/token?subject_token="+tok+"&client_secret="+gatewaySecret, nil)
		e.withID(req, "access-2")
		if l := access(t, "access-2"); l["route"] != "/oauth2/token" || l["status"] != float64(http.StatusMethodNotAllowed) {
			t.Fatalf("access line %v", l)
		}
		req, _ = http.NewRequest(http.MethodGet, e.url+"/tokens/"+tok, nil)
		e.withID(req, "access-3")
		if l := access(t, "access-3"); l["route"] != "not_found" || l["status"] != float64(http.StatusNotFound) {
			t.Fatalf("access line %v", l)
		}
		if logs := e.logs.String(); strings.Contains(logs, tok) || strings.Contains(logs, gatewaySecret) {
			t.Fatal("a token or secret from a URL reached the log")
		}
	})

	t.Run("telemetry requests are logged at debug only", func(t *testing.T) {
		for i, path := range []string{"/healthz", "/readyz", "/metrics"} {
			id := "telemetry-" + string(rune('a'+i))
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.Header.Set("X-Request-Id", id)
			rec := httptest.NewRecorder()
			e.srv.TelemetryHandler().ServeHTTP(rec, req)
			if rec.Header().Get("X-Request-Id") != id {
				t.Fatalf("GET %s: X-Request-Id %q", path, rec.Header().Get("X-Request-Id"))
			}
			if l := access(t, id); l["level"] != "DEBUG" || l["route"] != "GET "+path {
				t.Fatalf("GET %s logged %v, want at DEBUG", path, l)
			}
		}
	})
}
