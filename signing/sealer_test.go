package signing

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestSealer(t *testing.T) {
	kek := make([]byte, KEKSize)
	rand.Read(kek)
	s, err := NewSealer(kek, "webhook secret")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("w1", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("sealed bytes hold the plaintext")
	}
	if got, err := s.Open("w1", sealed); err != nil || string(got) != "secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open("w2", sealed); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("opened under another id: %v", err)
	}
	other, _ := NewSealer(kek, "another purpose")
	if _, err := other.Open("w1", sealed); !errors.Is(err, ErrUnsealable) {
		t.Fatalf("opened for another purpose: %v", err)
	}
	// Not a signing key either: the signing keys' cipher is the KEK itself.
	aead, _ := newAEAD(kek)
	if _, err := open(aead, "w1", sealed); err == nil {
		t.Fatal("a sealed secret opened as a signing key")
	}
	if _, err := NewSealer(kek[:16], "x"); err == nil {
		t.Fatal("a short key was taken")
	}
}
