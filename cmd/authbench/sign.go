package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// signCosts are the two costs of one signature the results compare the
// server's CPU with.
type signCosts struct {
	// goJose is go-jose's Signer.Sign and CompactSerialize: what the
	// keyring signed through before it encoded each key's header once.
	goJose time.Duration
	// primitive is SHA-256 of the signing input and the algorithm's own
	// signing function (ecdsa.SignASN1, rsa.SignPKCS1v15, ed25519.Sign):
	// the floor of any signature.
	primitive time.Duration
}

// realisticClaims is a realistic claims set, as the server signs.
var realisticClaims = []byte(`{"iss":"http://127.0.0.1:8080","sub":"01a2095c-2e6d-7c1b-9f4e-3c1e5a7d8b90","aud":"orchestrator",` +
	`"exp":1795465785,"iat":1795465485,"nbf":1795465485,"jti":"0Yg3HQnbTVjm_Ox4rVRj6A","client_id":"bench-cli",` +
	`"scope":"OR.Execution.Read OR.Folders.Read OR.Jobs","org_id":"01a2095c-2e6d-7aaa-bbbb-3c1e5a7d8b91",` +
	`"pat_id":"01a2095c-2e6d-7ccc-dddd-3c1e5a7d8b92","authorization_details":[{"type":"folder","identifier":"Finance",` +
	`"actions":["OR"],"locations":["orchestrator"]}]}`)

// signatureCosts measures, in this process, what one signature of a
// realistic claims set costs with alg, both ways.
func signatureCosts(alg string) (signCosts, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return signCosts{}, fmt.Errorf("unknown algorithm %q", alg)
	}
	if err != nil {
		return signCosts{}, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key, KeyID: "bench"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return signCosts{}, err
	}
	var c signCosts
	if c.goJose, err = benchmark(func() error {
		jws, err := signer.Sign(realisticClaims)
		if err != nil {
			return err
		}
		_, err = jws.CompactSerialize()
		return err
	}); err != nil {
		return c, err
	}
	// The signing input: a header and the payload, base64url, as signed.
	input := []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"`+alg+`","kid":"bench","typ":"at+jwt"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(realisticClaims))
	c.primitive, err = benchmark(func() error {
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			d := sha256.Sum256(input)
			_, err := ecdsa.SignASN1(rand.Reader, k, d[:])
			return err
		case *rsa.PrivateKey:
			d := sha256.Sum256(input)
			_, err := rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
			return err
		case ed25519.PrivateKey:
			ed25519.Sign(k, input)
		}
		return nil
	})
	return c, err
}

// benchmark is the time of one call of fn (testing.Benchmark).
func benchmark(fn func() error) (time.Duration, error) {
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			if err := fn(); err != nil {
				failed = err
				return
			}
		}
	})
	if failed != nil {
		return 0, failed
	}
	return time.Duration(r.NsPerOp()), nil
}
