// Package names holds the one rule for human-chosen names (usernames,
// organization, role and PAT names), shared by configuration validation,
// the API, the console and the command line, and the plain-text rule it
// builds on, which any other text taken from outside must also meet.
package names

import (
	"errors"
	"fmt"
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

// PlainText reports whether s is valid UTF-8 without control characters:
// text that can be sent to either database as a parameter (PostgreSQL
// refuses NUL and invalid UTF-8 with an error, not a "no row") and written
// to a log or a page without forging a line. Names must meet more (Check).
func PlainText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}
