package dpop_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"authserver/authserver/dpop"
	"authserver/authserver/dpop/dpoptest"
	"authserver/internal/pgtest"
	"authserver/internal/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

const tokenURL = "https://auth.example.com/oauth2/token"

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newChecker(t *testing.T, driver string, nonce bool, now func() time.Time) *dpop.Checker {
	t.Helper()
	c, err := dpop.New(dpop.Options{Store: storetest.Open(t, driver), Window: time.Minute, Nonce: nonce, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantRefused checks that err is a refusal with code and a description
// containing words.
func wantRefused(t *testing.T, err error, code, words string) {
	t.Helper()
	var e *dpop.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a %s refusal", err, code)
	}
	if e.Code != code || !strings.Contains(e.Description, words) {
		t.Fatalf("got %s %q, want %s with %q", e.Code, e.Description, code, words)
	}
}

// TestDPoPCheckRules: every rule of a proof refuses with its own exact
// description, and a good proof gives its key's thumbprint.
func TestDPoPCheckRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		c := newChecker(t, driver, false, nil)
		key := dpoptest.NewKey("ES256", 0)
		req := dpop.Request{Method: "POST", URL: tokenURL}
		check := func(proofs ...string) error {
			_, err := c.Check(ctx, proofs, req)
			return err
		}

		for _, alg := range []string{"ES256", "EdDSA", "RS256"} {
			k := dpoptest.NewKey(alg, 0)
			jkt, err := c.Check(ctx, []string{k.Proof("POST", tokenURL, nil)}, req)
			if err != nil || jkt != k.JKT() {
				t.Fatalf("%s: good proof: %q, %v; want %q", alg, jkt, err, k.JKT())
			}
		}
		if err := check(key.Sign(with(key.Header(), "typ", "application/DPoP+JWT"), dpoptest.Claims("POST", tokenURL))); err != nil {
			t.Fatalf("typ as a full media type: %v", err)
		}
		// The URL as a client may write it: case, default port, a query.
		if err := check(key.Proof("POST", "HTTPS://Auth.Example.com:443/oauth2/token?x=1#f", nil)); err != nil {
			t.Fatalf("an equivalent htu: %v", err)
		}

		proof := key.Proof("POST", tokenURL, nil)
		cases := []struct {
			name   string
			proofs []string
			words  string
		}{
			{"no header", nil, "exactly one DPoP header"},
			{"two headers", []string{proof, key.Proof("POST", tokenURL, nil)}, "exactly one DPoP header"},
			{"not a JWS", []string{"not-a-jws"}, "not a compact JWS"},
			{"header not base64url", []string{"%%%." + strings.SplitN(proof, ".", 2)[1]}, "header is not base64url"},
			{"typ", []string{key.Sign(with(key.Header(), "typ", "JWT"), dpoptest.Claims("POST", tokenURL))}, "typ must be dpop+jwt"},
			{"no typ", []string{key.Sign(with(key.Header(), "typ", nil), dpoptest.Claims("POST", tokenURL))}, "typ must be dpop+jwt"},
			{"alg none", []string{key.Sign(with(key.Header(), "alg", "none"), dpoptest.Claims("POST", tokenURL))}, "alg must be one of"},
			{"alg HS256", []string{key.Sign(with(key.Header(), "alg", "HS256"), dpoptest.Claims("POST", tokenURL))}, "alg must be one of"},
			{"no jwk", []string{key.Sign(with(key.Header(), "jwk", nil), dpoptest.Claims("POST", tokenURL))}, "must carry the public key as jwk"},
			{"private jwk", []string{key.Sign(with(key.Header(), "jwk", key.PrivateJWK()), dpoptest.Claims("POST", tokenURL))}, "must be a public key"},
			{"symmetric jwk", []string{key.Sign(with(key.Header(), "jwk", map[string]any{"kty": "oct", "k": "c2VjcmV0"}), dpoptest.Claims("POST", tokenURL))}, "must be a public key"},
			{"another key's jwk", []string{key.Sign(with(key.Header(), "jwk", dpoptest.NewKey("ES256", 0).JWK), dpoptest.Claims("POST", tokenURL))}, "signature does not verify"},
			{"alg of another key type", []string{key.Sign(with(key.Header(), "alg", "RS256"), dpoptest.Claims("POST", tokenURL))}, "signature does not verify"},
			{"bad signature", []string{proof[:len(proof)-4] + flip(proof[len(proof)-4:])}, "signature does not verify"},
			{"short RSA key", []string{dpoptest.NewKey("RS256", 1024).Proof("POST", tokenURL, nil)}, "shorter than 2048 bits"},
			{"no jti", []string{key.Proof("POST", tokenURL, map[string]any{"jti": nil})}, "jti, htm, htu and iat"},
			{"no iat", []string{key.Proof("POST", tokenURL, map[string]any{"iat": nil})}, "jti, htm, htu and iat"},
			{"iat a string", []string{key.Proof("POST", tokenURL, map[string]any{"iat": "now"})}, "jti, htm, htu and iat"},
			{"long jti", []string{key.Proof("POST", tokenURL, map[string]any{"jti": strings.Repeat("j", 257)})}, "longer than 256"},
			{"wrong htm", []string{key.Proof("GET", tokenURL, nil)}, "htm is not the method"},
			{"lower-case htm", []string{key.Proof("post", tokenURL, nil)}, "htm is not the method"},
			{"wrong htu path", []string{key.Proof("POST", "https://auth.example.com/oauth2/introspect", nil)}, "htu is not the URL"},
			{"wrong htu host", []string{key.Proof("POST", "https://evil.example.com/oauth2/token", nil)}, "htu is not the URL"},
			{"wrong htu scheme", []string{key.Proof("POST", "http://auth.example.com/oauth2/token", nil)}, "htu is not the URL"},
			{"stale iat", []string{key.Proof("POST", tokenURL, map[string]any{"iat": time.Now().Add(-time.Minute - dpop.Skew - time.Second).Unix()})}, "iat is not within"},
			{"future iat", []string{key.Proof("POST", tokenURL, map[string]any{"iat": time.Now().Add(dpop.Skew + 2*time.Second).Unix()})}, "iat is not within"},
			{"absurd iat", []string{key.Proof("POST", tokenURL, map[string]any{"iat": 1e300})}, "iat is not a time"},
		}
		for _, tc := range cases {
			wantRefused(t, check(tc.proofs...), dpop.CodeInvalidProof, tc.words)
		}
		// Refusals above used no jti: the good proof is still good once.
		if err := check(proof); err != nil {
			t.Fatalf("a good proof after the refused ones: %v", err)
		}
		wantRefused(t, check(proof), dpop.CodeInvalidProof, "used before")
	})
}

