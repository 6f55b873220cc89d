package authserver

import "authserver/authserver/api"

// This file exports internals of the management API to the external test
// package.

// APIRoute is a method and a path pattern of the management API.
type APIRoute = api.Route

// APIRoutes lists every route the management API serves, from the same
// table the mux is built from.
func APIRoutes() []APIRoute { return api.Routes() }
