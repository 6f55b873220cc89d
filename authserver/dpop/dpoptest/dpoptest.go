// Package dpoptest makes DPoP proofs for tests, well-formed or broken in one
// chosen way: it signs whatever header and claims it is given, so a test can
// send a proof no honest client library would make.
package dpoptest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is a client's DPoP key pair.
type Key struct {
	Alg  string
	priv crypto.Signer
	// JWK is the public key as the proof's jwk header carries it.
	JWK map[string]any
}

// NewKey makes a key for alg: ES256, EdDSA, or RS256 with bits (2048 when
// bits is 0).
func NewKey(alg string, bits int) *Key {
	var priv crypto.Signer
	switch alg {
	case "ES256":
		priv, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		if bits == 0 {
			bits = 2048
		}
		priv, _ = rsa.GenerateKey(rand.Reader, bits)
	default:
		panic("dpoptest: unsupported alg " + alg)
	}
	pub := jose.JSONWebKey{Key: priv.Public()}
	b, err := pub.MarshalJSON()
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return &Key{Alg: alg, priv: priv, JWK: m}
}

// PrivateJWK is the key with its private members, as a careless client
// might put it in the jwk header.
func (k *Key) PrivateJWK() map[string]any {
	b, err := (&jose.JSONWebKey{Key: k.priv}).MarshalJSON()
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// JKT is the key's RFC 7638 SHA-256 thumbprint, base64url.
func (k *Key) JKT() string {
	tp, err := (&jose.JSONWebKey{Key: k.priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// Header is the header of a good proof.
func (k *Key) Header() map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.Alg, "jwk": k.JWK}
}

// Claims are the claims of a good proof for method and url, issued now.
func Claims(method, url string) map[string]any {
	jti := make([]byte, 16)
	rand.Read(jti)
	return map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": url,
		"iat": time.Now().Unix()}
}

// ATH is the ath claim for token.
func ATH(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Proof is a good proof for method and url, with extra claims set over
// the defaults (a nil value removes a claim).
func (k *Key) Proof(method, url string, extra map[string]any) string {
	c := Claims(method, url)
	for n, v := range extra {
		if v == nil {
			delete(c, n)
			continue
		}
		c[n] = v
	}
	return k.Sign(k.Header(), c)
}

// Sign makes a compact JWS of header and claims, signed with the key as
// its own alg prescribes, whatever header says.
func (k *Key) Sign(header, claims map[string]any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return k.SignBytes(h, c)
}

// SignBytes makes a compact JWS of any header and claims bytes, signed with
// the key as its own alg prescribes.
func (k *Key) SignBytes(h, c []byte) string {
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var sig []byte
	switch p := k.priv.(type) {
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, p, sum[:])
		if err != nil {
			panic(err)
		}
		sig = append(pad(r, 32), pad(s, 32)...)
	case ed25519.PrivateKey:
		sig = ed25519.Sign(p, []byte(input))
	case *rsa.PrivateKey:
		sum := sha256.Sum256([]byte(input))
		var err error
		sig, err = rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, sum[:])
		if err != nil {
			panic(err)
		}
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func pad(n *big.Int, size int) []byte {
	return n.FillBytes(make([]byte, size))
}
