package authserver

import (
	"io/fs"

	"authserver/authserver/console"
	"authserver/authserver/session"
)

// This file exports internals of the console to the external test package.

// Names the console's clients see.
const (
	ConsoleSessionCookie = session.Cookie
	ConsoleLoginCookie   = session.LoginCookie
	ConsoleCSRFHeader    = session.CSRFHeader
	ConsoleSignInFailed  = console.SignInFailed
)

// ConsoleRoute is a method and a path pattern of a signed-in console route.
type ConsoleRoute = console.Route

// ConsoleRoutes lists the console's signed-in routes, from the table the
// mux is built from.
func ConsoleRoutes() []ConsoleRoute { return console.Routes() }

// ConsoleFiles is the console's embedded tree (templates/ and static/).
func ConsoleFiles() fs.FS { return console.Files() }
