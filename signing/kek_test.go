package signing

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseKEK(t *testing.T) {
	good := bytes.Repeat([]byte{0xA5}, KEKSize)
	tests := []struct {
		name  string
		in    string
		want  []byte
		error string // substring of the error; "" = no error
	}{
		{"32 bytes of standard base64 parse", base64.StdEncoding.EncodeToString(good), good, ""},
		{"surrounding white space is ignored", "  " + base64.StdEncoding.EncodeToString(good) + "\n", good, ""},
		{"16 bytes are refused", base64.StdEncoding.EncodeToString(good[:16]), nil, "decodes to 16 bytes, want 32"},
		{"33 bytes are refused", base64.StdEncoding.EncodeToString(append(good, 1)), nil, "decodes to 33 bytes, want 32"},
		{"empty is refused", "", nil, "decodes to 0 bytes"},
		{"not base64 is refused", "this-is-not*base64!secretish~~~~~~~~~~~~~~~~~", nil, "not standard base64"},
		{"URL-safe base64 is refused", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xFB}, KEKSize)), nil, "not standard base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKEK(tt.in)
			if tt.error == "" {
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("ParseKEK: got %x, %v; want %x, nil", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseKEK: got no error, want one containing %q", tt.error)
			}
			if !strings.Contains(err.Error(), tt.error) {
				t.Errorf("error %q does not say %q", err, tt.error)
			}
			if in := strings.TrimSpace(tt.in); len(in) >= 8 && strings.Contains(err.Error(), in[:8]) {
				t.Errorf("error %q echoes the input", err)
			}
		})
	}
}

func FuzzParseKEK(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, KEKSize)))
	f.Add("not base64")
	f.Fuzz(func(t *testing.T, in string) {
		kek, err := ParseKEK(in)
		if err == nil && len(kek) != KEKSize {
			t.Fatalf("accepted a %d-byte key", len(kek))
		}
		if err != nil && len(in) >= 12 && strings.Contains(err.Error(), in) {
			t.Fatalf("error %q echoes the input", err)
		}
	})
}

func TestLoadOrCreateKEKFile(t *testing.T) {
	t.Run("creates a 0600 file once and reads it back the second time", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authserver.kek")
		first, err := LoadOrCreateKEKFile(path)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if len(first) != KEKSize {
			t.Fatalf("got a %d-byte key, want %d", len(first), KEKSize)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("file mode: got %04o, want 0600", perm)
		}
		second, err := LoadOrCreateKEKFile(path)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Error("second call returned a different key: the file was not read back")
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*"))
		if len(leftovers) > 0 {
			t.Errorf("temporary files left behind: %v", leftovers)
		}
	})

	t.Run("concurrent first starts agree on one key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authserver.kek")
		const n = 8
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { keys[i], errs[i] = LoadOrCreateKEKFile(path) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) {
				t.Fatalf("caller %d got a different key from caller 0", i)
			}
		}
	})

	t.Run("the in-place fallback creates a 0600 file once and then reads it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authserver.kek")
		kek := bytes.Repeat([]byte{3}, KEKSize)
		if got, err := createKEKExclusive(path, kek); err != nil || !bytes.Equal(got, kek) {
			t.Fatalf("create: %v", err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("file mode: %v, %v; want 0600", fi.Mode().Perm(), err)
		}
		got, err := createKEKExclusive(path, bytes.Repeat([]byte{4}, KEKSize))
		if err != nil || !bytes.Equal(got, kek) {
			t.Fatalf("second call: got %x, %v; want the first key", got, err)
		}
	})

	t.Run("refuses a group- or other-readable file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authserver.kek")
		content := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, KEKSize))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil { // in spite of the umask
			t.Fatal(err)
		}
		_, err := LoadOrCreateKEKFile(path)
		if err == nil {
			t.Fatal("got no error for a 0644 key file")
		}
		for _, want := range []string{"0644", "chmod 600"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), content[:10]) {
			t.Errorf("error %q quotes the key", err)
		}
	})

	t.Run("refuses a file that is not base64 of 32 bytes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "authserver.kek")
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(make([]byte, 16))), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKEKFile(path); err == nil || !strings.Contains(err.Error(), "want 32") {
			t.Fatalf("got %v, want an error about the key's length", err)
		}
	})

	t.Run("refuses a directory", func(t *testing.T) {
		path := t.TempDir()
		if err := os.Chmod(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateKEKFile(path); err == nil {
			t.Fatal("got no error for a directory")
		}
	})
}

func TestSealedKeys(t *testing.T) {
	aead, err := newAEAD(testKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	other, err := newAEAD(testKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("pkcs8 private key bytes, as far as sealing cares")
	sealed, err := seal(aead, "kid-1", plain)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the sealed form is version, nonce, ciphertext", func(t *testing.T) {
		if sealed[0] != sealVersion {
			t.Errorf("version byte: got %d, want %d", sealed[0], sealVersion)
		}
		if want := 1 + 12 + len(plain) + 16; len(sealed) != want {
			t.Errorf("length: got %d, want %d", len(sealed), want)
		}
		if bytes.Contains(sealed, plain[:16]) {
			t.Error("the plaintext appears in the sealed bytes")
		}
	})
	t.Run("it opens under the same KEK and kid", func(t *testing.T) {
		got, err := open(aead, "kid-1", sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("open: got %q, %v", got, err)
		}
	})
	t.Run("sealing twice gives different bytes", func(t *testing.T) {
		again, _ := seal(aead, "kid-1", plain)
		if bytes.Equal(again, sealed) {
			t.Error("two seals are identical: the nonce is not random")
		}
	})
	refusals := []struct {
		name     string
		wrongKEK bool
		kid      string
		sealed   []byte
		is       error // nil: any error
	}{
		{"a wrong KEK does not open it", true, "kid-1", sealed, ErrWrongKEK},
		{"it cannot be moved to another kid", false, "kid-2", sealed, ErrWrongKEK},
		{"a flipped bit is detected", false, "kid-1", flip(sealed, len(sealed)-1), ErrWrongKEK},
		{"a flipped nonce bit is detected", false, "kid-1", flip(sealed, 3), ErrWrongKEK},
		{"an unknown version is refused", false, "kid-1", flip(sealed, 0), nil},
		{"a truncated value is refused", false, "kid-1", sealed[:20], nil},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			a := aead
			if tt.wrongKEK {
				a = other
			}
			got, err := open(a, tt.kid, tt.sealed)
			if err == nil {
				t.Fatalf("open succeeded with %q", got)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

// flip returns a copy of b with the low bit of b[i] flipped.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}
