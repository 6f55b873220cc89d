package signing

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"authserver/storage"
)

// claims is a realistic access-token payload (476 bytes).
var claims = []byte(`{"iss":"https://auth.example.com","sub":"0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d3f",` +
	`"aud":"orchestrator","exp":1893456300,"iat":1893456000,"nbf":1893456000,` +
	`"jti":"0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d40","client_id":"cli",` +
	`"scope":"OR.Jobs OR.Execution OR.Folders.Read","org_id":"0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d41",` +
	`"pat_id":"0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d42","authorization_details":[{"type":"folder",` +
	`"locations":["Finance/Invoices"],"actions":["OR.Jobs.Read","OR.Execution"]}]}`)

var allAlgorithms = []string{ES256, RS256, EdDSA}

// header decodes a compact JWS's protected header.
func header(t testing.TB, tok string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("header is not base64url: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatalf("header is not JSON: %v", err)
	}
	return h
}

// verifyWithJWKS verifies tok as an independent resource server would: by
// the JWK Set alone, with go-jose, taking the algorithm from the key.
func verifyWithJWKS(tok string, jwks []byte) ([]byte, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	unverified, err := jose.ParseSignedCompact(tok, algorithms)
	if err != nil {
		return nil, err
	}
	keys := set.Key(unverified.Signatures[0].Protected.KeyID)
	if len(keys) != 1 {
		return nil, errors.New("kid not in the JWKS")
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(keys[0].Algorithm)})
	if err != nil {
		return nil, err
	}
	return jws.Verify(keys[0])
}

// kidsIn lists the kids of a JWK Set.
func kidsIn(t testing.TB, jwks []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	return kids
}

// privateKeyOf decrypts a stored key the way the keyring does.
func privateKeyOf(t testing.TB, st Store, kek []byte, kid string) (crypto.Signer, []byte) {
	t.Helper()
	rows, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	aead, err := newAEAD(kek)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.KID == kid {
			der, err := open(aead, kid, r.PrivateKey)
			if err != nil {
				t.Fatalf("open %s: %v", kid, err)
			}
			priv, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatalf("parse %s: %v", kid, err)
			}
			return priv.(crypto.Signer), der
		}
	}
	t.Fatalf("no stored key %s", kid)
	return nil, nil
}

func TestEachAlgorithmSignsVerifiableTokens(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			kek := testKEK(t)
			k := mustNew(t, newFakeStore(), testOptions(newFakeClock(), kek, alg))
			tok := mustSign(t, k, claims)

			h := header(t, tok)
			kid := k.Keys()[0].KID
			for name, want := range map[string]string{"alg": alg, "typ": "at+jwt", "kid": kid} {
				if got, _ := h[name].(string); got != want {
					t.Errorf("header %s: got %q, want %q", name, got, want)
				}
			}
			if len(h) != 3 {
				t.Errorf("header has %d members %v, want exactly alg, kid, typ", len(h), h)
			}

			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			priv, _ := privateKeyOf(t, k.st, kek, kid)
			if got, err := jws.Verify(priv.Public()); err != nil || !bytes.Equal(got, claims) {
				t.Errorf("go-jose verify with the public key: %v", err)
			}
			if got, err := verifyWithJWKS(tok, k.JWKS()); err != nil || !bytes.Equal(got, claims) {
				t.Errorf("verify with the public JWK from JWKS(): %v", err)
			}
			if got, err := k.Verify(tok); err != nil || !bytes.Equal(got, claims) {
				t.Errorf("Keyring.Verify: %v", err)
			}
		})
	}
}

func TestRSAKeySizeOption(t *testing.T) {
	clock := newFakeClock()
	o := testOptions(clock, testKEK(t), RS256)
	o.RSABits = 3072
	st := newFakeStore()
	k := mustNew(t, st, o)
	priv, _ := privateKeyOf(t, st, o.KEK, k.Keys()[0].KID)
	if bits := priv.Public().(interface{ Size() int }).Size() * 8; bits != 3072 {
		t.Errorf("RSA key size: got %d bits, want 3072", bits)
	}
	o.RSABits = 1024
	if _, err := New(context.Background(), newFakeStore(), o); err == nil {
		t.Error("a 1024-bit RSA option was accepted")
	}
}

