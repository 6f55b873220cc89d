package webhook

import (
	"errors"
	"net"
	"testing"

	"code.dny.dev/ssrf"
)

// TestPublicOnlyDialsProxiesOnly: the guarded dialer refuses a loopback
// address, named literally or through a name, unless it is one of the
// egress proxies the environment names.
func TestPublicOnlyDialsProxiesOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	for _, a := range []string{addr, net.JoinHostPort("localhost", port)} {
		if c, err := publicOnly(nil)(t.Context(), "tcp", a); !errors.Is(err, ssrf.ErrProhibitedIP) {
			if c != nil {
				c.Close()
			}
			t.Fatalf("dialled %s: %v", a, err)
		}
	}
	c, err := publicOnly(map[string]bool{addr: true})(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("the proxy: %v", err)
	}
	c.Close()
}

func TestProxyAddrs(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.internal:3128")
	t.Setenv("HTTP_PROXY", "10.0.0.1")
	t.Setenv("REQUEST_METHOD", "")
	t.Setenv("https_proxy", "")
	t.Setenv("http_proxy", "")
	got := proxyAddrs()
	if len(got) != 2 || !got["proxy.internal:3128"] || !got["10.0.0.1:80"] {
		t.Fatalf("proxies %v", got)
	}
	t.Setenv("HTTPS_PROXY", "https://egress.internal")
	t.Setenv("HTTP_PROXY", "")
	if got := proxyAddrs(); len(got) != 1 || !got["egress.internal:443"] {
		t.Fatalf("proxies %v", got)
	}
}
