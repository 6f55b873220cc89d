package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Load reads the configuration: defaults, then the YAML file at path (""
// for none), then AUTHSERVER_… overrides from env (nil for none), then the
// …_file secrets; then it derives the issuer and fills list defaults, and
// validates. With no file and no variable the result is Defaults(): SQLite
// in authserver.db on http://127.0.0.1:8080.
//
// Every problem found is returned at once as a *Errors, each at its key path
// (or variable name) with its line in the file when known. Problems that
// only repeat a key that could not be decoded are left out. A file that is
// not YAML at all is a single problem; a file that cannot be read is a
// plain wrapped error.
func Load(path string, env Env) (*Config, error) {
	c := Defaults()
	// Filled in by complete, after the …_file secrets, so that a dsn_file
	// alone is not "set together with database.dsn".
	c.Database.DSN = ""

	var errs Errors
	var lines map[string]int
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config file: %w", err)
		}
		var ok bool
		if lines, ok = decodeYAML(data, &c, &errs); !ok {
			return nil, &errs
		}
	}
	// Validation is not told about keys that could not be decoded: it would
	// only say the same thing again, worse ("must not be empty").
	var skip []string
	for _, p := range errs.Problems {
		skip = append(skip, p.Path)
	}

	if env == nil {
		env = MapEnv(nil)
	}
	source := map[string]string{}
	for k, name := range applyEnv(env, reflect.ValueOf(&c).Elem(), &errs) {
		source[k] = "set by " + name
	}
	failed, read := readSecretFiles(&c, &errs)
	skip = append(skip, failed...)
	for k, file := range read {
		source[k] = "read from " + file
	}

	derived := c.complete()
	for _, p := range validate(&c, derived).Problems {
		if overlaps(p.Path, skip) {
			continue
		}
		if s, ok := sourceOf(p.Path, source); ok {
			p.Message += " (" + s + ")"
		} else {
			p.Line = lines[p.Path]
		}
		errs.Problems = append(errs.Problems, p)
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// sourceOf returns where the value at key path p came from when it was
// not the file: the source of p itself or of the key that holds it, since
// a list set from one variable is checked entry by entry
// (http.trusted_proxies[1] was set by AUTHSERVER_HTTP_TRUSTED_PROXIES).
func sourceOf(p string, source map[string]string) (string, bool) {
	for k, s := range source {
		if p == k || within(p, k) {
			return s, true
		}
	}
	return "", false
}

// overlaps reports whether key path p is one of paths, inside one, or
// holds one.
func overlaps(p string, paths []string) bool {
	for _, q := range paths {
		if p == q || within(p, q) || within(q, p) {
			return true
		}
	}
	return false
}

// within reports whether key path p lies inside key path q.
func within(p, q string) bool {
	return q == "" || strings.HasPrefix(p, q+".") || strings.HasPrefix(p, q+"[")
}
