package accesstoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	issuer   = "https://auth.example.com"
	audience = "https://auth.example.com"
	other    = "orchestrator"
	leeway   = 30 * time.Second
)

var b64 = base64.RawURLEncoding

// testKeys is one ES256 key, checked as signing.Keyring checks its own.
type testKeys struct{ key *ecdsa.PrivateKey }

func newTestKeys(t *testing.T) *testKeys {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{key: k}
}

func (k *testKeys) Verify(token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, errors.New("malformed")
	}
	return jws.Verify(&k.key.PublicKey)
}

// sign signs claims (any JSON value) with header typ and alg ES256.
func (k *testKeys) sign(t *testing.T, typ string, claims any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.key}, opts.WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// trustingKeys accept every token unread: with them, only the verifier's
// own header rule stands between a forged token and acceptance.
type trustingKeys struct{}

func (trustingKeys) Verify(token string) ([]byte, error) {
	return b64.DecodeString(strings.Split(token, ".")[1])
}

// unsigned builds header.payload.signature from raw JSON and a MAC key
// (none when key is nil).
func unsigned(header, payload string, key []byte) string {
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	if key == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + b64.EncodeToString(m.Sum(nil))
}

var t0 = time.Unix(1_800_000_000, 0)

// claims are good claims at t0, as a map so a case can drop or retype one.
func claims() map[string]any {
	now := t0.Unix()
	return map[string]any{
		"iss": issuer, "sub": "u1", "aud": audience, "exp": now + 300, "iat": now, "nbf": now,
		"jti": "j1", "client_id": "cli", "scope": "Identity.PATs", "org_id": "o1", "pat_id": "p1",
	}
}

func with(edit func(c map[string]any)) map[string]any {
	c := claims()
	edit(c)
	return c
}

