package authserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"authserver/exchange"
	"authserver/internal/storetest"
	"authserver/internal/testenv"
)

// interopDir holds the pinned Node.js libraries of the interop tests
// (scripts/interop/package.json, installed with npm ci by .ci/run and
// scripts/test.sh).
const interopDir = "../scripts/interop"

// nodeInterop returns the node binary, once scripts/interop is installed.
// Without them the test fails in CI and skips elsewhere, as the browser
// tests do without Chromium.
func nodeInterop(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(interopDir + "/node_modules/oauth4webapi/package.json")
	}
	if err != nil {
		if testenv.CI() {
			t.Fatalf("node or scripts/interop is not installed (%v), and CI=true: the interop tests must run", err)
		}
		t.Skipf("node or scripts/interop is not installed (%v): run npm ci in scripts/interop", err)
	}
	return node
}

// dpopInterop is what scripts/interop/dpop.mjs reports.
type dpopInterop struct {
	DPoPAlgs              []string `json:"dpopAlgs"`
	Resource              string   `json:"resource"`
	AuthorizationServers  []string `json:"authorizationServers"`
	TokenType             string   `json:"tokenType"`
	VerifiedJKT           string   `json:"verifiedJkt"`
	RefusedWithoutProof   bool     `json:"refusedWithoutProof"`
	RefusedWithAnotherKey bool     `json:"refusedWithAnotherKey"`
	APITokenType          string   `json:"apiTokenType"`
	APIStatus             int      `json:"apiStatus"`
	APICredential         string   `json:"apiCredential"`
	NonceRetries          int      `json:"nonceRetries"`
}

// TestInteropDPoPWithOAuth4WebAPI runs oauth4webapi, an independent client
// and resource-server library, against the server: it finds the server
// through both metadata documents, gets DPoP-bound tokens with proofs it
// makes (retrying on use_dpop_nonce when nonces are on), verifies a bound
// token as a resource server does (signature, claims, cnf.jkt against its
// own proof, and refusal without it), and calls the management API with
// Authorization: DPoP and its proof — on both databases, with nonces off
// and on.
func TestInteropDPoPWithOAuth4WebAPI(t *testing.T) {
	node := nodeInterop(t)
	storetest.Each(t, func(t *testing.T, driver string) {
		for _, nonce := range []bool{false, true} {
			name := "no nonce"
			o := envOptions{driver: driver, noRateLimits: true}
			if nonce {
				name, o.config = "nonce", "tokens:\n  dpop_nonce: true\n"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, o)
				pat, _ := e.pat(patSpec{org: "acme", user: "alice", scopes: []string{"OR.Jobs", exchange.ScopePATs}})
				cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(cctx, node, "dpop.mjs")
				cmd.Dir = interopDir
				cmd.Env = append(os.Environ(), "ISSUER="+e.url, "PAT="+pat, "CLIENT_ID=cli")
				out, err := cmd.Output()
				if err != nil {
					var exit *exec.ExitError
					if errors.As(err, &exit) {
						t.Fatalf("dpop.mjs: %v\n%s", err, exit.Stderr)
					}
					t.Fatalf("dpop.mjs: %v", err)
				}
				t.Logf("dpop.mjs: %s", out) // what it saw; it prints no token
				var got dpopInterop
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("dpop.mjs printed %q: %v", out, err)
				}
				switch {
				case !slices.Contains(got.DPoPAlgs, "ES256"):
					t.Fatalf("dpop_signing_alg_values_supported %v", got.DPoPAlgs)
				case got.Resource != e.url || !slices.Equal(got.AuthorizationServers, []string{e.url}):
					t.Fatalf("protected resource metadata: resource %q, authorization_servers %v", got.Resource, got.AuthorizationServers)
				case got.TokenType != "dpop" || got.APITokenType != "dpop":
					t.Fatalf("token types %q and %q, want dpop", got.TokenType, got.APITokenType)
				case got.VerifiedJKT == "" || !got.RefusedWithoutProof || !got.RefusedWithAnotherKey:
					t.Fatalf("resource-server check: jkt %q, refused without proof %v, with another key %v",
						got.VerifiedJKT, got.RefusedWithoutProof, got.RefusedWithAnotherKey)
				case got.APIStatus != 200 || got.APICredential != "dpop":
					t.Fatalf("management API: %d, credential %q", got.APIStatus, got.APICredential)
				case nonce && got.NonceRetries == 0:
					t.Fatal("nonces on, yet oauth4webapi never had to retry with one")
				case !nonce && got.NonceRetries != 0:
					t.Fatalf("nonces off, yet %d retries", got.NonceRetries)
				}
			})
		}
	})
}
