package governance

import (
	"context"
	"errors"

	"authserver/internal/password"
	"authserver/storage"
)

// MaxPasswordLen bounds a password offered at sign-in. Longer input is
// refused without hashing, so a huge body cannot buy extra work.
const MaxPasswordLen = 1024

// errSignInFailed is the one answer to every credential failure, whichever
// part was wrong.
var errSignInFailed = &Error{Kind: Forbidden, Code: "sign-in-failed",
	Message: "the organization, username or password is wrong"}

// IsSignInFailed reports whether err is SignIn's generic refusal.
func IsSignInFailed(err error) bool {
	var ge *Error
	return errors.As(err, &ge) && ge.Code == errSignInFailed.Code
}

// SignIn checks the console credentials of a local user and returns the
// user (password hash cleared).
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
	if len(pw) > MaxPasswordLen || !plausibleText(orgName) || !plausibleText(username) ||
		len(orgName) > maxCursorKey || len(username) > maxCursorKey {
		password.Dummy(pw[:min(len(pw), MaxPasswordLen)])
		return nil, errSignInFailed
	}
	o, err := s.store.GetOrganizationByName(ctx, orgName)
	if errors.Is(err, storage.ErrNotFound) {
		password.Dummy(pw)
		return nil, errSignInFailed
	}
	if err != nil {
		return nil, storeErr(err, "organization")
	}
	u, err := s.store.GetUserByUsername(ctx, o.ID, username)
	if errors.Is(err, storage.ErrNotFound) {
		password.Dummy(pw)
		return nil, errSignInFailed
	}
	if err != nil {
		return nil, storeErr(err, "user")
	}
	if u.Kind != storage.UserLocal || u.PasswordHash == "" {
		password.Dummy(pw)
		return nil, errSignInFailed
	}
	ok, err := password.Verify(pw, u.PasswordHash)
	if err != nil || !ok {
		// A malformed stored hash is an operator problem, but to the
		// person signing in it is a failed sign-in like any other.
		return nil, errSignInFailed
	}
	if u.Status != storage.UserActive {
		return nil, forbidden("user-deactivated", "this account is deactivated; ask an administrator of your organization")
	}
	u.PasswordHash = ""
	return u, nil
}