func TestJWKSHasOnlyPublicParts(t *testing.T) {
	private := []string{"d", "p", "q", "dp", "dq", "qi"}
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k := mustNew(t, newFakeStore(), testOptions(newFakeClock(), testKEK(t), alg))
			if _, err := k.Rotate(context.Background(), false); err != nil { // a pending key too
				t.Fatal(err)
			}
			var set map[string][]map[string]any
			if err := json.Unmarshal(k.JWKS(), &set); err != nil {
				t.Fatalf("JWKS is not a JSON object of key lists: %v", err)
			}
			keys, ok := set["keys"]
			if !ok || len(keys) != 2 {
				t.Fatalf(`JWKS: got %s, want "keys" with 2 keys`, k.JWKS())
			}
			for _, key := range keys {
				for _, m := range private {
					if _, ok := key[m]; ok {
						t.Errorf("published key %v has private member %q", key["kid"], m)
					}
				}
				if key["use"] != "sig" || key["alg"] != alg || key["kid"] == "" || key["kty"] == "" {
					t.Errorf("published key lacks kty, kid, alg %s or use sig: %v", alg, key)
				}
			}
			if got := k.PublishedCount(); got != 2 {
				t.Errorf("PublishedCount: got %d, want 2", got)
			}
		})
	}
}

func TestPrivateKeysAreEncryptedAtRest(t *testing.T) {
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			st := newFakeStore()
			kek := testKEK(t)
			k := mustNew(t, st, testOptions(newFakeClock(), kek, alg))
			kid := k.Keys()[0].KID
			row, _ := st.row(kid)
			_, der := privateKeyOf(t, st, kek, kid)

			if bytes.Contains(row.PrivateKey, der[len(der)-32:]) {
				t.Error("the stored private key contains the plaintext PKCS#8")
			}
			if _, err := x509.ParsePKCS8PrivateKey(row.PrivateKey); err == nil {
				t.Error("the stored private key parses as plaintext PKCS#8")
			}
			if _, err := x509.ParsePKCS8PrivateKey(row.PrivateKey[13:]); err == nil {
				t.Error("the stored private key minus its header parses as plaintext PKCS#8")
			}
			if bytes.Contains(row.PublicJWK, []byte(`"d"`)) {
				t.Errorf("the stored public JWK has a private member: %s", row.PublicJWK)
			}
		})
	}
}

func TestKidIsTheRFC7638Thumbprint(t *testing.T) {
	k := mustNew(t, newFakeStore(), testOptions(newFakeClock(), testKEK(t), ES256))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	tp, err := set.Keys[0].Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Keys[0].KeyID, base64.RawURLEncoding.EncodeToString(tp); got != want {
		t.Errorf("kid: got %q, want the thumbprint %q", got, want)
	}
}

func TestWrongKEK(t *testing.T) {
	clock := newFakeClock()
	st := newFakeStore()
	good := testKEK(t)
	mustNew(t, st, testOptions(clock, good, ES256))
	wrong := testKEK(t)

	t.Run("New fails with ErrWrongKEK, quoting no key", func(t *testing.T) {
		_, err := New(context.Background(), st, testOptions(clock, wrong, ES256))
		if !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("New with a wrong KEK: got %v, want ErrWrongKEK", err)
		}
		for _, kek := range [][]byte{good, wrong} {
			for _, enc := range []string{base64.StdEncoding.EncodeToString(kek), base64.RawURLEncoding.EncodeToString(kek), hex.EncodeToString(kek)} {
				if strings.Contains(err.Error(), enc[:12]) {
					t.Errorf("error %q quotes a KEK", err)
				}
			}
		}
	})

	t.Run("a replica with a wrong KEK adds no key, even when rotation is due", func(t *testing.T) {
		clock.Advance(testRotation)
		before := st.count()
		if _, err := New(context.Background(), st, testOptions(clock, wrong, ES256)); !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("New: got %v, want ErrWrongKEK", err)
		}
		if got := st.count(); got != before {
			t.Errorf("keys in the store: got %d, want %d (unchanged)", got, before)
		}
	})

	t.Run("a ciphertext moved to another kid does not load", func(t *testing.T) {
		st := newFakeStore()
		k := mustNew(t, st, testOptions(clock, good, ES256))
		if _, err := k.Rotate(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		infos := k.Keys()
		a, _ := st.row(infos[0].KID)
		b, _ := st.row(infos[1].KID)
		b.PrivateKey = a.PrivateKey
		_, err := loadKey(k.aead, &b)
		if !errors.Is(err, ErrWrongKEK) {
			t.Fatalf("loading key %s with key %s's ciphertext: got %v, want ErrWrongKEK", b.KID, a.KID, err)
		}
	})
}

