package governance

import (
	"context"
	"errors"
	"time"

	"authserver/internal/names"
	"authserver/internal/password"
	"authserver/storage"
)

// errSignInFailed is the one answer to every credential failure, whichever
// part was wrong.
var errSignInFailed = &Error{Kind: Forbidden, Code: "sign-in-failed",
	Message: "the organization, username or password is wrong"}

// IsSignInFailed reports whether err is SignIn's generic refusal.
func IsSignInFailed(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Code == errSignInFailed.Code
}

// SignInCause is why a console sign-in was refused. It is for the log and
// the audit log (an audit event's outcome), never for the person signing
// in: every cause but SignInDeactivated and SignInRateLimited gets the one
// generic refusal. SignIn never returns SignInRateLimited: the console
// refuses those attempts itself, before any database work, and only logs
// them.
type SignInCause string

// The sign-in refusal causes.
const (
	// SignInUnknownOrganization: no organization has the name typed.
	SignInUnknownOrganization SignInCause = "unknown-organization"
	// SignInUnknownUser: the organization has no user of the name typed.
	SignInUnknownUser SignInCause = "unknown-user"
	// SignInNonLocal: a directory or SAML user, who has no password here.
	SignInNonLocal SignInCause = "non-local"
	// SignInNoPassword: a local user without a console password.
	SignInNoPassword SignInCause = "no-password"
	// SignInPasswordTooLong: the password offered exceeds MaxPasswordLen.
	SignInPasswordTooLong SignInCause = "password-too-long"
	// SignInWrongPassword: the password does not match.
	SignInWrongPassword SignInCause = "wrong-password"
	// SignInHashUnreadable: the stored hash is malformed, an operator
	// problem that the person signing in sees as a wrong password.
	SignInHashUnreadable SignInCause = "hash-unreadable"
	// SignInDeactivated: the right password of a deactivated user.
	SignInDeactivated SignInCause = "user-deactivated"
	// SignInRateLimited: the rate limits stopped the attempt before any
	// credential was checked (logged by the console, never audited).
	SignInRateLimited SignInCause = "rate-limited"
)

// SignInRefusedAction is the audit action of a refused console sign-in.
const SignInRefusedAction = "console.login.refused"

// SignInRefusal is a refused sign-in with its cause and whom it named. It
// unwraps to the refusal the person signing in is shown (IsSignInFailed,
// or the deactivated-account refusal), so it reads as that error.
type SignInRefusal struct {
	Cause SignInCause
	// OrgID is the organization named; "" when none has the name typed.
	OrgID string
	// UserID and Username are the user named, as stored; "" when the
	// organization has no user of the name typed.
	UserID, Username string

	err *Error
}

func (r *SignInRefusal) Error() string { return r.err.Error() }

func (r *SignInRefusal) Unwrap() error { return r.err }

// AuditEvent is the audit event of the refusal, at t from addr. It holds
// the cause, the user only as its stored id and username (or the
// unknown-user actor), and never the password or any other text as typed.
//
// ok is false when the organization is unknown: every audit event belongs
// to one organization's log, only that organization's admins read it, and
// a sign-in that named no organization of this server belongs to none. The
// console logs such refusals instead (with the client address and the
// cause), where the operator, who is the one to act on them, reads them.
func (r *SignInRefusal) AuditEvent(t time.Time, addr string) (e storage.AuditEvent, ok bool) {
	if r.OrgID == "" {
		return storage.AuditEvent{}, false
	}
	e = storage.AuditEvent{Time: t, OrgID: r.OrgID, Action: SignInRefusedAction, Outcome: string(r.Cause)}
	if r.UserID == "" {
		return Actor{Kind: ActorUnknownUser, Addr: addr}.Attribute(e), true
	}
	e.Target, e.Detail = r.UserID, "username "+quote(r.Username)
	return UserActor(r.OrgID, r.UserID, false, addr).Attribute(e), true
}

// SignIn checks the console credentials of a local user and returns the
// user (password hash cleared). A refusal is a *SignInRefusal that says
// why, for the log and the audit log.
//
// An unknown organization, an unknown user, a directory or SAML user (who
// has no password here), a local user without a password and a wrong
// password all get the same refusal (IsSignInFailed), after the same work:
// each path that has no hash to verify burns one verification with
// password.Dummy, so neither the answer nor its timing says which part was
// wrong. Only after the password has been verified does SignIn say more: a
// deactivated user is told so (Code "user-deactivated"); that tells nothing
// to someone who does not already hold the password.
func (s *Service) SignIn(ctx context.Context, orgName, username, pw string) (*storage.User, error) {
	tooLong := len(pw) > MaxPasswordLen
	if tooLong {
		pw = pw[:MaxPasswordLen]
	}
	ref, u, err := s.signInParties(ctx, orgName, username)
	if err != nil {
		return nil, err
	}
	switch {
	case u == nil:
	case tooLong:
		ref.Cause = SignInPasswordTooLong
	case u.Kind != storage.UserLocal:
		ref.Cause = SignInNonLocal
	case u.PasswordHash == "":
		ref.Cause = SignInNoPassword
	default:
		ok, err := password.Verify(pw, u.PasswordHash)
		switch {
		case err != nil:
			// A malformed stored hash is an operator problem, but to the
			// person signing in it is a failed sign-in like any other.
			ref.Cause = SignInHashUnreadable
			return nil, ref
		case !ok:
			ref.Cause = SignInWrongPassword
			return nil, ref
		case u.Status != storage.UserActive:
			ref.Cause = SignInDeactivated
			ref.err = forbidden("user-deactivated", "this account is deactivated; ask an administrator of your organization")
			return nil, ref
		}
		u.PasswordHash = ""
		return u, nil
	}
	password.Dummy(pw, s.pw)
	return nil, ref
}

// signInParties looks up the organization and the user named at sign-in.
// The refusal it returns names those that exist, with the cause so far
// (unknown organization or user); u is the user found, hash included, or
// nil. Text that no name can hold (control characters, invalid UTF-8,
// overlong) is not looked up: it is unknown, and the database might refuse
// it with an error.
func (s *Service) signInParties(ctx context.Context, orgName, username string) (ref *SignInRefusal, u *storage.User, err error) {
	ref = &SignInRefusal{Cause: SignInUnknownOrganization, err: errSignInFailed}
	if !names.PlainText(orgName) || len(orgName) > maxCursorKey {
		return ref, nil, nil
	}
	o, err := s.store.GetOrganizationByName(ctx, orgName)
	if errors.Is(err, storage.ErrNotFound) {
		return ref, nil, nil
	}
	if err != nil {
		return nil, nil, storeErr(err, "organization")
	}
	ref.OrgID, ref.Cause = o.ID, SignInUnknownUser
	if !names.PlainText(username) || len(username) > maxCursorKey {
		return ref, nil, nil
	}
	u, err = s.store.GetUserByUsername(ctx, o.ID, username)
	if errors.Is(err, storage.ErrNotFound) {
		return ref, nil, nil
	}
	if err != nil {
		return nil, nil, storeErr(err, "user")
	}
	ref.UserID, ref.Username = u.ID, u.Username
	return ref, u, nil
}
