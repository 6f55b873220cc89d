package governance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"authserver/internal/password"
	"authserver/storage"
)

// Console passwords of local users, and the one-time links that let a user
// choose one. Every password set here (at creation, by an admin's reset,
// by the user's own change, through a link) passes CheckPassword, and is
// stored only as an argon2id hash. A set-password link's secret is shown
// once, where it was issued; only its SHA-256 is stored. Neither a
// password nor a link ever reaches an error, an audit event or a log.

// MinPasswordLen is the shortest console password accepted, in
// characters.
const MinPasswordLen = 12

// MaxPasswordLen bounds a console password, in bytes. Sign-in refuses
// longer input without hashing it, so a huge body cannot buy extra work.
const MaxPasswordLen = 1024

// minUsernameInPassword is the shortest username a password may not
// contain: refusing every password that holds a one- or two-letter
// username somewhere would refuse most passphrases and protect nothing.
const minUsernameInPassword = 3

// PasswordLinkLifetime is how long a set-password link works after it is
// issued.
const PasswordLinkLifetime = 72 * time.Hour

// PasswordLinkPath is the console page that redeems a set-password link.
// The secret follows it as the URL's fragment, which browsers never send
// to a server: it stays out of access logs, proxies and Referer headers.
const PasswordLinkPath = "/console/set-password"

// PasswordLinkURL is the set-password link of secret on the server whose
// public base URL is base (the issuer).
func PasswordLinkURL(base, secret string) string {
	return strings.TrimSuffix(base, "/") + PasswordLinkPath + "#" + secret
}

// CheckPassword is the one rule for a new console password of username:
// at least MinPasswordLen characters, at most MaxPasswordLen bytes of
// valid UTF-8, and not containing the username, ignoring case (usernames
// shorter than three characters are only refused as the whole password).
// The refusal names the field "password" and never quotes either value.
func CheckPassword(username, pw string) error {
	switch {
	case len(pw) > MaxPasswordLen:
		return invalid("password", "password-too-long", "must be at most %d bytes", MaxPasswordLen)
	case !utf8.ValidString(pw):
		return invalid("password", "password-invalid", "must be valid UTF-8 text")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return invalid("password", "password-too-short", "must have at least %d characters", MinPasswordLen)
	}
	lpw, lu := strings.ToLower(pw), strings.ToLower(username)
	if lpw == lu || utf8.RuneCountInString(username) >= minUsernameInPassword && strings.Contains(lpw, lu) {
		return invalid("password", "password-contains-username", "must not contain the username")
	}
	return nil
}

// hashPassword checks a new password of username and hashes it.
func (s *Service) hashPassword(username, pw string) (string, error) {
	if err := CheckPassword(username, pw); err != nil {
		return "", err
	}
	return password.Hash(pw, s.pw)
}

// SetPasswordLink is a set-password link just issued: Secret is shown to
// the admin exactly once and never stored (PasswordLinkURL makes the
// link).
type SetPasswordLink struct {
	Secret    string
	ExpiresAt time.Time
}

// secretLen is the length of a link secret: 32 random bytes, base64url.
var secretLen = base64.RawURLEncoding.EncodedLen(32)

// newPasswordLink issues a link for u inside tx: the user's earlier links
// and every expired link are deleted, so a user has at most one link that
// works.
func (s *Service) newPasswordLink(ctx context.Context, tx Tx, u *storage.User) (*SetPasswordLink, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
		return nil, err
	}
	if _, err := tx.DeleteExpiredPasswordLinks(ctx, now); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	l := &storage.PasswordLink{Hash: sum[:], UserID: u.ID, OrgID: u.OrgID, CreatedAt: now, ExpiresAt: now.Add(PasswordLinkLifetime)}
	if err := tx.CreatePasswordLink(ctx, l); err != nil {
		return nil, err
	}
	return &SetPasswordLink{Secret: secret, ExpiresAt: l.ExpiresAt}, nil
}

// PasswordReset is what an admin's reset sets: a new Password, or (Link)
// a new set-password link, exactly one of them.
type PasswordReset struct {
	Password string
	Link     bool
}

// ResetPassword sets a local user's console password for an admin, or
// issues a set-password link, which clears the current password: the old
// password stops working either way. Every console session of the user
// ends, and any earlier link stops working. The link, when one was asked
// for, is returned (once).
func (s *Service) ResetPassword(ctx context.Context, a Actor, orgID, userID string, r PasswordReset) (*SetPasswordLink, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if r.Link == (r.Password != "") {
		return nil, invalid("password", "password-or-link", "give either a new password or ask for a set-password link")
	}
	if !plausibleID(userID) {
		return nil, notFound("user")
	}
	u, err := s.store.GetUser(ctx, orgID, userID)
	if err != nil {
		return nil, storeErr(err, "user")
	}
	if u.Kind != storage.UserLocal {
		return nil, conflict("password-not-local", "only local users have a password")
	}
	hash := ""
	if !r.Link {
		// Hashed before the transaction: argon2id takes tens of
		// milliseconds, which no transaction should hold a lock for.
		if hash, err = s.hashPassword(u.Username, r.Password); err != nil {
			return nil, err
		}
	}
	var link *SetPasswordLink
	err = s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.GetUser(ctx, orgID, userID)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		detail := "username " + quote(u.Username) + ", new password"
		if r.Link {
			if link, err = s.newPasswordLink(ctx, tx, u); err != nil {
				return err
			}
			detail = "username " + quote(u.Username) + ", set-password link until " + link.ExpiresAt.Format(time.RFC3339)
		} else if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "user.password.reset", u.ID, detail)
	})
	if err != nil {
		return nil, storeErr(err, "user")
	}
	return link, nil
}

