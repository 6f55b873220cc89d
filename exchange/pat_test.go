package exchange

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
)

// referenceChecksum derives the documented checksum independently of pat.go:
// hash/crc32 for the CRC, and math/big for base62. big.Int.Text(62) uses the
// alphabet 0-9a-zA-Z, so swapping the letters' case turns it into ours.
func referenceChecksum(s string) string {
	text := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(s)))).Text(62)
	swapped := strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, text)
	return strings.Repeat("0", 6-len(swapped)) + swapped
}

func mustNewPAT(t testing.TB, prefix string) string {
	t.Helper()
	tok, err := NewPAT(prefix, nil)
	if err != nil {
		t.Fatalf("NewPAT(%q): %v", prefix, err)
	}
	return tok
}

func TestPATKnownVectors(t *testing.T) {
	// Computed outside Go with Python's zlib.crc32 and a hand-written base62.
	tests := []struct {
		name, prefix, token string
	}{
		{"mixed random part", "pat_", "pat_0123456789ABCDEFGHIJabcdefghij1jh7ds"},
		{"highest digits", "pat_", "pat_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1CbGat"},
		{"other prefix, checksum above 2^31", "acme-", "acme-0000000000000000000000000000003fVwpc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckPAT(tt.prefix, tt.token); err != nil {
				t.Errorf("CheckPAT(vector) = %v, want nil", err)
			}
			body := tt.token[:len(tt.token)-6]
			if got, want := tt.token[len(tt.token)-6:], referenceChecksum(body); got != want {
				t.Errorf("vector checksum %q, independent derivation %q", got, want)
			}
			if got := patChecksum(body); string(got[:]) != tt.token[len(tt.token)-6:] {
				t.Errorf("patChecksum = %q, want %q", got, tt.token[len(tt.token)-6:])
			}
		})
	}
}

func TestChecksumPadsWithLeadingZeros(t *testing.T) {
	// Find inputs whose CRC is below 62^4, so that the checksum needs two
	// leading zeros, and compare with the independent derivation.
	found := 0
	for i := 0; found < 3 && i < 1_000_000; i++ {
		s := fmt.Sprintf("pat_%030d", i)
		if crc32.ChecksumIEEE([]byte(s)) >= 62*62*62*62 {
			continue
		}
		found++
		got := patChecksum(s)
		if want := referenceChecksum(s); string(got[:]) != want || want[:2] != "00" {
			t.Errorf("patChecksum(%q) = %q, want %q with two leading zeros", s, got, want)
		}
	}
	if found == 0 {
		t.Fatal("no input with a small CRC found; the test checks nothing")
	}
}

func TestNewPATDeterministicReader(t *testing.T) {
	// Bytes 0..29 are all accepted and map to the first 30 alphabet digits.
	seq := make([]byte, 30)
	for i := range seq {
		seq[i] = byte(i)
	}
	tok, err := NewPAT("pat_", bytes.NewReader(seq))
	if err != nil {
		t.Fatal(err)
	}
	random := "0123456789ABCDEFGHIJKLMNOPQRST"
	if want := "pat_" + random + referenceChecksum("pat_"+random); tok != want {
		t.Errorf("NewPAT = %q, want %q", tok, want)
	}
}

func TestNewPATIsWellFormed(t *testing.T) {
	for _, prefix := range []string{"pat_", "acme-", "x", strings.Repeat("P", 32)} {
		for range 200 {
			tok := mustNewPAT(t, prefix)
			if len(tok) != len(prefix)+36 || !strings.HasPrefix(tok, prefix) {
				t.Fatalf("token for prefix %q has length %d, want %d", prefix, len(tok), len(prefix)+36)
			}
			if err := CheckPAT(prefix, tok); err != nil {
				t.Fatalf("CheckPAT(generated) = %v, want nil", err)
			}
		}
	}
}

func TestNewPATIsDistinct(t *testing.T) {
	const n = 10_000
	seen := make(map[string]bool, n)
	for range n {
		tok := mustNewPAT(t, "pat_")
		if seen[tok] {
			t.Fatalf("duplicate token after %d generations", len(seen))
		}
		seen[tok] = true
	}
}