// TestDPoPCheckAccessToken: at a resource, ath must be the token's hash and
// the key the token's.
func TestDPoPCheckAccessToken(t *testing.T) {
	c := newChecker(t, "sqlite", false, nil)
	key := dpoptest.NewKey("ES256", 0)
	const api = "https://auth.example.com/api/v1/me"
	req := dpop.Request{Method: "GET", URL: api, AccessToken: "the.access.token", JKT: key.JKT()}
	if _, err := c.Check(ctx, []string{key.Proof("GET", api, map[string]any{"ath": dpoptest.ATH("the.access.token")})}, req); err != nil {
		t.Fatal(err)
	}
	_, err := c.Check(ctx, []string{key.Proof("GET", api, nil)}, req)
	wantRefused(t, err, dpop.CodeInvalidProof, "must carry ath")
	_, err = c.Check(ctx, []string{key.Proof("GET", api, map[string]any{"ath": dpoptest.ATH("another.access.token")})}, req)
	wantRefused(t, err, dpop.CodeInvalidProof, "ath is not the hash")
	other := dpoptest.NewKey("ES256", 0)
	_, err = c.Check(ctx, []string{other.Proof("GET", api, map[string]any{"ath": dpoptest.ATH("the.access.token")})}, req)
	wantRefused(t, err, dpop.CodeInvalidProof, "not the key the access token is bound to")
}

// TestDPoPNonce: with nonces on, a proof without one or with a forged or
// stale one is use_dpop_nonce; a nonce from one checker is good on another
// over the same database (another replica) for one to two windows.
func TestDPoPNonce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, driver string) {
		clk := &clock{t: time.Now()}
		st := storetest.Open(t, driver)
		a, _ := dpop.New(dpop.Options{Store: st, Window: time.Minute, Nonce: true, Now: clk.now})
		b, _ := dpop.New(dpop.Options{Store: st, Window: time.Minute, Nonce: true, Now: clk.now})
		key := dpoptest.NewKey("ES256", 0)
		req := dpop.Request{Method: "POST", URL: tokenURL}
		proof := func(nonce any) []string {
			return []string{key.Proof("POST", tokenURL, map[string]any{"nonce": nonce, "iat": clk.now().Unix()})}
		}

		_, err := a.Check(ctx, proof(nil), req)
		wantRefused(t, err, dpop.CodeUseNonce, "must carry the nonce")
		_, err = a.Check(ctx, proof("forged-nonce"), req)
		wantRefused(t, err, dpop.CodeUseNonce, "not a current nonce")

		n, err := a.Nonce(ctx)
		if err != nil || n == "" {
			t.Fatalf("nonce %q, %v", n, err)
		}
		if _, err := b.Check(ctx, proof(n), req); err != nil {
			t.Fatalf("a nonce of replica a on replica b: %v", err)
		}
		// A forged MAC over a current step.
		forged := n[:len(n)-2] + flip(n[len(n)-2:])
		_, err = b.Check(ctx, proof(forged), req)
		wantRefused(t, err, dpop.CodeUseNonce, "not a current nonce")

		clk.add(time.Minute)
		if _, err := a.Check(ctx, proof(n), req); err != nil {
			t.Fatalf("a nonce one window on: %v", err)
		}
		clk.add(2 * time.Minute)
		_, err = a.Check(ctx, proof(n), req)
		wantRefused(t, err, dpop.CodeUseNonce, "not a current nonce")
	})
}

// TestDPoPPurge: Run removes the proofs past their expiry, so their rows
// do not pile up; a proof still in its window stays recorded.
func TestDPoPPurge(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	clk := &clock{t: time.Now()}
	c, _ := dpop.New(dpop.Options{Store: st, Window: 50 * time.Millisecond, Now: clk.now})
	key := dpoptest.NewKey("ES256", 0)
	req := dpop.Request{Method: "POST", URL: tokenURL}
	old := key.Proof("POST", tokenURL, map[string]any{"iat": clk.now().Unix()})
	if _, err := c.Check(ctx, []string{old}, req); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Minute)
	fresh := key.Proof("POST", tokenURL, map[string]any{"iat": clk.now().Unix()})
	if _, err := c.Check(ctx, []string{fresh}, req); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { c.Run(runCtx, func(err error) { t.Error(err) }); close(done) }()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM dpop_proofs`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d proofs recorded, want the fresh one alone", n)
		}
	}
	if _, err := c.Check(ctx, []string{fresh}, req); err == nil {
		t.Fatal("the proof in its window was purged: replayed")
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for n, x := range m {
		out[n] = x
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

// flip changes the characters of a base64url tail.
func flip(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
	}
	return string(b)
}
