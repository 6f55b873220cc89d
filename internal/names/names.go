// Package names holds the one rule for human-chosen names (usernames,
// organization, role and PAT names), the syntax of scope names and folder
// paths, and the plain-text rule they build on, which any other text taken
// from outside must also meet; shared by configuration validation,
// governance (the API, the console and the command line).
package names

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest name, in characters.
const MaxLen = 100

// Check reports why name is unusable, or nil. A name is 1 to MaxLen
// characters of valid UTF-8, with no leading or trailing space and no
// control, format (zero-width, bidirectional override, …) or other
// invisible characters that make one name look like another. Anything
// else, SQL or HTML metacharacters included, is stored verbatim.
func Check(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case !utf8.ValidString(name):
		return errors.New("must be valid UTF-8")
	case utf8.RuneCountInString(name) > MaxLen:
		return fmt.Errorf("must be at most %d characters", MaxLen)
	case strings.TrimSpace(name) != name:
		return errors.New("must not begin or end with a space")
	}
	for _, r := range name {
		if Invisible(r) {
			return errors.New("must not contain control, zero-width or bidirectional-formatting characters")
		}
	}
	return nil
}

// Invisible reports whether r is a control character, a format character
// (Unicode category Cf: zero-width spaces and joiners, bidirectional
// embeddings, overrides and isolates, the byte-order mark, …), or a
// line or paragraph separator.
func Invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// scope is a dotted permission or scope name such as OR.Jobs.Read. The dot
// is the hierarchy separator of the rights algebra, so empty segments
// ("OR..Jobs", ".OR") would make covers() ambiguous and are refused.
var scope = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// ValidScope reports whether s is a well-formed scope or permission name:
// segments of letters, digits, "_" and "-" joined by dots.
func ValidScope(s string) bool { return scope.MatchString(s) }

// ValidFolder reports whether s is a folder path: "" (organization-wide) or
// non-empty segments joined by "/", without a leading or trailing slash and
// without control or bidirectional-formatting characters, which would let a
// path display as something it is not.
func ValidFolder(s string) bool {
	if s == "" {
		return true
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" {
			return false
		}
	}
	return Printable(s)
}

// Printable reports whether s is valid UTF-8 without control characters or
// bidirectional-formatting characters (the "Trojan Source" set). It is
// looser than Check, which also refuses zero-width characters: it serves
// identifiers such as folder paths and audience ids, which are compared
// byte for byte rather than read by people choosing between look-alikes.
func Printable(s string) bool {
	return PlainText(s) && !strings.ContainsFunc(s, isBidi)
}

func isBidi(r rune) bool {
	switch {
	case r == '\u061C', r == '\u200E', r == '\u200F':
		return true
	case r >= '\u202A' && r <= '\u202E':
		return true
	case r >= '\u2066' && r <= '\u2069':
		return true
	}
	return false
}

// PlainText reports whether s is valid UTF-8 without control characters:
// text that can be sent to either database as a parameter (PostgreSQL
// refuses NUL and invalid UTF-8 with an error, not a "no row") and written
// to a log or a page without forging a line. Names must meet more (Check).
func PlainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}
