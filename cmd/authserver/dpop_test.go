package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"authserver/authserver/dpop"
)

// TestDPoPCommands: keygen writes a private key readable only by its owner
// and prints its thumbprint; proof signs a proof whose header carries the
// public key alone and whose claims are the request's (htu without query
// or fragment, ath of the access token, the nonce); the refusals never
// overwrite a key and never repeat what was typed.
func TestDPoPCommands(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.jwk")
	code, jkt, stderr := cli(t, nil, "", "dpop", "keygen", "--out", keyFile)
	if code != 0 || len(strings.TrimSpace(jkt)) != 43 {
		t.Fatalf("keygen: %d %q %s", code, jkt, stderr)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	before, _ := os.ReadFile(keyFile)
	if code, _, stderr := cli(t, nil, "", "dpop", "keygen", "--out", keyFile); code != 1 ||
		stderr != "authserver: --out: the file exists; choose a new path\n" {
		t.Fatalf("keygen over a key: %d %s", code, stderr)
	}
	if after, _ := os.ReadFile(keyFile); string(after) != string(before) {
		t.Fatal("keygen overwrote a key")
	}

	code, proof, stderr := cli(t, nil, "", "dpop", "proof", "--key", keyFile, "--method", "get",
		"--url", "https://api.example.com/api/v1/me?x=1#f", "--access-token", "tok", "--nonce", "n-1")
	if code != 0 {
		t.Fatalf("proof: %d %s", code, stderr)
	}
	tok, err := jwt.ParseSigned(strings.TrimSpace(proof), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders["typ"] != "dpop+jwt" || h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() {
		t.Fatalf("header %+v", h)
	}
	var c map[string]any
	if err := tok.Claims(h.JSONWebKey.Key, &c); err != nil {
		t.Fatalf("the proof is not signed by its own key: %v", err)
	}
	if c["htm"] != "GET" || c["htu"] != "https://api.example.com/api/v1/me" || c["nonce"] != "n-1" ||
		c["ath"] != "GnZ0607njffhrEOak8P6jjyUV4TU3sn9jjARc4svHWI" || c["jti"] == "" || c["iat"] == nil {
		t.Fatalf("claims %v", c)
	}
	tp, _ := dpop.Thumbprint(h.JSONWebKey)
	if tp != strings.TrimSpace(jkt) {
		t.Fatalf("the proof's key %s is not the one keygen printed %s", tp, jkt)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"proof", "--key", keyFile}, "--key and --url are required"},
		{[]string{"proof", "--key", keyFile, "--url", "ftp://secret-looking/"}, "--url: must be an absolute http or https URL"},
		{[]string{"proof", "--key", filepath.Join(dir, "none"), "--url", "https://a/"}, "--key: no such file or directory"},
		{[]string{"proof", "--key", writeFile(t, dir, "pub.jwk", publicOf(t, keyFile)), "--url", "https://a/"},
			"--key: not a private JWK (make one with dpop keygen)"},
		{[]string{"keygen"}, "--out is required"},
	} {
		code, _, stderr := cli(t, nil, "", append([]string{"dpop"}, c.args...)...)
		if code != 1 || stderr != "authserver: "+c.want+"\n" {
			t.Errorf("dpop %v: %d %q, want %q", c.args, code, stderr, c.want)
		}
	}
}

func publicOf(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	pub, err := k.Public().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(pub)
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
