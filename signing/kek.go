package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KEKSize is the length of a key-encryption key: AES-256.
const KEKSize = 32

// ErrWrongKEK reports a private key that does not decrypt: the
// key-encryption key is not the one it was sealed with, or the stored bytes
// were altered or moved to another kid. AES-GCM cannot tell these apart.
var ErrWrongKEK = errors.New("signing key does not decrypt: wrong keys.encryption_key, or the stored key was altered")

// ParseKEK decodes a key-encryption key given as standard base64 of exactly
// 32 bytes (such as `openssl rand -base64 32`). Surrounding white space is
// ignored. Errors never quote the input.
func ParseKEK(b64 string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		// base64's own error is only an offset, but say nothing of the input.
		return nil, errors.New("parse encryption key: not standard base64")
	}
	if len(b) != KEKSize {
		return nil, fmt.Errorf("parse encryption key: decodes to %d bytes, want %d", len(b), KEKSize)
	}
	return b, nil
}

// LoadOrCreateKEKFile returns the key-encryption key kept in the file at
// path, creating the file with a new random key if it does not exist. It is
// for single-node SQLite installations with no configured key; with several
// replicas the key must come from configuration so that they all share it.
//
// An existing file must hold base64 of 32 bytes and must not be readable or
// writable by group or others. A new file is written completely under a
// temporary name and then linked into place, so a concurrent caller either
// sees no file or the whole key, and exactly one key ever wins.
func LoadOrCreateKEKFile(path string) ([]byte, error) {
	kek, err := readKEKFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return kek, err
	}
	kek = make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("create encryption key file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create encryption key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp opens with O_EXCL and mode 0600; say so in case that changes.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("create encryption key file: %w", err)
	}
	_, werr := tmp.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("create encryption key file: %w", werr)
	}
	// link fails if path exists: like O_EXCL, but the file appears complete.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKEKFile(path) // another process won the race
		}
		// Some filesystems have no hard links.
		return createKEKExclusive(path, kek)
	}
	return kek, nil
}

// createKEKExclusive writes a new key file in place with O_EXCL. A process
// racing it may read the file before it is complete and fail; it succeeds
// on its next start.
func createKEKExclusive(path string, kek []byte) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKEKFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create encryption key file: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create encryption key file: %w", werr)
	}
	return kek, nil
}

// readKEKFile reads and checks an existing key file. It checks the mode of
// the file it opened, not of whatever the path names a moment earlier.
func readKEKFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("read encryption key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read encryption key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read encryption key file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("read encryption key file %s: mode %04o lets group or others access it; it must be 0600 or stricter (chmod 600 %s)", path, perm, path)
	}
	// A key is 45 characters; a larger file is not a key file.
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("read encryption key file %s: %w", path, err)
	}
	kek, err := ParseKEK(string(b))
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("read encryption key file %s: %w", path, err)
	}
	return kek, nil
}

// sealVersion is the first byte of every sealed key: AES-256-GCM, 12-byte
// nonce, kid as additional data.
const sealVersion byte = 1

// newAEAD builds the AES-256-GCM cipher for a key-encryption key.
func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("encryption key is %d bytes, want %d", len(kek), KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts a private key for storage under kid:
// version || nonce || ciphertext.
func seal(aead cipher.AEAD, kid string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("seal signing key %s: %w", kid, err)
	}
	return aead.Seal(out, out[1:], plaintext, []byte(kid)), nil
}

// open decrypts what seal produced for the same kid.
func open(aead cipher.AEAD, kid string, sealed []byte) ([]byte, error) {
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("open signing key %s: too short", kid)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("open signing key %s: unknown format version %d", kid, sealed[0])
	}
	nonce, ct := sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():]
	pt, err := aead.Open(nil, nonce, ct, []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", kid, ErrWrongKEK)
	}
	return pt, nil
}
