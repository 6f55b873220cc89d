package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"authserver/authserver/dpop"
)

// The dpop commands make what a client needs to try DPoP (RFC 9449) with
// curl: a key pair, and a proof for one request. They are a client's tools
// and touch no configuration or database. A real client makes its proofs
// with its own library.
func (a *app) dpopCommand() *cobra.Command {
	return group("dpop", "Make a DPoP key and proofs for trying sender-constrained tokens with curl",
		a.dpopKeygenCommand(), a.dpopProofCommand())
}

func (a *app) dpopKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Write a new ES256 private key (JWK) to FILE and print its thumbprint (the token's cnf.jkt)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			jwk := jose.JSONWebKey{Key: priv, Algorithm: string(jose.ES256), Use: "sig"}
			b, err := jwk.MarshalJSON()
			if err != nil {
				return err
			}
			// O_EXCL: never overwrite a key someone holds tokens bound to.
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				if errors.Is(err, os.ErrExist) {
					return errors.New("--out: the file exists; choose a new path")
				}
				return fmt.Errorf("--out: %w", errors.Unwrap(err))
			}
			if _, err := f.Write(append(b, '\n')); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			jkt, err := dpop.Thumbprint(&jwk)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, jkt)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to (created with mode 0600; never overwritten)")
	return cmd
}

func (a *app) dpopProofCommand() *cobra.Command {
	var keyPath, method, target, accessToken, nonce string
	cmd := &cobra.Command{
		Use:   "proof --key FILE --url URL [--method POST] [--access-token TOKEN] [--nonce NONCE]",
		Short: "Print a DPoP proof for one request, signed with the key in FILE",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" || target == "" {
				return errors.New("--key and --url are required")
			}
			u, err := url.Parse(target)
			if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") {
				return errors.New("--url: must be an absolute http or https URL")
			}
			// RFC 9449 §4.2: htu is the URI without query and fragment.
			u.RawQuery, u.Fragment, u.RawFragment = "", "", ""
			method = strings.ToUpper(method)
			if method == "" || strings.ContainsAny(method, " \t\r\n") {
				return errors.New("--method: must be an HTTP method such as POST")
			}
			b, err := os.ReadFile(keyPath)
			if err != nil {
				return fmt.Errorf("--key: %w", errors.Unwrap(err))
			}
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(b); err != nil || jwk.IsPublic() {
				return errors.New("--key: not a private JWK (make one with dpop keygen)")
			}
			alg, ok := signingAlgorithm(jwk.Key)
			if !ok {
				return errors.New("--key: only EC P-256 keys (ES256) are supported")
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jwk.Key},
				(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
			if err != nil {
				return err
			}
			jti := make([]byte, 16)
			if _, err := rand.Read(jti); err != nil {
				return err
			}
			claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(jti), "htm": method, "htu": u.String(),
				"iat": time.Now().Unix()}
			if accessToken != "" {
				claims["ath"] = dpop.ATH(accessToken)
			}
			if nonce != "" {
				claims["nonce"] = nonce
			}
			payload, err := json.Marshal(claims)
			if err != nil {
				return err
			}
			jws, err := signer.Sign(payload)
			if err != nil {
				return err
			}
			proof, err := jws.CompactSerialize()
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, proof)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "private key file made by dpop keygen")
	f.StringVar(&target, "url", "", "the request's URL (htu); query and fragment are left out")
	f.StringVar(&method, "method", "POST", "the request's method (htm)")
	f.StringVar(&accessToken, "access-token", "", "the access token the request presents (its hash goes in ath), for a resource server")
	f.StringVar(&nonce, "nonce", "", "the server's DPoP-Nonce, when it asks for one")
	return cmd
}

// signingAlgorithm is the JWS algorithm for a private key the commands
// accept.
func signingAlgorithm(key any) (jose.SignatureAlgorithm, bool) {
	if k, ok := key.(*ecdsa.PrivateKey); ok && k.Curve == elliptic.P256() {
		return jose.ES256, true
	}
	return "", false
}
