package authserver_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"authserver/authserver"
)

// Helpers of the console tests: a cookie-keeping HTTP client that signs
// in through the real sign-in form and posts forms with the page's CSRF
// token, as a browser without JavaScript would.

// consoleClient is one browser-like client of the console.
type consoleClient struct {
	e    *env
	http *http.Client
	// csrf is the CSRF token of the last signed-in page read.
	csrf string
}

func (e *env) consoleClient() *consoleClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &consoleClient{e: e, http: &http.Client{
		Jar:           jar,
		Transport:     e.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var (
	csrfMeta  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
	csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	patRE     = regexp.MustCompile(`pat_[0-9A-Za-z]{36}`)
)

// do sends a request with the client's cookies and remembers the CSRF
// token of the page it gets back.
func (c *consoleClient) do(req *http.Request) *response {
	c.e.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	r := &response{Response: resp}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	r.body = body
	if m := csrfMeta.FindSubmatch(r.body); m != nil {
		c.csrf = string(m[1])
	}
	return r
}

// get reads a console page.
func (c *consoleClient) get(path string) *response {
	c.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.e.url+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	return c.do(req)
}

// post submits a form as the console's own pages do: same-origin, with
// the current CSRF token unless the form sets csrf_token itself. header
// adds or overrides request headers.
func (c *consoleClient) post(path string, form url.Values, header ...string) *response {
	c.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf_token"]; !ok {
		form.Set("csrf_token", c.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, c.e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.e.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	return c.do(req)
}

// tryLogin submits the sign-in form (read first, for its token). A
// signed-in client is sent on by the sign-in page; it submits the form as
// a tab opened earlier would, with the token of its sign-in cookie.
func (c *consoleClient) tryLogin(org, user, password string) *response {
	c.e.t.Helper()
	page := c.get("/console/login")
	token := ""
	if m := csrfInput.FindSubmatch(page.body); m != nil {
		token = string(m[1])
	} else if token = c.jarCookie(authserver.ConsoleLoginCookie); token == "" {
		c.e.t.Fatalf("the sign-in page has no form token: %d %s", page.StatusCode, page.body)
	}
	return c.post("/console/login", url.Values{"csrf_token": {token},
		"organization": {org}, "username": {user}, "password": {password}})
}

// signIn signs in org/user with the bootstrap password "<user>-password"
// and reads My tokens, for its CSRF token.
func (c *consoleClient) signIn(org, user string) *consoleClient {
	c.e.t.Helper()
	resp := c.tryLogin(org, user, user+"-password")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/tokens" {
		c.e.t.Fatalf("sign-in of %s/%s: %d %s", org, user, resp.StatusCode, resp.body)
	}
	if page := c.get("/console/tokens"); page.StatusCode != http.StatusOK || c.csrf == "" {
		c.e.t.Fatalf("my tokens after sign-in: %d %s", page.StatusCode, page.body)
	}
	return c
}

// cookie is the client's current session cookie value ("" for none).
func (c *consoleClient) cookie() string { return c.jarCookie(authserver.ConsoleSessionCookie) }

func (c *consoleClient) jarCookie(name string) string {
	u, _ := url.Parse(c.e.url)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// sessionCookieOf returns the session cookie a response sets, or nil.
func sessionCookieOf(r *response) *http.Cookie {
	for _, ck := range r.Cookies() {
		if ck.Name == authserver.ConsoleSessionCookie {
			return ck
		}
	}
	return nil
}

// consoleLogin is a signed-in console session as an API client holds it:
// the cookie and the CSRF token the pages publish.
type consoleLogin struct {
	cookie, csrf string
}

// consoleSignIn signs org/user in through the console.
func (e *env) consoleSignIn(org, user string) *consoleLogin {
	e.t.Helper()
	c := e.consoleClient().signIn(org, user)
	return &consoleLogin{cookie: c.cookie(), csrf: c.csrf}
}

// wantPage fails unless a console answer has the status and contains
// every fragment.
func wantPage(t *testing.T, r *response, status int, fragments ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", r.StatusCode, status, r.body)
	}
	for _, f := range fragments {
		if !strings.Contains(string(r.body), f) {
			t.Fatalf("the page lacks %q: %s", f, r.body)
		}
	}
}
