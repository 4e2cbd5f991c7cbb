package testutil

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePorts returns n ports on 127.0.0.1 that are free for both TCP and UDP
// (memberlist needs both). Tests that must know addresses before starting
// nodes (simultaneous starts with seeds, fixed ports across a restart) use
// it; everything else binds port 0.
//
// The ports are drawn at random from outside the kernel's ephemeral range:
// port-0 listeners and outgoing connections of concurrently running tests
// take ephemeral ports, and a port picked from that range could be taken by
// one of them between this check and the node's bind.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	lo, hi := candidateRange()
	seen := map[int]bool{}
	var ports []int
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 1000 {
			t.Fatalf("free ports: found only %d of %d in [%d, %d)", len(ports), n, lo, hi)
		}
		port := lo + rand.IntN(hi-lo)
		if seen[port] || !portFree(port) {
			continue
		}
		seen[port] = true
		ports = append(ports, port)
	}
	return ports
}

func portFree(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tl, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer tl.Close()
	ul, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	ul.Close()
	return true
}

// candidateRange is a port range that avoids the ephemeral range.
func candidateRange() (lo, hi int) {
	ephLo, ephHi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if l, err1 := strconv.Atoi(f[0]); err1 == nil {
				if h, err2 := strconv.Atoi(f[1]); err2 == nil {
					ephLo, ephHi = l, h
				}
			}
		}
	}
	if ephLo-10000 >= 2000 {
		return 10000, ephLo
	}
	return ephHi + 1, 65535
}
