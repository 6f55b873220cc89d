package httpx

import (
	"net"
	"strings"
)

// LoopbackHost reports whether host (a URL's host name, without port)
// names this machine only: localhost, or a loopback IP address. Secrets
// may cross the wire in clear to such a host, and to no other.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
