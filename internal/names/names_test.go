package names

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		rule string
		name string
		ok   bool
	}{
		{"a plain name is fine", "deploy token", true},
		{"SQL metacharacters are kept verbatim", "x'; DROP TABLE pats; --", true},
		{"HTML is kept verbatim", "<script>alert(1)</script>", true},
		{"non-Latin letters are fine", "Überweisung 請求書", true},
		{"exactly 100 characters is fine", strings.Repeat("é", 100), true},
		{"empty is refused", "", false},
		{"101 characters is refused", strings.Repeat("a", 101), false},
		{"a leading space is refused", " x", false},
		{"a trailing space is refused", "x ", false},
		{"a newline is refused", "a\nb", false},
		{"NUL is refused", "a\x00b", false},
		{"a zero-width space is refused", "ad\u200bmin", false},
		{"a zero-width joiner is refused", "a\u200db", false},
		{"a right-to-left override is refused", "a\u202eb", false},
		{"a bidi isolate is refused", "a\u2066b", false},
		{"a byte-order mark is refused", "\ufeffa", false},
		{"invalid UTF-8 is refused", "a\xffb", false},
	} {
		err := Check(c.name)
		if (err == nil) != c.ok {
			t.Errorf("%s: Check(%q) = %v", c.rule, c.name, err)
		}
	}
}

func TestPlainText(t *testing.T) {
	for _, c := range []struct {
		rule string
		s    string
		ok   bool
	}{
		{"the empty string is plain", "", true},
		{"ASCII is plain", "pat-1234 OR.Jobs", true},
		{"non-Latin letters are plain", "Überweisung 請求書", true},
		{"spaces at either end are plain", " x ", true},
		{"format characters are plain (names refuse them, text need not)", "a\u200bb\u202e", true},
		{"NUL is refused", "a\x00b", false},
		{"a newline is refused", "a\nb", false},
		{"a tab is refused", "a\tb", false},
		{"DEL is refused", "a\x7fb", false},
		{"a C1 control is refused", "a\u0085b", false},
		{"invalid UTF-8 is refused", "a\xffb", false},
		{"a truncated sequence is refused", "\xe2\x82", false},
	} {
		if got := PlainText(c.s); got != c.ok {
			t.Errorf("%s: PlainText(%q) = %v", c.rule, c.s, got)
		}
	}
}
