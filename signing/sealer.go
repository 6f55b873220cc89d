package signing

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// ErrUnsealable reports a sealed secret that does not open: the
// key-encryption key is not the one it was sealed with, or the stored
// bytes were altered or moved to another row.
var ErrUnsealable = errors.New("sealed secret does not open: wrong keys.encryption_key, or the stored secret was altered")

// A Sealer encrypts secrets other than signing keys that the server must
// read back (webhook signing secrets), as signing keys are: AES-256-GCM
// with the row's id as additional data, one version byte and a random
// nonce. Its key is derived from the key-encryption key for one purpose
// (HKDF-SHA256, the purpose as info), so a secret sealed for one purpose
// never opens as another, nor as a signing key.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer derives the sealing key for purpose from kek. It does not keep
// kek.
func NewSealer(kek []byte, purpose string) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	key, err := hkdf.Key(sha256.New, kek, nil, "authserver "+purpose, KEKSize)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext for the row id.
func (s *Sealer) Seal(id string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal secret: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, []byte(id)), nil
}

// Open decrypts what Seal produced for the same id (ErrUnsealable when it
// does not open).
func (s *Sealer) Open(id string, sealed []byte) ([]byte, error) {
	if len(sealed) < 1+s.aead.NonceSize()+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	nonce, ct := sealed[1:1+s.aead.NonceSize()], sealed[1+s.aead.NonceSize():]
	pt, err := s.aead.Open(nil, nonce, ct, []byte(id))
	if err != nil {
		return nil, ErrUnsealable
	}
	return pt, nil
}
