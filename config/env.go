package config

import (
	"encoding"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment variable the configuration reads.
const EnvPrefix = "AUTHSERVER_"

// ConfigFileEnv names the configuration file. The command reads it; Load
// only knows not to report it as unknown.
const ConfigFileEnv = EnvPrefix + "CONFIG"

// Env is the process environment as Load sees it: LookupEnv reads the
// overrides and Environ lets Load report AUTHSERVER_ variables that match no
// key, which are almost always typos that would otherwise be silently ignored.
// OSEnv is the real environment; MapEnv serves tests.
type Env interface {
	LookupEnv(name string) (string, bool)
	Environ() []string
}

// OSEnv returns the environment of the process.
func OSEnv() Env { return osEnv{} }

type osEnv struct{}

func (osEnv) LookupEnv(name string) (string, bool) { return os.LookupEnv(name) }
func (osEnv) Environ() []string                    { return os.Environ() }

// MapEnv is an environment held in a map, for tests:
// config.MapEnv{"AUTHSERVER_HTTP_ADDR": "127.0.0.1:0"}. A nil MapEnv is empty.
type MapEnv map[string]string

// LookupEnv returns the value of name and whether it is set.
func (m MapEnv) LookupEnv(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// Environ returns the variables as sorted "name=value" strings.
func (m MapEnv) Environ() []string {
	env := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		env = append(env, k+"="+m[k])
	}
	return env
}

// kubernetesServiceLink matches the variables Kubernetes injects for a
// Service named "authserver" (enableServiceLinks is on by default), such as
// AUTHSERVER_SERVICE_HOST and AUTHSERVER_PORT_8080_TCP_ADDR. They are not
// ours and must not stop the server from starting; no key of the
// configuration is named port or service, so nothing real is hidden.
var kubernetesServiceLink = regexp.MustCompile(`^AUTHSERVER_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)$`)

// envVar is one scalar key reachable from the root through structs only;
// keys inside lists (bootstrap) have no variable.
type envVar struct {
	name  string // AUTHSERVER_DATABASE_DSN
	path  string // database.dsn
	index []int  // field index path from the root struct
}

// envVars derives the variables of struct type t from its yaml tags, so a
// key added to Config gets its variable without a hand-kept list.
func envVars(t reflect.Type) []envVar {
	var vars []envVar
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for _, f := range yamlFields(t) {
			fp, fi := key(path, f.name), append(slices.Clone(index), f.index...)
			ft := t.FieldByIndex(f.index).Type
			switch {
			case settableFromText(ft):
				vars = append(vars, envVar{
					name:  EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(fp)),
					path:  fp,
					index: fi,
				})
			case ft.Kind() == reflect.Struct:
				walk(ft, fp, fi)
			}
		}
	}
	walk(t, "", nil)
	return vars
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func settableFromText(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}

// applyEnv sets every key of root (a settable struct) whose variable env
// holds, and reports bad values and unknown AUTHSERVER_ variables. A variable
// that is set overrides even when empty, so that an override can clear a
// value from the file. It returns, for each key path it set, the variable
// that set it, so that later problems can say where a value came from.
func applyEnv(env Env, root reflect.Value, errs *Errors) map[string]string {
	set := map[string]string{}
	known := map[string]bool{ConfigFileEnv: true}
	vars := envVars(root.Type())
	for _, ev := range vars {
		known[ev.name] = true
		s, ok := env.LookupEnv(ev.name)
		if !ok {
			continue
		}
		if err := setFromText(root.FieldByIndex(ev.index), s); err != nil {
			errs.addf(ev.name, "%s", err)
			continue
		}
		set[ev.path] = ev.name
	}

	// Suggestions compare names without the shared prefix, which would
	// otherwise make every name look close to every other.
	names := make([]string, 0, len(vars))
	for _, ev := range vars {
		names = append(names, strings.TrimPrefix(ev.name, EnvPrefix))
	}
	var unknown []string
	for _, kv := range env.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] && !kubernetesServiceLink.MatchString(name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range slices.Compact(unknown) {
		msg := "unknown environment variable"
		if s := closest(strings.TrimPrefix(name, EnvPrefix), names); s != "" {
			msg += fmt.Sprintf(", did you mean %s?", EnvPrefix+s)
		}
		errs.addf(name, "%s", msg)
	}
	return set
}

// setFromText parses s into v by v's type. Its errors may quote s only for
// types that are never secret: booleans, numbers and durations.
func setFromText(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("must be true or false, got %s", shorten(s))
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("must be an integer, got %s", shorten(s))
		}
		v.SetInt(n)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}
