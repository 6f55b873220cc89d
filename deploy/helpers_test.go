package deploy

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"authserver/config"
	"authserver/internal/testenv"
)

// The tests run in deploy/, so paths are relative to it.

// yamlFiles lists every YAML file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// decodeDocs decodes every document of a multi-document YAML stream into a
// fresh T, skipping empty documents.
func decodeDocs[T any](data []byte) ([]T, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []T
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			continue
		}
		var v T
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		docs = append(docs, v)
	}
}

// readDocs reads path and decodes its documents, failing the test on error.
func readDocs[T any](t *testing.T, path string) []T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decodeDocs[T](data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return docs
}

// readYAML decodes the single document of path into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// promtool returns the path of promtool. Without it the test is skipped,
// except in CI, where it fails: .ci/run installs Debian's prometheus
// package, which ships it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err == nil {
		return path
	}
	if testenv.CI() {
		t.Fatalf("promtool not found and CI=true: install it (Debian package prometheus; .ci/run does): %v", err)
	}
	t.Skipf("promtool not found (Debian package prometheus ships it); with CI=true this fails: %v", err)
	return ""
}

// runPromtool runs promtool with args in deploy/ and fails the test with
// its output when it exits non-zero.
func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testEncryptionKey is a valid keys.encryption_key (base64 of 32 bytes) for
// loading configurations; it protects nothing.
const testEncryptionKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// loadConfig loads configuration file data (none when empty) with env as
// the environment, as the server would.
func loadConfig(t *testing.T, data string, env config.MapEnv) (*config.Config, error) {
	t.Helper()
	path := ""
	if data != "" {
		path = filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return config.Load(path, env)
}
