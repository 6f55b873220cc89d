package governance

import (
	"context"

	"authserver/internal/mailaddr"
	"authserver/storage"
)

// Users' e-mail addresses: where the notices about their PATs go (expiry
// notices, revocations someone else made). An address is personal data,
// not a secret: the API and the console show it to the user and to the
// organization's admins. The audit log records that it was set, changed or
// removed, never the address, so that the log holds no more personal data
// than it needs.

// CheckEmail refuses anything but "" (no address) or one plain address
// such as alice@example.com (mailaddr.Check). The refusal names the field,
// never the value.
func CheckEmail(email string) error {
	if err := mailaddr.Check(email); err != nil {
		return invalid("email", "email-invalid", "%s", err)
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
