package testutil

import (
	"net"
	"testing"
)

// FreePorts returns n ports on 127.0.0.1 that were free for both TCP and UDP
// a moment ago (memberlist needs both). Tests that must know addresses before
// starting nodes (simultaneous starts with seeds) use it; everything else
// binds port 0. Another process could take a port in between: keep the gap
// short.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for len(ports) < n {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", tl.Addr().String())
		if err != nil {
			tl.Close()
			continue
		}
		closers = append(closers, func() { tl.Close(); ul.Close() })
		ports = append(ports, port)
	}
	return ports
}
