package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"authserver/config"
)

const k8sDir = "kubernetes"

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile *struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []envVar `yaml:"env"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type podSpec struct {
	EnableServiceLinks        *bool            `yaml:"enableServiceLinks"`
	SecurityContext           *securityContext `yaml:"securityContext"`
	TopologySpreadConstraints []any            `yaml:"topologySpreadConstraints"`
	Affinity                  map[string]any   `yaml:"affinity"`
	InitContainers            []container      `yaml:"initContainers"`
	Containers                []container      `yaml:"containers"`
	Volumes                   []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type deploymentSpec struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// k8sDoc is one document of a manifest file.
type k8sDoc struct {
	file       string
	apiVersion string
	kind       string
	meta       objectMeta
	node       *yaml.Node
}

// k8sDocs reads every document of every YAML file in deploy/kubernetes/.
func k8sDocs(t *testing.T) []k8sDoc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []k8sDoc
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			n := new(yaml.Node)
			err := dec.Decode(n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var head struct {
				APIVersion string     `yaml:"apiVersion"`
				Kind       string     `yaml:"kind"`
				Metadata   objectMeta `yaml:"metadata"`
			}
			if err := n.Decode(&head); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			docs = append(docs, k8sDoc{file: filepath.Base(f), apiVersion: head.APIVersion, kind: head.Kind, meta: head.Metadata, node: n})
		}
	}
	return docs
}

// k8sFind returns the documents of kind, outside secret.example.yaml.
func k8sFind(docs []k8sDoc, kind string) []k8sDoc {
	var out []k8sDoc
	for _, d := range docs {
		if d.kind == kind && d.file != "secret.example.yaml" {
			out = append(out, d)
		}
	}
	return out
}

// k8sOne decodes the only document of kind into v.
func k8sOne(t *testing.T, docs []k8sDoc, kind string, v any) k8sDoc {
	t.Helper()
	found := k8sFind(docs, kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s in deploy/kubernetes, found %d", kind, len(found))
	}
	if err := found[0].node.Decode(v); err != nil {
		t.Fatalf("%s: %v", found[0].file, err)
	}
	return found[0]
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func TestKustomizationListsManifests(t *testing.T) {
	var k struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	readYAML(t, filepath.Join(k8sDir, "kustomization.yaml"), &k)
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if b := filepath.Base(f); b != "kustomization.yaml" && b != "secret.example.yaml" {
			want = append(want, b)
		}
	}
	got := slices.Sorted(slices.Values(k.Resources))
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources = %q, want every manifest but the example secret: %q", got, want)
	}
	if k.Namespace != "authserver" {
		t.Errorf("kustomization namespace = %q, want authserver", k.Namespace)
	}
	for _, d := range k8sDocs(t) {
		if d.kind == "Namespace" || d.kind == "Kustomization" {
			continue
		}
		if d.meta.Namespace != "authserver" {
			t.Errorf("%s: %s %s in namespace %q, want authserver", d.file, d.kind, d.meta.Name, d.meta.Namespace)
		}
	}
}

// TestNoSecretValuesCommitted: the only Secret is the example, which is not
// applied and whose values are placeholders.
func TestNoSecretValuesCommitted(t *testing.T) {
	docs := k8sDocs(t)
	if s := k8sFind(docs, "Secret"); len(s) != 0 {
		t.Errorf("%s holds a Secret: secrets are created out of band (see secret.example.yaml)", s[0].file)
	}
	var example struct {
		Metadata   objectMeta        `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
		Data       map[string]string `yaml:"data"`
	}
	readYAML(t, filepath.Join(k8sDir, "secret.example.yaml"), &example)
	if example.Metadata.Name != "authserver-secrets" {
		t.Errorf("secret.example.yaml names %q, want authserver-secrets", example.Metadata.Name)
	}
	if len(example.Data) != 0 {
		t.Error("secret.example.yaml has data: use placeholder stringData only")
	}
	if got := slices.Sorted(maps.Keys(example.StringData)); !slices.Equal(got, []string{"database-dsn", "encryption-key"}) {
		t.Errorf("secret.example.yaml keys = %q, want database-dsn and encryption-key", got)
	}
	for k, v := range example.StringData {
		if !strings.Contains(v, "CHANGE-ME") {
			t.Errorf("secret.example.yaml %s = %q: must be an obvious placeholder (CHANGE-ME)", k, v)
		}
	}
	data, err := os.ReadFile(filepath.Join(k8sDir, "secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "EXAMPLE ONLY") {
		t.Error("secret.example.yaml must say it is an example (EXAMPLE ONLY)")
	}
}

