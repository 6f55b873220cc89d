package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with the configuration. Path names where: a key
// path such as bootstrap.organizations[0].users[2].kind, an environment
// variable such as AUTHSERVER_HTTP_ADDR, or "" for the file as a whole.
// Message never holds a secret value.
type Problem struct {
	Path string
	// Line is the line of the configuration file the problem is about, or 0
	// when it did not come from the file (defaults, environment).
	Line    int
	Message string
}

// String formats the problem as "path: message (line N)".
func (p Problem) String() string {
	s := p.Message
	if p.Path != "" {
		s = p.Path + ": " + s
	}
	if p.Line > 0 {
		s += " (line " + strconv.Itoa(p.Line) + ")"
	}
	return s
}

// Errors is every problem found in one load or validation, in a stable
// order, so that an operator fixes a file in one round instead of one
// problem per start-up. Load and Validate return it as a *Errors.
type Errors struct {
	Problems []Problem
}

// Error lists the problems one per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// addf records a problem that has no line of its own.
func (e *Errors) addf(path, format string, args ...any) {
	e.addAt(path, 0, format, args...)
}

// addAt records a problem at a line of the configuration file.
func (e *Errors) addAt(path string, line int, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Path: path, Line: line, Message: fmt.Sprintf(format, args...)})
}

// err returns e as an error, or nil when there is no problem: a nil *Errors
// in an error interface would not compare equal to nil.
func (e *Errors) err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}

// key appends a mapping key to a key path. Keys that would make the path
// ambiguous (an unknown key holding a dot, say) are quoted.
func key(path, k string) string {
	if !plainKey(k) {
		return path + "[" + strconv.Quote(k) + "]"
	}
	if path == "" {
		return k
	}
	return path + "." + k
}

// index appends a list index to a key path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
