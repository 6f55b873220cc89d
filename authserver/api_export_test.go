package authserver

import "net/http"

// This file exports internals of the management API to the external test
// package.

// APIRoute is a method and a path pattern of the management API.
type APIRoute struct{ Method, Path string }

// APIRoutes lists every route the management API serves, from the same
// table the mux is built from.
func APIRoutes() []APIRoute {
	out := make([]APIRoute, 0, len(apiRoutes))
	for _, rt := range apiRoutes {
		out = append(out, APIRoute{Method: rt.method, Path: rt.path})
	}
	return out
}

// SetSessionLookup plugs a console session check into the API, as the
// console will: lookup returns the session's user and organization, ok
// false when the request carries no session, or errBad for a session it
// refuses.
func (s *Server) SetSessionLookup(lookup func(r *http.Request) (userID, orgID string, ok, bad bool)) {
	if lookup == nil {
		s.api.auth.setSessionLookup(nil)
		return
	}
	s.api.auth.setSessionLookup(func(r *http.Request) (*consoleSession, error) {
		userID, orgID, ok, bad := lookup(r)
		switch {
		case bad:
			return nil, errBadCredentials
		case !ok:
			return nil, nil
		}
		return &consoleSession{UserID: userID, OrgID: orgID}, nil
	})
}
