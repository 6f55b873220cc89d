package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canary is part of every secret value the tests configure. checkNoLeak
// fails a test whose error text holds it, so every error the tests produce
// proves that secrets stay out of problem messages.
const canary = "s3cr3t-CANARY-7f2a"

func checkNoLeak(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), canary) {
		t.Fatalf("error text leaks a secret:\n%v", err)
	}
}

// writeFile writes content to a file in a fresh directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// loadYAML loads doc as a configuration file with env as the environment.
func loadYAML(t *testing.T, doc string, env MapEnv) (*Config, error) {
	t.Helper()
	c, err := Load(writeFile(t, "authserver.yaml", doc), env)
	checkNoLeak(t, err)
	return c, err
}

// problemLines returns the lines of a *Errors, failing on any other error.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	checkNoLeak(t, err)
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T %q is not a *Errors", err, err)
	}
	lines := make([]string, len(errs.Problems))
	for i, p := range errs.Problems {
		lines[i] = p.String()
	}
	return lines
}

// wantProblems fails unless err lists exactly want, in order.
func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	got := problemLines(t, err)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\ngot  %d:\n\t%s\nwant %d:\n\t%s", len(got), strings.Join(got, "\n\t"), len(want), strings.Join(want, "\n\t"))
	}
}

// wantProblem fails unless err lists want among its problems.
func wantProblem(t *testing.T, err error, want string) {
	t.Helper()
	got := problemLines(t, err)
	for _, g := range got {
		if g == want {
			return
		}
	}
	t.Errorf("problems:\ngot\n\t%s\nwant among them\n\t%s", strings.Join(got, "\n\t"), want)
}