func TestVerifyRefuses(t *testing.T) {
	clock := newFakeClock()
	st := newFakeStore()
	kek := testKEK(t)
	k := mustNew(t, st, testOptions(clock, kek, ES256))
	kid := k.Keys()[0].KID
	priv, _ := privateKeyOf(t, st, kek, kid)
	good := mustSign(t, k, claims)
	b64 := base64.RawURLEncoding.EncodeToString

	sign := func(alg jose.SignatureAlgorithm, key any, headers map[jose.HeaderKey]any) string {
		t.Helper()
		opts := &jose.SignerOptions{}
		for h, v := range headers {
			opts.WithHeader(h, v)
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	pkix, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	publicJWK, _ := set.Keys[0].MarshalJSON()
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	parts := strings.Split(good, ".")

	tests := []struct {
		name, token string
	}{
		{"alg none", b64([]byte(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`)) + "." + parts[1] + "."},
		{"alg none with the real signature", b64([]byte(`{"alg":"none","kid":"`+kid+`","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]},
		{"HS256 with the public key PEM as HMAC secret", sign(jose.HS256, publicPEM, map[jose.HeaderKey]any{"kid": kid, "typ": "at+jwt"})},
		{"HS256 with the public JWK as HMAC secret", sign(jose.HS256, publicJWK, map[jose.HeaderKey]any{"kid": kid, "typ": "at+jwt"})},
		{"the right key without typ", sign(jose.ES256, priv, map[jose.HeaderKey]any{"kid": kid})},
		{"the right key with typ JWT", sign(jose.ES256, priv, map[jose.HeaderKey]any{"kid": kid, "typ": "JWT"})},
		{"an unknown kid", sign(jose.ES256, stranger, map[jose.HeaderKey]any{"kid": "not-a-published-kid", "typ": "at+jwt"})},
		{"a stranger's key under a published kid", sign(jose.ES256, stranger, map[jose.HeaderKey]any{"kid": kid, "typ": "at+jwt"})},
		{"no kid", sign(jose.ES256, priv, map[jose.HeaderKey]any{"typ": "at+jwt"})},
		{"alg EdDSA on an ES256 key", b64([]byte(`{"alg":"EdDSA","kid":"`+kid+`","typ":"at+jwt"}`)) + "." + parts[1] + "." + parts[2]},
		{"a tampered payload", parts[0] + "." + b64(bytes.Replace(claims, []byte("OR.Jobs.Read"), []byte("OR.Admin.All"), 1)) + "." + parts[2]},
		{"a tampered header", b64([]byte(`{"alg":"ES256","kid":"`+kid+`","typ":"at+jwt","x":1}`)) + "." + parts[1] + "." + parts[2]},
		{"a missing signature", parts[0] + "." + parts[1] + "."},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := k.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted it, payload %q", payload)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v is not ErrInvalidToken", err)
			}
			if len(tt.token) > 20 && strings.Contains(err.Error(), tt.token[:20]) {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}

	t.Run("the genuine token, and typ application/at+jwt, are accepted", func(t *testing.T) {
		if _, err := k.Verify(good); err != nil {
			t.Fatalf("genuine token: %v", err)
		}
		if _, err := k.Verify(sign(jose.ES256, jose.JSONWebKey{Key: priv, KeyID: kid}, map[jose.HeaderKey]any{"typ": "application/at+jwt"})); err != nil {
			t.Fatalf("typ application/at+jwt: %v", err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	clock := newFakeClock()
	k := mustNew(f, newFakeStore(), testOptions(clock, testKEK(f), ES256))
	good := mustSign(f, k, claims)
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		payload, err := k.Verify(tok)
		if err == nil && !bytes.Equal(payload, claims) {
			t.Fatalf("accepted a payload this keyring never signed: %q", payload)
		}
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name   string
		change func(*Options)
	}{
		{"algorithm none", func(o *Options) { o.Algorithm = "none" }},
		{"algorithm HS256", func(o *Options) { o.Algorithm = "HS256" }},
		{"a 16-byte KEK", func(o *Options) { o.KEK = o.KEK[:16] }},
		{"no KEK", func(o *Options) { o.KEK = nil }},
		{"publish-ahead as long as the rotation period", func(o *Options) { o.PublishAhead = o.RotationPeriod }},
		{"zero publish-ahead", func(o *Options) { o.PublishAhead = 0 }},
		{"zero rotation period", func(o *Options) { o.RotationPeriod = 0 }},
		{"zero maximum token lifetime", func(o *Options) { o.MaxTokenTTL = 0 }},
		{"refresh no more often than publish-ahead", func(o *Options) { o.RefreshInterval = o.PublishAhead }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			o := testOptions(clock, testKEK(t), ES256)
			tt.change(&o)
			if _, err := New(context.Background(), st, o); err == nil {
				t.Fatal("New accepted it")
			}
			if st.count() != 0 {
				t.Error("New wrote a key before refusing its options")
			}
		})
	}
	t.Run("defaults: ES256, refresh min(30s, publish-ahead/4)", func(t *testing.T) {
		o := testOptions(clock, testKEK(t), "")
		o.PublishAhead = 40 * time.Second
		k := mustNew(t, newFakeStore(), o)
		if k.o.Algorithm != ES256 || k.o.RefreshInterval != 10*time.Second {
			t.Errorf("got algorithm %q and refresh %s, want ES256 and 10s", k.o.Algorithm, k.o.RefreshInterval)
		}
		if got, want := k.JWKSMaxAge(), 15*time.Second; got != want {
			t.Errorf("JWKSMaxAge: got %s, want %s", got, want)
		}
	})
}

func TestTamperedRowIsNeverPublished(t *testing.T) {
	clock := newFakeClock()
	kek := testKEK(t)
	aead, err := newAEAD(kek)
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerJWK := func(kid string) []byte {
		jwk := jose.JSONWebKey{Key: attacker.Public(), KeyID: kid, Algorithm: ES256, Use: "sig"}
		b, _ := jwk.MarshalJSON()
		return b
	}
	// Each case plants a row as the next key to activate, derived from a
	// genuine key generated with the KEK (which the row may then misuse).
	tests := []struct {
		name   string
		tamper func(legit, fresh *storage.SigningKey)
	}{
		{"an attacker's public key with a ciphertext copied from another row", func(legit, fresh *storage.SigningKey) {
			fresh.PrivateKey = legit.PrivateKey
			fresh.PublicJWK = attackerJWK(fresh.KID)
		}},
		{"a sealed key whose stored public JWK is another key's", func(_, fresh *storage.SigningKey) {
			fresh.PublicJWK = attackerJWK(fresh.KID)
		}},
		{"a stored public JWK with a private member", func(_, fresh *storage.SigningKey) {
			fresh.PublicJWK = bytes.Replace(fresh.PublicJWK, []byte(`{`), []byte(`{"d":"AAAA",`), 1)
		}},
		{"an ES256 key relabelled RS256", func(_, fresh *storage.SigningKey) {
			fresh.Algorithm = RS256
			fresh.PublicJWK = bytes.Replace(fresh.PublicJWK, []byte(`"ES256"`), []byte(`"RS256"`), 1)
		}},
		{"an ES256 key relabelled HS256", func(_, fresh *storage.SigningKey) { fresh.Algorithm = "HS256" }},
		{"a garbage ciphertext", func(_, fresh *storage.SigningKey) { fresh.PrivateKey = []byte{1, 2, 3} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newFakeStore()
			var logs logBuffer
			o := testOptions(clock, kek, ES256)
			o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			k := mustNew(t, st, o)
			legit, _ := st.row(k.Keys()[0].KID)
			fresh, err := generateKey(aead, ES256, 0)
			if err != nil {
				t.Fatal(err)
			}
			tt.tamper(&legit, fresh)
			fresh.CreatedAt, fresh.ActivatesAt = clock.Now(), clock.Now().Add(time.Hour)
			st.put(*fresh)

			if err := k.Refresh(context.Background()); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if slices.Contains(kidsIn(t, k.JWKS()), fresh.KID) {
				t.Fatal("the planted key is published")
			}
			if !strings.Contains(logs.String(), fresh.KID) {
				t.Error("the skipped key was not logged by kid")
			}
			forged, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: attacker, KeyID: fresh.KID}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			jws, _ := forged.Sign(claims)
			tok, _ := jws.CompactSerialize()
			if _, err := k.Verify(tok); err == nil {
				t.Error("a token signed by the attacker's key verifies")
			}

			// When it is due to activate, Refresh fails and the keyring keeps
			// signing with the last good key.
			now := clock.Now()
			defer clock.Set(now)
			clock.Advance(time.Hour)
			if err := k.Refresh(context.Background()); err == nil {
				t.Error("Refresh did not report that the active key does not load")
			}
			if got := header(t, mustSign(t, k, claims))["kid"]; got != legit.KID {
				t.Errorf("signed with %v, want the last good key %s", got, legit.KID)
			}
		})
	}
}

func TestSignRefusesAKeyRetiringBeforeItsTokenWouldExpire(t *testing.T) {
	clock := newFakeClock()
	st := newFakeStore()
	k := mustNew(t, st, testOptions(clock, testKEK(t), ES256))
	// A view of the keys gone wrong: the active key retires sooner than a
	// token signed now would expire.
	row, _ := st.row(k.Keys()[0].KID)
	soon := clock.Now().Add(testMaxTTL - time.Second)
	row.RetiresAt = &soon
	st.put(row)
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tok, err := k.Sign(claims); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("Sign: got %q, %v; want ErrNoSigningKey", tok, err)
	}
}

func TestFailedRefreshKeepsTheLastGoodKeys(t *testing.T) {
	clock := newFakeClock()
	st := &failingStore{fakeStore: newFakeStore()}
	k := mustNew(t, st, testOptions(clock, testKEK(t), EdDSA))
	jwks := k.JWKS()
	st.fail = true
	if err := k.Maintain(context.Background()); err == nil {
		t.Fatal("Maintain reported no error with the database down")
	}
	if !bytes.Equal(k.JWKS(), jwks) {
		t.Error("the JWKS changed")
	}
	if _, err := k.Verify(mustSign(t, k, claims)); err != nil {
		t.Errorf("a token signed with the database down does not verify: %v", err)
	}
}

type failingStore struct {
	*fakeStore
	fail bool
}

func (f *failingStore) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	if f.fail {
		return nil, storage.ErrUnavailable
	}
	return f.fakeStore.ListSigningKeys(ctx)
}

func TestKeyringNeverLogsKeyMaterial(t *testing.T) {
	clock := newFakeClock()
	st := newFakeStore()
	kek := testKEK(t)
	var logs logBuffer
	o := testOptions(clock, kek, RS256)
	o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	k := mustNew(t, st, o)
	var errs []string
	for range 3 {
		if _, err := k.Rotate(ctx, true); err != nil {
			t.Fatal(err)
		}
		clock.Advance(testRotation)
		if err := k.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		mustSign(t, k, claims)
	}
	wrong := o
	wrong.KEK = testKEK(t)
	if _, err := New(ctx, st, wrong); err != nil {
		errs = append(errs, err.Error())
	}

	if !strings.Contains(logs.String(), "signing key created") {
		t.Fatalf("nothing was logged; the test would prove nothing: %s", logs.String())
	}
	out := logs.String() + strings.Join(errs, "\n")
	secrets := map[string][]byte{"KEK": kek, "wrong KEK": wrong.KEK}
	rows, _ := st.ListSigningKeys(ctx)
	for _, r := range rows {
		_, der := privateKeyOf(t, st, kek, r.KID)
		secrets["PKCS#8 of "+r.KID] = der
		secrets["sealed "+r.KID] = r.PrivateKey
	}
	for name, secret := range secrets {
		for _, enc := range []string{
			base64.StdEncoding.EncodeToString(secret)[8:40],
			base64.RawURLEncoding.EncodeToString(secret)[8:40],
			hex.EncodeToString(secret)[8:40],
		} {
			if strings.Contains(out, enc) {
				t.Errorf("the %s appears in the logs or errors", name)
			}
		}
	}
}

func TestRunMaintainsUntilCancelled(t *testing.T) {
	st := newFakeStore()
	kek := testKEK(t)
	o := Options{Algorithm: EdDSA, RotationPeriod: testRotation, PublishAhead: testPublishAhead, MaxTokenTTL: testMaxTTL,
		KEK: kek, RefreshInterval: 5 * time.Millisecond}
	a := mustNew(t, st, o)
	b := mustNew(t, st, o)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()

	next, err := b.Rotate(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(kidsIn(t, a.JWKS()), next.KID) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not publish a key another replica created")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestConcurrentSignAndRefresh(t *testing.T) {
	clock := newFakeClock()
	k := mustNew(t, newFakeStore(), testOptions(clock, testKEK(t), ES256))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				tok, err := k.Sign(claims)
				if err == nil {
					_, err = k.Verify(tok)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 10 {
			if _, err := k.Rotate(context.Background(), true); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
}

func BenchmarkSign(b *testing.B) {
	b.Logf("payload: %d bytes", len(claims))
	for _, alg := range allAlgorithms {
		b.Run(alg, func(b *testing.B) {
			k := mustNew(b, newFakeStore(), testOptions(newFakeClock(), testKEK(b), alg))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(claims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A Security Event Token is signed by the active key with typ
// secevent+jwt, verifies through the JWKS, and is never taken for an
// access token by Verify.
func TestSignEventTypesSecurityEventTokens(t *testing.T) {
	set := []byte(`{"iss":"https://auth.example.com","jti":"0190f5b2-7c1e-7a3b-9f2d-2b8e4c6a1d43","iat":1893456000}`)
	for _, alg := range allAlgorithms {
		t.Run(alg, func(t *testing.T) {
			k := mustNew(t, newFakeStore(), testOptions(newFakeClock(), testKEK(t), alg))
			tok, err := k.SignEvent(set)
			if err != nil {
				t.Fatal(err)
			}
			h := header(t, tok)
			for name, want := range map[string]string{"alg": alg, "typ": "secevent+jwt", "kid": k.Keys()[0].KID} {
				if got, _ := h[name].(string); got != want {
					t.Errorf("header %s: got %q, want %q", name, got, want)
				}
			}
			if len(h) != 3 {
				t.Errorf("header has %d members %v, want exactly alg, kid, typ", len(h), h)
			}
			if got, err := verifyWithJWKS(tok, k.JWKS()); err != nil || !bytes.Equal(got, set) {
				t.Errorf("verify with the public JWK from JWKS(): %v", err)
			}
			if _, err := k.Verify(tok); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify took a SET for an access token: %v", err)
			}
			// The access-token signer is unchanged by the second header.
			if h := header(t, mustSign(t, k, claims)); h["typ"] != "at+jwt" {
				t.Errorf("Sign after SignEvent: typ %v", h["typ"])
			}
		})
	}
}

func TestSignEventRefusesWithoutAUsableKey(t *testing.T) {
	clock := newFakeClock()
	st := newFakeStore()
	k := mustNew(t, st, testOptions(clock, testKEK(t), ES256))
	row, _ := st.row(k.Keys()[0].KID)
	soon := clock.Now().Add(testMaxTTL - time.Second)
	row.RetiresAt = &soon
	st.put(row)
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if tok, err := k.SignEvent(claims); !errors.Is(err, ErrNoSigningKey) {
		t.Errorf("SignEvent: got %q, %v; want ErrNoSigningKey", tok, err)
	}
}