func TestReadBase62HasNoModuloBias(t *testing.T) {
	// A reader yielding each byte value exactly once, in random order: the
	// 248 accepted values must give every character exactly 4 times, and
	// the 8 rejected ones nothing.
	perm := make([]byte, 256)
	for i := range perm {
		perm[i] = byte(i)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		dst := make([]byte, 248)
		if err := readBase62(dst, iotest.OneByteReader(bytes.NewReader(perm))); err != nil {
			t.Fatalf("trial %d: readBase62: %v", trial, err)
		}
		counts := map[byte]int{}
		for _, c := range dst {
			counts[c]++
		}
		for i := 0; i < len(base62Alphabet); i++ {
			if got := counts[base62Alphabet[i]]; got != 4 {
				t.Fatalf("trial %d: character %q drawn %d times, want 4", trial, base62Alphabet[i], got)
			}
		}
	}
}

func TestReadBase62RejectsHighBytes(t *testing.T) {
	in := []byte{248, 249, 250, 251, 252, 253, 254, 255, 0, 61, 62, 247}
	dst := make([]byte, 4)
	if err := readBase62(dst, bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	// 248..255 are rejected; then 0 → '0', 61 → 'z', 62 → '0' (62 mod 62)
	// and 247 → 'z' (247 = 3·62 + 61).
	if got, want := string(dst), "0z0z"; got != want {
		t.Errorf("readBase62 = %q, want %q", got, want)
	}
}

func TestNewPATReaderFailures(t *testing.T) {
	boom := errors.New("entropy exhausted")
	if _, err := NewPAT("pat_", iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Errorf("NewPAT with failing reader: err = %v, want wrapping %v", err, boom)
	}
	if _, err := NewPAT("pat_", bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("NewPAT with a reader too short: err = nil, want an error")
	}
	onlyRejected := bytes.NewReader(bytes.Repeat([]byte{0xff}, 1<<16))
	if _, err := NewPAT("pat_", onlyRejected); err == nil {
		t.Error("NewPAT with a reader of only rejected bytes: err = nil, want an error")
	}
}

func TestNewPATRejectsUnsafePrefixes(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"pat_", true},
		{"acme-pat_", true},
		{"X", true},
		{strings.Repeat("a", 32), true},
		{"", false},
		{strings.Repeat("a", 33), false},
		{"pat.", false},
		{"pat ", false},
		{"pät_", false},
		{"pat\n", false},
	}
	for _, tt := range tests {
		err := validatePATPrefix(tt.prefix)
		if (err == nil) != tt.ok {
			t.Errorf("validatePATPrefix(%q) = %v, want ok=%v", tt.prefix, err, tt.ok)
		}
		if _, err := NewPAT(tt.prefix, nil); (err == nil) != tt.ok {
			t.Errorf("NewPAT(%q) err = %v, want ok=%v", tt.prefix, err, tt.ok)
		}
	}
}

func TestCheckPATRejectsMalformed(t *testing.T) {
	valid := "pat_0123456789ABCDEFGHIJabcdefghij1jh7ds"
	body := valid[len("pat_"):]
	tests := []struct {
		name, prefix, token string
	}{
		{"empty string", "pat_", ""},
		{"prefix alone", "pat_", "pat_"},
		{"wrong prefix", "pat_", "pak_" + body},
		{"prefix in wrong case", "pat_", "PAT_" + body},
		{"no prefix", "pat_", body},
		{"valid for another prefix only", "tok_", valid},
		{"one character short", "pat_", valid[:len(valid)-1]},
		{"one character long", "pat_", valid + "0"},
		{"trailing newline", "pat_", valid + "\n"},
		{"leading space", "pat_", " " + valid},
		{"underscore in body", "pat_", "pat_0123456789ABCDEFGHIJabcdefgh_j1jh7ds"},
		{"hyphen in body", "pat_", "pat_0123456789ABCDEFGHIJabcdefgh-j1jh7ds"},
		{"NUL in body", "pat_", "pat_0123456789ABCDEFGHIJabcdefgh\x00j1jh7ds"},
		{"multi-byte character keeping the length", "pat_", "pat_0123456789ABCDEFGHIJabcdefghé1jh7ds"},
		{"wrong checksum", "pat_", "pat_0123456789ABCDEFGHIJabcdefghij1jh7dt"},
		{"checksum of another random part", "pat_", "pat_0123456789ABCDEFGHIJabcdefghik1jh7ds"},
		{"checksum above 62^6 range", "pat_", "pat_0123456789ABCDEFGHIJabcdefghijzzzzzz"},
	}
	// Strings outside the alphabet whose checksum is right: only the
	// alphabet check can refuse them.
	for name, random := range map[string]string{
		"underscore":           "0123456789ABCDEFGHIJabcdefgh_j",
		"hyphen":               "0123456789ABCDEFGHIJabcdefgh-j",
		"space":                "0123456789ABCDEFGHIJabcdefgh j",
		"plus and slash":       "0123456789ABCDEFGHIJabcdefg+/j",
		"multi-byte character": "0123456789ABCDEFGHIJabcdefghé",
	} {
		if len(random) != 30 {
			t.Fatalf("test input %q is %d bytes, want 30", random, len(random))
		}
		tests = append(tests, struct{ name, prefix, token string }{
			"right checksum over a body with " + name, "pat_", "pat_" + random + referenceChecksum("pat_"+random),
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPAT(tt.prefix, tt.token)
			if err != ErrMalformedPAT {
				t.Fatalf("CheckPAT = %v, want ErrMalformedPAT itself", err)
			}
		})
	}
}