// ChangePassword changes the acting user's own console password: the
// current one must be given. Every other console session of the user
// ends; keepSession, the id of the session the change was made in ("" for
// none), stays. An outstanding set-password link stops working.
func (s *Service) ChangePassword(ctx context.Context, a Actor, current, next, keepSession string) error {
	if a.Kind != ActorUser {
		return forbidden("user-required", "only users have a password")
	}
	u, err := s.store.GetUser(ctx, a.OrgID, a.UserID)
	if err != nil {
		return storeErr(err, "user")
	}
	if u.Kind != storage.UserLocal {
		return conflict("password-not-local", "only local users have a password")
	}
	if current == "" {
		return invalid("current_password", "current-password-required", "is required")
	}
	ok := false
	if u.PasswordHash != "" && len(current) <= MaxPasswordLen {
		// A malformed stored hash matches nothing: the user cannot prove
		// the current password, and an admin must reset it.
		ok, _ = password.Verify(current, u.PasswordHash)
	} else {
		password.Dummy(current[:min(len(current), MaxPasswordLen)], s.pw)
	}
	if !ok {
		return invalid("current_password", "current-password-wrong", "is not your current password")
	}
	if next == current {
		return invalid("password", "password-unchanged", "must differ from the current password")
	}
	hash, err := s.hashPassword(u.Username, next)
	if err != nil {
		return err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.GetUser(ctx, a.OrgID, a.UserID)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if keepSession == "" {
			err = tx.DeleteUserSessions(ctx, u.ID)
		} else {
			err = tx.DeleteOtherUserSessions(ctx, u.ID, keepSession)
		}
		if err != nil {
			return err
		}
		if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, a.OrgID, "user.password.change", u.ID, "username "+quote(u.Username))
	})
	return storeErr(err, "user")
}

// errLinkInvalid is the one answer to a set-password link that does not
// work, whether it never existed, expired, was used already or belongs to
// a user who can no longer use it.
var errLinkInvalid = &Error{Kind: Invalid, Code: "set-password-link-invalid",
	Message: "this set-password link does not work: it may have expired or been used already; ask an administrator for a new one"}

// IsPasswordLinkInvalid reports whether err is the refusal of a
// set-password link that does not work.
func IsPasswordLinkInvalid(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Code == errLinkInvalid.Code
}

// RedeemPasswordLink sets the console password of the user a set-password
// link was issued to, from addr, and returns that user (password hash
// cleared). The link works once: it is deleted with the user's other
// links, and every console session of the user ends. A link that is
// unknown, expired or used, or whose user is no longer an active local
// user, gets the one refusal IsPasswordLinkInvalid; a password the rules
// refuse leaves the link usable.
func (s *Service) RedeemPasswordLink(ctx context.Context, secret, pw, addr string) (*storage.User, error) {
	if len(secret) != secretLen {
		return nil, errLinkInvalid
	}
	sum := sha256.Sum256([]byte(secret))
	l, err := s.store.GetPasswordLink(ctx, sum[:])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errLinkInvalid
	}
	if err != nil {
		return nil, storeErr(err, "set-password link")
	}
	if !s.now().Before(l.ExpiresAt) {
		return nil, errLinkInvalid
	}
	u, err := s.store.GetUser(ctx, l.OrgID, l.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errLinkInvalid
	}
	if err != nil {
		return nil, storeErr(err, "user")
	}
	if u.Kind != storage.UserLocal || u.Status != storage.UserActive {
		return nil, errLinkInvalid
	}
	hash, err := s.hashPassword(u.Username, pw)
	if err != nil {
		return nil, err
	}
	a := UserActor(u.OrgID, u.ID, false, addr)
	err = s.store.Update(ctx, func(tx Tx) error {
		// Deleting the link is what makes it one use: of two redemptions
		// at once, only one deletes it.
		if err := tx.DeletePasswordLink(ctx, sum[:]); errors.Is(err, storage.ErrNotFound) {
			return errLinkInvalid
		} else if err != nil {
			return err
		}
		u, err := tx.GetUser(ctx, l.OrgID, l.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			return errLinkInvalid
		}
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		if err := tx.DeletePasswordLinks(ctx, u.ID); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, u.OrgID, "user.password.link", u.ID, "username "+quote(u.Username))
	})
	if err != nil {
		return nil, storeErr(err, "user")
	}
	u.PasswordHash = ""
	return u, nil
}
