// Package config loads, defaults and validates the YAML configuration file
// and its AUTHSERVER_… environment overrides.
//
// It parses and checks; it never opens a database, a socket or a key file
// other than the …_file secrets it is told to read.
//
// Load goes defaults → file → environment → …_file secrets → derived values
// → validation, and returns every problem at once as a *Errors, one Problem
// per key path, so that `authserver config check` can print one line each.
// Secret values are held as Secret, which prints as a mask, and no problem
// message ever quotes one.
package config
