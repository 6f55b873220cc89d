package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"authserver/internal/periodic"
	"authserver/storage"
)

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

// Names of the console's cookies and fields. Under https the cookies take
// the __Host- prefix, which browsers accept only with Secure, Path=/ and
// no Domain — so no sibling host can plant or overwrite them.
const (
	sessionCookie    = "authserver_session"
	loginCookie      = "authserver_login"
	hostCookiePrefix = "__Host-"
	csrfField        = "csrf_token"
	csrfHeader       = "X-CSRF-Token"
)

// secretLen is the random length of cookie values and CSRF tokens.
const secretLen = 32

// newSecret returns secretLen random bytes, base64url without padding.
func newSecret() string {
	b := make([]byte, secretLen)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// wellFormedSecret reports whether s could be a value newSecret made.
func wellFormedSecret(s string) bool {
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

// tokenEqual compares a presented token with the expected one in constant
// time; an empty expected value never matches.
func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (c *console) cookieName(base string) string {
	if c.secure {
		return hostCookiePrefix + base
	}
	return base
}

// setCookie sets one of the console's cookies with the flags they all
// share; maxAge < 0 deletes it.
func (c *console) setCookie(w http.ResponseWriter, base, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (c *console) clearCookie(w http.ResponseWriter) { c.setCookie(w, sessionCookie, "", -1) }

// startSession creates a new session for a user who just signed in and
// sets its cookie. A session the request already carried is ended first.
func (c *console) startSession(w http.ResponseWriter, r *http.Request, userID, orgID string) error {
	if old, err := r.Cookie(c.cookieName(sessionCookie)); err == nil && wellFormedSecret(old.Value) {
		if err := c.store.DeleteSession(r.Context(), sessionID(old.Value)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	now := c.now().UTC()
	value := newSecret()
	s := &storage.Session{ID: sessionID(value), UserID: userID, OrgID: orgID, CSRFToken: newSecret(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(c.absolute)}
	if err := c.store.CreateSession(r.Context(), s); err != nil {
		return err
	}
	c.setCookie(w, sessionCookie, value, 0)
	return nil
}

// rotate replaces a session by a new one with a new cookie value and CSRF
// token but the same user and the same absolute expiry, in one
// transaction, and sets the new cookie. It returns the new session.
func (c *console) rotate(ctx context.Context, w http.ResponseWriter, old *storage.Session) (*storage.Session, error) {
	value := newSecret()
	s := &storage.Session{ID: sessionID(value), UserID: old.UserID, OrgID: old.OrgID, CSRFToken: newSecret(),
		CreatedAt: old.CreatedAt, LastSeenAt: c.now().UTC(), ExpiresAt: old.ExpiresAt}
	err := c.store.Update(ctx, func(tx sessionTx) error {
		if err := tx.DeleteSession(ctx, old.ID); err != nil {
			return err
		}
		return tx.CreateSession(ctx, s)
	})
	if err != nil {
		return nil, err
	}
	c.setCookie(w, sessionCookie, value, 0)
	return s, nil
}

// session returns the request's session: (nil, nil) when it carries none,
// (nil, errBadCredentials) when it carries one that is unknown or has
// expired (an expired one is deleted), or a database error. A live session
// is touched, at most every touchInterval, so that a busy user does not
// cost a write per request.
func (c *console) session(r *http.Request) (*storage.Session, error) {
	ck, err := r.Cookie(c.cookieName(sessionCookie))
	if err != nil {
		return nil, nil
	}
	if !wellFormedSecret(ck.Value) {
		return nil, errBadCredentials
	}
	ctx := r.Context()
	s, err := c.store.GetSession(ctx, sessionID(ck.Value))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errBadCredentials
	}
	if err != nil {
		return nil, err
	}
	now := c.now().UTC()
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= c.idle {
		c.endSession(r, s)
		return nil, errBadCredentials
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
func (c *console) touchInterval() time.Duration { return min(c.idle/20, time.Minute) }

// endSession deletes a session, logging (not failing on) a database error:
// the caller is refusing the session anyway.
func (c *console) endSession(r *http.Request, s *storage.Session) {
	if err := c.store.DeleteSession(r.Context(), s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		c.log.WarnContext(r.Context(), "console session not deleted", "err", err)
	}
}

// apiSession is the management API's sessionLookup: the console cookie
// authenticates API requests too. An unsafe request must pass the
// cross-origin check and carry the session's CSRF token in X-CSRF-Token
// (the console pages publish it in <meta name="csrf-token">); otherwise
// the session is refused.
func (c *console) apiSession(r *http.Request) (*consoleSession, error) {
	s, err := c.session(r)
	if err != nil || s == nil {
		return nil, err
	}
	if !safeMethod(r.Method) && (c.cop.Check(r) != nil || !tokenEqual(r.Header.Get(csrfHeader), s.CSRFToken)) {
		return nil, errBadCredentials
	}
	return &consoleSession{UserID: s.UserID, OrgID: s.OrgID}, nil
}

// sweep deletes expired sessions periodically until ctx is done. Sessions
// are refused when expired whether or not the sweep has run; it only keeps
// the table small. Every replica may sweep: the deletes are idempotent.
func (c *console) sweep(ctx context.Context) {
	periodic.Every(ctx, min(c.idle, 5*time.Minute), func(ctx context.Context) {
		n, err := c.store.DeleteExpiredSessions(ctx, c.now().UTC(), c.idle)
		if err != nil && ctx.Err() == nil {
			c.log.Warn("expired console sessions not deleted", "err", err)
		} else if n > 0 {
			c.log.Debug("expired console sessions deleted", "count", n)
		}
	})
}
