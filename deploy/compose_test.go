package deploy

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"authserver/config"
)

const composeFile = "docker-compose.yml"

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"` // exec form only
	Environment map[string]string `yaml:"environment"`
	DependsOn   any               `yaml:"depends_on"`
	Healthcheck map[string]any    `yaml:"healthcheck"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	// Networks is the map form only: network name → attachment.
	Networks map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
}

// composeNetwork is a top-level network of the compose file.
type composeNetwork struct {
	IPAM struct {
		Config []struct {
			Subnet string `yaml:"subnet"`
		} `yaml:"config"`
	} `yaml:"ipam"`
}

// dependsOn returns the services s depends on, with their condition
// (service_started for the short list form).
func (s composeService) dependsOn() map[string]string {
	deps := map[string]string{}
	switch d := s.DependsOn.(type) {
	case []any:
		for _, name := range d {
			deps[fmt.Sprint(name)] = "service_started"
		}
	case map[string]any:
		for name, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			deps[name] = cond
		}
	}
	return deps
}

// composeVar matches what compose interpolates: $$, ${VAR}, ${VAR:-def},
// ${VAR-def}, ${VAR:?err}, ${VAR?err} and $VAR.
var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate expands s as compose does with the variables env.
func interpolate(s string, env map[string]string) (string, error) {
	var errs []string
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sm := composeVar.FindStringSubmatch(m)
		name, op, arg := sm[1], sm[2], sm[3]
		if name == "" {
			name = sm[4]
		}
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?":
			if v == "" {
				errs = append(errs, name+": "+arg)
			}
		case "?":
			if !set {
				errs = append(errs, name+": "+arg)
			}
		}
		return v
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("required variables: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// loadCompose parses the compose file's services with its variables
// interpolated from env, as `docker compose config` would.
func loadCompose(t *testing.T, env map[string]string) (map[string]composeService, error) {
	t.Helper()
	services, _, err := loadComposeProject(t, env)
	return services, err
}

// loadComposeProject is loadCompose with the top-level networks too.
func loadComposeProject(t *testing.T, env map[string]string) (map[string]composeService, map[string]composeNetwork, error) {
	t.Helper()
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		if n.Kind == yaml.ScalarNode {
			v, err := interpolate(n.Value, env)
			if err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
			n.Value = v
		}
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(&root); err != nil {
		return nil, nil, err
	}
	var f struct {
		Services map[string]composeService `yaml:"services"`
		Networks map[string]composeNetwork `yaml:"networks"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := root.Decode(&f); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return f.Services, f.Networks, nil
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "a", "E": ""}
	for in, want := range map[string]string{
		"x${A}y": "xay", "$A": "a", "${B:-d}": "d", "${E:-d}": "d", "${E-d}": "", "${B-d}": "d", "$$A": "$A", "${A:?m}": "a",
	} {
		if got, err := interpolate(in, env); err != nil || got != want {
			t.Errorf("interpolate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${B:?m}", "${E:?m}", "${B?m}"} {
		if _, err := interpolate(in, env); err == nil {
			t.Errorf("interpolate(%q) succeeded, want an error", in)
		}
	}
}

// imagePinned reports whether image names a tag other than latest (or a
// digest).
func imagePinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	_, tag, ok := strings.Cut(path.Base(image), ":")
	return ok && tag != "" && tag != "latest"
}

func TestComposeRequiresEncryptionKey(t *testing.T) {
	_, err := loadCompose(t, nil)
	if err == nil || !strings.Contains(err.Error(), "AUTHSERVER_KEYS_ENCRYPTION_KEY") {
		t.Errorf("the compose file interpolates without AUTHSERVER_KEYS_ENCRYPTION_KEY (err %v): it must be required, never defaulted", err)
	}
}

