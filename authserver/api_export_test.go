package authserver

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
