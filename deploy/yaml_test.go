package deploy

import (
	"strings"
	"testing"
)

// TestYAMLFilesParse decodes every document of every YAML file under
// deploy/, and checks that each Kubernetes document names its apiVersion,
// kind and metadata.name.
func TestYAMLFilesParse(t *testing.T) {
	files := yamlFiles(t)
	if len(files) < 15 {
		t.Fatalf("found only %d YAML files under deploy/: %q", len(files), files)
	}
	for _, f := range files {
		docs := readDocs[any](t, f)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
		if !strings.HasPrefix(f, "kubernetes/") {
			continue
		}
		for i, d := range docs {
			m, ok := d.(map[string]any)
			if !ok {
				t.Errorf("%s: document %d is not a mapping", f, i)
				continue
			}
			for _, k := range []string{"apiVersion", "kind"} {
				if s, _ := m[k].(string); s == "" {
					t.Errorf("%s: document %d has no %s", f, i, k)
				}
			}
			if m["kind"] == "Kustomization" {
				continue // metadata is optional there
			}
			meta, _ := m["metadata"].(map[string]any)
			if s, _ := meta["name"].(string); s == "" {
				t.Errorf("%s: document %d (%v) has no metadata.name", f, i, m["kind"])
			}
		}
	}
}
