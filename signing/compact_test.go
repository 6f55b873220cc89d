package signing

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// verifyWithJWX verifies tok with lestrrat-go/jwx against the JWK Set: a
// second JOSE implementation, independent of go-jose, which signs nothing
// here any more.
func verifyWithJWX(t testing.TB, tok string, jwks []byte) []byte {
	t.Helper()
	set, err := jwk.Parse(jwks)
	if err != nil {
		t.Fatalf("jwx: parse JWKS: %v", err)
	}
	payload, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		t.Fatalf("jwx: verify: %v", err)
	}
	return payload
}

// goJoseToken signs payload with go-jose and the keyring's active key, the
// way the keyring signed before the compact signer.
func goJoseToken(t testing.TB, k *Keyring, kek []byte, payload []byte) string {
	t.Helper()
	kid := k.Keys()[len(k.Keys())-1].KID
	priv, _ := privateKeyOf(t, k.st, kek, kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Keys()[len(k.Keys())-1].Algorithm),
		Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCompactSignerMatchesGoJose(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			kek := testKEK(t)
			k := mustNew(t, newFakeStore(), testOptions(newFakeClock(), kek, alg))
			for _, payload := range [][]byte{claims, []byte(`{}`), []byte(`{"a":"` + strings.Repeat("é", 301) + `"}`)} {
				tok := mustSign(t, k, payload)
				ref := goJoseToken(t, k, kek, payload)
				gotParts, refParts := strings.Split(tok, "."), strings.Split(ref, ".")
				if len(gotParts) != 3 {
					t.Fatalf("not a compact JWS: %d parts", len(gotParts))
				}
				if gotParts[0] != refParts[0] || gotParts[1] != refParts[1] {
					t.Errorf("header or payload differ from go-jose's:\n got %s.%s\nwant %s.%s", gotParts[0], gotParts[1], refParts[0], refParts[1])
				}
				if alg != ES256 && tok != ref {
					// PKCS #1 v1.5 and Ed25519 signatures are deterministic:
					// the whole token must be go-jose's, byte for byte.
					t.Errorf("%s token differs from go-jose's", alg)
				}
				if len(gotParts[2]) != len(refParts[2]) {
					t.Errorf("signature is %d characters, go-jose's %d", len(gotParts[2]), len(refParts[2]))
				}
				if got := verifyWithJWX(t, tok, k.JWKS()); !bytes.Equal(got, payload) {
					t.Errorf("jwx verified another payload")
				}
				if got, err := verifyWithJWKS(tok, k.JWKS()); err != nil || !bytes.Equal(got, payload) {
					t.Errorf("go-jose verify by the JWKS: %v", err)
				}
				if got, err := k.Verify(tok); err != nil || !bytes.Equal(got, payload) {
					t.Errorf("Keyring.Verify: %v", err)
				}
			}
		})
	}
}

// TestES256SignaturesOfEveryLength signs until R or S is short (a leading
// zero byte, one signature in 128 on average) and checks the padding
// against both verifiers.
func TestES256SignaturesOfEveryLength(t *testing.T) {
	kek := testKEK(t)
	k := mustNew(t, newFakeStore(), testOptions(newFakeClock(), kek, ES256))
	kid := k.Keys()[0].KID
	priv, _ := privateKeyOf(t, k.st, kek, kid)
	pub := priv.Public().(*ecdsa.PublicKey)
	short := 0
	for i := 0; short < 3; i++ {
		if i == 20000 {
			t.Fatalf("no short R or S in %d signatures", i)
		}
		tok := mustSign(t, k, claims)
		parts := strings.Split(tok, ".")
		sig, err := b64.DecodeString(parts[2])
		if err != nil || len(sig) != 64 {
			t.Fatalf("signature: %d bytes, %v", len(sig), err)
		}
		if sig[0] != 0 && sig[32] != 0 {
			continue
		}
		short++
		digest := sha256Sum(parts[0] + "." + parts[1])
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest, r, s) {
			t.Fatal("a signature with a short R or S does not verify")
		}
		if got := verifyWithJWX(t, tok, k.JWKS()); !bytes.Equal(got, claims) {
			t.Fatal("jwx verified another payload")
		}
		if _, err := k.Verify(tok); err != nil {
			t.Fatalf("go-jose: a signature with a short R or S: %v", err)
		}
	}
}

func TestFixedRS(t *testing.T) {
	der := func(r, s *big.Int) []byte {
		b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	high := new(big.Int).SetBytes(bytes.Repeat([]byte{0xff}, 32)) // ASN.1 adds a leading zero
	one := big.NewInt(1)
	got, err := fixedRS(der(high, one), 32)
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte{0xff}, 32), append(make([]byte, 31), 1)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	tooBig := new(big.Int).Lsh(one, 8*32)
	for name, in := range map[string][]byte{
		"empty":        nil,
		"trailing":     append(der(one, one), 0),
		"R too large":  der(tooBig, one),
		"not sequence": {0x02, 0x01, 0x01},
		"one integer":  {0x30, 0x03, 0x02, 0x01, 0x01},
	} {
		if _, err := fixedRS(in, 32); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestRotationSignsWithEachKeysOwnHeader: every key has its own encoded
// header, so a rotation changes the kid of what is signed, and tokens of
// both keys verify while both are published.
func TestRotationSignsWithEachKeysOwnHeader(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	k := mustNew(t, newFakeStore(), testOptions(clock, testKEK(t), ES256))
	old := k.Keys()[0].KID
	before := mustSign(t, k, claims)
	clock.Advance(testRotation - testPublishAhead)
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(testPublishAhead + time.Second)
	if err := k.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	after := mustSign(t, k, claims)
	if header(t, before)["kid"] != old || header(t, after)["kid"] == old {
		t.Fatalf("kids: before %v, after %v, old %s", header(t, before)["kid"], header(t, after)["kid"], old)
	}
	for _, tok := range []string{before, after} {
		if got := verifyWithJWX(t, tok, k.JWKS()); !bytes.Equal(got, claims) {
			t.Fatal("jwx verified another payload")
		}
		if _, err := k.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewCompactSignerRefusesAMismatchedAlgorithm(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.EdDSA} {
		if _, err := newCompactSigner(priv, alg, "kid", TypeAccessToken); err == nil {
			t.Errorf("an ECDSA key was accepted for %s", alg)
		}
	}
}

func sha256Sum(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}
