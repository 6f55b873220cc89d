package governance

import (
	"context"
	"slices"
	"strconv"

	"authserver/storage"
)

// MaxDelegates bounds a PAT's delegates: a few gateways act for a user,
// not dozens.
const MaxDelegates = 10

// DelegateClient is a client a PAT's owner may name as a delegate: a
// confidential client that acts for at least one audience (on_behalf_of),
// so that it may exchange the PAT's access tokens on the owner's behalf.
type DelegateClient struct {
	ID string
	// OnBehalfOf are the audiences whose access tokens it may exchange.
	OnBehalfOf []string
	// Audiences are the audiences it may exchange them for.
	Audiences []string
}

// eligible reports whether c may be a PAT's delegate.
func eligible(c *storage.Client) bool { return !c.Public && len(c.OnBehalfOf) > 0 }

// DelegateClients lists the clients eligible as a PAT's delegates, by id:
// what a form for a new PAT offers. Clients are installation
// configuration, the same for every organization and every user.
func (s *Service) DelegateClients(ctx context.Context) ([]DelegateClient, error) {
	list, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, storeErr(err, "clients")
	}
	out := []DelegateClient{}
	for i := range list {
		if c := &list[i]; eligible(c) {
			out = append(out, DelegateClient{ID: c.ID, OnBehalfOf: c.OnBehalfOf, Audiences: c.Audiences})
		}
	}
	return out, nil
}

// checkDelegates validates a new PAT's delegates: at most MaxDelegates,
// each an eligible client, none twice. Refusals name an entry by its
// position, never by its value: whatever the caller typed, a token pasted
// into the wrong field included, must not come back in an answer.
func (s *Service) checkDelegates(ctx context.Context, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return []string{}, nil
	}
	if len(ids) > MaxDelegates {
		return nil, invalid("delegates", "delegates-too-many", "may name at most %d clients", MaxDelegates)
	}
	list, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, storeErr(err, "clients")
	}
	for i, id := range ids {
		pos := strconv.Itoa(i + 1)
		j := slices.IndexFunc(list, func(c storage.Client) bool { return c.ID == id })
		switch {
		case j < 0:
			return nil, invalid("delegates", "delegate-unknown", "not a client of this server: delegate %s (counting from 1)", pos)
		case !eligible(&list[j]):
			return nil, invalid("delegates", "delegate-not-eligible",
				"not a client that acts on behalf of users (a confidential client with on_behalf_of): delegate %s (counting from 1)", pos)
		case slices.Contains(ids[:i], id):
			return nil, invalid("delegates", "delegate-duplicate", "names a client twice: delegate %s (counting from 1)", pos)
		}
	}
	return slices.Clone(ids), nil
}
