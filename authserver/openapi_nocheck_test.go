//go:build nolivecheck

package authserver_test

import (
	"net/http"
	"testing"
)

// Built with -tags nolivecheck, as scripts/test.sh builds the benchmark
// and fuzzing runs, the test binary leaves out the live check of
// docs/openapi.yaml (openapi_check_test.go) and the OpenAPI library it
// needs: those runs check no documented answers, and compiling the
// library again, once more instrumented for fuzzing, cost minutes of the
// suite. The test run, which is where responses are checked, always has
// it. The client's transport is then the server's own, unchanged.
type openAPITransport struct{ http.RoundTripper }

func newOpenAPITransport(_ testing.TB, next http.RoundTripper) *openAPITransport {
	return &openAPITransport{next}
}
