// Package session is the console's sessions, its cookies and CSRF
// protection, shared by the console and the management API (which accepts
// the console's cookie).
//
// Console sessions live in the database, so any replica serves them.
//
// The cookie holds 32 random bytes (base64url); the database holds only
// their SHA-256 as the session id, so a leaked database or log of ids
// cannot be replayed as a cookie. A session ends at the first of: sign-out,
// the idle timeout since its last request, the absolute timeout since
// sign-in, or the deactivation of its user. Every sign-in creates a new
// session with a new random value; a cookie presented before sign-in is
// never adopted (no session fixation).
//
// CSRF: every unsafe request passes http.CrossOriginProtection (Fetch
// metadata and Origin), and must also carry the session's CSRF token — a
// hidden form field in the console, the X-CSRF-Token header in the API.
// Generating or regenerating a token rotates the session (new cookie, new
// CSRF token), so submitting that form again — as reloading the page that
// revealed the token does — is refused and reveals nothing.

package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"authserver/internal/periodic"
	"authserver/storage"
)

// Names of the console's cookies and fields. Under https the cookies take
// the __Host- prefix, which browsers accept only with Secure, Path=/ and
// no Domain — so no sibling host can plant or overwrite them.
const (
	Cookie           = "authserver_session"
	LoginCookie      = "authserver_login"
	hostCookiePrefix = "__Host-"
	CSRFField        = "csrf_token"
	CSRFHeader       = "X-CSRF-Token"
)

// ErrInvalid is the answer for a session cookie that is malformed, unknown
// or expired, or an unsafe request that fails the CSRF check.
var ErrInvalid = errors.New("invalid credentials")

// Tx is what a session does inside a transaction: replace a session by
// another (rotation on sign-in and privilege change).
type Tx interface {
	DeleteSession(ctx context.Context, id string) error
	CreateSession(ctx context.Context, s *storage.Session) error
}

var _ Tx = storage.Store(nil)

// Store is what sessions read and write. storage.Narrow[Tx] of any
// storage.Store is one.
type Store interface {
	Update(ctx context.Context, fn func(tx Tx) error) error
	CreateSession(ctx context.Context, s *storage.Session) error
	GetSession(ctx context.Context, id string) (*storage.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time, idle time.Duration) (int64, error)
}

// Options are the dependencies and settings of Sessions; all are required.
type Options struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time
	// Issuer is the server's URL: when https, cookies are Secure and
	// __Host- prefixed.
	Issuer string
	// Idle and Absolute end a session after that long without a request,
	// and that long after sign-in.
	Idle, Absolute time.Duration
}

// Sessions are the console sessions of one server.
type Sessions struct {
	store    Store
	log      *slog.Logger
	now      func() time.Time
	secure   bool // the issuer is https: cookies are Secure and __Host- prefixed
	idle     time.Duration
	absolute time.Duration
	cop      *http.CrossOriginProtection
}

// New returns the sessions described by o.
func New(o Options) (*Sessions, error) {
	if o.Idle <= 0 || o.Absolute <= 0 {
		return nil, errors.New("console session timeouts must be positive")
	}
	return &Sessions{store: o.Store, log: o.Log, now: o.Now, secure: strings.HasPrefix(o.Issuer, "https://"),
		idle: o.Idle, absolute: o.Absolute, cop: http.NewCrossOriginProtection()}, nil
}

// secretLen is the random length of cookie values and CSRF tokens.
const secretLen = 32

