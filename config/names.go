package config

import (
	"regexp"
	"strings"

	"authserver/internal/names"
)

// scopeName is a dotted permission or scope name such as OR.Jobs.Read. The
// dot is the hierarchy separator of the rights algebra, so empty segments
// ("OR..Jobs", ".OR") would make covers() ambiguous and are refused.
var scopeName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

// ValidScopeName reports whether s is a well-formed scope or permission
// name: segments of letters, digits, "_" and "-" joined by dots.
func ValidScopeName(s string) bool { return scopeName.MatchString(s) }

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
	return printable(s)
}

// printable reports whether s is plain text (names.PlainText) without
// bidirectional-formatting characters (the "Trojan Source" set).
func printable(s string) bool {
	return names.PlainText(s) && !strings.ContainsFunc(s, isBidi)
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

// closest returns the candidate nearest to word when it is close enough to
// be a likely typo, else "". It turns "unknown key" into "did you mean".
func closest(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	if bestDist < 0 || bestDist > max(2, len(word)/4) || bestDist >= len(word) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
