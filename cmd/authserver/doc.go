// Command authserver runs the server and its operator commands: serve,
// migrate, config check, pat, user, keys and version.
//
// It only parses flags and wires packages together; rules live in the
// packages it calls.
package main
