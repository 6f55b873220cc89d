package deploy

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"authserver/config"
)

// The replicas must trust the proxy in front of them, and only it:
// trusting none makes every client share the proxy's failure budget,
// trusting more lets any peer in the range name its own client address.

// xffDirective matches nginx's proxy_set_header X-Forwarded-For lines.
var xffDirective = regexp.MustCompile(`(?mi)^\s*proxy_set_header\s+X-Forwarded-For\s+(\S+?)\s*;`)

func TestNginxAppendsToXForwardedFor(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("nginx", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	// $proxy_add_x_forwarded_for appends the address nginx saw; the
	// server takes the right-most untrusted entry, so that entry must be
	// nginx's own and not one the client sent ($http_x_forwarded_for).
	var got []string
	for _, m := range xffDirective.FindAllStringSubmatch(string(conf), -1) {
		got = append(got, m[1])
	}
	if want := []string{"$proxy_add_x_forwarded_for"}; !slices.Equal(got, want) {
		t.Errorf("nginx.conf sets X-Forwarded-For to %q, want %q", got, want)
	}
}

func TestComposeTrustsOnlyItsProxy(t *testing.T) {
	services, networks, err := loadComposeProject(t, map[string]string{"AUTHSERVER_KEYS_ENCRYPTION_KEY": testEncryptionKey})
	if err != nil {
		t.Fatal(err)
	}
	var proxy string
	for name, s := range services {
		if strings.HasPrefix(s.Image, "nginx:") {
			proxy = name
		}
	}
	if proxy == "" {
		t.Fatal("no nginx service")
	}
	// Its address is pinned on the default network, inside that network's
	// fixed subnet: otherwise Docker could hand it to another container.
	pinned := services[proxy].Networks["default"].IPv4Address
	addr, err := netip.ParseAddr(pinned)
	if err != nil {
		t.Fatalf("service %s: networks.default.ipv4_address %q: %v", proxy, pinned, err)
	}
	var subnets []netip.Prefix
	for _, c := range networks["default"].IPAM.Config {
		p, err := netip.ParsePrefix(c.Subnet)
		if err != nil {
			t.Fatalf("networks.default.ipam.config subnet %q: %v", c.Subnet, err)
		}
		subnets = append(subnets, p)
	}
	if !slices.ContainsFunc(subnets, func(p netip.Prefix) bool { return p.Contains(addr) }) {
		t.Errorf("service %s's address %s is outside the default network's subnets %v", proxy, addr, subnets)
	}

	want := []netip.Prefix{netip.PrefixFrom(addr, 32)}
	var replicas int
	for name, s := range services {
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			continue
		}
		replicas++
		cfg, err := loadConfig(t, "", config.MapEnv(s.Environment))
		if err != nil {
			t.Errorf("replica %s: %v", name, err)
			continue
		}
		if got := cfg.HTTP.TrustedProxies.Prefixes(); !slices.Equal(got, want) {
			t.Errorf("replica %s: http.trusted_proxies %v, want %v (the %s service alone)", name, got, want, proxy)
		}
	}
	if replicas == 0 {
		t.Fatal("no replica (command serve)")
	}
}

func TestKubernetesTrustsThePodNetwork(t *testing.T) {
	docs := k8sDocs(t)
	var d deploymentSpec
	k8sOne(t, docs, "Deployment", &d)
	c := &d.Spec.Template.Spec.Containers[0]
	data, _ := configMapConfig(t, docs, &d, c)
	cfg, err := loadConfig(t, data, containerEnv(t, c))
	if err != nil {
		t.Fatalf("container %s: %v", c.Name, err)
	}
	// The Ingress controller's pods connect from the pod CIDR: a private
	// range, and none wider than a /8.
	got := cfg.HTTP.TrustedProxies.Prefixes()
	if len(got) == 0 {
		t.Fatal("http.trusted_proxies is empty: behind the Ingress every client would share one failure budget")
	}
	for _, p := range got {
		if !p.Addr().IsPrivate() || p.Bits() < 8 {
			t.Errorf("http.trusted_proxies holds %s, want private networks of /8 or narrower (the pod CIDR)", p)
		}
	}
}