func TestKubernetesKinds(t *testing.T) {
	docs := k8sDocs(t)
	for _, kind := range []string{"Namespace", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceMonitor"} {
		if len(k8sFind(docs, kind)) == 0 {
			t.Errorf("no %s in deploy/kubernetes", kind)
		}
	}
	for _, d := range k8sFind(docs, "ServiceMonitor") {
		if d.apiVersion != "monitoring.coreos.com/v1" {
			t.Errorf("%s: ServiceMonitor apiVersion %q, want monitoring.coreos.com/v1", d.file, d.apiVersion)
		}
	}
}

// configMapConfig returns the config file the ConfigMap mounted by the
// Deployment holds, and the path the container reads it from.
func configMapConfig(t *testing.T, docs []k8sDoc, d *deploymentSpec, c *container) (data, cfgPath string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == config.ConfigFileEnv {
			cfgPath = e.Value
		}
	}
	if cfgPath == "" {
		t.Fatalf("container %s does not set %s", c.Name, config.ConfigFileEnv)
	}
	dir, file := path.Dir(cfgPath), path.Base(cfgPath)
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range k8sFind(docs, "ConfigMap") {
				var body struct {
					Data map[string]string `yaml:"data"`
				}
				if err := cm.node.Decode(&body); err != nil {
					t.Fatal(err)
				}
				if s, ok := body.Data[file]; ok && cm.meta.Name == v.ConfigMap.Name {
					return s, cfgPath
				}
			}
		}
	}
	t.Fatalf("container %s: %s=%s is not a key of a ConfigMap mounted there", c.Name, config.ConfigFileEnv, cfgPath)
	return "", ""
}