func TestCompose(t *testing.T) {
	services, err := loadCompose(t, map[string]string{"AUTHSERVER_KEYS_ENCRYPTION_KEY": testEncryptionKey})
	if err != nil {
		t.Fatal(err)
	}

	for name, s := range services {
		if !imagePinned(s.Image) {
			t.Errorf("service %s: image %q is not pinned to a tag", name, s.Image)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	byImage := func(prefixes ...string) []string {
		var names []string
		for name, s := range services {
			for _, p := range prefixes {
				if strings.HasPrefix(s.Image, p) {
					names = append(names, name)
				}
			}
		}
		slices.Sort(names)
		return names
	}

	pg := byImage("postgres:15")
	if len(pg) != 1 {
		t.Fatalf("want one postgres:15… service, found %q", pg)
	}
	if services[pg[0]].Healthcheck == nil {
		t.Errorf("service %s has no healthcheck", pg[0])
	}
	if !slices.ContainsFunc(services[pg[0]].Volumes, func(v string) bool { return strings.HasSuffix(v, ":/var/lib/postgresql/data") }) {
		t.Errorf("service %s keeps its data in no volume", pg[0])
	}

	var migrate string
	var replicas []string
	for name, s := range services {
		switch {
		case slices.Equal(s.Command, []string{"migrate"}):
			migrate = name
		case len(s.Command) > 0 && s.Command[0] == "serve":
			replicas = append(replicas, name)
		}
	}
	slices.Sort(replicas)
	if migrate == "" {
		t.Fatal("no service runs migrate")
	}
	if c := services[migrate].dependsOn()[pg[0]]; c != "service_healthy" {
		t.Errorf("%s depends on %s with %q, want service_healthy", migrate, pg[0], c)
	}
	if len(replicas) < 2 {
		t.Fatalf("want at least two authserver replicas (command serve), found %q", replicas)
	}

	var httpPort, telemetryPort int
	for _, name := range replicas {
		s := services[name]
		if !slices.Equal(s.Command, []string{"serve", "--no-migrate"}) {
			t.Errorf("replica %s command %q, want serve --no-migrate", name, s.Command)
		}
		if c := s.dependsOn()[migrate]; c != "service_completed_successfully" {
			t.Errorf("replica %s depends on %s with %q, want service_completed_successfully", name, migrate, c)
		}
		if s.Image != services[migrate].Image {
			t.Errorf("replica %s runs %s, migrate %s", name, s.Image, services[migrate].Image)
		}
		if s.Environment["AUTHSERVER_ISSUER"] == "" {
			t.Errorf("replica %s does not set AUTHSERVER_ISSUER (required when listening on 0.0.0.0)", name)
		}
		cfg, err := loadConfig(t, "", config.MapEnv(s.Environment))
		if err != nil {
			t.Errorf("replica %s: its environment is not a valid configuration:\n%v", name, err)
			continue
		}
		if cfg.Database.Driver != "postgres" {
			t.Errorf("replica %s: database.driver %q, want postgres", name, cfg.Database.Driver)
		}
		if !strings.Contains(cfg.Database.DSN.Reveal(), "@"+pg[0]+":") {
			t.Errorf("replica %s: the DSN does not point at the %s service", name, pg[0])
		}
		httpPort, telemetryPort = portOf(t, cfg.HTTP.Addr), portOf(t, cfg.Telemetry.Addr)
	}
	if _, err := loadConfig(t, "", config.MapEnv(services[migrate].Environment)); err != nil {
		t.Errorf("%s: its environment is not a valid configuration:\n%v", migrate, err)
	}

	// The proxy balances over every replica's public port.
	proxies := byImage("nginx:", "caddy:", "haproxy:")
	if len(proxies) != 1 {
		t.Fatalf("want one proxy service (nginx, caddy or haproxy), found %q", proxies)
	}
	for _, r := range replicas {
		if _, ok := services[proxies[0]].dependsOn()[r]; !ok {
			t.Errorf("proxy does not depend on %s", r)
		}
	}
	conf, err := os.ReadFile(filepath.Join("nginx", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	upstream := regexp.MustCompile(`(?m)^\s*server\s+([^\s;:]+):(\d+)`).FindAllStringSubmatch(string(conf), -1)
	var got []string
	for _, m := range upstream {
		got = append(got, m[1]+":"+m[2])
	}
	var want []string
	for _, r := range replicas {
		want = append(want, fmt.Sprintf("%s:%d", r, httpPort))
	}
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Errorf("nginx upstream servers %q, want %q", got, want)
	}

	// Prometheus scrapes every replica's telemetry port as job authserver.
	if p := byImage("prom/prometheus:"); len(p) != 1 {
		t.Errorf("want one prom/prometheus service, found %q", p)
	}
	var prom struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join("prometheus", "prometheus.yml"), &prom)
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName != "authserver" {
			continue
		}
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job authserver scrapes %s, want /metrics", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	want = want[:0]
	for _, r := range replicas {
		want = append(want, fmt.Sprintf("%s:%d", r, telemetryPort))
	}
	if slices.Sort(targets); !slices.Equal(targets, want) {
		t.Errorf("prometheus job authserver targets %q, want %q", targets, want)
	}
	if !slices.Contains(prom.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus.yml rule_files %q do not load alerts.yml", prom.RuleFiles)
	}

	// Grafana mounts the provisioning and the dashboards where the
	// provisioning expects them.
	g := byImage("grafana/grafana:")
	if len(g) != 1 {
		t.Fatalf("want one grafana/grafana service, found %q", g)
	}
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join("grafana", "provisioning", "dashboards", "authserver.yml"), &prov)
	mounts := map[string]string{}
	for _, v := range services[g[0]].Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			mounts[parts[0]] = parts[1]
		}
	}
	if len(prov.Providers) != 1 || mounts["./grafana/dashboards"] != prov.Providers[0].Options.Path {
		t.Errorf("grafana mounts ./grafana/dashboards at %q, the provisioning reads %+v", mounts["./grafana/dashboards"], prov.Providers)
	}
	if mounts["./grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("grafana mounts ./grafana/provisioning at %q, want /etc/grafana/provisioning", mounts["./grafana/provisioning"])
	}
}
