package signing

import (
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authserver/storage"
)

// The signature algorithms a key may have.
const (
	ES256 = string(jose.ES256)
	RS256 = string(jose.RS256)
	EdDSA = string(jose.EdDSA)
)

// algorithms are the only algorithms this package signs or verifies with.
// Never none, never HS*: an HMAC "key" here would be a public key.
var algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// validAlgorithm reports whether alg is one of ES256, RS256, EdDSA.
func validAlgorithm(alg string) bool {
	return slices.Contains(algorithms, jose.SignatureAlgorithm(alg))
}

// minRSABits is the smallest RSA key this package generates or loads.
const minRSABits = 2048

// loadedKey is a decrypted key, ready to sign. It never leaves the package.
type loadedKey struct {
	kid         string
	alg         jose.SignatureAlgorithm
	activatesAt time.Time
	retiresAt   *time.Time
	// source is the stored row's ciphertext and public JWK, to tell whether a
	// later listing of the same kid can reuse this decryption.
	sealed, publicJWK []byte
	signer            *compactSigner // typ at+jwt
	// eventSigner signs Security Event Tokens (typ secevent+jwt) with the
	// same key: a second header, so the access-token path stays as it was.
	eventSigner *compactSigner
	public      jose.JSONWebKey // kid, alg, use "sig"; public part only
}

// generateKey makes a key for alg from crypto/rand and returns it as a row
// with KID, Algorithm, PrivateKey (sealed under aead) and PublicJWK set.
func generateKey(aead cipher.AEAD, alg string, rsaBits int) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("generate signing key: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: thumbprint: %w", alg, err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: public JWK: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("generate %s signing key: PKCS#8: %w", alg, err)
	}
	sealed, err := seal(aead, pub.KeyID, der)
	clear(der)
	if err != nil {
		return nil, err
	}
	return &storage.SigningKey{KID: pub.KeyID, Algorithm: alg, PrivateKey: sealed, PublicJWK: pubJSON}, nil
}

// loadKey decrypts a stored key and builds its signer. It refuses a key
// whose algorithm is not one this package uses, whose private key is not of
// that algorithm, or whose stored public JWK is not the public half of the
// private key — so a row written by someone without the KEK is never
// published, even if its public JWK is a valid key.
func loadKey(aead cipher.AEAD, row *storage.SigningKey) (*loadedKey, error) {
	if !validAlgorithm(row.Algorithm) {
		return nil, fmt.Errorf("load signing key %s: unsupported algorithm %q", row.KID, row.Algorithm)
	}
	der, err := open(aead, row.KID, row.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		// The parser's message says nothing of the key's bytes; drop it anyway.
		return nil, fmt.Errorf("load signing key %s: decrypted bytes are not a PKCS#8 private key", row.KID)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !keyFitsAlgorithm(priv, row.Algorithm) {
		return nil, fmt.Errorf("load signing key %s: private key is not a %s key", row.KID, row.Algorithm)
	}
	public := jose.JSONWebKey{Key: priv.Public(), KeyID: row.KID, Algorithm: row.Algorithm, Use: "sig"}
	if err := checkStoredPublic(row, &public); err != nil {
		return nil, err
	}
	alg := jose.SignatureAlgorithm(row.Algorithm)
	signer, err := newCompactSigner(priv, alg, row.KID, TypeAccessToken)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: signer: %w", row.KID, err)
	}
	eventSigner, err := newCompactSigner(priv, alg, row.KID, TypeSecurityEvent)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: event signer: %w", row.KID, err)
	}
	return &loadedKey{
		kid:         row.KID,
		alg:         alg,
		activatesAt: row.ActivatesAt,
		retiresAt:   row.RetiresAt,
		sealed:      row.PrivateKey,
		publicJWK:   row.PublicJWK,
		signer:      signer,
		eventSigner: eventSigner,
		public:      public,
	}, nil
}

// keyFitsAlgorithm reports whether priv is a key alg signs with.
func keyFitsAlgorithm(priv crypto.Signer, alg string) bool {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		return alg == ES256 && k.Curve == elliptic.P256()
	case *rsa.PrivateKey:
		return alg == RS256 && k.N.BitLen() >= minRSABits
	case ed25519.PrivateKey:
		return alg == EdDSA
	}
	return false
}

// checkStoredPublic compares the row's stored public JWK with the one
// derived from its private key.
func checkStoredPublic(row *storage.SigningKey, derived *jose.JSONWebKey) error {
	var stored jose.JSONWebKey
	if err := stored.UnmarshalJSON(row.PublicJWK); err != nil {
		return fmt.Errorf("load signing key %s: stored public JWK does not parse", row.KID)
	}
	if !stored.IsPublic() {
		return fmt.Errorf("load signing key %s: stored public JWK holds private parameters", row.KID)
	}
	if stored.KeyID != row.KID || stored.Algorithm != row.Algorithm {
		return fmt.Errorf("load signing key %s: stored public JWK has kid %q and alg %q, want the row's", row.KID, stored.KeyID, stored.Algorithm)
	}
	a, err1 := stored.Thumbprint(crypto.SHA256)
	b, err2 := derived.Thumbprint(crypto.SHA256)
	if err := errors.Join(err1, err2); err != nil || string(a) != string(b) {
		return fmt.Errorf("load signing key %s: stored public JWK is not the public half of the private key", row.KID)
	}
	return nil
}
