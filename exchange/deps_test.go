package exchange

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"authserver/internal/testenv"
)

// TestNoOAuthLibrary keeps the rules free of fosite: exchange, governance
// (which the API, the console and the command line call) and storage
// decide and store without it, so they can be read, tested and reused
// without the OAuth library and the ~300 packages it brings. Only the
// OAuth surfaces of package authserver import it. The import graph is
// transitive, so the go command lists it rather than this test parsing
// import lines.
func TestNoOAuthLibrary(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if testenv.CI() {
			t.Fatalf("the go command is required in CI: %v", err)
		}
		t.Skipf("the go command is not installed: %v", err)
	}
	pure := []string{"authserver/exchange", "authserver/governance", "authserver/storage"}
	out, err := exec.Command(goCmd, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pure...)...).Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pure) {
		t.Fatalf("go list -deps listed %d packages, fewer than the %d asked for", len(deps), len(pure))
	}
	for _, p := range deps {
		if p == "github.com/ory/fosite" || strings.HasPrefix(p, "github.com/ory/fosite/") {
			t.Errorf("%s is imported by one of %v; only the OAuth surfaces in package authserver may import fosite", p, pure)
		}
	}
}