// containerEnv is the environment of c as the server sees it, with the
// Secret's values replaced by valid stand-ins.
func containerEnv(t *testing.T, c *container) config.MapEnv {
	t.Helper()
	stand := map[string]string{
		"database-dsn":   "postgres://authserver:secret@postgres:5432/authserver?sslmode=disable",
		"encryption-key": testEncryptionKey,
	}
	env := config.MapEnv{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != "authserver-secrets" {
				t.Errorf("container %s: %s from Secret %q, want authserver-secrets", c.Name, e.Name, ref.Name)
			}
			v, ok := stand[ref.Key]
			if !ok {
				t.Errorf("container %s: %s from Secret key %q, want database-dsn or encryption-key", c.Name, e.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom != nil:
			t.Errorf("container %s: %s: only secretKeyRef is expected", c.Name, e.Name)
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// resolvePort returns the container port a probe or Service targets.
func resolvePort(c *container, port any) (int, error) {
	switch p := port.(type) {
	case int:
		return p, nil
	case string:
		for _, cp := range c.Ports {
			if cp.Name == p {
				return cp.ContainerPort, nil
			}
		}
		return 0, fmt.Errorf("container %s has no port named %q", c.Name, p)
	}
	return 0, fmt.Errorf("port %v is neither a number nor a name", port)
}

func TestDeployment(t *testing.T) {
	docs := k8sDocs(t)
	var d deploymentSpec
	k8sOne(t, docs, "Deployment", &d)
	pod := d.Spec.Template.Spec

	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want at least 2", d.Spec.Replicas)
	}
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not select the pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("enableServiceLinks must be false")
	}
	if len(pod.TopologySpreadConstraints) == 0 && pod.Affinity["podAntiAffinity"] == nil {
		t.Error("no topologySpreadConstraints or podAntiAffinity: replicas may share a node")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, found %d", len(pod.Containers))
	}
	c := &pod.Containers[0]
	if !slices.Equal(append(slices.Clone(c.Command), c.Args...), []string{"serve", "--no-migrate"}) {
		t.Errorf("container command+args = %q, want serve --no-migrate", append(c.Command, c.Args...))
	}

	// Migrations: an init container running the same image.
	var migrators int
	for _, ic := range pod.InitContainers {
		if slices.Equal(append(slices.Clone(ic.Command), ic.Args...), []string{"migrate"}) {
			migrators++
			if ic.Image != c.Image {
				t.Errorf("init container %s runs %s, the server %s: migrations must come from the same version", ic.Name, ic.Image, c.Image)
			}
		}
	}
	if migrators != 1 {
		t.Errorf("want one init container running migrate, found %d", migrators)
	}

	// The config file the containers read, with the Secret's stand-ins,
	// loads: every AUTHSERVER_ variable is known, the issuer is set, ...
	for _, cc := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		data, _ := configMapConfig(t, docs, &d, &cc)
		cfg, err := loadConfig(t, data, containerEnv(t, &cc))
		if err != nil {
			t.Fatalf("container %s: the mounted config with its environment does not load:\n%v", cc.Name, err)
		}
		if cfg.Database.Driver != "postgres" {
			t.Errorf("container %s: database.driver = %q, want postgres (replicas share one database)", cc.Name, cfg.Database.Driver)
		}
		if cc.Name != c.Name {
			continue
		}
		// Probes: /readyz and /healthz on the telemetry listener's port.
		tport := portOf(t, cfg.Telemetry.Addr)
		for _, pr := range []struct {
			name string
			p    *probe
			path string
		}{{"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/healthz"}} {
			if pr.p == nil || pr.p.HTTPGet == nil {
				t.Errorf("%s: want an httpGet probe", pr.name)
				continue
			}
			if pr.p.HTTPGet.Path != pr.path {
				t.Errorf("%s path = %q, want %s", pr.name, pr.p.HTTPGet.Path, pr.path)
			}
			port, err := resolvePort(c, pr.p.HTTPGet.Port)
			if err != nil {
				t.Errorf("%s: %v", pr.name, err)
			} else if port != tport {
				t.Errorf("%s port = %d, want %d (telemetry.addr %s)", pr.name, port, tport, cfg.Telemetry.Addr)
			}
		}
		if p, err := resolvePort(c, "http"); err != nil || p != portOf(t, cfg.HTTP.Addr) {
			t.Errorf("container port http = %d (%v), want http.addr's port %s", p, err, cfg.HTTP.Addr)
		}
	}

	// Security and resources, for every container.
	for _, cc := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		sc := cc.SecurityContext
		if sc == nil {
			t.Errorf("container %s: no securityContext", cc.Name)
			continue
		}
		nonRoot := sc.RunAsNonRoot
		if nonRoot == nil && pod.SecurityContext != nil {
			nonRoot = pod.SecurityContext.RunAsNonRoot
		}
		if nonRoot == nil || !*nonRoot {
			t.Errorf("container %s: runAsNonRoot is not set", cc.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem is not set", cc.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation must be false", cc.Name)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
			t.Errorf("container %s: capabilities must drop ALL", cc.Name)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil && pod.SecurityContext != nil {
			seccomp = pod.SecurityContext.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != "RuntimeDefault" {
			t.Errorf("container %s: seccompProfile must be RuntimeDefault", cc.Name)
		}
		for _, r := range []string{"cpu", "memory"} {
			if cc.Resources.Requests[r] == "" {
				t.Errorf("container %s: no %s request", cc.Name, r)
			}
		}
		if cc.Resources.Limits["memory"] == "" {
			t.Errorf("container %s: no memory limit", cc.Name)
		}
		if cc.Image == "" || strings.HasSuffix(cc.Image, ":latest") || !strings.Contains(path.Base(cc.Image), ":") {
			t.Errorf("container %s: image %q must be pinned to a tag", cc.Name, cc.Image)
		}
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	docs := k8sDocs(t)
	var d deploymentSpec
	k8sOne(t, docs, "Deployment", &d)
	var pdb struct {
		Spec struct {
			MinAvailable   any           `yaml:"minAvailable"`
			MaxUnavailable any           `yaml:"maxUnavailable"`
			Selector       labelSelector `yaml:"selector"`
		} `yaml:"spec"`
	}
	k8sOne(t, docs, "PodDisruptionBudget", &pdb)
	if !subset(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) ||
		!maps.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
		t.Errorf("PDB selector %v, want the Deployment's selector %v", pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	replicas := *d.Spec.Replicas
	switch {
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MaxUnavailable != nil:
		t.Error("PDB sets both minAvailable and maxUnavailable")
	case pdb.Spec.MinAvailable != nil:
		n, ok := pdb.Spec.MinAvailable.(int)
		if !ok || n < 1 || n >= replicas {
			t.Errorf("PDB minAvailable = %v, want 1..%d so that a drain can proceed", pdb.Spec.MinAvailable, replicas-1)
		}
	case pdb.Spec.MaxUnavailable != nil:
		n, ok := pdb.Spec.MaxUnavailable.(int)
		if !ok || n < 1 || n > replicas/2 {
			t.Errorf("PDB maxUnavailable = %v, want 1..%d", pdb.Spec.MaxUnavailable, replicas/2)
		}
	default:
		t.Error("PDB sets neither minAvailable nor maxUnavailable")
	}
}

func TestServiceAndServiceMonitor(t *testing.T) {
	docs := k8sDocs(t)
	var d deploymentSpec
	k8sOne(t, docs, "Deployment", &d)
	c := &d.Spec.Template.Spec.Containers[0]
	var svc struct {
		Metadata objectMeta `yaml:"metadata"`
		Spec     struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort any    `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	k8sOne(t, docs, "Service", &svc)
	if !subset(svc.Spec.Selector, d.Spec.Template.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
	target := map[string]int{}
	for _, p := range svc.Spec.Ports {
		n, err := resolvePort(c, p.TargetPort)
		if err != nil {
			t.Errorf("Service port %s: %v", p.Name, err)
		}
		target[p.Name] = n
	}
	tel, _ := resolvePort(c, "telemetry")
	if target["http"] != 8080 {
		t.Errorf("Service port http targets %d, want 8080", target["http"])
	}
	if target["metrics"] != tel || tel == 0 {
		t.Errorf("Service port metrics targets %d, want the telemetry port %d", target["metrics"], tel)
	}

	var sm struct {
		Spec struct {
			Selector  labelSelector `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	k8sOne(t, docs, "ServiceMonitor", &sm)
	if !subset(sm.Spec.Selector.MatchLabels, svc.Metadata.Labels) {
		t.Errorf("ServiceMonitor selector %v does not select the Service's labels %v", sm.Spec.Selector.MatchLabels, svc.Metadata.Labels)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints = %+v, want port metrics, path /metrics", sm.Spec.Endpoints)
	}
	// The alert rules select up{job="authserver"}; the Operator names the
	// job after the Service.
	if svc.Metadata.Name != "authserver" {
		t.Errorf("Service name %q: the alert rules expect job=\"authserver\"", svc.Metadata.Name)
	}
}

// TestKustomizeBuild renders the kustomization when kubectl is installed
// (it is not required: the other tests check the files themselves).
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	out, err := exec.Command(kubectl, "kustomize", k8sDir).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v\n%s", k8sDir, err, out)
	}
	docs, err := decodeDocs[map[string]any](out)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		kinds = append(kinds, fmt.Sprint(d["kind"]))
		if d["kind"] == "Secret" {
			t.Error("the kustomization renders a Secret")
		}
	}
	slices.Sort(kinds)
	want := []string{"ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceAccount", "ServiceMonitor"}
	if !slices.Equal(kinds, want) {
		t.Errorf("kustomize renders %q, want %q", kinds, want)
	}
}
