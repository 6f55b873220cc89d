package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// compactSigner signs a payload into a compact JWS (RFC 7515 §7.1) with
// one key, the hot path of every exchange. A key's protected header never
// changes, so it is encoded once, when the key is loaded, by go-jose itself
// (the bytes are go-jose's own, alg, kid and typ); what is left per token
// is base64url of the payload, the signature primitive over
// "header.payload", and base64url of the signature. go-jose builds and
// marshals the header, and copies the payload and signature through its
// JSONWebSignature structure, on every call: 7 % of the server's CPU
// before this (BENCHMARKS.md). go-jose still parses the keys, builds the
// JWKS and verifies every token.
type compactSigner struct {
	// header is the base64url protected header and the '.' after it.
	header string
	sign   func(signingInput []byte) ([]byte, error)
	// sigLen is the length of every signature of this key.
	sigLen int
}

var b64 = base64.RawURLEncoding

// The typ header values this package signs with.
const (
	// TypeAccessToken is the typ of access tokens (RFC 9068 §2.1).
	TypeAccessToken = "at+jwt"
	// TypeSecurityEvent is the typ of Security Event Tokens (RFC 8417
	// §2.3), which Shared Signals requires.
	TypeSecurityEvent = "secevent+jwt"
)

// newCompactSigner builds the signer of priv with alg and header typ. The
// protected header is taken from a token go-jose signs with the same key
// and options, so both produce the same header bytes.
func newCompactSigner(priv crypto.Signer, alg jose.SignatureAlgorithm, kid, typ string) (*compactSigner, error) {
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, err
	}
	obj, err := js.Sign([]byte("{}"))
	if err != nil {
		return nil, err
	}
	token, err := obj.CompactSerialize()
	if err != nil {
		return nil, err
	}
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("go-jose wrote no protected header")
	}
	c := &compactSigner{header: header + "."}
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if alg != jose.ES256 {
			return nil, fmt.Errorf("an ECDSA key cannot sign %s", alg)
		}
		c.sigLen = 64
		c.sign = func(in []byte) ([]byte, error) {
			digest := sha256.Sum256(in)
			der, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
			if err != nil {
				return nil, err
			}
			return fixedRS(der, 32)
		}
	case *rsa.PrivateKey:
		if alg != jose.RS256 {
			return nil, fmt.Errorf("an RSA key cannot sign %s", alg)
		}
		c.sigLen = k.Size()
		c.sign = func(in []byte) ([]byte, error) {
			digest := sha256.Sum256(in)
			return rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
		}
	case ed25519.PrivateKey:
		if alg != jose.EdDSA {
			return nil, fmt.Errorf("an Ed25519 key cannot sign %s", alg)
		}
		c.sigLen = ed25519.SignatureSize
		c.sign = func(in []byte) ([]byte, error) { return ed25519.Sign(k, in), nil }
	default:
		return nil, fmt.Errorf("unsupported key type %T", priv)
	}
	// The signature of every token must check out: sign once and verify
	// it with go-jose before the key is ever used.
	probe, err := c.Sign([]byte(`{"probe":true}`))
	if err != nil {
		return nil, err
	}
	parsed, err := jose.ParseSignedCompact(probe, algorithms)
	if err != nil {
		return nil, fmt.Errorf("own token does not parse: %w", err)
	}
	if _, err := parsed.Verify(priv.Public()); err != nil {
		return nil, fmt.Errorf("own token does not verify: %w", err)
	}
	return c, nil
}

// Sign returns header.payload.signature, each part base64url without
// padding, in one buffer.
func (c *compactSigner) Sign(payload []byte) (string, error) {
	n := len(c.header) + b64.EncodedLen(len(payload))
	buf := make([]byte, n, n+1+b64.EncodedLen(c.sigLen))
	copy(buf, c.header)
	b64.Encode(buf[len(c.header):], payload)
	sig, err := c.sign(buf)
	if err != nil {
		return "", err
	}
	if len(sig) != c.sigLen {
		return "", fmt.Errorf("signature is %d bytes, want %d", len(sig), c.sigLen)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// fixedRS turns an ASN.1 ECDSA signature into the JWS form (RFC 7518
// §3.4): R and S as big-endian integers of size bytes each, concatenated.
func fixedRS(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, v := range []cryptobyte.String{r, s} {
		// An ASN.1 INTEGER is minimal two's complement: a positive value
		// may carry one leading zero byte.
		for len(v) > 0 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > size {
			return nil, errors.New("malformed ECDSA signature")
		}
		copy(out[(i+1)*size-len(v):(i+1)*size], v)
	}
	return out, nil
}