// NewSecret returns secretLen random bytes, base64url without padding.
func NewSecret() string {
	b := make([]byte, secretLen)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// WellFormedSecret reports whether s could be a value NewSecret made.
func WellFormedSecret(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(secretLen) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// sessionID is the database id of a cookie value.
func sessionID(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// TokenEqual compares a presented token with the expected one in constant
// time; an empty expected value never matches.
func TokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// CookieName is the name of cookie base as set: __Host- prefixed under
// https.
func (c *Sessions) CookieName(base string) string {
	if c.secure {
		return hostCookiePrefix + base
	}
	return base
}

// SetCookie sets one of the console's cookies with the flags they all
// share; maxAge < 0 deletes it.
func (c *Sessions) SetCookie(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.CookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

// ClearCookie deletes the session cookie.
func (c *Sessions) ClearCookie(w http.ResponseWriter) { c.SetCookie(w, Cookie, "", -1) }

// Start creates a new session for a user who just signed in and
// sets its cookie. A session the request already carried is ended first.
func (c *Sessions) Start(w http.ResponseWriter, r *http.Request, userID, orgID string) error {
	if old, err := r.Cookie(c.CookieName(Cookie)); err == nil && WellFormedSecret(old.Value) {
		if err := c.store.DeleteSession(r.Context(), sessionID(old.Value)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	now := c.now().UTC()
	value := NewSecret()
	s := &storage.Session{ID: sessionID(value), UserID: userID, OrgID: orgID, CSRFToken: NewSecret(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(c.absolute)}
	if err := c.store.CreateSession(r.Context(), s); err != nil {
		return err
	}
	c.SetCookie(w, Cookie, value, 0)
	return nil
}

// Rotate replaces a session by a new one with a new cookie value and CSRF
// token but the same user and the same absolute expiry, in one
// transaction, and sets the new cookie. It returns the new session.
func (c *Sessions) Rotate(ctx context.Context, w http.ResponseWriter, old *storage.Session) (*storage.Session, error) {
	value := NewSecret()
	s := &storage.Session{ID: sessionID(value), UserID: old.UserID, OrgID: old.OrgID, CSRFToken: NewSecret(),
		CreatedAt: old.CreatedAt, LastSeenAt: c.now().UTC(), ExpiresAt: old.ExpiresAt}
	err := c.store.Update(ctx, func(tx Tx) error {
		if err := tx.DeleteSession(ctx, old.ID); err != nil {
			return err
		}
		return tx.CreateSession(ctx, s)
	})
	if err != nil {
		return nil, err
	}
	c.SetCookie(w, Cookie, value, 0)
	return s, nil
}

// Get returns the request's session: (nil, nil) when it carries none,
// (nil, ErrInvalid) when it carries one that is unknown or has
// expired (an expired one is deleted), or a database error. A live session
// is touched, at most every touchInterval, so that a busy user does not
// cost a write per request.
func (c *Sessions) Get(r *http.Request) (*storage.Session, error) {
	ck, err := r.Cookie(c.CookieName(Cookie))
	if err != nil {
		return nil, nil
	}
	if !WellFormedSecret(ck.Value) {
		return nil, ErrInvalid
	}
	ctx := r.Context()
	s, err := c.store.GetSession(ctx, sessionID(ck.Value))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	now := c.now().UTC()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= c.idle {
		c.End(r, s)
		return nil, ErrInvalid
	}
	if now.Sub(s.LastSeenAt) >= c.touchInterval() {
		if err := c.store.TouchSession(ctx, s.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		s.LastSeenAt = now
	}
	return s, nil
}

// touchInterval is how stale last_seen_at may get: a twentieth of the idle
// timeout, at most a minute. The idle timeout may therefore end a session
// up to that much early, never late.
func (c *Sessions) touchInterval() time.Duration { return min(c.idle/20, time.Minute) }

// End deletes a session, logging (not failing on) a database error:
// the caller is refusing the session anyway.
func (c *Sessions) End(r *http.Request, s *storage.Session) {
	if err := c.store.DeleteSession(r.Context(), s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		c.log.WarnContext(r.Context(), "console session not deleted", "err", err)
	}
}

// ForAPI is the management API's session check: the console cookie
// authenticates API requests too. An unsafe request must pass the
// cross-origin check and carry the session's CSRF token in X-CSRF-Token
// (the console pages publish it in <meta name="csrf-token">); otherwise
// the session is refused.
func (c *Sessions) ForAPI(r *http.Request) (*User, error) {
	s, err := c.Get(r)
	if err != nil || s == nil {
		return nil, err
	}
	if !SafeMethod(r.Method) && (c.cop.Check(r) != nil || !TokenEqual(r.Header.Get(CSRFHeader), s.CSRFToken)) {
		return nil, ErrInvalid
	}
	return &User{UserID: s.UserID, OrgID: s.OrgID, SessionID: s.ID}, nil
}

// Sweep deletes expired sessions periodically until ctx is done. Sessions
// are refused when expired whether or not the sweep has run; it only keeps
// the table small. Every replica may sweep: the deletes are idempotent.
func (c *Sessions) Sweep(ctx context.Context) {
	periodic.Every(ctx, min(c.idle, 5*time.Minute), func(ctx context.Context) {
		n, err := c.store.DeleteExpiredSessions(ctx, c.now().UTC(), c.idle)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("expired console sessions not deleted", "err", err)
		} else if n > 0 {
			c.log.Debug("expired console sessions deleted", "count", n)
		}
	})
}

// User is the user a console session belongs to.
type User struct {
	UserID string
	OrgID  string
	// SessionID is the session's id (the hash of its cookie value).
	SessionID string
}

// SafeMethod reports a method that changes nothing and so needs no CSRF
// check.
func SafeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Delete ends a session at sign-out; a session already gone is no error.
func (c *Sessions) Delete(ctx context.Context, s *storage.Session) error {
	if err := c.store.DeleteSession(ctx, s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
