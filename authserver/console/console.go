// Package console is the web console under /console/: server-rendered HTML
// for people: sign-in, their own PATs, and for admins the organization's
// PATs, users, settings and audit log.
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"authserver/authserver/session"
	"authserver/governance"
	"authserver/internal/duration"
	"authserver/internal/httpx"
	"authserver/internal/ratelimit"
	"authserver/internal/refusal"
	"authserver/storage"
)

// The web console is server-rendered HTML for people:
// sign-in, their own PATs, and for admins the organization's PATs, users,
// settings and audit log. Like the management API it decodes a request,
// asks governance.Service and renders the answer: every lifecycle and
// governance rule lives there, never here.
//
// Templates and static files are embedded and parsed once, in New: a
// missing or broken template stops start-up rather than failing a page at
// run time. There is no front-end build step and no inline script (the
// Content-Security-Policy forbids it); console.js only copies to the
// clipboard, opens confirmation dialogs and toggles select-all boxes, and
// every form works without it.

//go:embed web/templates/*.html web/static/*
var consoleFiles embed.FS

// consoleWebFS is the embedded tree the console reads: templates/ and
// static/.
func consoleWebFS() fs.FS {
	sub, err := fs.Sub(consoleFiles, "web")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// consolePages are the page templates the console renders; each is
// templates/<name>.html and defines "title" and "content" for the layout.
var consolePages = []string{
	"login", "error",
	"tokens", "token_new", "token_reveal", "token", "token_regenerate",
	"org_tokens", "org_users", "org_settings", "org_audit",
	"org_roles", "org_role", "org_user",
	"user_link", "user_password", "password", "set_password",
}

// consoleStatic are the static files the pages link to.
var consoleStatic = []string{"console.css", "console.js"}

// consoleCSP is the Content-Security-Policy of every console answer: no
// inline script or style, nothing framed, forms only to this origin.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// maxConsoleForm bounds every console form body.
const maxConsoleForm = 64 << 10

// Sessions are the console sessions (session.Sessions), shared with the
// management API.
type Sessions interface {
	Get(r *http.Request) (*storage.Session, error)
	Start(w http.ResponseWriter, r *http.Request, userID, orgID string) error
	Rotate(ctx context.Context, w http.ResponseWriter, old *storage.Session) (*storage.Session, error)
	End(r *http.Request, s *storage.Session)
	Delete(ctx context.Context, s *storage.Session) error
	CookieName(base string) string
	SetCookie(w http.ResponseWriter, base, value string, maxAge int)
	ClearCookie(w http.ResponseWriter)
}

var _ Sessions = (*session.Sessions)(nil)

// Auditor takes the audit events of sign-ins and sign-outs, written behind
// the request.
type Auditor interface {
	Add(e storage.AuditEvent)
}

// Options are the dependencies of the console; all but Files and
// Passwords are required.
type Options struct {
	Gov      *governance.Service
	Catalog  *governance.Catalog
	Sessions Sessions
	Log      *slog.Logger
	Audit    Auditor
	Now      func() time.Time
	Prefix   string // the PAT prefix, for the revoke-by-value placeholder
	// Issuer is the server's public base URL, that set-password links
	// start with.
	Issuer string
	Files  fs.FS // templates/ and static/; nil: the embedded ones
	// Passwords is the budget of password guesses (sign-in, and the change
	// of one's own password), shared with the API; nil limits nothing.
	Passwords *ratelimit.Passwords
}

// Handler serves /console/ (and redirects / to it).
type Handler struct {
	c *console
}

// New parses every template and reads every static file; any one missing
// or broken is an error.
func New(o Options) (*Handler, error) {
	c, err := newConsole(o)
	if err != nil {
		return nil, err
	}
	return &Handler{c: c}, nil
}

// Mount serves the console's routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) { h.c.routes(mux) }

// Route is a method and a path pattern of a signed-in console route.
type Route struct{ Method, Path string }

// Routes lists the console's signed-in routes, from the table the mux is
// built from.
func Routes() []Route {
	out := make([]Route, 0, len(consoleRoutes))
	for _, rt := range consoleRoutes {
		out = append(out, Route{Method: rt.method, Path: rt.path})
	}
	return out
}

// Files is the console's embedded tree (templates/ and static/).
func Files() fs.FS { return consoleWebFS() }

// SignInFailed is the one message of a failed sign-in.
const SignInFailed = signInFailed

// console serves /console/.
type console struct {
	gov      *governance.Service
	catalog  *governance.Catalog
	sessions Sessions
	log      *slog.Logger
	audit    Auditor
	now      func() time.Time
	prefix   string
	issuer   string
	pages    map[string]*template.Template
	static   map[string]staticFile
	cop      *http.CrossOriginProtection
	limits   *ratelimit.Passwords
}

// refill is a submitted field's value as a refused form shows it again:
// as typed, unless it looks like a credential (a PAT, a JWT) pasted into
// the wrong field, which is left empty so that the page — kept in browser
// history, caches and screenshots — does not hold it.
func (c *console) refill(v string) string {
	jwt := strings.HasPrefix(v, "eyJ") && strings.Count(v, ".") == 2
	if c.prefix != "" && strings.Contains(v, c.prefix) || jwt {
		return ""
	}
	return v
}

// staticFile is one embedded static file with the hash that versions its
// URL.
type staticFile struct {
	body        []byte
	contentType string
	version     string
}

// newConsole parses every template and reads every static file; any one
// missing or broken is an error.
func newConsole(o Options) (*console, error) {
	c := &console{
		gov: o.Gov, catalog: o.Catalog, sessions: o.Sessions, log: o.Log, audit: o.Audit, now: o.Now,
		prefix: o.Prefix, issuer: o.Issuer, limits: o.Passwords,
		static: map[string]staticFile{},
		cop:    http.NewCrossOriginProtection(),
	}
	files := o.Files
	if files == nil {
		files = consoleWebFS()
	}
	for _, name := range consoleStatic {
		b, err := fs.ReadFile(files, "static/"+name)
		if err != nil {
			return nil, fmt.Errorf("console static file %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		ct := "text/css; charset=utf-8"
		if path.Ext(name) == ".js" {
			ct = "text/javascript; charset=utf-8"
		}
		c.static[name] = staticFile{body: b, contentType: ct, version: hex.EncodeToString(sum[:6])}
	}
	pages, err := c.parseTemplates(files)
	if err != nil {
		return nil, err
	}
	c.pages = pages
	c.cop.SetDenyHandler(http.HandlerFunc(c.crossOrigin))
	return c, nil
}

// parseTemplates parses the layout once and each page on a clone of it, so
// that every page defines its own "title" and "content".
func (c *console) parseTemplates(files fs.FS) (map[string]*template.Template, error) {
	base, err := template.New("").Funcs(c.funcs()).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console template layout: %w", err)
	}
	if base.Lookup("layout") == nil {
		return nil, errors.New(`console template layout: it does not define "layout"`)
	}
	pages := make(map[string]*template.Template, len(consolePages))
	for _, name := range consolePages {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(files, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		for _, def := range []string{"title", "content"} {
			if t.Lookup(def) == nil {
				return nil, fmt.Errorf("console template %s: it does not define %q", name, def)
			}
		}
		// Escaping happens at the first execution; doing it now reports
		// an escaping error at start-up instead of on a page.
		if err := t.ExecuteTemplate(io.Discard, "layout", nil); err != nil && isEscapeError(err) {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

func isEscapeError(err error) bool {
	var e *template.Error
	return errors.As(err, &e)
}

func (c *console) funcs() template.FuncMap {
	return template.FuncMap{
		"static": func(name string) (string, error) {
			f, ok := c.static[name]
			if !ok {
				return "", fmt.Errorf("no static file %q", name)
			}
			return "/console/static/" + name + "?v=" + f.version, nil
		},
		"datetime": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				return v.UTC().Format("2006-01-02 15:04 UTC")
			case *time.Time:
				if v != nil {
					return v.UTC().Format("2006-01-02 15:04 UTC")
				}
			}
			return ""
		},
		"duration": duration.Format,
		"sentence": sentence,
		"has":      func(list []string, v string) bool { return slices.Contains(list, v) },
	}
}

// sentence capitalizes the first letter of a message.
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// consoleRoute is one route of the console.
type consoleRoute struct {
	method string
	path   string
	// admin routes need an administrator of the organization.
	admin  bool
	handle func(c *console, w http.ResponseWriter, r *http.Request, v *visit) error
}

// consoleRoutes are the routes that need a signed-in user. State-changing
// ones (every POST) also need the session's CSRF token; the tests check
// every POST listed here.
var consoleRoutes = []consoleRoute{
	{http.MethodGet, "/console/{$}", false, (*console).home},
	{http.MethodGet, "/console/tokens", false, (*console).tokens},
	{http.MethodGet, "/console/tokens/new", false, (*console).newToken},
	{http.MethodPost, "/console/tokens", false, (*console).createToken},
	{http.MethodGet, "/console/tokens/{id}", false, (*console).token},
	{http.MethodGet, "/console/tokens/{id}/regenerate", false, (*console).regenerateForm},
	{http.MethodPost, "/console/tokens/{id}/revoke", false, (*console).revokeToken},
	{http.MethodPost, "/console/tokens/{id}/regenerate", false, (*console).regenerateToken},
	{http.MethodPost, "/console/logout", false, (*console).logout},
	{http.MethodGet, "/console/password", false, (*console).password},
	{http.MethodPost, "/console/password", false, (*console).changePassword},
	{http.MethodPost, "/console/email", false, (*console).changeEmail},

	{http.MethodGet, "/console/org/{$}", true, (*console).orgHome},
	{http.MethodGet, "/console/org/tokens", true, (*console).orgTokens},
	{http.MethodPost, "/console/org/tokens/revoke", true, (*console).orgRevoke},
	{http.MethodPost, "/console/org/tokens/revoke-by-value", true, (*console).orgRevokeByValue},
	{http.MethodGet, "/console/org/users", true, (*console).orgUsers},
	{http.MethodPost, "/console/org/users", true, (*console).orgCreateUser},
	{http.MethodGet, "/console/org/users/{id}/password", true, (*console).orgUserPassword},
	{http.MethodPost, "/console/org/users/{id}/password", true, (*console).orgResetPassword},
	{http.MethodPost, "/console/org/users/{id}/deactivate", true, (*console).orgDeactivate},
	{http.MethodPost, "/console/org/users/{id}/reactivate", true, (*console).orgReactivate},
	{http.MethodGet, "/console/org/settings", true, (*console).orgSettings},
	{http.MethodPost, "/console/org/settings", true, (*console).orgUpdateSettings},
	{http.MethodGet, "/console/org/audit", true, (*console).orgAudit},
	{http.MethodPost, "/console/org/webhooks", true, (*console).orgCreateWebhook},
	{http.MethodPost, "/console/org/webhooks/{id}/delete", true, (*console).orgDeleteWebhook},

	{http.MethodGet, "/console/org/roles", true, (*console).orgRoles},
	{http.MethodPost, "/console/org/roles", true, (*console).orgCreateRole},
	{http.MethodGet, "/console/org/roles/{id}", true, (*console).orgRole},
	{http.MethodPost, "/console/org/roles/{id}", true, (*console).orgUpdateRole},
	{http.MethodPost, "/console/org/roles/{id}/delete", true, (*console).orgDeleteRole},
	{http.MethodGet, "/console/org/users/{id}", true, (*console).orgUser},
	{http.MethodPost, "/console/org/users/{id}/assignments", true, (*console).orgAssign},
	{http.MethodPost, "/console/org/users/{id}/assignments/{assignment}/delete", true, (*console).orgUnassign},
	{http.MethodPost, "/console/org/users/{id}/email", true, (*console).orgSetEmail},
}

// routes mounts the console on mux. Every console answer carries the
// security headers, and every unsafe request passes the cross-origin check
// before anything else.
func (c *console) routes(mux *http.ServeMux) {
	for _, rt := range consoleRoutes {
		mux.Handle(rt.method+" "+rt.path, c.wrap(c.signedIn(rt)))
	}
	mux.Handle("GET /console/login", c.wrap(http.HandlerFunc(c.loginPage)))
	mux.Handle("POST /console/login", c.wrap(http.HandlerFunc(c.login)))
	// Redeeming a set-password link needs no session; like sign-in, its
	// form carries a double-submitted token.
	mux.Handle("GET "+governance.PasswordLinkPath, c.wrap(http.HandlerFunc(c.setPasswordForm)))
	mux.Handle("POST "+governance.PasswordLinkPath, c.wrap(http.HandlerFunc(c.setPassword)))
	mux.Handle("GET /console/static/{name}", c.wrap(http.HandlerFunc(c.serveStatic)))
	mux.Handle("/console/", c.wrap(http.HandlerFunc(c.notFound)))
	mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
}

// wrap sets the security headers and applies the cross-origin check.
func (c *console) wrap(h http.Handler) http.Handler {
	h = c.cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setConsoleHeaders(w)
		h.ServeHTTP(w, r)
	})
}

// setConsoleHeaders sets the headers of every console answer. Nothing is
// cached: pages are personal, and some show a token.
func setConsoleHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// visit is a signed-in request: the session, who the user is now, and the
// actor governance sees.
type visit struct {
	sess  *storage.Session
	me    *governance.Me
	actor governance.Actor
}

// signedIn runs a route for the session's user, read afresh from the
// database. Without a usable session it sends the browser to sign in; an
// unsafe request must carry the session's CSRF token; admin routes need an
// administrator now.
func (c *console) signedIn(rt consoleRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := c.sessions.Get(r)
		if err != nil && !errors.Is(err, session.ErrInvalid) {
			c.fail(w, r, nil, err)
			return
		}
		if sess == nil {
			target := "/console/login"
			if err != nil {
				target += "?expired=1"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		actor := governance.UserActor(sess.OrgID, sess.UserID, false, httpx.ClientAddrOf(r))
		me, err := c.gov.Me(r.Context(), actor)
		if governance.KindOf(err) == governance.NotFound ||
			(err == nil && (me.User.Status != storage.UserActive || me.User.Kind != storage.UserLocal)) {
			c.sessions.End(r, sess)
			c.sessions.ClearCookie(w)
			http.Redirect(w, r, "/console/login?expired=1", http.StatusSeeOther)
			return
		}
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		actor.Admin = me.User.Admin
		v := &visit{sess: sess, me: me, actor: actor}
		if !session.SafeMethod(r.Method) {
			r.Body = http.MaxBytesReader(w, r.Body, maxConsoleForm)
			if err := r.ParseForm(); err != nil {
				c.badForm(w, r, v, err)
				return
			}
			if !session.TokenEqual(r.PostForm.Get(session.CSRFField), sess.CSRFToken) {
				c.staleForm(w, r, v)
				return
			}
		}
		if rt.admin && !me.User.Admin {
			c.renderError(w, r, v, http.StatusForbidden, "The organization pages are for administrators of the organization.")
			return
		}
		if err := rt.handle(c, w, r, v); err != nil {
			c.fail(w, r, v, err)
		}
	})
}

// page is what every template receives: the signed-in user (nil on the
// sign-in page), the CSRF token for its forms, the section of the
// navigation, a notice or an error, and the page's own Data.
type page struct {
	User    *storage.User
	Org     *storage.Organization
	Admin   bool
	CSRF    string
	Section string
	Notice  string
	Error   string
	Data    any
}

// page starts the data of a signed-in page.
func (v *visit) page(section string, data any) *page {
	p := &page{Section: section, Data: data}
	if v != nil {
		p.User, p.Org, p.Admin, p.CSRF = &v.me.User, &v.me.Organization, v.me.User.Admin, v.sess.CSRFToken
	}
	return p
}

// render executes a page into a buffer first, so that a template failure
// is a clean 500 rather than half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.ErrorContext(r.Context(), "console template failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	httpx.RetryLaterIfUnavailable(w.Header(), status)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// errorPage is the data of the error page.
type errorPage struct {
	Title   string
	Message string
}

func (c *console) renderError(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	p := v.page("", errorPage{Title: http.StatusText(status), Message: msg})
	c.render(w, r, status, "error", p)
}

// statusOf is the HTTP status of err (see refusal.Status).
func statusOf(err error) int {
	status, _ := refusal.Status(governance.KindOf(err))
	return status
}

// messageOf is what a person is told about err: governance's message, or
// a generic one for an unexpected failure (whose text stays in the log).
func messageOf(err error) string {
	switch governance.KindOf(err) {
	case 0:
		return "Something went wrong on the server. Try again; if it keeps happening, tell your operator."
	case governance.Unavailable:
		return "The database is unavailable right now. Try again in a moment."
	}
	return sentence(err.Error())
}

// fail renders the error page for err, logging unexpected failures.
func (c *console) fail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	status := statusOf(err)
	if status >= 500 {
		c.log.ErrorContext(r.Context(), "console request failed", "method", r.Method, "route", r.Pattern, "err", err)
	}
	if v == nil || v.me == nil {
		v = nil
	}
	c.renderError(w, r, v, status, messageOf(err))
}

// badForm answers a form body that could not be read: 413 when it is over
// maxConsoleForm (read no further), else 400.
func (c *console) badForm(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		c.renderError(w, r, v, http.StatusRequestEntityTooLarge, "The form is larger than 64 KiB.")
		return
	}
	c.renderError(w, r, v, http.StatusBadRequest, "The form could not be read.")
}

// staleForm answers an unsafe request whose CSRF token is missing or not
// the session's current one: a forged request, or a form submitted again
// after the token rotated (reloading the page that revealed a token).
// Nothing was changed.
func (c *console) staleForm(w http.ResponseWriter, r *http.Request, v *visit) {
	c.renderError(w, r, v, http.StatusForbidden,
		"This form has expired or was already submitted, so nothing was changed. "+
			"A new token is shown only once, right after it is generated: if you did not copy it, revoke it and generate another.")
}

// crossOrigin answers a request refused by the cross-origin check.
func (c *console) crossOrigin(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, nil, http.StatusForbidden, "Cross-origin requests are refused: submit the form from the console itself.")
}

func (c *console) notFound(w http.ResponseWriter, r *http.Request) {
	c.renderError(w, r, nil, http.StatusNotFound, "There is no console page here.")
}

// serveStatic serves an embedded static file. A URL carrying the file's
// current version may be cached for good; any other must be revalidated.
func (c *console) serveStatic(w http.ResponseWriter, r *http.Request) {
	f, ok := c.static[r.PathValue("name")]
	if !ok {
		c.notFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == f.version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Type", f.contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
