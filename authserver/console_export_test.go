package authserver

import (
	"io/fs"

	"authserver/authserver/session"
)

// This file exports internals of the console to the external test package.

// Names the console's clients see.
const (
	ConsoleSessionCookie = session.Cookie
	ConsoleLoginCookie   = session.LoginCookie
	ConsoleCSRFHeader    = session.CSRFHeader
	ConsoleSignInFailed  = signInFailed
)

// ConsoleRoute is a method and a path pattern of a signed-in console route.
type ConsoleRoute struct{ Method, Path string }

// ConsoleRoutes lists the console's signed-in routes, from the table the
// mux is built from.
func ConsoleRoutes() []ConsoleRoute {
	out := make([]ConsoleRoute, 0, len(consoleRoutes))
	for _, rt := range consoleRoutes {
		out = append(out, ConsoleRoute{Method: rt.method, Path: rt.path})
	}
	return out
}

// ConsoleFiles is the console's embedded tree (templates/ and static/).
func ConsoleFiles() fs.FS { return consoleWebFS() }