func TestCheckPATRejectsEverySingleCharacterChange(t *testing.T) {
	// CRC-32 detects every error burst of up to 32 bits, so replacing any
	// one byte of prefix+random is caught, and any change to the checksum
	// digits no longer matches.
	tokens := []string{"pat_0123456789ABCDEFGHIJabcdefghij1jh7ds"}
	for range 20 {
		tokens = append(tokens, mustNewPAT(t, "pat_"))
	}
	for _, tok := range tokens {
		b := []byte(tok)
		for i := range b {
			orig := b[i]
			for c := 0; c < 256; c++ {
				if byte(c) == orig {
					continue
				}
				b[i] = byte(c)
				if err := CheckPAT("pat_", string(b)); err == nil {
					t.Fatalf("changing byte %d from %q to %q was accepted", i, orig, byte(c))
				}
			}
			b[i] = orig
		}
	}
}

func TestCheckPATRejectsAdjacentTranspositions(t *testing.T) {
	// A swap of two adjacent distinct bytes is a 16-bit burst: detected.
	for range 20 {
		b := []byte(mustNewPAT(t, "pat_"))
		for i := len("pat_"); i+1 < len(b); i++ {
			if b[i] == b[i+1] {
				continue
			}
			b[i], b[i+1] = b[i+1], b[i]
			if err := CheckPAT("pat_", string(b)); err == nil {
				t.Fatalf("swapping bytes %d and %d was accepted", i, i+1)
			}
			b[i], b[i+1] = b[i+1], b[i]
		}
	}
}

func TestCheckPATDoesNotAllocate(t *testing.T) {
	valid := mustNewPAT(t, "pat_")
	bad := valid[:len(valid)-1] + "!"
	for _, tok := range []string{valid, bad} {
		if n := testing.AllocsPerRun(100, func() { _ = CheckPAT("pat_", tok) }); n != 0 {
			t.Errorf("CheckPAT allocates %v times per call, want 0", n)
		}
	}
}

func TestPATErrorsNeverContainTheToken(t *testing.T) {
	tok := mustNewPAT(t, "pat_")
	bad := tok[:len(tok)-1] + "!"
	err := CheckPAT("pat_", bad)
	if err == nil {
		t.Fatal("CheckPAT(bad) = nil")
	}
	for _, secret := range []string{bad, bad[len("pat_"):], bad[len("pat_") : len("pat_")+30]} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains the token", err)
		}
	}
}

func TestHashPAT(t *testing.T) {
	a, b := mustNewPAT(t, "pat_"), mustNewPAT(t, "pat_")
	ha := HashPAT(a)
	want := sha256.Sum256([]byte(a))
	if !bytes.Equal(ha, want[:]) {
		t.Errorf("HashPAT = %x, want SHA-256 %x", ha, want)
	}
	if len(ha) != 32 {
		t.Errorf("len(HashPAT) = %d, want 32", len(ha))
	}
	if bytes.Equal(ha, HashPAT(b)) {
		t.Error("two different tokens hash the same")
	}
	if !bytes.Equal(ha, HashPAT(a)) {
		t.Error("HashPAT is not deterministic")
	}
}

func TestPATHint(t *testing.T) {
	tests := []struct {
		name, token, want string
	}{
		{"prefix, ellipsis and the last 4 characters", "pat_0123456789ABCDEFGHIJabcdefghij1jh7ds", "pat_…h7ds"},
		{"the prefix comes from the token", "acme-0000000000000000000000000000003fVwpc", "acme-…Vwpc"},
		{"a string too short to be a PAT reveals nothing", "pat_abc", "…"},
		{"empty", "", "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PATHint(tt.token); got != tt.want {
				t.Errorf("PATHint(%q) = %q, want %q", tt.token, got, tt.want)
			}
		})
	}
}

