package exchange

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
)

// The PAT format is <prefix><30 random><6 checksum>, every
// character after the prefix drawn from base62Alphabet. 30 base62 characters
// carry 30·log2(62) ≈ 178.6 bits of entropy.
const (
	patRandomLen   = 30
	patChecksumLen = 6
	patBodyLen     = patRandomLen + patChecksumLen

	// base62Alphabet is 0-9A-Za-z in that order: a digit's value is its index.
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

	// patRejectFrom is the largest multiple of 62 that fits in a byte (4·62).
	// Random bytes at or above it are rejected, so each of the 62 characters
	// comes from exactly 4 of the 248 accepted byte values: no modulo bias.
	patRejectFrom = 248

	// maxPATPrefixLen bounds the configurable prefix.
	maxPATPrefixLen = 32
)

// ErrMalformedPAT is returned by [CheckPAT] for a string that cannot be a PAT:
// wrong prefix, length, alphabet or checksum. It is deliberately one value
// with a fixed message that says neither which check failed nor anything of
// the token, so the token endpoint can answer it exactly like an unknown
// token.
var ErrMalformedPAT = errors.New("malformed personal access token")

// validatePATPrefix is NewPAT's safety net against a prefix that would make
// unusable tokens: 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-'. The
// configuration applies a stricter rule (package config); this one only
// guarantees tokens that are safe in URLs, headers, form bodies and shell
// scripts, and that scanners can key on.
func validatePATPrefix(prefix string) error {
	if prefix == "" || len(prefix) > maxPATPrefixLen {
		return fmt.Errorf("pat prefix must be 1 to %d characters, got %d", maxPATPrefixLen, len(prefix))
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !isBase62(c) && c != '_' && c != '-' {
			return fmt.Errorf("pat prefix %q: character %q is not one of A-Z a-z 0-9 _ -", prefix, c)
		}
	}
	return nil
}

// NewPAT generates a new PAT with the given prefix, drawing the random part
// from r. Production code passes nil, which means crypto/rand.Reader; tests
// may pass a deterministic reader. An error from r is returned wrapped; the
// prefix must be 1 to 32 characters from A-Z, a-z, 0-9, '_' and '-'.
func NewPAT(prefix string, r io.Reader) (string, error) {
	if err := validatePATPrefix(prefix); err != nil {
		return "", err
	}
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, len(prefix)+patBodyLen)
	copy(buf, prefix)
	random := buf[len(prefix) : len(prefix)+patRandomLen]
	if err := readBase62(random, r); err != nil {
		return "", fmt.Errorf("generate pat: %w", err)
	}
	sum := patChecksum(string(buf[:len(prefix)+patRandomLen]))
	copy(buf[len(prefix)+patRandomLen:], sum[:])
	return string(buf), nil
}

// maxRandomRounds bounds readBase62's loop so that a broken reader (one that
// only ever yields rejected bytes) fails instead of spinning. With a real
// random source a round rejects a byte with probability 8/256, so needing
// more rounds than this never happens.
const maxRandomRounds = 64

// readBase62 fills dst with uniformly random base62 characters by rejection
// sampling bytes from r. Each round reads exactly as many bytes as characters
// are still missing, so a reader yielding every byte value once produces
// every character exactly four times (which the tests check).
func readBase62(dst []byte, r io.Reader) error {
	raw := make([]byte, len(dst))
	defer clear(raw)
	n := 0
	for round := 0; n < len(dst); round++ {
		if round == maxRandomRounds {
			return errors.New("random source yields only rejected bytes")
		}
		chunk := raw[:len(dst)-n]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return err
		}
		for _, b := range chunk {
			if b >= patRejectFrom {
				continue
			}
			dst[n] = base62Alphabet[b%62]
			n++
		}
	}
	return nil
}

// CheckPAT reports whether token is well formed for prefix: the prefix, then
// exactly 36 base62 characters whose last 6 are the checksum of everything
// before them. It returns nil or [ErrMalformedPAT]. It does not allocate and
// touches nothing but its arguments, so the token endpoint can run it before
// any database access.
func CheckPAT(prefix, token string) error {
	if len(token) != len(prefix)+patBodyLen || token[:len(prefix)] != prefix {
		return ErrMalformedPAT
	}
	for i := len(prefix); i < len(token); i++ {
		if !isBase62(token[i]) {
			return ErrMalformedPAT
		}
	}
	sum := patChecksum(token[:len(token)-patChecksumLen])
	if string(sum[:]) != token[len(token)-patChecksumLen:] {
		return ErrMalformedPAT
	}
	return nil
}

// HashPAT is the SHA-256 of the token, the only form in which a PAT is
// stored and looked up (32 bytes).
func HashPAT(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// PATHint is the non-secret display hint of a PAT: the prefix, "…" (U+2026)
// and the last 4 characters, e.g. "pat_…x9Qz". The prefix is taken as
// everything before the 36-character body, so the hint does not depend on
// the configured prefix. The last 4 characters belong to the checksum, which
// is derived from the rest of the token and adds nothing to guessing it. A
// string too short to be a PAT yields "…" alone, never a piece of it.
func PATHint(token string) string {
	if len(token) < patBodyLen {
		return "…"
	}
	return token[:len(token)-patBodyLen] + "…" + token[len(token)-4:]
}

// PATPattern is the regular expression that secret scanners use to find PATs
// with the given prefix, e.g. `pat_[0-9A-Za-z]{36}` for "pat_". Scanners
// confirm a match offline with [CheckPAT]. The pattern is not anchored.
func PATPattern(prefix string) string {
	return regexp.QuoteMeta(prefix) + "[0-9A-Za-z]{" + fmt.Sprint(patBodyLen) + "}"
}

// patChecksum is CRC-32 (IEEE) of s written as 6 base62 digits, most
// significant first, left-padded with '0'. 62^6 > 2^32, so 6 digits always
// suffice. The CRC is computed here over the string's bytes with the
// standard table, rather than through hash/crc32's []byte API, so that
// CheckPAT does not copy the token to the heap.
func patChecksum(s string) [patChecksumLen]byte {
	crc := ^uint32(0)
	for i := 0; i < len(s); i++ {
		crc = crc32.IEEETable[byte(crc)^s[i]] ^ (crc >> 8)
	}
	crc = ^crc
	var out [patChecksumLen]byte
	for i := patChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[crc%62]
		crc /= 62
	}
	return out
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}
