package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// signatureCost measures, in this process, what one signature of a
// realistic claims set costs with alg: the same go-jose call the server's
// keyring makes (marshalled claims signed as bytes, compact serialization).
func signatureCost(alg string) (time.Duration, error) {
	var key any
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return 0, err
		}
		key = k
	case "RS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return 0, err
		}
		key = k
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return 0, err
		}
		key = k
	default:
		return 0, fmt.Errorf("unknown algorithm %q", alg)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: key, KeyID: "bench"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return 0, err
	}
	payload := []byte(`{"iss":"http://127.0.0.1:8080","sub":"01a2095c-2e6d-7c1b-9f4e-3c1e5a7d8b90","aud":"orchestrator",` +
		`"exp":1795465785,"iat":1795465485,"nbf":1795465485,"jti":"0Yg3HQnbTVjm_Ox4rVRj6A","client_id":"bench-cli",` +
		`"scope":"OR.Execution.Read OR.Folders.Read OR.Jobs","org_id":"01a2095c-2e6d-7aaa-bbbb-3c1e5a7d8b91",` +
		`"pat_id":"01a2095c-2e6d-7ccc-dddd-3c1e5a7d8b92","authorization_details":[{"type":"folder","identifier":"Finance",` +
		`"actions":["OR"],"locations":["orchestrator"]}]}`)
	var failed error
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			jws, err := signer.Sign(payload)
			if err != nil {
				failed = err
				return
			}
			if _, err := jws.CompactSerialize(); err != nil {
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