func TestPATPattern(t *testing.T) {
	if got, want := PATPattern("pat_"), `pat_[0-9A-Za-z]{36}`; got != want {
		t.Errorf("PATPattern(pat_) = %q, want the documented %q", got, want)
	}
	re := regexp.MustCompile(PATPattern("pat_"))
	for range 100 {
		tok := mustNewPAT(t, "pat_")
		text := "export TOKEN=" + tok + "\n# more"
		if got := re.FindString(text); got != tok {
			t.Fatalf("pattern found %q in text, want the token", got)
		}
	}
	if re.MatchString("pat_" + strings.Repeat("a", 35)) {
		t.Error("pattern matches 35 characters")
	}
	if re.MatchString("pax_" + strings.Repeat("a", 36)) {
		t.Error("pattern matches another prefix")
	}

	// Regular-expression metacharacters in a prefix are quoted.
	dotted := regexp.MustCompile("^" + PATPattern("a.b") + "$")
	if dotted.MatchString("aXb" + strings.Repeat("0", 36)) {
		t.Error(`pattern for prefix "a.b" treats "." as any character`)
	}
	if !dotted.MatchString("a.b" + strings.Repeat("0", 36)) {
		t.Error(`pattern for prefix "a.b" does not match it`)
	}
}

func FuzzCheckPAT(f *testing.F) {
	valid := "pat_0123456789ABCDEFGHIJabcdefghij1jh7ds"
	f.Add("pat_", valid)
	f.Add("pat_", "pat_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1CbGat")
	f.Add("acme-", "acme-0000000000000000000000000000003fVwpc")
	f.Add("pat_", valid[:len(valid)-1]+"t")
	f.Add("pat_", valid+"0")
	f.Add("pat_", "")
	f.Add("", "")
	f.Add("", valid[4:])
	f.Add("pat_", "pat_0123456789ABCDEFGHIJabcdefghé1jh7ds")
	f.Add("pät_", "pät_0123456789ABCDEFGHIJabcdefghij1jh7ds")
	f.Add("pat_", "pat_0123456789ABCDEFGHIJabcdefghijzzzzzz")
	f.Fuzz(func(t *testing.T, prefix, token string) {
		checkPATInvariants(t, prefix, token)

		// A token generated from the fuzzed bytes as random source must be
		// accepted, so the accepting branch sees fuzzed data too. Only as
		// many fuzzed bytes as readBase62 is sure to get past are used:
		// each of its rounds reads at least one byte, so after
		// maxRandomRounds-1 of them the zeros behind fill the token. (A
		// source of only rejected bytes is refused, by design.)
		if validatePATPrefix(prefix) != nil {
			return
		}
		random := io.MultiReader(strings.NewReader(token[:min(len(token), maxRandomRounds-1)]), bytes.NewReader(make([]byte, 64)))
		generated, err := NewPAT(prefix, random)
		if err != nil {
			t.Fatalf("NewPAT(%q, fuzzed bytes): %v", prefix, err)
		}
		if err := CheckPAT(prefix, generated); err != nil {
			t.Fatalf("CheckPAT(NewPAT(%q)) = %v", prefix, err)
		}
		checkPATInvariants(t, prefix, generated)
	})
}

// checkPATInvariants: CheckPAT answers nil or ErrMalformedPAT itself, and
// whatever it accepts has the documented shape and checksum.
func checkPATInvariants(t *testing.T, prefix, token string) {
	t.Helper()
	err := CheckPAT(prefix, token)
	if err != nil {
		if err != ErrMalformedPAT {
			t.Fatalf("CheckPAT error = %v, want ErrMalformedPAT itself", err)
		}
		return
	}
	if !strings.HasPrefix(token, prefix) || len(token) != len(prefix)+36 {
		t.Fatalf("accepted %q for prefix %q: wrong shape", token, prefix)
	}
	for _, c := range []byte(token[len(prefix):]) {
		if !strings.ContainsRune(base62Alphabet, rune(c)) {
			t.Fatalf("accepted %q with non-base62 byte %q", token, c)
		}
	}
	body := token[:len(token)-6]
	if got, want := token[len(token)-6:], referenceChecksum(body); got != want {
		t.Fatalf("accepted %q: checksum %q, independent derivation %q", token, got, want)
	}
}

func BenchmarkCheckAndHashPAT(b *testing.B) {
	tok := mustNewPAT(b, "pat_")
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckPAT("pat_", tok); err != nil {
			b.Fatal(err)
		}
		_ = HashPAT(tok)
	}
}

func BenchmarkNewPAT(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewPAT("pat_", nil); err != nil {
			b.Fatal(err)
		}
	}
}
