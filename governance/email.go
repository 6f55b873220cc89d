package governance

import (
	"context"
	"net/mail"
	"unicode/utf8"

	"authserver/storage"
)

// Users' e-mail addresses: where the notices about their PATs go (expiry
// notices, revocations someone else made). An address is personal data,
// not a secret: the API and the console show it to the user and to the
// organization's admins. The audit log records that it was set, changed or
// removed, never the address, so that the log holds no more personal data
// than it needs.

// MaxEmailLen bounds an e-mail address in bytes (the longest address a
// mail server forwards, RFC 5321 with its errata).
const MaxEmailLen = 254

// CheckEmail refuses anything but "" (no address) or one plain address
// such as alice@example.com: no display name, no angle brackets, no
// comments, no list, at most MaxEmailLen bytes. The refusal names the
// field, never the value.
func CheckEmail(email string) error {
	if email == "" {
		return nil
	}
	bad := invalid("email", "email-invalid", "must be a single e-mail address such as name@example.com, of at most %d bytes", MaxEmailLen)
	if len(email) > MaxEmailLen || !utf8.ValidString(email) {
		return bad
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email {
		return bad
	}
	return nil
}

// SetUserEmail sets or removes ("") the e-mail address of a user of the
// organization, for its admins.
func (s *Service) SetUserEmail(ctx context.Context, a Actor, orgID, userID, email string) (*storage.User, error) {
	if err := requireAdmin(a, orgID); err != nil {
		return nil, err
	}
	if !plausibleID(userID) {
		return nil, notFound("user")
	}
	return s.setEmail(ctx, a, orgID, userID, email)
}

// SetMyEmail sets or removes ("") the actor's own e-mail address; every
// user may.
func (s *Service) SetMyEmail(ctx context.Context, a Actor, email string) (*storage.User, error) {
	if a.Kind != ActorUser {
		return nil, forbidden("user-required", "only users have a profile")
	}
	return s.setEmail(ctx, a, a.OrgID, a.UserID, email)
}

func (s *Service) setEmail(ctx context.Context, a Actor, orgID, userID, email string) (*storage.User, error) {
	if err := CheckEmail(email); err != nil {
		return nil, err
	}
	var out *storage.User
	err := s.store.Update(ctx, func(tx Tx) error {
		u, err := tx.GetUser(ctx, orgID, userID)
		if err != nil {
			return err
		}
		out = u
		if u.Email == email {
			return nil
		}
		detail := "e-mail address changed"
		switch {
		case u.Email == "":
			detail = "e-mail address set"
		case email == "":
			detail = "e-mail address removed"
		}
		u.Email = email
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		return s.audit(ctx, tx, a, orgID, "user.email", u.ID, detail)
	})
	if err != nil {
		return nil, storeErr(err, "user")
	}
	out.PasswordHash = ""
	return out, nil
}
