// Package config loads, defaults and validates the YAML configuration file
// and its AUTHSERVER_… environment overrides.
//
// It parses and checks; it never opens a database, a socket or a key file
// other than the …_file secrets it is told to read.
package config
