package dpop_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/authserver/dpop"
	"authserver/authserver/dpop/dpoptest"
)

// memStore keeps proofs and the nonce secret in memory: the fuzz target
// runs too many inputs for a database, and the store's own rules are the
// conformance suite's.
type memStore struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	secret []byte
}

func (m *memStore) UseDPoPProof(_ context.Context, hash []byte, expiresAt, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := hex.EncodeToString(hash)
	if exp, ok := m.seen[k]; ok && exp.After(now) {
		return false, nil
	}
	m.seen[k] = expiresAt
	return true, nil
}

func (m *memStore) DeleteExpiredDPoPProofs(context.Context, time.Time) (int64, error) { return 0, nil }

func (m *memStore) DPoPNonceSecret(_ context.Context, candidate []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secret == nil {
		m.secret = candidate
	}
	return m.secret, nil
}

// FuzzDPoPCheck signs any header and claims with a real key and checks the
// proof: Check never panics, answers either a thumbprint or a refusal with
// a known code, and a refusal never quotes the input.
func FuzzDPoPCheck(f *testing.F) {
	key := dpoptest.NewKey("ES256", 0)
	c, err := dpop.New(dpop.Options{Store: &memStore{seen: map[string]time.Time{}}, Window: time.Minute, Nonce: true})
	if err != nil {
		f.Fatal(err)
	}
	nonce, _ := c.Nonce(context.Background())
	good := strings.Split(key.Proof("POST", tokenURL, map[string]any{"nonce": nonce}), ".")
	f.Add(b64(f, good[0]), b64(f, good[1]))
	f.Add([]byte(`{"typ":"dpop+jwt","alg":"none"}`), []byte(`{}`))
	f.Add([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"oct","k":"AAAA"}}`), []byte(`{"jti":"x","htm":"POST","htu":"`+tokenURL+`","iat":1e300}`))
	f.Add([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC"},"jwk":{}}`), []byte(`{"iat":"1","iat":2}`))
	f.Fuzz(func(t *testing.T, header, claims []byte) {
		proof := key.SignBytes(header, claims)
		jkt, err := c.Check(context.Background(), []string{proof}, dpop.Request{Method: "POST", URL: tokenURL})
		var refused *dpop.Error
		switch {
		case err == nil:
			if jkt != key.JKT() {
				t.Fatalf("accepted with thumbprint %q, want the key's", jkt)
			}
		case errors.As(err, &refused):
			if refused.Code != dpop.CodeInvalidProof && refused.Code != dpop.CodeUseNonce {
				t.Fatalf("code %q", refused.Code)
			}
			for _, part := range []string{string(header), string(claims)} {
				if len(part) >= 24 && strings.Contains(refused.Description, part) {
					t.Fatalf("the description quotes the input: %q", refused.Description)
				}
			}
		default:
			t.Fatalf("neither accepted nor refused: %v", err)
		}
	})
}

func b64(f *testing.F, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