func newVerifier(t *testing.T, keys Keys, now time.Time) *Verifier {
	t.Helper()
	v, err := New(Config{Issuer: issuer, Keys: keys, Now: func() time.Time { return now }, Leeway: leeway,
		KnownAudience: func(_ context.Context, id string) (bool, error) { return id == audience || id == other, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyAppliesEveryRule(t *testing.T) {
	keys := newTestKeys(t)
	sign := func(c any) string { return keys.sign(t, "at+jwt", c) }
	now := t0.Unix()
	secs := func(d time.Duration) int64 { return int64(d / time.Second) }
	good := sign(claims())

	cases := []struct {
		name  string
		keys  Keys // testKeys when nil
		token string
		at    time.Time // t0 when zero
		want  Reason    // "" is accepted
	}{
		{name: "a token signed now is accepted", token: good},
		{name: "typ application/at+jwt is accepted", token: keys.sign(t, "application/at+jwt", claims())},
		{name: "aud as an array naming the audience is accepted", token: sign(with(func(c map[string]any) { c["aud"] = []string{other, audience} }))},
		{name: "aud as an array not naming the audience is refused", token: sign(with(func(c map[string]any) { c["aud"] = []string{other} })), want: ReasonAudience},
		{name: "another audience is refused", token: sign(with(func(c map[string]any) { c["aud"] = other })), want: ReasonAudience},
		{name: "no aud is refused", token: sign(with(func(c map[string]any) { delete(c, "aud") })), want: ReasonAudience},
		{name: "an empty aud is refused", token: sign(with(func(c map[string]any) { c["aud"] = "" })), want: ReasonAudience},
		{name: "aud of another type is unreadable", token: sign(with(func(c map[string]any) { c["aud"] = 7 })), want: ReasonClaims},
		{name: "another issuer is refused", token: sign(with(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), want: ReasonIssuer},
		{name: "no issuer is refused", token: sign(with(func(c map[string]any) { delete(c, "iss") })), want: ReasonIssuer},
		{name: "exp one second ahead is accepted", token: sign(with(func(c map[string]any) { c["exp"] = now + 1 })), want: ""},
		{name: "exp now is expired", token: sign(with(func(c map[string]any) { c["exp"] = now })), want: ReasonExpired},
		{name: "exp gets no leeway", token: sign(with(func(c map[string]any) { c["exp"] = now - 1 })), want: ReasonExpired},
		{name: "exp half a second ago is expired", token: sign(with(func(c map[string]any) { c["exp"] = now })), at: t0.Add(500 * time.Millisecond), want: ReasonExpired},
		{name: "nbf within the leeway is accepted", token: sign(with(func(c map[string]any) { c["nbf"] = now + secs(leeway) }))},
		{name: "nbf beyond the leeway is not yet valid", token: sign(with(func(c map[string]any) { c["nbf"] = now + secs(leeway) + 1 })), want: ReasonNotYetValid},
		{name: "no nbf is accepted", token: sign(with(func(c map[string]any) { delete(c, "nbf") }))},
		{name: "iat within the leeway is accepted", token: sign(with(func(c map[string]any) { c["iat"] = now + secs(leeway) }))},
		{name: "iat beyond the leeway is refused", token: sign(with(func(c map[string]any) { c["iat"] = now + secs(leeway) + 1 })), want: ReasonIssuedLater},
		{name: "no exp is refused", token: sign(with(func(c map[string]any) { delete(c, "exp") })), want: ReasonClaims},
		{name: "exp as a string is refused", token: sign(with(func(c map[string]any) { c["exp"] = "1900000000" })), want: ReasonClaims},
		{name: "no sub is refused", token: sign(with(func(c map[string]any) { delete(c, "sub") })), want: ReasonClaims},
		{name: "no org_id is refused", token: sign(with(func(c map[string]any) { delete(c, "org_id") })), want: ReasonClaims},
		{name: "no pat_id is refused", token: sign(with(func(c map[string]any) { delete(c, "pat_id") })), want: ReasonClaims},
		{name: "claims that are not an object are refused", token: sign([]string{"iss"}), want: ReasonClaims},
		{name: "a claim named twice is refused", token: func() string {
			// json.Marshal cannot write a duplicate: sign the bytes as given.
			return keys.signRaw(t, `{"iss":"`+issuer+`","iss":"https://evil.example.com","sub":"u1","aud":"`+audience+`","exp":`+itoa(now+300)+`,"org_id":"o1","pat_id":"p1"}`)
		}(), want: ReasonClaims},
		{name: "a claim name in other case does not count", token: sign(with(func(c map[string]any) { delete(c, "iss"); c["ISS"] = issuer })), want: ReasonIssuer},
		{name: "typ JWT is refused", token: keys.sign(t, "JWT", claims()), want: ReasonForeign},
		{name: "no typ is refused", token: keys.sign(t, "", claims()), want: ReasonForeign},
		{name: "a tampered signature is refused", token: good[:len(good)-4] + "AAAA", want: ReasonForeign},
		{name: "a signature by another key is refused", token: newTestKeys(t).sign(t, "at+jwt", claims()), want: ReasonForeign},
		// trustingKeys let anything through: these show the header rule is
		// the verifier's own.
		{name: "alg none is refused whatever the keys", keys: trustingKeys{}, token: unsigned(`{"alg":"none","typ":"at+jwt"}`, mustJSON(t, claims()), nil), want: ReasonForeign},
		{name: "alg None is refused whatever the keys", keys: trustingKeys{}, token: unsigned(`{"alg":"None","typ":"at+jwt"}`, mustJSON(t, claims()), nil), want: ReasonForeign},
		{name: "HS256 is refused whatever the keys", keys: trustingKeys{}, token: unsigned(`{"alg":"HS256","typ":"at+jwt"}`, mustJSON(t, claims()), []byte("k")), want: ReasonForeign},
		{name: "HS512 is refused whatever the keys", keys: trustingKeys{}, token: unsigned(`{"alg":"HS512","typ":"at+jwt"}`, mustJSON(t, claims()), []byte("k")), want: ReasonForeign},
		{name: "no alg is refused whatever the keys", keys: trustingKeys{}, token: unsigned(`{"typ":"at+jwt"}`, mustJSON(t, claims()), nil), want: ReasonForeign},
		{name: "alg named twice is refused whatever the keys", keys: trustingKeys{}, token: unsigned(`{"alg":"HS256","alg":"ES256","typ":"at+jwt"}`, mustJSON(t, claims()), []byte("k")), want: ReasonMalformed},
		{name: "alg in other case does not count", keys: trustingKeys{}, token: unsigned(`{"ALG":"ES256","alg":"HS256","typ":"at+jwt"}`, mustJSON(t, claims()), []byte("k")), want: ReasonForeign},
		{name: "the trusting keys accept a good header: the control", keys: trustingKeys{}, token: unsigned(`{"alg":"ES256","typ":"at+jwt"}`, mustJSON(t, claims()), []byte("k"))},
		{name: "an empty string is malformed", token: "", want: ReasonMalformed},
		{name: "two parts are malformed", token: good[:strings.LastIndexByte(good, '.')], want: ReasonMalformed},
		{name: "four parts are malformed", token: good + ".x", want: ReasonMalformed},
		{name: "a header that is not base64url is malformed", token: "%%%" + good[strings.IndexByte(good, '.'):], want: ReasonMalformed},
		{name: "three dots of garbage are malformed", token: "a.b.c", want: ReasonMalformed},
		{name: "a token over 8 KiB is refused before decoding", keys: trustingKeys{},
			token: unsigned(`{"alg":"ES256","typ":"at+jwt"}`, mustJSON(t, with(func(c map[string]any) { c["pad"] = strings.Repeat("x", MaxSize) })), nil), want: ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var keys Keys = keys
			if c.keys != nil {
				keys = c.keys
			}
			at := t0
			if !c.at.IsZero() {
				at = c.at
			}
			got, err := newVerifier(t, keys, at).Verify(context.Background(), c.token, audience)
			if c.want == "" {
				if err != nil {
					t.Fatalf("got %v, want accepted", err)
				}
				if got.PATID != "p1" || got.Subject != "u1" || got.OrgID != "o1" {
					t.Fatalf("got claims %+v, want those signed", got)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || ReasonOf(err) != c.want {
				t.Fatalf("got %v (reason %q), want refused for %q", err, ReasonOf(err), c.want)
			}
			if got != nil {
				t.Fatalf("got claims %+v with a refusal", got)
			}
			if c.token != "" && strings.Contains(err.Error(), c.token[:min(len(c.token), 16)]) {
				t.Fatalf("the error %q quotes the token", err)
			}
		})
	}
}

func TestVerifyKnownAudienceAcceptsAnyAudienceOfOursOnly(t *testing.T) {
	keys := newTestKeys(t)
	aud := func(a any) string { return keys.sign(t, "at+jwt", with(func(c map[string]any) { c["aud"] = a })) }
	cases := []struct {
		name  string
		token string
		want  Reason
	}{
		{"the management audience is ours", aud(audience), ""},
		{"another audience of ours is ours", aud(other), ""},
		{"an array with one audience of ours is ours", aud([]string{"https://gone.example.com", other}), ""},
		{"an audience the server does not know is refused", aud("https://gone.example.com"), ReasonAudience},
		{"an array of unknown audiences is refused", aud([]string{"a", "b"}), ReasonAudience},
		{"an empty array is refused", aud([]string{}), ReasonAudience},
		{"an expired token of ours is still expired", keys.sign(t, "at+jwt", with(func(c map[string]any) { c["exp"] = t0.Unix() })), ReasonExpired},
	}
	v := newVerifier(t, keys, t0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyKnownAudience(context.Background(), c.token)
			if ReasonOf(err) != c.want || (c.want == "") != (err == nil) {
				t.Fatalf("got %v, want reason %q", err, c.want)
			}
		})
	}

	t.Run("a failure to read the audiences is not a refusal", func(t *testing.T) {
		down := errors.New("database down")
		v, err := New(Config{Issuer: issuer, Keys: keys, Now: func() time.Time { return t0 },
			KnownAudience: func(context.Context, string) (bool, error) { return false, down }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.VerifyKnownAudience(context.Background(), aud(other))
		if !errors.Is(err, down) || errors.Is(err, ErrInvalid) {
			t.Fatalf("got %v, want the lookup's error and no refusal", err)
		}
	})
}

func TestVerifyAnyOfAcceptsOneOfTheAudiencesAndReadsAct(t *testing.T) {
	keys := newTestKeys(t)
	aud := func(a any) string { return keys.sign(t, "at+jwt", with(func(c map[string]any) { c["aud"] = a })) }
	v := newVerifier(t, keys, t0)
	cases := []struct {
		name      string
		token     string
		audiences []string
		want      Reason
	}{
		{"the second audience asked for", aud(other), []string{audience, other}, ""},
		{"an array naming one of them", aud([]string{"x", other}), []string{other}, ""},
		{"an audience not asked for", aud(other), []string{audience}, ReasonAudience},
		{"no audience asked for", aud(other), nil, ReasonAudience},
		{"an empty audience never matches", aud(""), []string{""}, ReasonAudience},
		{"the other rules still apply", keys.sign(t, "at+jwt", with(func(c map[string]any) { c["iss"] = "https://other.example.com" })),
			[]string{audience}, ReasonIssuer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.VerifyAnyOf(context.Background(), c.token, c.audiences)
			if ReasonOf(err) != c.want || (c.want == "") != (err == nil) {
				t.Fatalf("got %v, want reason %q", err, c.want)
			}
		})
	}
	t.Run("act and may_act are read back", func(t *testing.T) {
		tok := keys.sign(t, "at+jwt", with(func(c map[string]any) {
			c["act"] = map[string]any{"sub": "gw", "act": map[string]any{"sub": "gw0"}}
			c["may_act"] = map[string]any{"sub": "gw"}
		}))
		got, err := v.VerifyAnyOf(context.Background(), tok, []string{audience})
		if err != nil {
			t.Fatal(err)
		}
		if got.Act == nil || got.Act.Subject != "gw" || got.Act.Act == nil || got.Act.Act.Subject != "gw0" || got.Act.Act.Act != nil ||
			got.MayAct == nil || got.MayAct.Subject != "gw" {
			t.Fatalf("act %+v may_act %+v", got.Act, got.MayAct)
		}
	})
}

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	keys := newTestKeys(t)
	for name, c := range map[string]Config{
		"no issuer":       {Keys: keys},
		"no keys":         {Issuer: issuer},
		"negative leeway": {Issuer: issuer, Keys: keys, Leeway: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(c); err == nil {
				t.Fatal("got a verifier, want an error")
			}
		})
	}
}

func TestAudienceReadsAStringOrAnArrayAndWritesOneAsAString(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{`"a"`, `"a"`},
		{`["a"]`, `"a"`},
		{`["a","b"]`, `["a","b"]`},
	} {
		var a Audience
		if err := json.Unmarshal([]byte(c.in), &a); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		b, err := json.Marshal(a)
		if err != nil || string(b) != c.out {
			t.Fatalf("%s: got %s %v, want %s", c.in, b, err, c.out)
		}
	}
}

// signRaw signs payload bytes as given.
func (k *testKeys) signRaw(t *testing.T, payload string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestVerifyReadsTheConfirmation: a DPoP-bound token's cnf is read back
// for the resource's proof check; a bearer token has none; a cnf that is
// not an object is unreadable claims, not a bearer token.
func TestVerifyReadsTheConfirmation(t *testing.T) {
	keys := newTestKeys(t)
	v := newVerifier(t, keys, t0)
	c, err := v.Verify(context.Background(), keys.sign(t, "at+jwt", with(func(c map[string]any) {
		c["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
	})), audience)
	if err != nil || c.Cnf == nil || c.Cnf.JKT != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" {
		t.Fatalf("bound token: %+v, %v", c, err)
	}
	c, err = v.Verify(context.Background(), keys.sign(t, "at+jwt", claims()), audience)
	if err != nil || c.Cnf != nil {
		t.Fatalf("bearer token: %+v, %v", c, err)
	}
	_, err = v.Verify(context.Background(), keys.sign(t, "at+jwt", with(func(c map[string]any) { c["cnf"] = "jkt" })), audience)
	if ReasonOf(err) != ReasonClaims {
		t.Fatalf("a cnf string: %v", err)
	}
}
